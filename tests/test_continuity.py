"""Continuity across a synthetic camera pan: one sheet, each cut its view, fusion, the check, retries, flags."""

import json

import numpy as np
import pytest

from shotrender import continuity, flow
from shotrender.errors import ShotListError
from shotrender.images import decode_png, read_layout
from shotrender.plan import make_plan
from shotrender.render import RenderOptions, check, render
from shotrender.shotlist import load

from helpers import cut, episode, pan_layouts, run_cli, write_shotlist

PAN = [f"P{i:02d}" for i in range(1, 5)]


def pan_episode(tmp_path, model="draft", size=(256, 144), step=40, **continuity_settings):
    pan_layouts(tmp_path / "layouts", 4, *size, step=step)
    cuts = [{"id": c, "layout": f"layouts/{c}.png", "bg": "park"} for c in PAN]
    cuts.append(cut("S001", bg="street"))
    data = episode(cuts, size=list(size), model=str(model), output="out")
    if continuity_settings:
        data["continuity"] = continuity_settings
    return write_shotlist(tmp_path, data, width=size[0], height=size[1])


def masked_errors(path, out_dir):
    """The raw masked warp error (Lai et al. 2018) of each consecutive pan pair's renders, 0-1."""
    sl = load(path)
    errors = []
    for a, b in zip(PAN, PAN[1:], strict=False):
        la = read_layout(sl.base_dir / f"layouts/{a}.png", sl.width, sl.height)
        lb = read_layout(sl.base_dir / f"layouts/{b}.png", sl.width, sl.height)
        p = continuity.pair(la, lb, sl.continuity)
        ra = decode_png((out_dir / f"ep01_{a}.png").read_bytes())
        rb = decode_png((out_dir / f"ep01_{b}.png").read_bytes())
        errors.append(flow.warp_error(rb, p.warp(ra), p.mask))
    return errors


def _with_and_without(tmp_path, path, env=None):
    on = run_cli("render", str(path), "--out", str(tmp_path / "on"), env=env)
    assert on.returncode == 0, on.stderr
    off = run_cli("render", str(path), "--out", str(tmp_path / "off"), "--no-continuity", env=env)
    assert off.returncode == 0, off.stderr
    return np.mean(masked_errors(path, tmp_path / "on")), np.mean(masked_errors(path, tmp_path / "off"))


def test_draft_pan_warp_error_at_least_halved(tmp_path):
    on, off = _with_and_without(tmp_path, pan_episode(tmp_path))
    print(f"draft pan: masked warp error {on:.4f} with continuity, {off:.4f} without, ratio {on / off:.3f}")
    assert on <= 0.5 * off


def test_tiny_diffusion_pan_warp_error_at_least_halved(tmp_path, tiny_model):
    import os

    path = pan_episode(tmp_path, tiny_model, size=(128, 72), step=20, limit=1.0)
    data = load(path)
    assert data.continuity.limit == 1.0
    on, off = _with_and_without(tmp_path, path, env={**os.environ, "OMP_NUM_THREADS": "1"})
    print(f"tiny diffusion pan: masked warp error {on:.4f} with continuity, {off:.4f} without, ratio {on / off:.3f}")
    assert on <= 0.5 * off


def test_sidecar_records_the_sheet_and_pictures(tmp_path):
    path = pan_episode(tmp_path)
    assert run_cli("render", str(path)).returncode == 0
    out = tmp_path / "out"
    sheet = json.loads((out / "sheets" / "ep01_park_1.json").read_text())
    assert sheet["sheet"] == "park/1" and [c for c, _ in sheet["inputs"]["cuts"]] == PAN
    h, w, _ = decode_png((out / "sheets" / "ep01_park_1.png").read_bytes()).shape
    assert abs(h - 144) <= 1 and abs(w - (256 + 3 * 40)) <= 1  # the pan's whole stretch, within a pixel
    for name in PAN:
        record = json.loads((out / f"ep01_{name}.json").read_text())
        report = record["continuity"]
        assert report["mode"] == "sheet" and report["sheet"] == "park/1"
        assert report["overlap"] > 0.9  # each cut sees only paper the sheet shows
        assert report["attempts"][report["chosen"]]["score"] <= report["limit"]
        for picture in record["pictures"].values():
            assert decode_png((out / picture).read_bytes()).shape == (144, 256, 3)
        # keyed by the sheet's key, and made from its painting, named by hash
        assert record["inputs"]["sheet"]["key"] == sheet["key"]
        assert record["guided_by"] == {"park/1": sheet["image"]["sha256"]}
    alone = json.loads((out / "ep01_S001.json").read_text())
    assert alone["continuity"]["mode"] == "alone" and "sheet" not in alone["guided_by"]


def test_changing_a_cuts_prompt_renders_that_cut_only(tmp_path):
    path = pan_episode(tmp_path)
    assert run_cli("render", str(path)).returncode == 0
    data = load(path)
    text = path.read_text().replace("id: P02\n", "id: P02\n  prompt: rain\n")
    path.write_text(text)
    assert load(path).cut("P02").params.prompt == "rain" and data.cut("P02").params.prompt is None
    status = json.loads(run_cli("status", str(path), "--json").stdout)
    assert {r["cut"]: r["state"] for r in status} == {"park/1": "up to date", "P01": "up to date", "P02": "stale",
                                                      "P03": "up to date", "P04": "up to date",
                                                      "S001": "up to date"}
    result = run_cli("render", str(path), "--progress", "plain")
    assert "1 rendered, 4 cached" in result.stdout, result.stdout


class OffsetBackend:
    """Paints flat grey, its level set by the seed and the cut (or sheet): no two of them match."""

    name = "offset"

    def identity(self):
        return {"backend": "offset"}

    def load(self):
        pass

    def describe(self):
        return {"backend": "offset"}

    def render(self, r):
        return np.full((r.height, r.width, 3), (r.seed * 97 + sum(map(ord, r.cut)) * 61) % 256, np.uint8)


def test_over_the_limit_retries_then_flags_keeping_the_best(tmp_path):
    path = pan_episode(tmp_path, fusion=0.0, limit=0.0001, max_attempts=3)
    plan = make_plan(load(path))
    result = render(plan, OffsetBackend(), RenderOptions(tmp_path / "out"))
    statuses = {r.cut: r.status for r in result.results}
    assert {statuses[c] for c in PAN} == {"flagged"} and statuses["S001"] == "rendered"
    record = json.loads((tmp_path / "out" / "ep01_P02.json").read_text())
    attempts = record["continuity"]["attempts"]
    assert len(attempts) == 3 and record["status"] == "flagged" and record["continuity"]["flagged"]
    base = plan.jobs[1]
    refine = load(path).continuity.refine
    assert [(a["strength"], a["seed"]) for a in attempts] == [continuity.attempt_params(refine, base.seed, i)
                                                              for i in range(3)]
    best = min(range(3), key=lambda i: attempts[i]["score"])
    assert record["continuity"]["chosen"] == best and record["seed_used"] == attempts[best]["seed"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["flagged"] == 4


def test_a_cut_that_registers_with_nothing_keeps_the_colours_of_its_place(tmp_path):
    """Another angle of the park (a layout of its own) is painted alone and held to the first sheet's colours."""
    pan_layouts(tmp_path / "layouts", 4, 256, 144, step=40)
    cuts = [{"id": c, "layout": f"layouts/{c}.png", "bg": "park"} for c in PAN]
    cuts.append(cut("A001", bg="park"))
    path = write_shotlist(tmp_path, episode(cuts, size=[256, 144], output="out"), width=256, height=144)
    assert run_cli("render", str(path)).returncode == 0
    record = json.loads((tmp_path / "out" / "ep01_A001.json").read_text())["continuity"]
    assert record["mode"] == "colour" and record["reference"] == "park/1"


def test_check_command_scores_existing_renders(tmp_path):
    path = pan_episode(tmp_path)
    assert run_cli("render", str(path)).returncode == 0
    rows = json.loads(run_cli("check", str(path), "--json").stdout)
    assert [(r["upstream"], r["cut"], r["mode"]) for r in rows] == [
        ("park/1", "P01", "sheet"), ("park/1", "P02", "sheet"), ("P01", "P02", "flow"), ("park/1", "P03", "sheet"),
        ("P02", "P03", "flow"), ("park/1", "P04", "sheet"), ("P03", "P04", "flow")]
    assert all(not r["over"] for r in rows)
    for r in rows:  # the score render kept for each cut, worked out again from the files
        if r["mode"] == "sheet":
            record = json.loads((tmp_path / "out" / f"ep01_{r['cut']}.json").read_text())["continuity"]
            assert r["score"] == pytest.approx(record["attempts"][record["chosen"]]["score"], abs=1e-6)
    plan = make_plan(load(path))
    assert [r.cut for r in check(plan, tmp_path / "out")] == [r["cut"] for r in rows]
    # a selection that starts mid-chain reads its first neighbour itself, and scores the same
    assert json.loads(run_cli("check", str(path), "--cuts", "P03,P04", "--json").stdout) == rows[3:]


def test_background_overrides_and_bad_settings(tmp_path):
    data = episode([cut("C001"), cut("C002", bg="street")], continuity={"fusion": 0.5})
    data["backgrounds"]["street"]["continuity"] = {"enabled": False}
    sl = load(write_shotlist(tmp_path / "ok", data))
    assert sl.continuity_for("park").fusion == 0.5 and sl.continuity_for("park").enabled
    assert not sl.continuity_for("street").enabled and sl.continuity_for("street").fusion == 0.5
    bad = episode([cut("C001")], continuity={"fusion": 2, "flow_preset": "slow", "enabeld": True})
    with pytest.raises(ShotListError) as e:
        load(write_shotlist(tmp_path / "bad", bad))
    text = str(e.value)
    assert "continuity.fusion: must be between 0 and 1" in text
    assert "must be one of ultrafast, fast, medium" in text and "did you mean 'enabled'?" in text


def test_tile_settings_are_checked_with_their_lines(tmp_path):
    bad = episode([cut("C001")], continuity={"tile": 500, "tile_overlap": 512})
    with pytest.raises(ShotListError) as e:
        load(write_shotlist(tmp_path, bad))
    text = str(e.value)
    assert "continuity.tile: must be a multiple of 8" in text and "use 496" in text
    assert "continuity.tile_overlap: must be less than tile (500), got 512" in text


def test_a_later_sheet_of_a_place_is_held_to_the_first_ones_colours(tmp_path):
    """Two pans of one place that share no line (two angles): two sheets; the second is painted, retried and
    flagged against the first one's colours, and names it."""
    first = pan_layouts(tmp_path / "layouts" / "a", 2, 256, 144, step=40, seed=3)
    second = pan_layouts(tmp_path / "layouts" / "b", 2, 256, 144, step=40, seed=9)
    cuts = [{"id": f"A0{i}", "layout": str(p.relative_to(tmp_path)), "bg": "park"} for i, p in enumerate(first, 1)]
    cuts += [{"id": f"B0{i}", "layout": str(p.relative_to(tmp_path)), "bg": "park"} for i, p in enumerate(second, 1)]
    path = write_shotlist(tmp_path, episode(cuts, size=[256, 144], output="out",
                                            continuity={"colour_limit": 0.0001, "max_attempts": 2}), layouts=False)
    assert run_cli("render", str(path)).returncode == 0
    one = json.loads((tmp_path / "out" / "sheets" / "ep01_park_1.json").read_text())
    two = json.loads((tmp_path / "out" / "sheets" / "ep01_park_2.json").read_text())
    assert one["continuity"]["mode"] == "first" and one["status"] == "rendered"
    assert two["continuity"]["mode"] == "colour" and two["continuity"]["reference"] == "park/1"
    assert len(two["continuity"]["attempts"]) == 2 and two["status"] == "flagged"
    assert two["guided_by"] == {"park/1": one["image"]["sha256"]}
    assert two["inputs"]["colours"]["key"] == one["key"]
    status = {r["cut"]: r["state"] for r in json.loads(run_cli("status", str(path), "--json").stdout)}
    assert status["park/2"] == "flagged" and status["B01"] == "up to date"
