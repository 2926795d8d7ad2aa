"""Regressions found by a hostile pass over issue 16's fixes: selections, symlinks, damaged files, signals."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
import yaml

from shotrender.backends.draft import DraftBackend
from shotrender.plan import make_plan, select
from shotrender.render import RenderOptions, render
from shotrender.shotlist import load

from helpers import cut, draw_layout, episode, pan_layouts, run_cli, write_shotlist


def _pan(folder):
    """One chain of three cuts panning over one place, each painted from the one before."""
    pan_layouts(folder / "layouts", count=3, width=128, height=72, step=16)
    cuts = [{"id": f"P0{i}", "layout": f"layouts/P0{i}.png", "bg": "park"} for i in (1, 2, 3)]
    return write_shotlist(folder, episode(cuts, output="out", continuity={"limit": 0.05, "max_attempts": 1}))


def test_a_selection_that_skips_a_cut_of_the_chain_pairs_each_cut_with_the_layout_before_it(tmp_path):
    """`--cuts P01,P03` paints P03 from P02's render: its pair of layouts is P02's and P03's. Render kept the
    layout of the chain's cut it asked for last (P01's) and paired P03 with it as if it were P02's."""
    plan, out, alone = make_plan(load(_pan(tmp_path))), tmp_path / "out", tmp_path / "alone"
    render(plan, DraftBackend(), RenderOptions(out))
    shutil.copytree(out, alone)
    for folder in (out, alone):
        (folder / "ep01_P03.json").unlink()
    render(select(plan, cuts="P01,P03"), DraftBackend(), RenderOptions(out))
    render(select(plan, cuts="P03"), DraftBackend(), RenderOptions(alone))
    pairs = [json.loads((folder / "ep01_P03.json").read_text())["continuity"] for folder in (out, alone)]
    assert (pairs[0]["overlap"], pairs[0]["layout_error"], pairs[0]["flagged"]) == \
        (pairs[1]["overlap"], pairs[1]["layout_error"], pairs[1]["flagged"])
    assert (out / "ep01_P03.png").read_bytes() == (alone / "ep01_P03.png").read_bytes()


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_files_shotrender_writes_have_the_mode_the_umask_gives(tmp_path, umask):
    """tempfile makes its temporaries 0600, and the rename kept that: renders, sidecars, the manifest, the report,
    the contact sheet, thumbnails, `init -o` and `export-job -o` files were unreadable to the farm's other users
    (a reviewer, the web server, a compositor), where `open()` gave 0666 less the umask."""
    write_shotlist(tmp_path, episode([cut("C001"), cut("C002")]))

    def shotrender(*args):
        done = subprocess.run([sys.executable, "-m", "shotrender", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, preexec_fn=lambda: os.umask(umask))
        assert done.returncode == 0, done.stderr

    shotrender("render", "episode.yaml", "--progress", "none")
    shotrender("report", "episode.yaml")
    shotrender("export-job", "episode.yaml", "-o", "job.yaml")
    shotrender("init", "--layouts", "layouts", "-o", "scaffold.yaml")
    written = [p for p in (tmp_path / "renders").rglob("*") if p.is_file() and p.name != ".manifest.lock"]
    written += [tmp_path / "job.yaml", tmp_path / "scaffold.yaml"]
    assert {p.suffix for p in written} >= {".png", ".json", ".html", ".jpg", ".yaml"}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == \
        {p.name: oct(0o666 & ~umask) for p in written}


@pytest.mark.parametrize("cut_id", ["contact", "Contact"])
def test_a_cut_named_like_the_contact_sheet_is_refused(tmp_path, cut_id):
    """A cut `contact` renders to ep01_contact.png, the file `report` writes its contact sheet to: validate and
    render passed, and every report replaced that cut's render (a case-blind disk has one name for both)."""
    write_shotlist(tmp_path, episode([cut(cut_id), cut("C002")]))
    for command in ("validate", "render"):
        done = run_cli(command, "episode.yaml", cwd=tmp_path)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert f"cut id {cut_id} names the report's contact sheet" in done.stderr
    assert not (tmp_path / "renders").exists()


@pytest.mark.parametrize("name", ["contact", "C" + "1" * 70])
def test_init_takes_no_cut_id_that_validate_refuses(tmp_path, name):
    """init --layouts took `contact.png` (with --id-pattern) and a 71-character name as cut ids, and wrote a
    shot list that validate refuses: an id must not be the contact sheet's name, nor longer than 64."""
    for stem in ("C002", name):
        draw_layout(tmp_path / "layouts" / f"{stem}.png")
    done = run_cli("init", "--layouts", "layouts", "--id-pattern", "^([A-Za-z0-9]+)", "-o", "episode.yaml",
                   cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"{name}.png -> {name}, not an id" in done.stderr
    assert not (tmp_path / "episode.yaml").exists()


def _shotrender(folder, *args):
    """The command as a farm runs it; a FIFO that blocks it fails the test by the timeout, not a hung suite."""
    done = subprocess.run([sys.executable, "-m", "shotrender", *args], cwd=folder, capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_a_fifo_in_the_output_folder_blocks_no_command(tmp_path):
    """A FIFO planted at a sidecar, a PNG, a cut's picture or manifest.json: opening it for reading waited for a
    writer for ever. status and check hung; render hung, and SIGTERM could not end it (the manifest's rebuild,
    signals held, opened it again); report hung on the manifest and on the pictures."""
    _pan(tmp_path)
    out = tmp_path / "out"
    assert _shotrender(tmp_path, "render", "episode.yaml", "--progress", "none").returncode == 0
    for name in ("ep01_P02.json", "ep01_P03.png", "ep01_P02.flow.png"):
        (out / name).unlink()
        os.mkfifo(out / name)
    status = _shotrender(tmp_path, "status", "episode.yaml")
    assert status.returncode == 0
    assert "ep01_P02.json is unreadable" in status.stdout and "ep01_P03.png is unreadable" in status.stdout
    assert _shotrender(tmp_path, "check", "episode.yaml").returncode == 0
    report = _shotrender(tmp_path, "report", "episode.yaml")
    assert report.returncode == 0, report.stderr
    assert "flow picture 'ep01_P02.flow.png' is not a file of" in report.stderr
    render = _shotrender(tmp_path, "render", "episode.yaml", "--progress", "none")
    assert render.returncode == 2 and "is not a regular file" in render.stderr  # written over: refused, not hung
    for path in out.iterdir():
        if stat.S_ISFIFO(path.lstat().st_mode):
            path.unlink()
    assert _shotrender(tmp_path, "render", "episode.yaml", "--progress", "none").returncode == 0
    assert "3 up to date" in _shotrender(tmp_path, "status", "episode.yaml").stdout
    (out / "manifest.json").unlink()
    os.mkfifo(out / "manifest.json")
    report = _shotrender(tmp_path, "report", "episode.yaml")
    assert report.returncode == 2 and "manifest.json is not a regular file" in report.stderr


def test_commands_for_workers_carry_allow_outside_paths(tmp_path):
    """export-job --allow-outside-paths accepted layouts outside the shot list's folder, but the template's
    render and report commands lacked the option, so every farm task exited 2; `units --json` printed such a
    command too."""
    ep = tmp_path / "ep"
    for i, cid in enumerate(("C001", "C002")):
        draw_layout(tmp_path / "shared" / f"{cid}.png", seed=i)
    write_shotlist(ep, episode([dict(cut(cid), layout=f"../shared/{cid}.png") for cid in ("C001", "C002")]),
                   layouts=False)
    done = run_cli("export-job", "episode.yaml", "--allow-outside-paths", "-o", "job.yaml", cwd=ep)
    assert done.returncode == 0, done.stderr
    params = {"{{Param.ShotList}}": "episode.yaml", "{{Param.OutputDir}}": "renders/ep01",
              "{{Task.Param.Chain}}": "park", "{{Task.Param.Cuts}}": "C001,C002"}
    for step in yaml.safe_load((ep / "job.yaml").read_text())["steps"]:
        args = [params.get(a, a) for a in step["script"]["actions"]["onRun"]["args"]]
        done = run_cli(*args, cwd=ep)
        assert done.returncode == 0, (step["name"], done.stderr)
    units = json.loads(run_cli("units", "episode.yaml", "--allow-outside-paths", "--json", cwd=ep).stdout)["units"]
    assert units
    for unit in units:  # the sheets' unit first, then the cuts'
        assert unit["command"][0] == "shotrender"
        done = run_cli(*unit["command"][1:], "--force", cwd=ep)
        assert done.returncode == 0, (unit["command"], done.stderr)


def test_cut_ids_that_differ_only_in_case_are_refused(tmp_path):
    """C001 and c001 passed validate; on a case-blind disk (macOS, an SMB share) their renders and sidecars are one
    file each, so each render replaced the other's and status never called both up to date."""
    write_shotlist(tmp_path, episode([cut("C001"), dict(cut("c001"), layout="layouts/other.png")]))
    done = run_cli("validate", "episode.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "cut id c001 differs only in case from C001, and a case-blind disk has one file for both (first at cut #1)" \
        in done.stderr


def test_init_gives_no_two_cuts_ids_that_differ_only_in_case(tmp_path):
    for stem in ("C001", "c001"):
        draw_layout(tmp_path / "layouts" / f"{stem}.png")
    done = run_cli("init", "--layouts", "layouts", "-o", "episode.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "gives the same id to more than one file" in done.stderr, done.stderr
    assert not (tmp_path / "episode.yaml").exists()
