import re
from pathlib import Path

import pytest

from shotrender.errors import ShotListError
from shotrender.plan import make_plan
from shotrender.shotlist import load, parse

from helpers import cut, draw_layout, episode, write_shotlist

EXAMPLE = Path(__file__).resolve().parents[1] / "shots" / "example" / "episode.yaml"


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ShotListError) as e:
        load(path)
    return [str(p) for p in e.value.problems]


def test_example_episode_loads():
    sl = load(EXAMPLE)
    assert sl.episode == "ep01"
    assert len(sl.cuts) >= 6
    assert any(c.reuse for c in sl.cuts)


def test_parse_is_pure_and_keeps_values(tmp_path):
    text = (tmp_path / "x.yaml")
    data = episode([cut("C001", prompt="bench", strength=0.4), cut("C002", bg=None, seed=5)])
    sl = parse(write_shotlist(tmp_path, data, layouts=False).read_text(), source="x.yaml", base_dir=tmp_path)
    assert not text.exists()  # parse wrote nothing and needed no layout
    assert [c.id for c in sl.cuts] == ["C001", "C002"]
    assert sl.cuts[0].params.strength == 0.4 and sl.cuts[1].params.seed == 5
    assert sl.layout_path(sl.cuts[0]) == tmp_path / "layouts" / "C001.png"


def test_ten_mistakes_give_ten_messages_with_lines(tmp_path):
    draw_layout(tmp_path / "layouts" / "C001.png")
    draw_layout(tmp_path / "layouts" / "square.png", 72, 72)
    (tmp_path / "layouts" / "notes.png").write_text("not an image")
    path = tmp_path / "bad.yaml"
    path.write_text(
        "version: 1\n"
        "episode: ep01\n"
        "size: [128, 72]\n"
        "model: draft\n"
        "sed: 3\n"  # 1 unknown key
        "defaults:\n"
        "  steps: 0\n"  # 2 out of range
        "  strength: 1.5\n"  # 3 out of range
        "  guidance: high\n"  # 4 wrong type
        "backgrounds:\n"
        "  park: {prompt: park}\n"
        "cuts:\n"
        "  - id: C001\n"
        "    layout: layouts/C001.png\n"
        "    bg: parc\n"  # 5 unknown background
        "  - id: C001\n"  # 6 duplicate id
        "    layout: layouts/missing.png\n"  # 7 missing layout
        "    bg: park\n"
        "  - id: C/3\n"  # 8 bad id
        "    layout: layouts/notes.png\n"  # 9 not an image
        "  - id: C004\n"
        "    layout: layouts/square.png\n"  # 10 aspect mismatch
    )
    messages = problems_of(path)
    assert len(messages) == 10, "\n".join(messages)
    lines = [int(re.match(r".*?bad\.yaml:(\d+):", m).group(1)) for m in messages]
    assert lines == [5, 7, 8, 9, 15, 16, 17, 19, 20, 22]


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"sed": 1}, "unknown key 'sed'; did you mean 'seed'?"),
        ({"version": 2}, "unknown version 2"),
        ({"size": [130, 72]}, "multiples of 8"),
        ({"size": "big"}, "must be [width, height]"),
        ({"episode": "ep 1"}, "may use only letters"),
        ({"model": 3}, "must be text"),
        ({"cuts": []}, "has no cuts"),
        ({"defaults": {"strength": 0}}, "must be in (0, 1]"),
        ({"defaults": {"steps": 2.5}}, "must be a whole number"),
        ({"defaults": {"seed": -1}}, "must be between 0 and"),
        ({"defaults": {"guidance": True}}, "must be a number"),
        ({"backgrounds": {"park": {"promt": "x"}}}, "did you mean 'prompt'?"),
    ],
)
def test_each_top_level_mistake_is_named(tmp_path, change, expected):
    data = episode([cut("C001")])
    data.update(change)
    messages = problems_of(write_shotlist(tmp_path, data))
    assert any(expected in m for m in messages), messages


@pytest.mark.parametrize(
    "cuts, expected",
    [
        ([cut("C001"), cut("C001")], "cut id C001 is used twice"),
        ([cut("C 1")], "may use only letters"),
        ([cut("C001", bg="parc")], "unknown background 'parc'; did you mean 'park'?"),
        ([cut("C001"), {"id": "C002", "reuse": "C009"}], "reuses unknown cut 'C009'"),
        ([cut("C001"), {"id": "C002", "reuse": "C003"}, {"id": "C003", "reuse": "C002"}],
         "reuse loops: C002 -> C003 -> C002"),
        ([cut("C001"), {"id": "C002", "reuse": "C001", "prompt": "x"}], "'prompt' has no effect"),
        ([{"id": "C001", "bg": "park"}], "'layout' is missing"),
        ([cut("C001", stength=0.3)], "did you mean 'strength'?"),
        ([cut("C001", prompt=["a", "b"])], "must be text"),
        (["C001"], "a cut must be a mapping"),
        ([cut("park", bg=None)], "also a background's"),
    ],
)
def test_each_cut_mistake_is_named(tmp_path, cuts, expected):
    messages = problems_of(write_shotlist(tmp_path, episode(cuts)))
    assert any(expected in m for m in messages), messages


def test_reuse_loop_is_reported_once(tmp_path):
    cuts = [cut("C001"), {"id": "C002", "reuse": "C003"}, {"id": "C003", "reuse": "C002"}]
    assert sum("loops" in m for m in problems_of(write_shotlist(tmp_path, episode(cuts)))) == 1


def test_yaml_syntax_error_names_its_line(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("version: 1\nepisode: ep01\ncuts:\n  - id: C001\n    layout: [unclosed\n")
    (message,) = problems_of(path)
    assert "YAML syntax error" in message and re.search(r"e\.yaml:[56]:", message)


def test_layout_problems(tmp_path):
    draw_layout(tmp_path / "layouts" / "wide.png", 200, 72)
    (tmp_path / "layouts" / "text.png").write_text("hello")
    (tmp_path / "layouts" / "dir.png").mkdir()
    data = episode([
        {"id": "C001", "layout": "layouts/wide.png"},
        {"id": "C002", "layout": "layouts/text.png"},
        {"id": "C003", "layout": "layouts/none.png"},
        {"id": "C004", "layout": "layouts/dir.png"},
    ])
    messages = problems_of(write_shotlist(tmp_path, data, layouts=False))
    assert any("C001" in m and "aspect" in m for m in messages)
    assert any("C002" in m and "not an image" in m for m in messages)
    assert any("C003" in m and "file not found" in m for m in messages)
    assert any("C004" in m and "not a file" in m for m in messages)


def test_aspect_within_one_percent_is_accepted(tmp_path):
    draw_layout(tmp_path / "layouts" / "C001.png", 1280, 724)  # 0.5 % off 16:9
    load(write_shotlist(tmp_path, episode([cut("C001")])))


def test_alias_bomb_is_refused_not_expanded(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 10)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    (message,) = problems_of(path)
    assert "too many values" in message


@pytest.mark.parametrize("levels", [65, 5000])  # ours (64) and, beyond 1,000, libyaml's own cap in PyYAML 6.0.4
def test_deep_nesting_is_named_with_its_line(tmp_path, levels):
    path = tmp_path / "deep.yaml"
    path.write_text("version: 1\ncuts: " + "[" * levels + "]" * levels + "\n")
    (message,) = problems_of(path)
    assert message.startswith(f"{path}:2: lists or mappings nest more than 64 levels deep")


def test_not_utf8_is_a_problem_with_a_line(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"version: 1\nepisode: ep01\n# caf\xe9\n")
    (message,) = problems_of(path)
    assert "latin.yaml:3:" in message and "UTF-8" in message


def test_python_tags_are_not_constructed(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("version: 1\nepisode: !!python/object/apply:os.system ['echo hi']\n")
    assert any("tag:yaml.org,2002:python/object/apply:os.system is not allowed" in m for m in problems_of(path))


# ------------------------------------------------------------------ happy path (events) against careful path

VARIED_YAML = """\
ints: [1, -3, +7, 0, 012, 0x1F, 0b101, 1_000, 1:30, 12345678901234567890123]
floats: [0.5, -1.25, 1.0e+3, 6.8523015e+5, .inf, -.Inf, 1_000.5, 190:20:30.15]
nan: .NaN
bools: [true, False, yes, No, on, OFF, y]
nulls: [~, null, Null, ]
empty:
looks_like_numbers: ["0.5", '1e3', 1e3, "12", '0x1F', "true", 'null', "~", .5e3, 1.e3]
dates: [2024-01-02, 2001-12-14t21:59:43.10-05:00, 2001-12-14 21:59:43.10, "2024-01-02"]
flow: {a: 1, 'b': "2", c: [x, {d: 3.5}], e: []}
nested:
  - name: one
    values: [1, 2.0, three]
  - {name: two, values: []}
  - - deep
    - 4
literal: |
  line one
    indented
  line three
folded: >
  folded
  text

  paragraph
plain multi: a plain
  scalar on
  three lines
quoted: "tab\\there, unicode \\u00e9 and a quote \\" inside"
single: 'it''s'
unicode: 日本語の背景 — café ✓
日本語キー: 値
1: int key
2.5: float key
null: null key
"spaces ": "  padded  "
"""


def _same(a, b) -> bool:
    """Equal and of the same types all the way down (1 == 1.0 == True for ==, not here); NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
                and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


def _careful(text: str):
    from shotrender.shotlist.reader import _read_yaml

    problems = []
    data, _ = _read_yaml(text, "t.yaml", problems, track=True)
    return data, problems


def test_happy_path_reads_a_varied_file_exactly_as_the_careful_path():
    from shotrender.shotlist.reader import _read_plain

    data, problems = _careful(VARIED_YAML)
    assert not problems
    fast = _read_plain(VARIED_YAML)
    assert _same(fast, data), (fast, data)
    # spot checks that the comparison is about YAML 1.1 types, not just equality
    assert fast["ints"][4:9] == [10, 31, 5, 1000, 90] and fast["floats"][7] == 685230.15
    assert fast["looks_like_numbers"][:3] == ["0.5", "1e3", "1e3"] and fast["nulls"] == [None, None, None]
    assert fast["bools"] == [True, False, True, False, True, False, "y"]
    assert fast["literal"] == "line one\n  indented\nline three\n"
    assert fast["plain multi"] == "a plain scalar on three lines"
    assert list(fast)[-4:] == [1, 2.5, None, "spaces "]


@pytest.mark.parametrize("text", [
    "a: &x {b: 1}\nc: *x\n",  # anchor and alias: counted by the careful path
    "a: &x 1\n",
    "a: !!str 12\n",  # any tag
    "a: ! 12\n",
    "a: !local x\n",
    "a: 1\na: 2\n",  # a key given twice
    "1: a\ntrue: b\n",  # ... as Python sees keys
    "? [a, b]\n: 1\n",  # a key that is not a scalar
    "<<: {a: 1}\n",  # a merge key
    "a: 1\n---\nb: 2\n",  # two documents
    "a: [unclosed\n",  # syntax errors
    "a: b: c\n",
    "a: 2024-13-45\n",  # a date that is not one
])
def test_happy_path_leaves_what_it_does_not_read_exactly_to_the_careful_path(text):
    from shotrender.shotlist.reader import _NotPlain, _read_plain

    with pytest.raises(_NotPlain):
        _read_plain(text)


def _without_lines(sl):
    from dataclasses import replace

    return replace(sl, cuts=tuple(replace(c, line=None, layout_line=None) for c in sl.cuts),
                   backgrounds={k: replace(b, line=None) for k, b in sl.backgrounds.items()})


VARIED_SHOTLIST = """\
version: 1
episode: ep-07
size: [1024, 576]
model: "draft"
seed: 0x10
output: renders/ep07
continuity: {enabled: yes, fusion: 0.8, max_attempts: 5, flow_preset: medium, colour_limit: 10}
defaults:
  prompt: >
    anime background,
    soft light
  negative: ~
  strength: 0.5
  guidance: 7
backgrounds:
  park: {prompt: "city park, 夕方", seed: 42, continuity: {enabled: off, limit: .1}}
  '12': {prompt: '0.5'}
cuts:
  - id: C001
    layout: layouts/C001.png
    bg: park
    prompt: |
      bench on the left
      café sign
    frames: 48
    notes: "1e3"
  - {id: 12, layout: "layouts/12.png", bg: '12', steps: 20, strength: 1, notes: '0.5'}
  - id: C003
    layout: layouts/C003.png
    bg: park
    seed: null
    guidance: 4.5
  - {id: C004, reuse: C001, frames: 12}
"""


@pytest.mark.parametrize("anchors", [False, True])
def test_happy_and_careful_paths_give_the_same_shot_list(tmp_path, anchors):
    from shotrender.shotlist.validation import _parse

    text = VARIED_SHOTLIST
    if anchors:
        text = text.replace("steps: 20", "steps: &steps 20").replace("seed: null", "seed: null\n    steps: *steps")
    happy, problems = _parse(text, "ep.yaml", tmp_path)
    assert not problems
    careful, problems = _parse(text, "ep.yaml", tmp_path, careful=True)
    assert not problems
    assert _without_lines(happy) == _without_lines(careful)
    assert careful.cuts[0].line == 19
    # a file with an anchor is read the careful way (with lines); one without, the happy way
    assert (happy.cuts[0].line is None) is (not anchors)
    assert happy.seed == 16 and happy.cuts[1].id == "12" and happy.cuts[1].params.strength == 1.0
    assert happy.cuts[1].notes == "0.5" and happy.cuts[0].notes == "1e3" and happy.defaults.guidance == 7.0
    assert happy.continuity.enabled and happy.continuity_for("park").enabled is False
    if anchors:
        assert happy.cuts[2].params.steps == 20


def _scalar_texts():
    from hypothesis import strategies as st

    tricky = ["yes", "No", "on", "OFF", "y", "~", "null", "NULL", "true", "0x1F", "0o7", "012", "09", "1_000", "1:30",
              "1:70", ".inf", "-.Inf", ".NaN", "1e3", "1.0e+3", "+.5", "-0", "2024-01-02", "2024-13-45",
              "2001-12-14t21:59:43.10-05:00", "<<", "=", "", " ", "a: b", "- x", "#c", "x #c", "[a]", "{a: 1}", "&a",
              "*a", "!t", "'q'", '"q"', "日本", "é"]
    return st.one_of(st.sampled_from(tricky), st.text("0123456789.-+_:eExXobBaTFyYnNl~ #é日\"'[]{},&*!", max_size=8))


def _render(value: str, style: str) -> str:
    import json

    if style == "plain":
        return value
    if style == "single":
        return "'" + value.replace("'", "''") + "'"
    return json.dumps(value)


def test_happy_path_matches_the_careful_path_on_generated_scalars():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from shotrender.shotlist.reader import _NotPlain, _read_plain

    styles = st.sampled_from(["plain", "plain", "single", "double"])
    pairs = st.lists(st.tuples(_scalar_texts(), styles, _scalar_texts(), styles, st.booleans()), max_size=6)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(pairs)
    def check(items):
        lines = []
        for key, key_style, value, value_style, flow in items:
            rendered = _render(value, value_style)
            lines.append(f"{_render(key, key_style)}: {f'[{rendered}, x]' if flow else rendered}")
        text = "\n".join(lines) + "\n"
        data, problems = _careful(text)
        try:
            fast = _read_plain(text)
        except _NotPlain:
            return  # left to the careful path: allowed for anything
        assert not problems, (text, problems)
        assert _same(fast, data), (text, fast, data)

    check()


def test_happy_path_reads_any_dumped_data_without_falling_back():
    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from shotrender.shotlist.reader import _read_plain

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _scalar_texts(),
                        st.text(max_size=20))
    documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                              st.dictionaries(_scalar_texts(), inner, max_size=4)),
                             max_leaves=20)

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(documents, st.sampled_from([None, True, False]))
    def check(document, flow):
        text = yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True)
        data, problems = _careful(text)
        assert not problems
        assert _same(_read_plain(text), data), text

    check()


def test_a_date_that_is_not_one_is_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("version: 1\nepisode: ep01\nsize: [128, 72]\nmodel: draft\nseed: 2024-13-45\ncuts: []\n")
    (message,) = problems_of(path)
    assert "d.yaml:5: seed: cannot read '2024-13-45' as a date" in message
    path.write_text("version: 1\nepisode: !!int ep01\n")
    (message,) = problems_of(path)
    assert "d.yaml:2: episode: cannot read 'ep01' as a whole number" in message


def _seeds(sl):
    return {j.cut: j.seed for j in make_plan(sl).jobs}


def test_seeds_do_not_depend_on_position(tmp_path):
    base = [cut("C001"), cut("C002"), cut("C003", bg="street"), cut("C004", bg=None)]
    seeds = _seeds(load(write_shotlist(tmp_path / "a", episode(base))))
    shuffled = [base[3], cut("C000", bg=None), base[2], base[0]]  # reorder, insert, remove C002
    moved = _seeds(load(write_shotlist(tmp_path / "b", episode(shuffled))))
    for cut_id in ("C001", "C003", "C004"):
        assert moved[cut_id] == seeds[cut_id]
    assert seeds["C001"] == seeds["C002"]  # one background, one seed
    assert seeds["C001"] != seeds["C003"] != seeds["C004"]


def test_seed_precedence(tmp_path):
    data = episode([cut("C001"), cut("C002", seed=9), cut("C003", bg="street")], seed=7)
    data["backgrounds"]["street"]["seed"] = 42
    seeds = _seeds(load(write_shotlist(tmp_path, data)))
    assert seeds["C002"] == 9 and seeds["C003"] == 42
    other = episode([cut("C001")], seed=8)
    assert _seeds(load(write_shotlist(tmp_path / "o", other)))["C001"] != seeds["C001"]


def test_parameter_precedence_and_prompt_join(tmp_path):
    data = episode([cut("C001", prompt="bench on the left", steps=9), cut("C002")])
    data["defaults"].update(negative="text", guidance=5.0)
    data["backgrounds"]["park"].update(strength=0.3, negative="cars")
    jobs = {j.cut: j for j in make_plan(load(write_shotlist(tmp_path, data))).jobs}
    assert jobs["C001"].prompt == "anime background, city park, bench on the left"
    assert jobs["C001"].negative == "text, cars"
    assert (jobs["C001"].steps, jobs["C002"].steps) == (9, 2)
    assert jobs["C001"].strength == 0.3 and jobs["C001"].guidance == 5.0


def test_ids_longer_than_the_limit_are_refused_with_their_lines(tmp_path):
    long_cut, long_bg = "C" * 230, "b" * 65
    data = episode([cut("C001"), cut(long_cut, bg=long_bg)], episode="e" * 65)
    data["backgrounds"][long_bg] = {"prompt": "x"}
    messages = [m for m in problems_of(write_shotlist(tmp_path, data)) if "characters long" in m]
    where = str(tmp_path / "episode.yaml")
    assert [m.split(": ")[0] + ": " + m.split(": ")[1] for m in messages] == [
        f"{where}:2: episode", f"{where}:17: backgrounds.{long_bg}", f"{where}:23: cuts[1].id",
        f"{where}:25: cuts[1].bg"]
    assert messages[2] == (
        f"{where}:23: cuts[1].id: cut id '{'C' * 24}...' is 230 characters long; ids are at most 64, as they name "
        "the files written for each cut (a file name holds 255 bytes); shorten it, e.g. C001")


def test_ids_at_the_limit_keep_every_file_name_within_255_bytes(tmp_path, monkeypatch):
    """Every file render and report write for a cut, and the temporary each goes through, with a host name
    of 64 bytes (Linux's most) and a 7-digit pid (pid_max's most)."""
    from click.testing import CliRunner

    from shotrender import files
    from shotrender.cli import cli
    from shotrender.shotlist import MAX_ID_LENGTH

    host = "h" * 64
    monkeypatch.setattr(files, "host", lambda: host)
    ids = ["A" * MAX_ID_LENGTH, "B" * MAX_ID_LENGTH]
    for i, cut_id in enumerate(ids):  # a pan, so the pair is checked by flow and its pictures are written
        draw_layout(tmp_path / "layouts" / f"{cut_id}.png", seed=0, shift=12 * i)
    path = write_shotlist(tmp_path, episode([cut(ids[0], bg="p" * MAX_ID_LENGTH), cut(ids[1], bg="p" * MAX_ID_LENGTH)],
                                            episode="e" * MAX_ID_LENGTH,
                                            backgrounds={"p" * MAX_ID_LENGTH: {"prompt": "park"}}))
    for args in (["render", str(path), "--progress", "none"], ["report", str(path)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    names = [p.name for p in (tmp_path / "renders").rglob("*") if p.is_file()]
    assert {n[2 * MAX_ID_LENGTH + 2:] for n in names} >= {"png", "json", "layout.jpg", "flow.png", "error.png"}
    temporary = len(f"{files.TMP_MARK}{host}-{9_999_999}-XXXXXXXX")
    assert max(len(n.encode()) for n in names) + temporary <= 255, max(names, key=len)


def _size_fix(messages: list[str]) -> list[int]:
    (size,) = [m for m in messages if ": size: " in m]
    return [int(v) for v in re.search(r"e\.g\. \[(\d+), (\d+)\]", size).groups()]


@pytest.mark.parametrize("layout, size", [((1280, 720), [1280, 700]), ((128, 72), [128, 66]),
                                          ((128, 72), [1000, 570]), ((96, 96), [100, 90]), ((200, 72), [201, 70])])
def test_a_suggested_size_passes_every_check_once_applied(tmp_path, layout, size):
    draw_layout(tmp_path / "layouts" / "C001.png", *layout)
    draw_layout(tmp_path / "layouts" / "C002.png", *layout, seed=1)
    data = episode([cut("C001"), cut("C002", bg="street")], size=size)
    suggested = _size_fix(problems_of(write_shotlist(tmp_path, data)))
    assert load(write_shotlist(tmp_path, {**data, "size": suggested})).width == suggested[0]


def test_a_size_suggestion_without_layouts_keeps_the_asked_aspect():
    from shotrender.shotlist import ASPECT_TOLERANCE, suggest_size

    for width, height in [(1000, 570), (1280, 700), (65, 3000), (9000, 100), (8193, 8193), (3, 3), (1921, 1081)]:
        w, h = suggest_size(width, height)
        assert w % 8 == h % 8 == 0 and 64 <= min(w, h) and max(w, h) <= 8192
        if 64 <= width / height * 64 and height / width * 64 <= 8192 and width / height <= 8192 / 64:
            assert abs((w / h) / (width / height) - 1) <= ASPECT_TOLERANCE


def test_a_missing_layout_names_the_closest_files_in_its_folder(tmp_path):
    draw_layout(tmp_path / "layouts" / "C001.png")
    draw_layout(tmp_path / "layouts" / "c002.png", seed=1)
    data = episode([{"id": "C001", "layout": "layouts/C01.png"}, {"id": "C002", "layout": "layouts/C002.png"},
                    {"id": "C003", "layout": "layouts/zzz.png"}])
    messages = problems_of(write_shotlist(tmp_path, data, layouts=False))
    assert any("(cut C001): layouts/C01.png: file not found; did you mean layouts/C001.png" in m for m in messages)
    assert any("(cut C002): layouts/C002.png: file not found; did you mean layouts/c002.png" in m for m in messages)
    assert any("(cut C003): layouts/zzz.png: file not found; check the path" in m for m in messages)


def test_a_key_that_yaml_makes_a_set_is_a_problem_not_a_crash():
    """Hypothesis found `!!set : `: the key's value is a set, which no mapping can hold; parse raised TypeError."""
    with pytest.raises(ShotListError) as e:
        parse("!!set : \n")
    assert "a key must be plain text, not tag:yaml.org,2002:set" in str(e.value)


def test_a_key_given_twice_does_not_hide_the_files_other_problems(tmp_path):
    # shotlist.md promises every problem at once: the repeated key stopped the check at the YAML
    path = write_shotlist(tmp_path, episode([cut("C001", bg="parc"), cut("C002")], defaults={"stepz": 2}))
    path.write_text(path.read_text().replace("seed: 1000\n", "seed: 1000\nseed: 1001\n"))
    messages = problems_of(path)
    assert any("'seed' is given twice" in m and ":8:" in m for m in messages), messages
    assert any("unknown key 'stepz'" in m for m in messages) and any("'parc'" in m for m in messages), messages


def test_a_size_off_the_layouts_aspect_is_one_problem_on_size(tmp_path):
    # eleven 16:9 layouts under size: [1024, 640] gave eleven messages for one mistake
    path = write_shotlist(tmp_path, episode([cut(f"C{i:03d}") for i in range(1, 12)], size=[1024, 640]))
    messages = problems_of(path)
    assert len(messages) == 1, messages
    assert ":3: size:" in messages[0] and "all 11 layouts have aspect 1.778" in messages[0], messages
    assert "e.g. [1024, 576]" in messages[0]
    # layouts that disagree among themselves are each their own problem, as before
    draw_layout(tmp_path / "layouts" / "C002.png", 96, 96)
    assert len(problems_of(path)) == 11


def test_a_cut_without_bg_in_an_episode_with_backgrounds_is_warned_with_its_line(tmp_path):
    from shotrender.shotlist import load_with_warnings

    path = write_shotlist(tmp_path, episode([cut("C001"), cut("C002", bg=None), {"id": "C003", "reuse": "C001"}]))
    sl, warnings = load_with_warnings(path)
    assert sl is not None
    line = path.read_text().splitlines().index("- id: C002") + 1
    assert [(w.line, w.cut) for w in warnings if "no bg" in w.message] == [(line, "C002")], warnings
    assert any("add bg: (one of park, street)" in str(w) for w in warnings)
