"""The bad-input corpus: every case gives exactly its expected message, exit 2, no traceback, and writes nothing.

Each folder under tests/bad_inputs/ holds a shot list (and layouts) and `case.yaml`: the command's arguments,
run from a copy of the folder, and the exact standard error expected (`{dir}` stands for the copy's path).
Cases that need this machine's absolute paths, symlinks or a 100 MB file are made here instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from shotrender.cli import cli
from shotrender.images import read_layout

from helpers import draw_layout

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "case.yaml").is_file())
HEAD = "version: 1\nepisode: ep01\nsize: [128, 72]\nmodel: draft\ndefaults:\n  prompt: anime background\n"


def files_under(folder: Path) -> dict[str, bytes | str]:
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir")
            for p in sorted(folder.rglob("*"))}


def run_in(folder: Path, args: list[str]):
    """The command in-process from `folder`; its result, and whether anything under `folder` changed."""
    before = files_under(folder)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(cli, args, prog_name="shotrender")
    finally:
        os.chdir(cwd)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}\n{result.stderr}")
    assert "Traceback" not in result.stderr
    return result, files_under(folder) != before


def test_the_corpus_has_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", CASES)
def test_bad_input(tmp_path, name):
    spec = yaml.safe_load((CORPUS / name / "case.yaml").read_text())
    work = tmp_path / name
    shutil.copytree(CORPUS / name, work, ignore=shutil.ignore_patterns("case.yaml"))
    result, changed = run_in(work, spec["args"])
    assert result.exit_code == spec["exit"] == 2
    assert result.stderr == spec["stderr"].replace("{dir}", str(work))
    assert not changed, "a bad input wrote something"


def _episode(folder: Path, cuts: str, top: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "episode.yaml").write_text(HEAD + top + "cuts:\n" + cuts)


def test_absolute_layout_path_outside_the_folder(tmp_path):
    outside = draw_layout(tmp_path / "elsewhere" / "C001.png")
    _episode(tmp_path / "ep", f"  - id: C001\n    layout: {outside}\n")
    result, changed = run_in(tmp_path / "ep", ["render", "episode.yaml"])
    assert (result.exit_code, changed) == (2, False)
    assert result.stderr.splitlines()[0] == (
        f"episode.yaml:9: cuts[0].layout (cut C001): {outside} is outside the shot list's folder; keep it under "
        "the shot list's folder, or give --allow-outside-paths if you trust this shot list")
    allowed, _ = run_in(tmp_path / "ep", ["validate", "episode.yaml", "--allow-outside-paths"])
    assert allowed.exit_code == 0, allowed.stderr


def test_absolute_layout_path_inside_the_folder_is_fine(tmp_path):
    inside = draw_layout(tmp_path / "ep" / "layouts" / "C001.png")
    _episode(tmp_path / "ep", f"  - id: C001\n    layout: {inside}\n")
    result, _ = run_in(tmp_path / "ep", ["validate", "episode.yaml"])
    assert result.exit_code == 0, result.stderr


def test_symlinked_layout_and_folder_leading_out(tmp_path):
    outside = draw_layout(tmp_path / "elsewhere" / "C001.png")
    ep = tmp_path / "ep"
    (ep / "layouts").mkdir(parents=True)
    (ep / "layouts" / "C001.png").symlink_to(outside)
    (ep / "shared").symlink_to(outside.parent, target_is_directory=True)
    draw_layout(ep / "layouts" / "C003.png")
    (ep / "layouts" / "C003b.png").symlink_to("C003.png")  # a symlink that stays inside is fine
    _episode(ep, "  - id: C001\n    layout: layouts/C001.png\n  - id: C002\n    layout: shared/C001.png\n"
                 "  - id: C003\n    layout: layouts/C003b.png\n")
    result, changed = run_in(ep, ["render", "episode.yaml"])
    assert (result.exit_code, changed) == (2, False)
    fix = "keep it under the shot list's folder, or give --allow-outside-paths if you trust this shot list"
    assert result.stderr.splitlines() == [
        f"episode.yaml:9: cuts[0].layout (cut C001): layouts/C001.png leads outside the shot list's folder: "
        f"layouts/C001.png is a symlink to {outside}; {fix}",
        f"episode.yaml:11: cuts[1].layout (cut C002): shared/C001.png leads outside the shot list's folder: "
        f"shared is a symlink to {outside.parent}; {fix}",
        "shotrender: 2 problems; nothing was rendered",
    ]


def test_output_folder_symlinked_out(tmp_path):
    ep = tmp_path / "ep"
    draw_layout(ep / "layouts" / "C001.png")
    (tmp_path / "elsewhere").mkdir()
    (ep / "renders").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    _episode(ep, "  - id: C001\n    layout: layouts/C001.png\n", top="output: renders/ep01\n")
    result, changed = run_in(ep, ["render", "episode.yaml"])
    assert (result.exit_code, changed) == (2, False)
    assert result.stderr.splitlines()[0] == (
        f"episode.yaml:7: output: renders/ep01 leads outside the shot list's folder: renders is a symlink to "
        f"{tmp_path / 'elsewhere'}; keep it under the shot list's folder, or give --allow-outside-paths if you "
        "trust this shot list")
    assert not any((tmp_path / "elsewhere").iterdir())


def test_a_100_mb_shot_list_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "episode.yaml"
    with open(path, "wb") as f:
        f.write(HEAD.encode())
        f.truncate(100 * 2**20)  # sparse: 100 MB by size, nothing to wait for
    result, changed = run_in(tmp_path, ["render", "episode.yaml"])
    assert (result.exit_code, changed) == (2, False)
    assert result.stderr.splitlines() == [
        "episode.yaml: the file is 100 MB; shot lists are read up to 32 MB (a 30,000-cut episode takes about 3 MB); "
        "check that this is the shot list; split a larger one by episode",
        "shotrender: 1 problem; nothing was rendered",
    ]


# Not bad input: how layout programs export line art. Each is read as what it shows on white paper.
def _variants(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    gray = np.full((72, 128), 255, np.uint8)
    gray[30:34, :] = 20
    out = {}
    out["grayscale"] = folder / "gray.png"
    Image.fromarray(gray, "L").save(out["grayscale"])
    out["16-bit"] = folder / "deep.png"
    Image.fromarray(gray.astype(np.uint16) * 257).save(out["16-bit"])
    rgba = np.zeros((72, 128, 4), np.uint8)
    rgba[30:34, :] = (20, 20, 20, 255)  # lines opaque, paper transparent
    out["alpha"] = folder / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(out["alpha"])
    out["cmyk"] = folder / "cmyk.jpg"
    Image.fromarray(gray, "L").convert("CMYK").save(out["cmyk"], quality=100)
    out["palette"] = folder / "palette.png"
    Image.fromarray(gray, "L").convert("P").save(out["palette"])
    return out


@pytest.mark.parametrize("kind", ["grayscale", "16-bit", "alpha", "cmyk", "palette"])
def test_layout_formats_that_are_converted_not_refused(tmp_path, kind):
    path = _variants(tmp_path / "layouts")[kind]
    _episode(tmp_path, f"  - id: C001\n    layout: layouts/{path.name}\n")
    result, _ = run_in(tmp_path, ["validate", "episode.yaml"])
    assert result.exit_code == 0, result.stderr
    rgb = read_layout(path, 128, 72)
    assert rgb.shape == (72, 128, 3) and rgb.dtype == np.uint8
    assert rgb[0].min() >= 250 and rgb[31].max() <= 40  # white paper, dark line
