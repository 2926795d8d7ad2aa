"""Variants of a place (the same setting at night) and a cut's own strength, measured on the vector place of
tests/location.py: its five cuts of one place, two of them in the variant `night`, three in the base."""

from __future__ import annotations

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
from shotrender.shotlist import load
from shotrender.state import RunSettings
from test_sheet_continuity import SIZE, TINY_SIZE, paint_error

from helpers import episode, write_shotlist

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
        cut = {"id": cut_id, "layout": f"layouts/{cut_id}.png", "bg": "park"}
        if cut_id in night:
            cut["variant"] = "night"
        cut.update((own or {}).get(cut_id, {}))
        cuts.append(cut)
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
    """The random-weight pipeline: the same properties, and every picture byte-identical when two processes
    (side by side) render the place."""
    from shotrender.backends.diffusers import DiffusersBackend

    path = _episode(tmp_path, TINY_SIZE, tiny_model)
    runs = [subprocess.Popen([sys.executable, "-m", "shotrender", "render", str(path), "--out", str(tmp_path / out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for out in ("a", "b")]
    render(make_plan(load(path)), DiffusersBackend(str(tiny_model), device="cpu"),
           RenderOptions(tmp_path / "off", RunSettings(continuity=False)))
    for run in runs:
        assert run.wait(timeout=900) == 0, run.stderr.read()
    f = measure(tmp_path, tmp_path / "a", tmp_path / "off", TINY_SIZE)
    print("tiny pipeline: " + FIGURES.format(**f))
    assert f["base"] <= 0.3 and f["night"] <= 0.3
    assert f["between"] >= 25
    assert f["edges"] >= 0.9 > f["edges_alone"] + 0.2
    pictures = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert len(pictures) >= 7  # the two sheets and the five cuts, with their pictures
    for name in pictures:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
