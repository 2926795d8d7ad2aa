"""Regressions found by a hostile pass over issue 16's fixes: selections, symlinks, damaged files, signals."""

from __future__ import annotations

import json
import shutil

from shotrender.backends.draft import DraftBackend
from shotrender.plan import make_plan, select
from shotrender.render import RenderOptions, render
from shotrender.shotlist import load

from helpers import episode, pan_layouts, write_shotlist


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
