"""Any input, however wrong, gets an answer, never a crash.

The shot-list parser turns any text into a ShotList or a ShotListError whose problems point into the
file; the selectors (`--cuts`, `--chain`, `--shard`, `--units`) turn any string into a selection or a
UsageError. Hypothesis writes the inputs: random text, YAML of random values, mutations of a valid shot
list, and YAML-looking token soup (tags, anchors, flow brackets); the parametrized tests after each
property pin the smallest inputs that once broke it.
"""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shotrender.errors import ShotListError, ShotRenderError, UsageError
from shotrender.plan import Plan, make_plan, select
from shotrender.shotlist import CONTINUITY_FIELDS, CUT_KEYS, TOP_KEYS, ShotList, parse

SOURCE = "shots/ep01.yaml"
FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

VALID = {
    "version": 1, "episode": "ep01", "size": [1024, 576], "model": "draft", "seed": 1000,
    "output": "renders/ep01",
    "continuity": {"enabled": True, "min_overlap": 0.25, "limit": 0.05, "max_attempts": 3, "flow_preset": "fast"},
    "defaults": {"steps": 30, "strength": 0.55, "guidance": 7.5, "prompt": "anime background", "negative": "text"},
    "backgrounds": {"park": {"prompt": "city park", "continuity": {"fusion": 0.8}},
                    "street": {"prompt": "street at dusk", "seed": 7}},
    "cuts": [
        {"id": "C001", "layout": "layouts/C001.png", "bg": "park", "prompt": "wide shot", "frames": 48},
        {"id": "C002", "layout": "layouts/C002.png", "bg": "park", "strength": 0.5, "notes": "pan right"},
        {"id": "C003A", "layout": "layouts/C003A.png", "bg": "street", "seed": 12, "steps": 20},
        {"id": "C-1", "layout": "layouts/C-1.png", "bg": "street", "guidance": 5},
        {"id": "C010", "layout": "layouts/C010.png"},
        {"id": "C011", "reuse": "C001"},
    ],
}


def _answers(text: str) -> ShotList | None:
    """The property: a ShotList, or a ShotListError whose every problem names the file and, when it gives a
    line, a line of the text."""
    try:
        shotlist = parse(text, source=SOURCE, base_dir=".")
    except ShotListError as e:
        assert e.problems, "a ShotListError with no problem in it"
        # YAML marks what is missing at the end of a file one line past its last; it also breaks lines at
        # NEL and the Unicode line separators, which str.splitlines counts too
        end = max(text.count("\n"), len(text.splitlines())) + 2
        for problem in e.problems:
            assert str(problem).startswith(SOURCE + ":"), str(problem)
            assert problem.line is None or 1 <= problem.line <= end, (problem, end)
        return None
    assert isinstance(shotlist, ShotList)
    return shotlist


def test_the_valid_shot_list_parses():
    assert _answers(yaml.safe_dump(VALID, sort_keys=False)) is not None


# ------------------------------------------------------------------------------------------ strategies

KNOWN_WORDS = [*TOP_KEYS, *CUT_KEYS, *CONTINUITY_FIELDS, "park", "street", "C001", "draft", "layouts/C001.png"]
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(KNOWN_WORDS + ["", " ", "1e400", "0x1F", "yes", "~", "C-1", "\x00", "é", "ｃ００１"])
    | st.integers(min_value=10**308, max_value=10**320)  # beyond what a float holds
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KNOWN_WORDS) | st.text(max_size=6),
                                                                inner, max_size=4),
    max_leaves=16,
)

YAML_TOKENS = [
    "version", "episode", "size", "model", "cuts", "id", "layout", "bg", "reuse", "strength", "continuity",
    "- ", ": ", "\n", "\n  ", "\n    ", "[", "]", "{", "}", ", ", "&a ", "*a", "&b ", "*b", "? ", "<<: ", "'", '"',
    "# ", "|\n", ">\n", "---\n", "...\n", "%YAML 1.1\n", "\t", "~", "1", "64", "1024", "0.5", "1e999", ".nan",
    "-.inf", "0x1g", "C001", "park", "draft", "true", "2001-02-30", "!!int ", "!!float ", "!!bool ", "!!str ",
    "!!null ", "!!timestamp ", "!!binary ", "!!set ", "!!omap ", "!!python/object/apply:os.system ", "!custom ",
]
yaml_soup = st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=3), max_size=40).map("".join)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


@st.composite
def mutated_shot_lists(draw) -> str:
    """The valid shot list with 1 to 4 changes: a key or item dropped, a value replaced by anything, an unknown
    key added, an item repeated (two cuts with one id)."""
    data = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_paths(data))))
        kind = draw(st.sampled_from(["drop", "replace", "add", "repeat"]))
        if not path:
            data = draw(values) if kind == "replace" else data
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if kind == "drop":
            del parent[last]
        elif kind == "replace":
            parent[last] = draw(values)
        elif kind == "add" and isinstance(parent[last], dict):
            parent[last][draw(st.sampled_from(KNOWN_WORDS) | st.text(max_size=6))] = draw(values)
        elif kind == "repeat" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# ------------------------------------------------------------------------------------------ the shot list


@FAST
@given(st.text())
def test_any_text_is_a_shot_list_or_a_shot_list_error(text):
    _answers(text)


@FAST
@given(values)
def test_any_yaml_value_is_a_shot_list_or_a_shot_list_error(value):
    _answers(yaml.safe_dump(value, allow_unicode=True))


@FAST
@given(st.dictionaries(st.sampled_from(TOP_KEYS), values, max_size=len(TOP_KEYS)))
def test_any_values_under_the_known_keys_are_a_shot_list_or_a_shot_list_error(data):
    _answers(yaml.safe_dump(data, allow_unicode=True))


@FAST
@given(mutated_shot_lists())
def test_a_mutated_shot_list_is_a_shot_list_or_a_shot_list_error(text):
    _answers(text)


@FAST
@given(yaml_soup)
def test_yaml_looking_token_soup_is_a_shot_list_or_a_shot_list_error(text):
    _answers(text)


HOSTILE_YAML = {
    "int tag on text": "version: !!int abc\n",
    "float tag on text": "version: !!float abc\n",
    "timestamp tag on text": "version: !!timestamp abc\n",
    "int tag on nothing": "version: !!int\n",
    "float tag on nothing": "version: !!float\n",
    "int too long to read": "version: " + "9" * 5000 + "\n",
    "int beyond a float": "version: 1\nepisode: ep01\nsize: [64, 64]\nmodel: draft\n"
                          "defaults: {strength: " + "9" * 400 + "}\ncuts: [{id: C001, layout: a.png}]\n",
    "nesting 3000 deep": "cuts: " + "[" * 3000 + "]" * 3000 + "\n",
    "list that holds itself": "cuts: &a [*a]\n",
    "mapping that holds itself": "defaults: &a {x: *a}\n",
}


@pytest.mark.parametrize("text", HOSTILE_YAML.values(), ids=HOSTILE_YAML.keys())
def test_hostile_yaml_is_a_shot_list_error(text):
    with pytest.raises(ShotListError):
        parse(text, source=SOURCE, base_dir=".")


# ------------------------------------------------------------------------------------------ selectors

PLAN = make_plan(parse(yaml.safe_dump(VALID, sort_keys=False), source=SOURCE, base_dir="."))
ALL_CUTS = [c for chain in PLAN.chains for c in chain.cuts]
SELECTOR_TOKENS = [*ALL_CUTS, *(c.name for c in PLAN.chains), "C", "-", ",", ":", "/", " ", "A", "_", "0", "-1",
                   ":-1", "C0", "C99", "park,street", "1-3", "9-1:-2", "\t", "é", "٣", "１"]
# Shard counts between ten thousand and 2**64 are left out: `--shard 1/N` does work in proportion to N
# (see test_hostile_selectors), so a large N makes a slow test rather than a failing one.
numbers = (st.integers(0, 10**4) | st.integers(2**64, 2**80)).map(str)
selector_text = st.text(max_size=12) | st.lists(st.sampled_from(SELECTOR_TOKENS) | numbers, max_size=8).map("".join)


def _selects(plan: Plan, **selectors) -> Plan | None:
    """The property: a Plan of the plan's own cuts, each once, or a UsageError (any ShotRenderError)."""
    try:
        selected = select(plan, **selectors)
    except ShotRenderError as e:
        assert isinstance(e, UsageError), repr(e)
        return None
    cuts = [c for chain in selected.chains for c in chain.cuts]
    assert len(cuts) == len(set(cuts)) and set(cuts) <= set(ALL_CUTS)
    return selected


@FAST
@given(st.fixed_dictionaries({}, optional={name: selector_text for name in ("cuts", "chain", "shard", "units")}))
def test_any_selector_string_selects_or_is_a_usage_error(selectors):
    _selects(PLAN, **selectors)


@FAST
@given(st.integers(1, 12))
def test_the_shards_of_any_count_cover_every_cut_once(count):
    cuts = [c for i in range(1, count + 1) for chain in select(PLAN, shard=f"{i}/{count}").chains for c in chain.cuts]
    assert sorted(cuts) == sorted(ALL_CUTS)


HOSTILE_SELECTORS = {
    "shard count beyond an index": {"shard": "1/99999999999999999999"},
    "shard count too long to read": {"shard": "1/" + "9" * 5000},
    "unit too long to read": {"units": "9" * 5000},
    "cut range end too long to read": {"cuts": "C1-C" + "9" * 5000},
    "cut range start too long to read": {"cuts": "C" + "9" * 5000 + "-C1"},
}


@pytest.mark.parametrize("selectors", HOSTILE_SELECTORS.values(), ids=HOSTILE_SELECTORS.keys())
def test_hostile_selectors(selectors):
    _selects(PLAN, **selectors)
