"""Sheets attacked from outside: a damaged or edited cache in sheets/, odd ids, settings at their edges."""

from __future__ import annotations

import json
import os

import pytest

from shotrender.backends.draft import DraftBackend
from shotrender.plan import make_plan, select
from shotrender.render import RenderOptions, render
from shotrender.shotlist import load
from shotrender.state import RunSettings, status

from helpers import cut, episode, pan_layouts, write_shotlist

PAN = ["P01", "P02", "P03"]


def _pan(tmp_path, **top):
    pan_layouts(tmp_path / "layouts", len(PAN), 128, 72, step=16)
    cuts = [{"id": c, "layout": f"layouts/{c}.png", "bg": "park"} for c in PAN] + [cut("S001", bg="street")]
    return write_shotlist(tmp_path, episode(cuts, output="out", **top))


def _states(path):
    return {r.cut: r.state for r in status(make_plan(load(path)), DraftBackend(), path.parent / "out")}


@pytest.mark.parametrize("edit", ["drop a cut", "huge", "another background's id", "singular"])
def test_an_edited_registration_cache_is_registered_again(tmp_path, edit):
    """The cache's key names the layouts, not the record: a record edited under the right key put a cut in no
    sheet (status and render crashed with KeyError), sized a sheet past any cap (render tried 112 GiB), or
    named another background's sheet (its files). It is a miss: registered again, same pictures."""
    path = _pan(tmp_path)
    plan = make_plan(load(path))
    render(plan, DraftBackend(), RenderOptions(tmp_path / "out", RunSettings()))
    before = {c: (tmp_path / "out" / f"ep01_{c}.png").read_bytes() for c in PAN}
    cache = tmp_path / "out" / "sheets" / "ep01_park.registration.json"
    record = json.loads(cache.read_text())
    sheet = record["registration"]["sheets"][0]
    assert sheet["cuts"] == PAN
    if edit == "drop a cut":
        sheet["cuts"], sheet["priority"] = PAN[:2], [c for c in sheet["priority"] if c != "P03"]
        del sheet["transforms"]["P03"]
    elif edit == "huge":
        sheet["size"] = [200000, 200000]
    elif edit == "another background's id":
        sheet["id"] = "street/1"
    else:
        sheet["transforms"]["P02"] = [[0, 0, 0], [0, 0, 0], [0, 0, 1]]
    cache.write_text(json.dumps(record))

    assert set(_states(path).values()) == {"up to date"}
    summary = render(plan, DraftBackend(), RenderOptions(tmp_path / "out", RunSettings()))
    assert summary.failed == []
    assert {c: (tmp_path / "out" / f"ep01_{c}.png").read_bytes() for c in PAN} == before
    assert set(_states(path).values()) == {"up to date"}


def test_a_manifest_sheet_without_its_id_is_not_shown(tmp_path):
    """The page names a sheet by its id: an entry under "sheets" without one crashed `report` (KeyError)."""
    from shotrender.report import write_report

    path = _pan(tmp_path)
    render(make_plan(load(path)), DraftBackend(), RenderOptions(tmp_path / "out", RunSettings()))
    manifest = tmp_path / "out" / "manifest.json"
    record = json.loads(manifest.read_text())
    del record["sheets"][0]["sheet"]
    manifest.write_text(json.dumps(record))
    files = write_report(tmp_path / "out")
    assert any("manifest.sheets" in w for w in files.warnings)
    assert 'class="sheet"' not in files.html.read_text()


def test_background_ids_that_differ_only_in_case_are_refused(tmp_path):
    """A background's sheets are files (sheets/<episode>_<bg>_1.png and its registration): on a case-blind disk
    (macOS, an SMB share) park's and Park's were one file each, each painting replacing the other's."""
    from helpers import run_cli

    data = episode([cut("A1", bg="Park"), cut("A2", bg="park")], output="out")
    data["backgrounds"]["Park"] = {"prompt": "city park at noon"}
    write_shotlist(tmp_path, data)
    done = run_cli("validate", "episode.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "background id Park differs only in case from park, and a case-blind disk has one file for both" \
        in done.stderr, done.stderr
    assert "unknown background" not in done.stderr  # the one problem, told once


def test_a_fifo_at_the_registration_cache_blocks_nothing(tmp_path):
    """The cache was opened with a plain open(): a FIFO planted at its name made status and render wait for a
    writer forever. Now it is a miss, and render, whose write of the cache is best-effort, goes on."""
    import subprocess
    import sys

    path = _pan(tmp_path)
    render(make_plan(load(path)), DraftBackend(), RenderOptions(tmp_path / "out", RunSettings()))
    cache = tmp_path / "out" / "sheets" / "ep01_park.registration.json"
    cache.unlink()
    os.mkfifo(cache)
    for command in ("status", "render"):
        done = subprocess.run([sys.executable, "-m", "shotrender", command, "episode.yaml"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)  # a guard against the hang, not a measure
        assert done.returncode == 0, done.stderr
    assert "4 cached" in done.stdout + done.stderr, done.stdout + done.stderr
    assert cache.is_fifo()  # refused as a target, left as it was


def test_a_symlinked_sheets_folder_is_refused_for_what_it_holds(tmp_path):
    """The refusal named the report's thumbnails for sheets/ too, which holds the sheets render paints."""
    from helpers import run_cli

    path = _pan(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sheets").symlink_to(tmp_path / "elsewhere")
    done = run_cli("render", path.name, cwd=tmp_path)
    assert done.returncode == 2
    assert "out/sheets is a symlink; render writes its sheets there" in done.stderr, done.stderr
    assert not any((tmp_path / "elsewhere").iterdir())


def test_a_cut_painted_alone_keeps_its_place_colours_whatever_was_selected(tmp_path):
    """A cut that registers with no other cut of its place is painted alone, keeping the colours of the
    place's first sheet. That sheet was neither painted for it nor in its key: `--cuts X1` into a new folder
    painted X1 without it, other bytes than a whole render's, and up to date ever after; and when the sheet
    changed, status called X1 up to date while render painted it again."""
    pan_layouts(tmp_path / "layouts", len(PAN), 256, 144, step=40)
    cuts = [{"id": c, "layout": f"layouts/{c}.png", "bg": "park"} for c in PAN]
    path = write_shotlist(tmp_path, episode([*cuts[:2], cut("X1", bg="park"), cuts[2]], size=[256, 144],
                                            output="out"), width=256, height=144)
    sl = load(path)
    whole, alone = tmp_path / "whole", tmp_path / "alone"
    render(make_plan(sl), DraftBackend(), RenderOptions(whole, RunSettings()))
    render(select(make_plan(sl), cuts="X1"), DraftBackend(), RenderOptions(alone, RunSettings()))
    assert (alone / "ep01_X1.png").read_bytes() == (whole / "ep01_X1.png").read_bytes()

    layout = tmp_path / "layouts" / "P03.png"
    from PIL import Image, ImageDraw
    image = Image.open(layout).convert("RGB")
    ImageDraw.Draw(image).rectangle((100, 10, 130, 40), outline=(20, 20, 20), width=2)
    image.save(layout)
    rows = {r.cut: r for r in status(make_plan(load(path)), DraftBackend(), whole)}
    assert rows["X1"].state == "stale", rows["X1"]
    assert "sheet park/1, whose colours it keeps, changes (P03: layout changed)" in rows["X1"].reasons


def test_a_sheet_sidecar_with_odd_inputs_does_not_stop_the_manifest(tmp_path):
    """A sheet's sidecar is vouched for by its key; its inputs are only shown. With "cuts" edited to a number,
    every later render crashed writing the manifest (TypeError), the renders done and the manifest stale."""
    path = _pan(tmp_path)
    plan = make_plan(load(path))
    render(plan, DraftBackend(), RenderOptions(tmp_path / "out", RunSettings()))
    sidecar = tmp_path / "out" / "sheets" / "ep01_park_1.json"
    record = json.loads(sidecar.read_text())
    record["inputs"]["cuts"] = 5
    sidecar.write_text(json.dumps(record))
    render(plan, DraftBackend(), RenderOptions(tmp_path / "out", RunSettings()))
    sheets = json.loads((tmp_path / "out" / "manifest.json").read_text())["sheets"]
    assert [(s["sheet"], s["cuts"]) for s in sheets] == [("park/1", [])]
