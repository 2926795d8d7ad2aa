import json
import sys

import pytest

from shotrender.errors import UsageError
from shotrender.plan import count_chains, make_plan, select, shard_of_chains
from shotrender.shotlist import load

from helpers import cut, episode, run_cli, write_shotlist


@pytest.fixture
def plan(tmp_path):
    cuts = [cut("C001"), cut("C002", bg="street"), cut("C003"), cut("C004", bg=None),
            {"id": "C005", "reuse": "C003"}, {"id": "C006", "reuse": "C005"}, cut("C010"), cut("C012A", bg="street")]
    return make_plan(load(write_shotlist(tmp_path, episode(cuts))))


def test_chains_group_backgrounds_in_shot_list_order(plan):
    assert [(c.name, c.index) for c in plan.chains] == [("park", 0), ("street", 1), ("C004", 2)]
    park = plan.chains[0]
    assert [j.cut for j in park.jobs] == ["C001", "C003", "C010"]
    assert [j.upstream for j in park.jobs] == [None, "C001", "C003"]
    # a reuse of a reuse links to the rendered cut at the end of the trail, in that cut's chain
    assert [(k.cut, k.source) for k in park.links] == [("C005", "C003"), ("C006", "C003")]
    assert count_chains(plan.shotlist) == 3  # what `validate` prints, counted without planning


def test_every_cut_appears_once(plan):
    cuts = [c for chain in plan.chains for c in chain.cuts]
    assert sorted(cuts) == sorted(c.id for c in plan.shotlist.cuts)
    assert plan.cut_count == len(plan.shotlist.cuts)


@pytest.mark.parametrize(
    "selector, expected",
    [
        ("C001", {"C001"}),
        ("C001,C004", {"C001", "C004"}),
        ("C002-C010", {"C002", "C003", "C004", "C005", "C006", "C010"}),
        ("C011-C020", {"C012A"}),
    ],
)
def test_cut_selection(plan, selector, expected):
    picked = select(plan, cuts=selector)
    assert {c for chain in picked.chains for c in chain.cuts} == expected


def test_selected_cut_keeps_its_upstream(plan):
    (chain,) = select(plan, cuts="C003").chains
    assert chain.jobs[0].upstream == "C001"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cuts": "C099"}, "no cut 'C099'"),
        ({"cuts": "C001x"}, "did you mean C001"),
        ({"cuts": "C050-C060"}, "matches no cut"),
        ({"chain": "parc"}, "no chain parc"),
        ({"shard": "4/3"}, "expected i/n"),
        ({"shard": "0/3"}, "expected i/n"),
        ({"shard": "a"}, "expected i/n"),
    ],
)
def test_bad_selectors_are_usage_errors(plan, kwargs, message):
    with pytest.raises(UsageError, match=message):
        select(plan, **kwargs)


def test_chain_selection(plan):
    assert [c.name for c in select(plan, chain="street,C004").chains] == ["street", "C004"]


def _chain_plan(tmp_path, sizes):
    cuts, n = [], 0
    backgrounds = {f"bg{i}": {} for i in range(len(sizes))}
    for i, size in enumerate(sizes):
        for _ in range(size):
            n += 1
            cuts.append({"id": f"C{n:03d}", "layout": "layouts/shared.png", "bg": f"bg{i}"})
    data = episode([], backgrounds=backgrounds)
    data["cuts"] = cuts
    from helpers import draw_layout

    draw_layout(tmp_path / "layouts" / "shared.png")
    return make_plan(load(write_shotlist(tmp_path, data, layouts=False)))


def test_shards_cover_every_cut_once_and_balance(tmp_path):
    plan = _chain_plan(tmp_path, [9, 1, 4, 4, 3, 2, 2, 1, 1, 5])
    for n in (1, 2, 3, 5, 12):
        seen = []
        loads = []
        for i in range(1, n + 1):
            part = select(plan, shard=f"{i}/{n}")
            names = [c.name for c in part.chains]
            assert names == sorted(names, key=lambda x: int(x[2:]))  # shot-list order kept
            seen += [cut for chain in part.chains for cut in chain.cuts]
            loads.append(part.cut_count)
        assert sorted(seen) == sorted(c.id for c in plan.shotlist.cuts)
        if n in (2, 3):  # 32 cuts: the greedy split is as even as whole chains allow
            assert max(loads) - min(loads) <= 1, loads


def test_shard_split_is_fixed(tmp_path):
    plan = _chain_plan(tmp_path, [3, 3, 2, 2, 1])
    assert shard_of_chains(plan.chains, 2) == {"bg0": 1, "bg1": 2, "bg2": 1, "bg3": 2, "bg4": 1}


def test_plan_json_lists_every_cut_once(tmp_path):
    path = write_shotlist(tmp_path, episode([cut("C001"), cut("C002"), {"id": "C003", "reuse": "C001"}]))
    out = run_cli("plan", str(path), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["schema"] == "shotrender.plan/1"
    listed = [c for chain in data["chains"] for c in chain["cuts"]]
    assert sorted(listed) == ["C001", "C002", "C003"] and data["cut_count"] == 3
    job = data["chains"][0]["jobs"][1]
    assert set(job) == {"cut", "position", "layout", "upstream", "variant", "sheet", "mode", "camera", "seed", "steps",
                        "strength", "strength_used", "fusion", "guidance", "prompt", "negative"}


def test_validate_and_plan_of_3000_cuts_never_import_torch(tmp_path):
    from helpers import draw_layout

    for i in range(30):
        draw_layout(tmp_path / "layouts" / f"L{i:02d}.png", seed=i)
    backgrounds = {f"bg{i:02d}": {"prompt": f"place {i}"} for i in range(60)}
    cuts = [{"id": f"C{n:04d}", "layout": f"layouts/L{n % 30:02d}.png", "bg": f"bg{n % 60:02d}",
             "prompt": f"cut {n}"} for n in range(3000)]
    path = write_shotlist(tmp_path, episode(cuts, backgrounds=backgrounds), layouts=False)
    code = (
        "import sys; from shotrender.shotlist import load; from shotrender.plan import make_plan, select;"
        f"p = make_plan(load({str(path)!r})); select(p, shard='2/7');"
        "assert p.cut_count == 3000;"
        "bad = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules];"
        "print('imported:', bad)"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "imported: []"


def test_objects_built_per_cut_equal_those_their_classes_build(tmp_path):
    """Cut, Params and Job are made without their dataclass __init__ (shotlist.frozen_instance) for speed."""
    import dataclasses
    import gc

    cuts = [cut("C001", prompt=" bench ", seed=3, frames=24, notes="n"), cut("C002", bg="street", steps=4),
            cut("C003", bg=None, strength=0.3, guidance=2), {"id": "C004", "reuse": "C001"}]
    plan = make_plan(load(write_shotlist(tmp_path, episode(cuts))))
    objects = [*plan.shotlist.cuts, *(c.params for c in plan.shotlist.cuts), *plan.jobs]
    assert len(objects) == 11
    for obj in objects:
        again = dataclasses.replace(obj)  # through __init__, every field given
        assert again == obj and hash(again) == hash(obj) and repr(again) == repr(obj)
        assert list(vars(again).items()) == list(vars(obj).items())
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.line = 1
    assert gc.isenabled()


def test_gc_pause_restores_the_collector():
    import gc

    from shotrender.shotlist import gc_paused

    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(KeyError), gc_paused():
        raise KeyError("x")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()


@pytest.mark.parametrize("base", ["", "a", "a, b"])
@pytest.mark.parametrize("part", [None, "", "  ", "x", " x ", "x, y", "\tx\n"])
def test_prompt_join_onto_a_joined_base_is_the_full_join(base, part):
    from shotrender.plan import _join, _join_onto

    assert _join_onto(base, part) == _join(base, part)


@pytest.mark.parametrize("kwargs", [{"cuts": ""}, {"cuts": ","}, {"cuts": " , "}, {"chain": ""}, {"chain": ","},
                                    {"units": ""}, {"units": ","}, {"shard": ""}, {"shard": "/"}])
def test_an_empty_selector_is_a_usage_error_not_a_selection_of_nothing(plan, kwargs):
    (option, value), = kwargs.items()
    with pytest.raises(UsageError, match=rf"^--{option} {value!r}: the value is empty"):
        select(plan, **kwargs)
