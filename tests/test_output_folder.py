"""The output folder is checked once, the same way, by every command that uses it: not the layouts' folder,
not a symlink out of the shot list's folder, not a file. A bad one is exit 2 before anything is written."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from shotrender.cli import cli

from helpers import cut, draw_layout, episode, write_shotlist


def snapshot(root: Path) -> dict[str, str]:
    """Every file and symlink under `root` (symlinks not followed): its content's hash or its target."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = "-> " + os.readlink(path)
            elif path.is_file():
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[key] = "dir"
    return found


def run(folder: Path, *args: str):
    """The command in-process from `folder`, and whether anything under `folder`'s parent changed."""
    before = snapshot(folder.parent)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(cli, list(args), prog_name="shotrender")
    finally:
        os.chdir(cwd)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}\n{result.stderr}")
    assert "Traceback" not in result.stderr
    return result, snapshot(folder.parent) != before


def output_line(shotlist: Path) -> int:
    return next(i for i, line in enumerate(shotlist.read_text().splitlines(), 1) if line.startswith("output:"))


def layouts_named_like_renders(folder: Path, under: str = "layouts", **top) -> Path:
    """A shot list whose layouts are <under>/ep01_C001.png and <under>/ep01_C002.png: a render's names."""
    for i, cid in enumerate(("C001", "C002")):
        draw_layout(folder / under / f"ep01_{cid}.png", seed=i)
    cuts = [dict(cut(cid), layout=f"{under}/ep01_{cid}.png") for cid in ("C001", "C002")]
    return write_shotlist(folder, episode(cuts, **top))


def test_output_folder_holding_the_layouts_is_refused_before_anything_is_written(tmp_path):
    ep = tmp_path / "ep"
    line = output_line(layouts_named_like_renders(ep, output="layouts"))
    for command in ("validate", "render", "status", "check", "report", "export-job"):
        result, changed = run(ep, command, "episode.yaml")
        assert (command, result.exit_code, changed) == (command, 2, False), result.output
        assert result.stderr.startswith(
            f"episode.yaml:{line}: output: layouts holds the layout layouts/ep01_C001.png (cut C001): render and "
            "report write there, and a render named like a layout would replace it; write the renders to a folder of "
            "their own, such as renders/<episode>\n"), (command, result.stderr)


@pytest.mark.parametrize("under, out", [("layouts", "layouts"), ("layouts", "layouts/"),
                                        ("layouts", "./layouts/thumbs/.."), ("layouts", "{ep}/layouts"),
                                        ("keep/thumbs", "keep")])  # the report writes into <out>/thumbs too
def test_out_option_holding_the_layouts_is_refused(tmp_path, under, out):
    ep = tmp_path / "ep"
    layouts_named_like_renders(ep, under)
    out = out.format(ep=ep)
    for command in ("render", "status", "check", "report", "export-job"):
        result, changed = run(ep, command, "episode.yaml", "--out", out)
        assert (command, result.exit_code, changed) == (command, 2, False), result.output
        assert f"shotrender: --out {Path(out)} holds the layout {under}/ep01_C001.png (cut C001)" in result.stderr


def test_a_thumbs_symlink_is_refused(tmp_path):
    ep = tmp_path / "ep"
    write_shotlist(ep, episode([cut("C001")]))
    (ep / "renders" / "ep01").mkdir(parents=True)
    (ep / "renders" / "ep01" / "thumbs").symlink_to(ep / "layouts", target_is_directory=True)
    for command in ("validate", "render", "report"):
        result, changed = run(ep, command, "episode.yaml")
        assert (command, result.exit_code, changed) == (command, 2, False)
        assert result.stderr.startswith("episode.yaml: output: renders/ep01/thumbs is a symlink; the report writes "
                                        "its thumbnails there; remove renders/ep01/thumbs and run again\n")


def test_default_renders_folder_symlinked_out_is_refused(tmp_path):
    ep, elsewhere = tmp_path / "ep", tmp_path / "elsewhere"
    write_shotlist(ep, episode([cut("C001")]))  # no output: key, so renders/ep01
    elsewhere.mkdir()
    (ep / "renders").symlink_to(elsewhere, target_is_directory=True)
    message = (f"episode.yaml: output: renders/ep01 leads outside the shot list's folder: renders is a symlink to "
               f"{elsewhere}; keep it under the shot list's folder, or give --allow-outside-paths if you trust this "
               "shot list\n")
    for command in ("validate", "render", "status", "report", "export-job"):
        result, changed = run(ep, command, "episode.yaml")
        assert (command, result.exit_code, changed) == (command, 2, False)
        assert result.stderr.startswith(message), result.stderr
    assert not any(elsewhere.iterdir())
    result, _ = run(ep, "render", "episode.yaml", "--allow-outside-paths", "--progress", "none")
    assert result.exit_code == 0, result.stderr
    assert (elsewhere / "ep01" / "ep01_C001.png").is_file()


def test_out_option_through_a_symlink_out_of_the_shot_lists_folder_is_refused(tmp_path):
    ep, elsewhere = tmp_path / "ep", tmp_path / "elsewhere"
    write_shotlist(ep, episode([cut("C001")]))
    elsewhere.mkdir()
    (ep / "link").symlink_to(elsewhere, target_is_directory=True)
    result, changed = run(ep, "render", "episode.yaml", "--out", "link/ep01")
    assert (result.exit_code, changed) == (2, False)
    assert f"--out {ep / 'link/ep01'} leads outside the shot list's folder: link is a symlink to {elsewhere}" \
        in result.stderr
    # named outside the shot list's folder, the folder is the user's own choice
    result, _ = run(ep, "render", "episode.yaml", "--out", str(elsewhere / "ep01"), "--progress", "none")
    assert result.exit_code == 0, result.stderr


def test_output_naming_a_file_is_refused(tmp_path):
    ep = tmp_path / "ep"
    line = output_line(write_shotlist(ep, episode([cut("C001")], output="notes.txt")))
    (ep / "notes.txt").write_text("the director's notes")
    for command in ("validate", "render"):
        result, changed = run(ep, command, "episode.yaml")
        assert (command, result.exit_code, changed) == (command, 2, False)
        assert result.stderr.startswith(f"episode.yaml:{line}: output: notes.txt is not a folder; name a folder, or "
                                        "move the file away\n"), result.stderr
    write_shotlist(ep, episode([cut("C001")]))
    result, changed = run(ep, "render", "episode.yaml", "--out", "notes.txt/ep01")  # click refuses --out notes.txt
    assert (result.exit_code, changed) == (2, False)
    assert f"--out notes.txt/ep01 cannot be made: {ep / 'notes.txt'} is a file" in result.stderr
    assert (ep / "notes.txt").read_text() == "the director's notes"


def test_export_job_to_a_device_or_an_unwritable_place_is_a_message(tmp_path):
    ep = tmp_path / "ep"
    write_shotlist(ep, episode([cut("C001")]))
    result, _ = run(ep, "export-job", "episode.yaml", "-o", "/dev/full")
    assert result.exit_code == 2 and "/dev/full is not a regular file; name a file to write" in result.stderr
    (ep / "blocker").write_text("a file, not a folder")
    result, _ = run(ep, "export-job", "episode.yaml", "-o", "blocker/job.yaml")
    assert result.exit_code == 1 and "cannot write blocker/job.yaml" in result.stderr, result.stderr


@pytest.mark.parametrize("flag", [[], ["--allow-outside-paths"]])
def test_an_output_with_a_nul_character_is_a_problem(tmp_path, flag):
    ep = tmp_path / "ep"
    line = output_line(write_shotlist(ep, episode([cut("C001")], output="renders\0x")))
    result, changed = run(ep, "validate", "episode.yaml", *flag)
    assert (result.exit_code, changed) == (2, False)
    assert result.stderr.startswith(f"episode.yaml:{line}: output: 'renders\\x00x' contains a NUL character")


def test_a_layout_that_is_a_symlink_into_the_output_folder_is_refused(tmp_path):
    """layouts/C001.png -> renders/ep01/ep01_C001.png: the folder holds no layout by name, but the render of
    C001 was renamed over the file the layout's symlink points at, and the layout was lost."""
    ep = tmp_path / "ep"
    write_shotlist(ep, episode([cut("C001"), cut("C002")]))
    (ep / "renders" / "ep01").mkdir(parents=True)
    (ep / "layouts" / "C001.png").rename(ep / "renders" / "ep01" / "ep01_C001.png")
    (ep / "layouts" / "C001.png").symlink_to("../renders/ep01/ep01_C001.png")
    for command in ("validate", "render", "status", "check", "report", "export-job"):
        result, changed = run(ep, command, "episode.yaml")
        assert (command, result.exit_code, changed) == (command, 2, False), result.output
        assert "the layout layouts/C001.png (cut C001) is a symlink to " in result.stderr, result.stderr
