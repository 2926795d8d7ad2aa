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


def _episode(folder, size=SIZE, model="draft", variants=VARIANTS, night=NIGHT, own=None, ids=location.SAME_PLACE,
             defaults=None, **top) -> object:
    """The place's cuts `ids` (its five, location.SAME_PLACE), `night` ones in the variant; `own`: cut -> extra
    fields; `defaults`: parameters over helpers.episode's; `top`: shot-list fields (continuity settings)."""
    (folder / "layouts").mkdir(parents=True, exist_ok=True)
    for cut_id, image in location.layouts(size, ids):
        cv2.imwrite(str(folder / "layouts" / f"{cut_id}.png"), image[:, :, ::-1])
    cuts = []
    for cut_id in ids:
        entry = {"id": cut_id, "layout": f"layouts/{cut_id}.png", "bg": "park"}
        if cut_id in night:
            entry["variant"] = "night"
        entry.update((own or {}).get(cut_id, {}))
        cuts.append(entry)
    data = episode(cuts, size=list(size), model=str(model), output="out", **top)
    data["defaults"].update(defaults or {})
    data["backgrounds"] = {"park": {"prompt": "city park in spring", **({"variants": variants} if variants else {})}}
    return write_shotlist(folder, data, layouts=False)


def _pictures(out, ids=location.SAME_PLACE, blur: float = 0) -> dict:
    pictures = {c: decode_png((out / f"ep01_{c}.png").read_bytes()) for c in ids}
    return {c: cv2.GaussianBlur(p, (0, 0), blur) for c, p in pictures.items()} if blur else pictures


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


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two paintings' grey levels, pixel by pixel: 1 when b's light and dark fall where
    a's do, 0 for unrelated ones. Edges of pixel noise are everywhere, so on the tiny pipeline this is what
    says the variant's structure is its base's."""
    grey = [cv2.cvtColor(p, cv2.COLOR_RGB2GRAY).astype(np.float64).ravel() for p in (a, b)]
    return float(np.corrcoef(*grey)[0, 1])


def measure(on, off, size=SIZE, blur: float = 0) -> dict:
    """The figures of the note, from a render of the place with sheets (`on`) and one without (`off`); `blur`
    (px, Gaussian sigma), given, compares the renders' paint at that scale instead of pixel by pixel."""
    renders = {name: _pictures(out, blur=blur) for name, out in (("on", on), ("off", off))}
    layouts = dict(location.layouts(size))
    base, night = (decode_png((on / "sheets" / f"ep01_park_1{s}.png").read_bytes()) for s in ("", "@night"))
    figures = {}
    for group, ids in (("base", BASE), ("night", NIGHT)):
        with_sheets = paint_error({c: renders["on"][c] for c in ids}, layouts, size)[0]
        alone = paint_error({c: renders["off"][c] for c in ids}, layouts, size)[0]
        figures[group], figures[f"{group}_error"] = with_sheets / alone, 255 * with_sheets
    figures["between"] = _paint_between(renders["on"], BASE, NIGHT, layouts, size)
    figures["sheets"] = float(np.abs(base.astype(np.float32) - night.astype(np.float32)).mean())
    figures["edges"] = min(edge_agreement(base, night), edge_agreement(night, base))
    figures["edges_alone"] = edge_agreement(base, cv2.flip(night, 1))  # what unrelated edges score
    figures["correlation"] = correlation(base, night)
    figures["correlation_alone"] = correlation(base, cv2.flip(night, 1))
    return figures


FIGURES = ("within base {base:.3f}x ({base_error:.1f}/255), within night {night:.3f}x ({night_error:.1f}/255) of no "
           "continuity; base vs night {between:.1f}/255 on the paint (sheets {sheets:.1f}/255); edges agree "
           "{edges:.3f} (mirrored {edges_alone:.3f}); sheets correlate {correlation:.3f} (mirrored "
           "{correlation_alone:.3f})")


def test_a_variant_is_the_place_in_another_light(tmp_path):
    plan = make_plan(load(_episode(tmp_path)))
    for name, run in (("on", RunSettings()), ("off", RunSettings(continuity=False))):
        render(plan, DraftBackend(), RenderOptions(tmp_path / name, run))
    f = measure(tmp_path / "on", tmp_path / "off")
    print("draft: " + FIGURES.format(**f))
    assert f["base"] <= 0.3 and f["night"] <= 0.3
    assert f["between"] >= 25
    assert f["edges"] >= 0.9 > f["edges_alone"] + 0.2


# The tiny pipeline's frame: the smallest of these proportions at which the 1.4x track-in C004 registers with the
# others (at 128x72 it does not, and is painted alone). One attempt a cut (its noise is over any limit: retries
# add nothing but time) and a sheet in one window (64-px windows made a sheet take minutes).
TINY = (144, 80)
TINY_SETTINGS = {"continuity": {"max_attempts": 1, "tile": 512}}


@pytest.fixture(scope="module")
def tiny_variant(tmp_path_factory, tiny_model, one_torch_thread):
    """The five-cut place with its night variant on the random-weight pipeline, rendered with sheets by this
    process (a/) and, side by side, by a `render` process of its own (b/); then without continuity (off/)."""
    import os

    from shotrender.backends.diffusers import DiffusersBackend

    folder = tmp_path_factory.mktemp("tinyvariant")
    path = _episode(folder, TINY, tiny_model, **TINY_SETTINGS)
    other = subprocess.Popen([sys.executable, "-m", "shotrender", "render", str(path), "--out", str(folder / "b"),
                              "--progress", "none"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})  # one thread, as this process paints
    try:
        plan = make_plan(load(path))
        for name, run in (("a", RunSettings()), ("off", RunSettings(continuity=False))):
            render(plan, DiffusersBackend(str(tiny_model), device="cpu"), RenderOptions(folder / name, run))
        _, errors = other.communicate(timeout=900)
    finally:  # a failure here leaves no render running behind the test
        if other.poll() is None:
            other.kill()
            other.wait()
    assert other.returncode == 0, errors
    return folder


@pytest.mark.slow
def test_the_tiny_pipeline_paints_a_variant_the_same_in_two_processes(tiny_variant):
    folder = tiny_variant
    pictures = sorted(p.relative_to(folder / "a") for p in (folder / "a").rglob("*.png"))
    names = {p.name for p in pictures}
    assert {"ep01_park_1.png", "ep01_park_1@night.png"} <= names and len(pictures) >= 7, names
    for name in pictures:
        assert (folder / "a" / name).read_bytes() == (folder / "b" / name).read_bytes(), name
    for cut_id in location.SAME_PLACE:  # every cut a view of its variant's sheet, none painted alone
        report = json.loads((folder / "a" / f"ep01_{cut_id}.json").read_text())["continuity"]
        assert report["sheet"] == ("park/1@night" if cut_id in NIGHT else "park/1"), (cut_id, report)


@pytest.mark.slow
def test_the_tiny_pipeline_keeps_a_variant_consistent_and_its_own(tiny_variant):
    """The issue's figures on the random-weight pipeline. Its pictures are pixel noise, which any resampling
    changes: two views of one base sheet through the true cameras (C001, and C003 turned 2 degrees) differ by
    9.9/255 where no continuity gives 40.9, before anything is painted. So the paint is compared at a pen
    width's scale (Gaussian sigma 1 px); pixel by pixel the figures are printed too."""
    folder = tiny_variant
    raw = measure(folder / "a", folder / "off", TINY)
    f = measure(folder / "a", folder / "off", TINY, blur=1)
    print("tiny pipeline, pixel by pixel: " + FIGURES.format(**raw))
    print("tiny pipeline, at sigma 1 px: " + FIGURES.format(**f))
    assert f["base"] <= 0.3 and f["night"] <= 0.3
    # the night cuts are not the base's: they differ from them well beyond what views of one sheet differ by
    assert f["between"] >= 1.5 * max(f["base_error"], f["night_error"])
    # and the night sheet's light and dark fall where the base's do (repainted from it), unlike unrelated noise
    assert f["correlation"] >= 0.5 > f["correlation_alone"] + 0.3


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


def test_a_variants_own_parameters_are_in_its_sheets_key_alone(tmp_path):
    """Each parameter of a variant the draft reads changes its sheet's key and not its base sheet's."""
    from shotrender.state import State
    from shotrender.store import Store

    (tmp_path / "boards").mkdir()
    cv2.imwrite(str(tmp_path / "boards" / "night.png"), np.full((8, 8, 3), (90, 30, 20), np.uint8))

    def keys(variants) -> dict:
        plan = make_plan(load(_episode(tmp_path, variants=variants)))
        state = State(plan, Store(tmp_path / "out", "ep01"), DraftBackend().identity(), RunSettings(),
                      DraftBackend.reads)
        return {s.id: state.sheet_key(s)[0] for s in state.sheets_for(plan.chains[0].jobs)}

    before = keys(VARIANTS)
    for edit in ({"prompt": "night, rain"}, {"seed": 99}, {"strength": 0.8},
                 {"art_board": {"image": "boards/night.png", "strength": 0.5}}):
        after = keys({"night": {**VARIANTS["night"], **edit}})
        assert before["park/1"] == after["park/1"] and before["park/1@night"] != after["park/1@night"], edit


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
def test_the_tiny_pipeline_is_called_with_the_cuts_own_strength(tmp_path, tiny_model, one_torch_thread):
    """What the diffusers pipeline is called with (its `strength` argument) is the strength written on the cut,
    and the sidecar says so; a cut that writes none is refined at continuity.refine."""
    from shotrender.backends.diffusers import DiffusersBackend

    class Recording(DiffusersBackend):
        def _arguments(self, requests):
            arguments = super()._arguments(requests)
            called.setdefault(requests[0].cut, []).append(arguments["strength"])
            return arguments

    called: dict[str, list[float]] = {}
    path = _episode(tmp_path, TINY, tiny_model, variants=None, night=(), ids=("C001", "C002"),
                    own={"C002": {"strength": 0.95, "prompt": "rain"}}, **TINY_SETTINGS)
    render(make_plan(load(path)), Recording(str(tiny_model), device="cpu"), RenderOptions(tmp_path / "out"))
    sidecars = {c: json.loads((tmp_path / "out" / f"ep01_{c}.json").read_text()) for c in ("C001", "C002")}
    assert sidecars["C002"]["continuity"]["sheet"] == "park/1", sidecars["C002"]["continuity"]
    assert called["C002"] == [sidecars["C002"]["strength_used"]] == [0.95]
    assert called["C001"] == [sidecars["C001"]["strength_used"]] == [0.35]  # continuity.refine
