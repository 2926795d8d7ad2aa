"""`shotrender init --places`: the layouts of an episode registered together and grouped into backgrounds, one
per place found, with the evidence in comments (tests/location.py draws three places, so the truth is known)."""

from __future__ import annotations

import cv2
import pytest
import yaml
from click.testing import CliRunner

import location as L
from shotrender.cli import cli
from shotrender.shotlist import load

SIZE = (320, 180)  # at 256 px a 3.8x close-up search matched cuts of two places (agreement 0.80): see notes


@pytest.fixture(scope="module")
def proposed(tmp_path_factory):
    """36 cuts of three places and one of a fourth, shuffled into one folder, and the shot list `init --places`
    wrote for them (bench/bench_places.py does it for 60 cuts, and times it)."""
    folder = tmp_path_factory.mktemp("episode")
    (folder / "layouts").mkdir()
    truth = {}
    for cut_id, place, cut in L.places(12, span=1.2):
        cv2.imwrite(str(folder / "layouts" / f"{cut_id}.png"), cut.draw(SIZE)[..., ::-1])
        truth[cut_id] = place
    # and one cut of a fourth place, a street of houses: a group of its own, saying so
    cv2.imwrite(str(folder / "layouts" / "C037.png"), L.draw(L.Camera(0, 0), SIZE, 1, L.facades())[..., ::-1])
    truth["C037"] = 3
    result = CliRunner().invoke(cli, ["init", "--layouts", str(folder / "layouts"), "--places",
                                      "-o", str(folder / "episode.yaml")])
    return folder, truth, result


def test_init_groups_the_cuts_of_three_places_and_merges_none(proposed):
    """At least 95 % of the cuts are in their own place's group (the largest group of that place), and no
    group holds cuts of two places."""
    folder, truth, result = proposed
    assert result.exit_code == 0, result.output
    shotlist = load(folder / "episode.yaml")  # what init wrote validates
    groups: dict[str, list[str]] = {}
    for c in shotlist.cuts:
        groups.setdefault(c.bg, []).append(c.id)
    assert all(len({truth[c] for c in members}) == 1 for members in groups.values()), groups
    largest = {}
    for members in groups.values():
        place = truth[members[0]]
        largest[place] = max(largest.get(place, []), members, key=len)
    assert len(largest) == 4
    assert sum(map(len, largest.values())) >= 0.95 * len(truth)
    assert "registering 37 layouts to find the places they show" in result.output


def test_each_proposed_place_names_its_evidence(proposed):
    folder, truth, _ = proposed
    text = (folder / "episode.yaml").read_text()
    assert "  # 12 cuts whose layouts register together; the pairs that joined them" in text
    data = yaml.safe_load(text)
    assert set(data["backgrounds"]) == {c["bg"] for c in data["cuts"]}
    alone = [name for name in data["backgrounds"] if sum(c["bg"] == name for c in data["cuts"]) == 1]
    assert any(c["id"] == "C037" and c["bg"] in alone for c in data["cuts"])
    for name in alone:
        (cut,) = [c["id"] for c in data["cuts"] if c["bg"] == name]
        assert f"  # {cut} matches no other layout (alone: " in text


def test_init_never_overwrites_a_shot_list(proposed):
    """A person's shot list where init would write: refused, untouched, before any layout is registered."""
    folder, _, _ = proposed
    mine = folder / "mine.yaml"
    mine.write_text("# my shot list\n")
    result = CliRunner().invoke(cli, ["init", "--layouts", str(folder / "layouts"), "--places", "-o", str(mine)])
    assert result.exit_code == 2 and "exists; give --force to overwrite it" in result.output
    assert "registering" not in result.output and mine.read_text() == "# my shot list\n"
    result = CliRunner().invoke(cli, ["init", "--places", "--from-edl", str(folder / "cut.edl")])
    assert result.exit_code == 2 and "--places registers the layouts to group them: give --layouts DIR too" in \
        result.output
