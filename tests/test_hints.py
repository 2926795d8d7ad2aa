"""The shot list's hints to registration (`framing: {like: C001}`, `on: {cut, x, y, scale}`): read and checked
with file:line, refined by registration where the drawings cannot settle it alone (a street of identical
houses, for a fixed cut and for a PAN), reported when the drawings contradict them."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import location as L
from shotrender import sheets
from shotrender.backends.draft import DraftBackend
from shotrender.cli import cli
from shotrender.plan import make_plan
from shotrender.shotlist import load
from shotrender.state import status
from test_sheets import corner_error

from helpers import episode, write_shotlist

SIZE = (384, 216)
HOUSES = L.facades(landmarks=False)  # identical houses every 0.3 frame: ambiguous without a hint


def _street(tmp_path, cuts: list[dict], drawings: dict[str, np.ndarray], **top):
    (tmp_path / "layouts").mkdir(parents=True, exist_ok=True)
    for cut_id, image in drawings.items():
        cv2.imwrite(str(tmp_path / "layouts" / f"{cut_id}.png"), image[..., ::-1])
    data = episode(cuts, size=list(SIZE), output="out", **top)
    data["backgrounds"]["street"]["variants"] = {"night": {"prompt": "street at night"}}
    return write_shotlist(tmp_path, data, layouts=False)


def _cut(cut_id: str, **more) -> dict:
    return {"id": cut_id, "layout": f"layouts/{cut_id}.png", "bg": "street", **more}


def _registration(tmp_path) -> dict:
    return json.loads((tmp_path / "out" / "sheets" / "ep01_street.registration.json").read_text())["registration"]


def _between(record: dict, a: str, b: str) -> np.ndarray:
    """b's pixels to a's through their sheet."""
    (sheet,) = [s for s in record["sheets"] if a in s["cuts"]]
    return np.linalg.inv(np.array(sheet["transforms"][a])) @ np.array(sheet["transforms"][b])


def test_a_hint_settles_identical_houses_and_a_variant_cut_takes_it(tmp_path):
    """Without the hint the pair is ambiguous and each cut is painted alone (test_pairing); with `on:` a house
    off from the truth's x it registers at the truth, within 1 px. The hinted cut is of a variant: one
    registration whatever the variant. A cut selected alone (a farm's slice) is registered with its place."""
    drawings = {"C001": L.draw(L.Camera(0, 0), SIZE, 1, HOUSES), "C002": L.draw(L.Camera(0.22, 0), SIZE, 1, HOUSES)}
    cuts = [_cut("C001"), _cut("C002", variant="night", on={"cut": "C001", "x": 70, "y": 4})]
    path = _street(tmp_path, cuts, drawings)
    rows = {r.cut: r for r in status(make_plan(load(path)), DraftBackend(), tmp_path / "out")}
    assert rows["C001"].alone is rows["C002"].alone is rows["C002"].hint is None
    record = _registration(tmp_path)
    assert record["sheets"][0]["cuts"] == ["C001", "C002"]
    truth = L.Camera(0, 0).world_to_cut(SIZE) @ L.Camera(0.22, 0).cut_to_world(SIZE)
    assert corner_error(_between(record, "C001", "C002"), truth, SIZE) < 1.0
    assert record["hints"][0]["cut"] == "C002" and record["pairs"][0]["hint"] == "kept"
    sliced = CliRunner().invoke(cli, ["status", str(path), "--cuts", "C002", "--json"])
    assert sliced.exit_code == 0, sliced.output
    assert [r.get("alone") for r in json.loads(sliced.stdout) if r["kind"] == "cut"] == [None]


def test_a_hint_is_in_layout_pixels_so_a_change_of_size_keeps_it(tmp_path):
    """Layouts drawn at twice the episode's size: the hint's x is in C001's layout pixels (190 there is 95 of
    the frame, a house from 190 of the frame), so the episode's `size:` can change without moving what the
    hint says."""
    big = (2 * SIZE[0], 2 * SIZE[1])
    drawings = {"C001": L.draw(L.Camera(0, 0), big, 2, HOUSES), "C002": L.draw(L.Camera(0.22, 0), big, 2, HOUSES)}
    path = _street(tmp_path, [_cut("C001"), _cut("C002", on={"cut": "C001", "x": 190, "y": 8})], drawings)
    rows = {r.cut: r for r in status(make_plan(load(path)), DraftBackend(), tmp_path / "out")}
    assert rows["C002"].alone is None
    m = _between(_registration(tmp_path), "C001", "C002")
    assert abs(m[0, 2] - 0.22 * SIZE[0]) < 1 and abs(m[1, 2]) < 1


def test_a_close_up_past_the_search_registers_from_a_rough_hint():
    """A 4.5x close-up: past the close-up search (to 3.8x), nothing of it is found in the wide shot. Hinted 8 px
    off and 10 % too close, it registers within about a pixel of the wide shot."""
    wide, close = L.Cut("W", L.Camera(0.3, 0.0)), L.Cut("C", L.Camera(0.37, 0.07, 4.5))
    truth = wide.camera.world_to_cut(SIZE) @ close.camera.cut_to_world(SIZE)
    layouts = [("W", wide.draw(SIZE)), ("C", close.draw(SIZE))]
    assert sheets.register("park", layouts).alone("C").startswith("alone: nothing in its layout found")
    s = 4.5 * 1.1
    hint = sheets.Hint("C", "W", ((1 / s, 0, truth[0, 2] + 8), (0, 1 / s, truth[1, 2] - 6), (0, 0, 1)))
    (pair,) = sheets.register("park", layouts, hints=(hint,)).pairs
    assert pair.accepted and pair.hint == "kept"
    assert corner_error(np.array(pair.matrix), truth, SIZE) / 4.5 < 1.5  # in the wide shot's pixels


def test_a_pan_starting_inside_a_fixed_cuts_framing_along_identical_houses_follows_its_hint(tmp_path):
    """The PAN's layout is two frames of the street from 22 % into C001's framing: through its frame-size views
    every house matches every other. `on:` places its layout; registration refines it to the truth."""
    pan = L.draw(L.Camera(0.22 + 0.5, 0, zoom=0.5), (2 * SIZE[0], SIZE[1]), 1, HOUSES)
    drawings = {"C001": L.draw(L.Camera(0, 0), SIZE, 1, HOUSES), "C002": pan}
    move = {"from": {"x": 0, "y": 0, "width": SIZE[0]}, "to": {"x": SIZE[0], "y": 0, "width": SIZE[0]}, "frames": 24}
    bare = _street(tmp_path / "bare", [_cut("C001"), _cut("C002", camera=move)], drawings)
    rows = {r.cut: r for r in status(make_plan(load(bare)), DraftBackend(), tmp_path / "bare" / "out")}
    assert rows["C002"].alone and rows["C002"].alone.startswith("ambiguous")  # no hint: no sheet
    path = _street(tmp_path, [_cut("C001"), _cut("C002", camera=move, on={"cut": "C001", "x": 95, "y": 0})],
                   drawings)
    rows = {r.cut: r for r in status(make_plan(load(path)), DraftBackend(), tmp_path / "out")}
    assert rows["C002"].alone is None
    # the PAN's deliverable is its layout (framings as wide as the frame): x + 84.5 px on C001
    m = _between(_registration(tmp_path), "C001", "C002")
    assert np.allclose(m[:2, :2], np.eye(2), atol=0.005) and abs(m[0, 2] - 0.22 * SIZE[0]) < 1 and abs(m[1, 2]) < 1


def test_a_hint_the_drawings_contradict_is_reported_not_obeyed(tmp_path):
    """C002 is another place drawn alike; the TD says it returns to C001's framing. Its lines do not agree
    there: it stays alone, and status says whose hint the drawings refused. Editing the hint re-registers."""
    drawings = {"C001": L.cut("C001").draw(SIZE), "C002": L.cut("C005").draw(SIZE)}
    path = _street(tmp_path, [_cut("C001"), _cut("C002", framing={"like": "C001"})], drawings)
    rows = {r.cut: r for r in status(make_plan(load(path)), DraftBackend(), tmp_path / "out")}
    assert rows["C002"].alone.startswith("alone: the hint placing C002 on C001 is contradicted by the drawings "
                                         "(agreement 0."), rows["C002"].alone
    result = CliRunner().invoke(cli, ["status", str(path)])
    assert "C002" in result.output and "the hint placing C002 on C001 is contradicted" in result.output
    data = load(path)
    assert data.cut("C002").hint.on == "C001"
    again = _street(tmp_path, [_cut("C001"), _cut("C002")], drawings)
    rows = {r.cut: r for r in status(make_plan(load(again)), DraftBackend(), tmp_path / "out")}
    assert "hint" not in rows["C002"].alone and "hints" not in _registration(tmp_path)



def test_a_wrong_hint_where_the_drawings_match_elsewhere_is_overruled_and_said(tmp_path):
    """The park's pan, hinted 170 px from where it is drawn: the drawings match where they are drawn, the cut
    is registered there, and status says the hint was contradicted."""
    drawings = {"C001": L.cut("C001").draw(SIZE), "C002": L.cut("C002").draw(SIZE)}
    path = _street(tmp_path, [_cut("C001"), _cut("C002", on={"cut": "C001", "x": 255, "y": 0})], drawings)
    rows = {r.cut: r for r in status(make_plan(load(path)), DraftBackend(), tmp_path / "out")}
    assert rows["C002"].alone is None
    assert rows["C002"].hint == ("the hint placing C002 on C001 is contradicted by the drawings: they match "
                                 "elsewhere, and are registered there")
    m = _between(_registration(tmp_path), "C001", "C002")
    assert abs(m[0, 2] - 0.22 * SIZE[0]) < 1


ON_TEXT = """version: 1
episode: ep01
size: [384, 216]
model: draft
output: out
backgrounds:
  park: {prompt: park}
  street: {prompt: street}
cuts:
  - id: C001
    layout: layouts/C001.png
    bg: park
  - id: C002
    layout: layouts/C002.png
    bg: park
HINT
  - id: C003
    reuse: C001
  - id: C004
    layout: layouts/C004.png
    bg: street
"""


@pytest.mark.parametrize("hint, line, message", [
    ("    on: {cut: C009, x: 10, y: 0}", 16, "names unknown cut 'C009'; did you mean 'C001'?"),
    ("    on: {cut: C004, x: 10, y: 0}", 16, "C004 is of background 'street', C002 of 'park': a hint relates two "
                                           "cuts of one place; name a cut of park, or correct bg:"),
    ("    framing: {like: C003}", 16, "C003 reuses C001 and has no layout of its own to register against"),
    ("    framing: {like: C002}", 16, "a cut cannot be hinted on itself"),
    ("    framing: C001", 16, "a hint names its cut inside a mapping, got 'C001'; write framing: {like: C001}"),
    ("    on: {cut: C001, x: 10, y: 0, scale: 7}", 16, "cuts[1].on.scale (cut C002): must be between 0.17 and 6, "
                                                     "got 7; how many times closer"),
    ("    on: {cut: C001, x: 400, y: 0}", 16, "x: 400, y: 0 at scale 1 puts C002's layout outside C001's (384x216)"),
    ("    on: {cut: C001, y: 0}", 16, "cuts[1].on (cut C002): 'x' is missing"),
    ("    on: {cut: C001, x: 1, y: 0, zoom: 2}", 16, "unknown key 'zoom'; known keys: cut, x, y, scale"),
    ("    on: {cut: C001, x: .inf, y: 0}", 16, "must be a finite number"),
    ("    framing: {like: C001}\n    on: {cut: C001, x: 0, y: 0}", 17, "a cut takes one hint: framing: or on:"),
])
def test_a_wrong_hint_is_refused_with_its_line_and_nothing_is_written(tmp_path, hint, line, message):
    (tmp_path / "layouts").mkdir()
    for c in ("C001", "C002", "C004"):
        cv2.imwrite(str(tmp_path / "layouts" / f"{c}.png"), np.full((SIZE[1], SIZE[0], 3), 255, np.uint8))
    path = tmp_path / "episode.yaml"
    path.write_text(ON_TEXT.replace("HINT", hint))
    result = CliRunner().invoke(cli, ["render", str(path)])
    assert result.exit_code == 2
    assert f"episode.yaml:{line}: " in result.output and message in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_hints_that_loop_are_refused(tmp_path):
    (tmp_path / "layouts").mkdir()
    for c in ("C001", "C002", "C004"):
        cv2.imwrite(str(tmp_path / "layouts" / f"{c}.png"), np.full((SIZE[1], SIZE[0], 3), 255, np.uint8))
    path = tmp_path / "episode.yaml"
    text = ON_TEXT.replace("HINT", "    framing: {like: C001}").replace(
        "  - id: C002", "    framing: {like: C002}\n  - id: C002")
    path.write_text(text)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "episode.yaml:13: cuts[0].framing (cut C001): hints loop: C001 -> C002 -> C001" in result.output


def test_the_report_and_the_review_page_say_why_a_cut_is_painted_alone(tmp_path):
    """status and check said it; the report and the review page showed nothing. Render writes the reason into
    the cut's sidecar, so the manifest (all the report reads) and the page's summary carry it."""
    drawings = {"C001": L.draw(L.Camera(0, 0), SIZE, 1, HOUSES), "C002": L.draw(L.Camera(0.22, 0), SIZE, 1, HOUSES)}
    path = _street(tmp_path, [_cut("C001"), _cut("C002")], drawings, defaults={"steps": 1, "prompt": "street"})
    assert CliRunner().invoke(cli, ["render", str(path)]).exit_code == 0
    result = CliRunner().invoke(cli, ["report", str(path)])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "report.html").read_text()
    assert ('<p class="note alone">painted alone · ambiguous: two matches 115 px apart with C001</p>' in html)
    from shotrender.review.server import Episode

    summary = Episode(load(path), tmp_path / "out", "director").summary()
    check = {c["id"]: c["check"] for c in summary["cuts"]}
    assert check["C002"]["alone"] == "ambiguous: two matches 115 px apart with C001"
