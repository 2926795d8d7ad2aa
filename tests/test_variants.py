"""Variants of a place (the same setting at night) and a cut's own strength, measured on the vector place of
tests/location.py: its five cuts of one place, two of them in the variant `night`, three in the base."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

import location
from shotrender.backends.draft import DraftBackend
from shotrender.images import decode_png
from shotrender.plan import make_plan
from shotrender.render import RenderOptions, render
from shotrender.report import clean_manifest, read_manifest
from shotrender.shotlist import load, load_with_warnings
from shotrender.state import RunSettings, status
from test_sheet_continuity import SIZE, paint_error

from helpers import cut, episode, write_shotlist

NIGHT = ("C002", "C004")
BASE = ("C001", "C003", "C006")
VARIANTS = {"night": {"prompt": "night, street lamps lit"}}


def _episode(folder, size=SIZE, model="draft", variants=VARIANTS, night=NIGHT, own=None) -> object:
    """The place's five cuts (location.SAME_PLACE), `night` ones in the variant; `own`: cut -> extra fields."""
    (folder / "layouts").mkdir(parents=True, exist_ok=True)
    for cut_id, image in location.layouts(size, location.SAME_PLACE):
        cv2.imwrite(str(folder / "layouts" / f"{cut_id}.png"), image[:, :, ::-1])
    cuts = []
    for cut_id in location.SAME_PLACE:
        entry = {"id": cut_id, "layout": f"layouts/{cut_id}.png", "bg": "park"}
        if cut_id in night:
            entry["variant"] = "night"
        entry.update((own or {}).get(cut_id, {}))
        cuts.append(entry)
    data = episode(cuts, size=list(size), model=str(model), output="out")
    data["backgrounds"] = {"park": {"prompt": "city park in spring", **({"variants": variants} if variants else {})}}
    return write_shotlist(folder, data, layouts=False)


def _pictures(out, ids=location.SAME_PLACE) -> dict:
    return {c: decode_png((out / f"ep01_{c}.png").read_bytes()) for c in ids}


def _paint_between(renders: dict, a_ids, b_ids, layouts, size) -> float:
    """Mean over (a, b) pairs that overlap of the masked mean |A − warp(B)| (0-255) away from either's lines."""
    errors = []
    for a in a_ids:
        for b in b_ids:
            error, pairs = paint_error({a: renders[a], b: renders[b]}, layouts, size)
            if pairs:
                errors.append(error)
    return 255 * float(np.mean(errors))


def _edges(painting: np.ndarray) -> np.ndarray:
    return cv2.Canny(cv2.cvtColor(painting, cv2.COLOR_RGB2GRAY), 20, 60) > 0


def edge_agreement(a: np.ndarray, b: np.ndarray, reach: int = 2) -> float:
    """The share of b's edges within `reach` px of one of a's: 1 when b's edges fall where a's do."""
    near = cv2.dilate(_edges(a).view(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)) > 0
    eb = _edges(b)
    return float(near[eb].mean())


def measure(folder, on, off, size=SIZE) -> dict:
    """The figures of the note, from a render of the place with sheets (`on`) and one without (`off`)."""
    renders = {name: _pictures(out) for name, out in (("on", on), ("off", off))}
    layouts = dict(location.layouts(size))
    base, night = (decode_png((on / "sheets" / f"ep01_park_1{s}.png").read_bytes()) for s in ("", "@night"))
    figures = {}
    for group, ids in (("base", BASE), ("night", NIGHT)):
        with_sheets = paint_error({c: renders["on"][c] for c in ids}, layouts, size)[0]
        alone = paint_error({c: renders["off"][c] for c in ids}, layouts, size)[0]
        figures[group] = with_sheets / alone
    figures["between"] = _paint_between(renders["on"], BASE, NIGHT, layouts, size)
    figures["sheets"] = float(np.abs(base.astype(np.float32) - night.astype(np.float32)).mean())
    figures["edges"] = min(edge_agreement(base, night), edge_agreement(night, base))
    figures["edges_alone"] = edge_agreement(base, cv2.flip(night, 1))  # what unrelated edges score
    return figures


FIGURES = ("within base {base:.3f}x, within night {night:.3f}x of no continuity; base vs night {between:.1f}/255 "
           "on the paint (sheets {sheets:.1f}/255); edges agree {edges:.3f} (mirrored {edges_alone:.3f})")


def test_a_variant_is_the_place_in_another_light(tmp_path):
    plan = make_plan(load(_episode(tmp_path)))
    for name, run in (("on", RunSettings()), ("off", RunSettings(continuity=False))):
        render(plan, DraftBackend(), RenderOptions(tmp_path / name, run))
    f = measure(tmp_path, tmp_path / "on", tmp_path / "off")
    print("draft: " + FIGURES.format(**f))
    assert f["base"] <= 0.3 and f["night"] <= 0.3
    assert f["between"] >= 25
    assert f["edges"] >= 0.9 > f["edges_alone"] + 0.2


@pytest.mark.slow
def test_the_tiny_pipeline_paints_a_variant_the_same_in_two_processes(tmp_path, tiny_model):
    """The random-weight pipeline: two processes side by side write the same bytes for both sheets and every
    cut, and the night sheet is a painting of its own, not the base's. (Its noise ignores the init image, so
    the draft test above is the one that measures the variant's light and edges.)"""
    import yaml

    path = _episode(tmp_path, (128, 72), tiny_model)
    data = yaml.safe_load(path.read_text())
    data["continuity"] = {"max_attempts": 1}  # one attempt a cut: noise is over any limit, retries add nothing
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    runs = [subprocess.Popen([sys.executable, "-m", "shotrender", "render", str(path), "--out", str(tmp_path / out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for out in ("a", "b")]
    for run in runs:
        assert run.wait(timeout=900) == 0, run.stderr.read()
    pictures = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    names = {p.name for p in pictures}
    assert {"ep01_park_1.png", "ep01_park_1@night.png"} <= names and len(pictures) >= 7, names
    for name in pictures:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    base, night = (decode_png((tmp_path / "a" / "sheets" / f).read_bytes()).astype(np.float64)
                   for f in ("ep01_park_1.png", "ep01_park_1@night.png"))
    assert np.abs(base - night).mean() >= 10  # measured 24.3/255; the same painting would be 0


def _problems(tmp_path, data) -> list:
    path = write_shotlist(tmp_path, data)
    return load_with_warnings(path, unread=True)[1]


def test_a_variant_is_checked_with_its_line_and_the_closest_name(tmp_path):
    data = episode([cut("C001", variant="nigth"), cut("C002", bg=None, variant="night"), cut("C003", variant=3)])
    data["backgrounds"]["park"]["variants"] = {"night": {"prompt": "night", "steps": 4, "strengh": 0.5},
                                               "dusk": {"prompt": "dusk", "strength": 2}}
    problems = {(p.field, p.warning): p for p in _problems(tmp_path, data)}
    text = (tmp_path / "episode.yaml").read_text().splitlines()
    wrong = problems["cuts[0].variant", False]
    assert "no variant 'nigth'" in wrong.message and "did you mean 'night'" in wrong.fix
    assert "variant: nigth" in text[wrong.line - 1]
    assert "without a background" in problems["cuts[1].variant", False].message
    assert "must be a variant's name" in problems["cuts[2].variant", False].message
    assert "did you mean 'strength'" in problems["backgrounds.park.variants.night.strengh", False].fix
    assert "unknown key 'steps'" in problems["backgrounds.park.variants.night.steps", False].message
    assert "must be in (0, 1]" in problems["backgrounds.park.variants.dusk.strength", False].message


def test_an_unused_variant_and_unread_parameters_are_warnings_with_their_lines(tmp_path):
    from shotrender.backends.base import PARAMS
    from shotrender.shotlist.validation import DRAFT_UNREAD

    assert set(DRAFT_UNREAD) == (set(PARAMS) | {"loras"}) - set(DraftBackend.reads)
    data = episode([cut("C001", variant="night", guidance=5.0), cut("C002", bg="street")])
    data["backgrounds"]["park"]["variants"] = {"night": {"prompt": "night"}, "dusk": {"prompt": "dusk"}}
    problems = _problems(tmp_path, data)
    assert all(p.warning for p in problems), problems
    fields = {p.field: p for p in problems}
    assert "used by no cut" in fields["backgrounds.park.variants.dusk"].message
    assert "draft backend" in fields["cuts[0].guidance"].message and fields["cuts[0].guidance"].cut == "C001"
    assert "steps" in fields["defaults.steps"].message  # helpers.episode sets defaults.steps
    lines = (tmp_path / "episode.yaml").read_text().splitlines()
    assert lines[fields["cuts[0].guidance"].line - 1].strip().startswith("guidance")
    render_problems = load_with_warnings(tmp_path / "episode.yaml")[1]  # only validate says it
    assert not any("draft backend" in p.message for p in render_problems)


def test_editing_a_variant_paints_its_sheet_and_its_cuts_again_and_nothing_else(tmp_path):
    path = _episode(tmp_path)
    render(make_plan(load(path)), DraftBackend(), RenderOptions(tmp_path / "out"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").rglob("*.png")}
    text = path.read_text()
    path.write_text(text.replace("street lamps lit", "street lamps lit, rain"))
    rows = {r.cut: r for r in status(make_plan(load(path)), DraftBackend(), tmp_path / "out")}
    stale = sorted(c for c, r in rows.items() if r.state != "up to date")
    assert stale == ["C002", "C004", "park/1@night"], {c: r.reasons for c, r in rows.items()}
    assert any("prompt changed" in r for r in rows["park/1@night"].reasons)
    render(make_plan(load(path)), DraftBackend(), RenderOptions(tmp_path / "out"))
    after = {p.name: p.read_bytes() for p in (tmp_path / "out").rglob("*.png")}
    changed = sorted(n for n in before if before[n] != after[n] and not n.endswith((".flow.png", ".error.png")))
    assert changed == ["ep01_C002.png", "ep01_C004.png", "ep01_park_1@night.png"]
    shown, warnings = clean_manifest(read_manifest(tmp_path / "out"))  # the report shows both sheets
    assert not warnings and {s["sheet"]: s["cuts"] for s in shown["sheets"]}["park/1@night"] == list(NIGHT)


def test_adding_a_variant_leaves_the_base_cuts_up_to_date(tmp_path):
    """A place without variants is painted as before; giving two of its cuts a variant changes only them."""
    path = _episode(tmp_path, variants=None, night=())
    render(make_plan(load(path)), DraftBackend(), RenderOptions(tmp_path / "out"))
    _episode(tmp_path)
    rows = {r.cut: r.state for r in status(make_plan(load(path)), DraftBackend(), tmp_path / "out")}
    assert {c for c, s in rows.items() if s != "up to date"} == {"C002", "C004", "park/1@night"}, rows


def _strength_episode(tmp_path, model="draft", size=SIZE, own=None):
    return _episode(tmp_path, size, model, variants=None, night=(), own=own)


def test_a_cuts_own_strength_and_words_reach_its_picture(tmp_path):
    plan = make_plan(load(_strength_episode(tmp_path / "default")))
    render(plan, DraftBackend(), RenderOptions(tmp_path / "default" / "out"))
    own = {"C002": {"strength": 0.95, "prompt": "rain, dusk"}}
    path = _strength_episode(tmp_path / "own", own=own)
    render(make_plan(load(path)), DraftBackend(), RenderOptions(tmp_path / "own" / "out"))
    a, b = (decode_png((tmp_path / f / "out" / "ep01_C002.png").read_bytes()) for f in ("default", "own"))
    difference = float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())
    sidecar = json.loads((tmp_path / "own" / "out" / "ep01_C002.json").read_text())
    print(f"draft: C002 with strength 0.95 and its own words differs from its default render by {difference:.1f}/255")
    assert difference >= 8
    assert sidecar["strength_used"] == 0.95 and sidecar["continuity"]["refine"] == 0.95
    assert len(sidecar["continuity"]["attempts"]) == 1  # a person's strength is not retried lower
    for cut_id in ("C001", "C003", "C004", "C006"):  # the others are as they were
        name = f"ep01_{cut_id}.png"
        assert (tmp_path / "default" / "out" / name).read_bytes() == (tmp_path / "own" / "out" / name).read_bytes()


@pytest.mark.slow
def test_the_tiny_pipeline_is_called_with_the_cuts_own_strength(tmp_path, tiny_model):
    from shotrender.backends.diffusers import DiffusersBackend

    class Recording(DiffusersBackend):
        def render(self, request):
            called[request.cut] = request.strength
            return super().render(request)

    called: dict[str, float] = {}
    path = _strength_episode(tmp_path, tiny_model, (128, 72), own={"C002": {"strength": 0.95, "prompt": "rain"}})
    plan = make_plan(load(path))
    render(plan, Recording(str(tiny_model), device="cpu"), RenderOptions(tmp_path / "out"))
    sidecar = json.loads((tmp_path / "out" / "ep01_C002.json").read_text())
    assert sidecar["continuity"]["mode"] == "sheet", sidecar["continuity"]
    assert called["C002"] == sidecar["strength_used"] == 0.95
    assert called["C001"] == 0.35  # continuity.refine, for a cut that sets none
