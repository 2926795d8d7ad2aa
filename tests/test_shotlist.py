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


def test_not_utf8_is_a_problem_with_a_line(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"version: 1\nepisode: ep01\n# caf\xe9\n")
    (message,) = problems_of(path)
    assert "latin.yaml:3:" in message and "UTF-8" in message


def test_python_tags_are_not_constructed(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("version: 1\nepisode: !!python/object/apply:os.system ['echo hi']\n")
    assert any("tag:yaml.org,2002:python/object/apply:os.system is not allowed" in m for m in problems_of(path))


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
