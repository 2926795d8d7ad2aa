"""A decision takes effect (issue 26): the hostile read's nine bugs of retouch and review, each held by a
test that failed before its fix; `shotrender decide`; decisions bound to the take they were made on; retakes
of a cut, a place and a region; candidates.

Everything runs on the vector park of tests/location.py at 256×144 with the draft backend, in-process
(click's runner): a render of its six cuts takes a fraction of a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import location
from shotrender.cli import cli
from shotrender.images import decode_png
from shotrender.patches import region_mask
from shotrender.review import decisions
from test_retouch import PATCH_COLOUR, artist_paints
from test_review import (
    browser,  # noqa: F401  (test_review's fixture: one Chromium per module)
    review_server,
    wait_for_pictures,
)
from test_sheet_continuity import TINY_SIZE, _location_episode, _near_lines

RETOUCHED, NEXT = "C002", "C003"  # test_retouch's: NEXT sees the right half of RETOUCHED's patch


def shotrender(*args: str, code: int | None = 0):
    """One command in this process; no traceback, whatever it answers, and the exit code asked for."""
    done = CliRunner().invoke(cli, [str(a) for a in args])
    assert done.exception is None or isinstance(done.exception, SystemExit), done.output
    if code is not None:
        assert done.exit_code == code, done.output
    return done


def park(folder: Path, reuse: bool = True) -> Path:
    """The park's six cuts and, with `reuse`, C007 reusing C001; rendered with the draft backend."""
    shotlist = _location_episode(folder, TINY_SIZE)
    if reuse:
        data = yaml.safe_load(shotlist.read_text())
        data["cuts"].append({"id": "C007", "reuse": "C001"})
        shotlist.write_text(yaml.safe_dump(data, sort_keys=False))
    shotrender("render", shotlist)
    return shotlist


def edit(shotlist: Path, change) -> None:
    data = yaml.safe_load(shotlist.read_text())
    change(data)
    shotlist.write_text(yaml.safe_dump(data, sort_keys=False))


def sidecar(out: Path, cut: str) -> dict:
    return json.loads((out / f"ep01_{cut}.json").read_text())


def picture(out: Path, cut: str) -> np.ndarray:
    return decode_png((out / f"ep01_{cut}.png").read_bytes())


def status(shotlist: Path) -> dict[str, dict]:
    return {(r["kind"], r["cut"]): r for r in json.loads(shotrender("status", shotlist, "--json").output)}


def retouch(shotlist: Path, cut: str = RETOUCHED) -> Path:
    """Export the cut's PSD and paint the magenta patch into it, as an artist would."""
    shotrender("retouch", "export", shotlist, "--cuts", cut)
    psd = shotlist.parent / "out" / "retouch" / f"ep01_{cut}.psd"
    artist_paints(psd)
    return psd


def magenta(image: np.ndarray) -> int:
    """Pixels of the artist's patch colour."""
    return int((np.abs(image.astype(int) - PATCH_COLOUR).max(axis=2) < 40).sum())


def page_decides(shotlist: Path, cut: str, kind: str, note: str = "", **changes) -> dict:
    """A decision as the review page posts it, on the cut's current picture."""
    from shotrender.review.server import Episode
    from shotrender.shotlist import load

    out = shotlist.parent / "out"
    return Episode(load(shotlist), out, "ana").decide({
        "cut": cut, "kind": kind, "note": note, "reviewer": "ana", "changes": changes,
        "picture": sidecar(out, cut)["image"]["sha256"]})


def painted(done) -> set[str]:
    """The cuts a render's plain progress says it painted (done or flagged)."""
    return {line.split()[1] for line in done.output.splitlines()
            if line.startswith("[") and (" done:" in line or " flagged:" in line)}


@pytest.fixture(scope="module")
def park_once(tmp_path_factory):
    folder = tmp_path_factory.mktemp("park")
    park(folder)
    return folder


@pytest.fixture
def rendered(park_once, tmp_path):
    """The rendered park, a copy of its own for each test (rendered once per module)."""
    import shutil

    shutil.copytree(park_once, tmp_path / "park")
    return tmp_path / "park" / "episode.yaml", tmp_path / "park" / "out"


# ------------------------------------------------------------------------------------------- 1-9
def test_1_an_old_size_retouch_is_left_out_of_the_sheet_and_said_so(rendered):
    shotlist, out = rendered
    retouch(shotlist)
    shotrender("render", shotlist)
    assert sidecar(out, RETOUCHED)["status"] == "retouched" and magenta(picture(out, NEXT)) > 500
    edit(shotlist, lambda d: d.update(size=[384, 216]))
    shotrender("render", shotlist)
    assert picture(out, NEXT).shape == (216, 384, 3) and magenta(picture(out, NEXT)) == 0
    assert sidecar(out, RETOUCHED)["status"] == "retouched"  # the artist's picture stays, untouched
    rows = status(shotlist)
    assert "its retouch is 256×144, the frame 384×216: left out of sheet park/1" in rows["cut", RETOUCHED]["reasons"]
    assert all(r["state"] in ("up to date", "flagged", "retouched") for r in status(shotlist).values())


def test_2_a_retouch_saved_while_render_runs_is_taken_in_not_painted_over(rendered, monkeypatch):
    shotlist, out = rendered
    psd = retouch(shotlist)
    artist = psd.read_bytes()
    psd.rename(psd.with_suffix(".saving"))
    edit(shotlist, lambda d: d["backgrounds"]["park"].update(prompt="city park, rain"))
    from shotrender import render as render_module

    painted_before = render_module.Run.prepare

    def saved_meanwhile(self, job, chain):  # the artist saves just as render reaches the cut
        if job.cut == RETOUCHED:
            psd.with_suffix(".saving").rename(psd)
        return painted_before(self, job, chain)

    monkeypatch.setattr(render_module.Run, "prepare", saved_meanwhile)
    shotrender("render", shotlist)
    record = sidecar(out, RETOUCHED)
    assert record["status"] == "retouched" and record["retouch"]["sha256"] == decisions_sha(artist)
    assert magenta(picture(out, RETOUCHED)) > 1000
    monkeypatch.undo()
    rows = status(shotlist)
    assert rows["sheet", "park/1"]["state"] == "stale" and "C002 retouched" in rows["sheet", "park/1"]["reasons"]


def decisions_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_3_a_reused_cut_is_decided_on_through_its_source_and_its_pictures_are_kept(rendered):
    shotlist, out = rendered
    sha = sidecar(out, "C007")["image"]["sha256"]
    with pytest.raises(decisions.DecisionError, match="C007 reuses C001.*decide on C001"):
        page_decides(shotlist, "C007", "approve")
    assert not decisions.path_for(shotlist).exists()
    edit(shotlist, lambda d: d["backgrounds"]["park"].update(prompt="city park, rain"))
    shotrender("render", shotlist)
    takes = out / "takes"
    assert decisions_sha((takes / "ep01_C007.v001.png").read_bytes()) == sha  # the picture it had is kept
    assert (takes / "ep01_C007.v002.png").read_bytes() == (out / "ep01_C007.png").read_bytes()


def test_4_a_retake_back_to_an_earlier_takes_seed_waits_for_review(rendered):
    shotlist, out = rendered
    first = sidecar(out, NEXT)
    page_decides(shotlist, NEXT, "retake", "another one")
    shotrender("render", shotlist, "--retakes")
    second = sidecar(out, NEXT)
    assert second["image"]["sha256"] != first["image"]["sha256"]
    # the page's "retake with this seed" on take 1: the seed and strength take 1 was painted with
    page_decides(shotlist, NEXT, "retake", "back to the first", seed=first["seed_used"],
                 strength=first["strength_used"])
    shotrender("render", shotlist, "--retakes")
    third = sidecar(out, NEXT)
    assert third["image"]["sha256"] == first["image"]["sha256"]  # the same bytes: take 3
    assert (out / "takes" / "ep01_C003.v003.png").exists()
    rows = status(shotlist)
    assert rows["cut", NEXT]["review"] == "waiting for review", rows["cut", NEXT]  # not take 1's old retake
    done = shotrender("render", shotlist, "--retakes")
    assert "no selected cut waits for a retake" in done.output


def test_5_a_retouch_waiting_makes_its_sheet_and_the_cuts_that_follow_stale_in_status(rendered):
    shotlist, out = rendered
    retouch(shotlist)
    rows = status(shotlist)
    assert rows["sheet", "park/1"]["state"] == "stale" and rows["sheet", "park/1"]["reasons"] == ["C002 retouched"]
    named = {cut for (kind, cut), r in rows.items() if kind == "cut" and r["state"] not in
             ("up to date", "flagged", "approved", "retouched")}
    assert NEXT in named and rows["cut", NEXT]["reasons"] == ["sheet park/1 changes (C002 retouched)"]
    done = shotrender("render", shotlist, "--progress", "plain")
    assert painted(done) == named - {RETOUCHED}, done.output


def test_6_a_retouch_of_a_reused_cut_is_refused_with_its_source(rendered):
    shotlist, out = rendered
    done = shotrender("retouch", "export", shotlist, "--cuts", "C007")
    assert "C007" in done.output and "reuses C001" in done.output and "retouch C001" in done.output
    (out / "retouch").mkdir(exist_ok=True)
    (out / "retouch" / "ep01_C007.png").write_bytes((out / "ep01_C007.png").read_bytes())
    rows = status(shotlist)
    assert rows["cut", "C007"]["state"] == "stale"
    assert any("C007 reuses C001" in r for r in rows["cut", "C007"]["reasons"])
    done = shotrender("render", shotlist, code=2)
    assert "retouch/ep01_C007.png cannot be taken in" in done.output
    assert "save it as retouch/ep01_C001.png" in done.output


def test_7_a_retake_of_a_retouched_picture_is_refused(rendered):
    shotlist, out = rendered
    retouch(shotlist)
    shotrender("render", shotlist)
    with pytest.raises(decisions.DecisionError, match="is a retouch.*retouch release"):
        page_decides(shotlist, RETOUCHED, "retake", "warmer")
    page_decides(shotlist, RETOUCHED, "approve")  # approving the artist's picture is fine


def test_8_check_says_a_picture_of_another_size_and_does_not_crash(rendered):
    shotlist, out = rendered
    edit(shotlist, lambda d: d.update(size=[384, 216]))
    done = shotrender("check", shotlist)
    assert "256×144, not 384×216" in done.output


def test_9_an_approved_cut_whose_place_was_painted_again_is_reported(rendered):
    shotlist, out = rendered
    page_decides(shotlist, NEXT, "approve")
    edit(shotlist, lambda d: d["backgrounds"]["park"].update(prompt="city park, rain"))
    done = shotrender("render", shotlist)
    assert f"{NEXT}: approved · place changed since" in done.output
    shotrender("render", shotlist, "--strict", code=1)
    rows = status(shotlist)
    assert rows["cut", NEXT]["state"] == "approved" and rows["cut", NEXT]["place_changed"] is True
    assert "approved · place changed since" in shotrender("status", shotlist).output


# ------------------------------------------------------------------------------------------- decide
def test_decide_records_what_the_page_records_and_refuses_bad_input(rendered):
    shotlist, out = rendered
    path = decisions.path_for(shotlist)
    for args, words in [(("C009", "approve"), "no cut 'C009'"), ((NEXT, "retake"), "needs a note"),
                        ((NEXT, "approve", "--seed", "3"), "only a retake has changes")]:
        done = shotrender("decide", shotlist, *args, "--by", "ana", code=2)
        assert words in done.output, (args, done.output)
    assert not path.exists()  # nothing written by a refused decision
    done = shotrender("decide", shotlist, NEXT, "retake", "--scope", "place", "--words", "a red sign", "--seed", "7",
                      "--strength", "0.8", "--note", "the sign", "--by", "ana")
    assert f"{NEXT}: retake recorded" in done.output and "(take 1)" in done.output
    made = decisions.read(path)[-1]
    assert (made.cut, made.kind, made.take, made.note, made.reviewer) == (NEXT, "retake", 1, "the sign", "ana")
    assert made.picture == sidecar(out, NEXT)["image"]["sha256"]
    assert made.changes.as_dict() == {"seed": 7, "prompt": "a red sign", "strength": 0.8, "scope": "place"}
    record = json.loads(path.read_text())
    assert record["schema"] == "shotrender.decisions/2"
    page = page_decides(shotlist, "C001", "retake", "colder", scope="cut", prompt="winter")
    assert page["changes"] == {"prompt": "winter"}  # `cut`, the default, is not written


# ------------------------------------------------------------------------------------------- scopes
def _off_lines(before: np.ndarray, after: np.ndarray, cut: str) -> float:
    """Mean |after − before| (of 255) away from the cut's lines: how much its paint changed."""
    far = ~_near_lines(dict(location.layouts(TINY_SIZE))[cut], 3)
    return float(np.abs(after.astype(np.float32) - before).mean(axis=2)[far].mean())


SHEET_CUTS = ("C001", "C002", "C003", "C004", "C006")  # the park's sheet: location.SAME_PLACE


def test_a_cut_retake_with_words_changes_that_cut_and_no_other(rendered):
    shotlist, out = rendered
    before = {c: picture(out, c) for c in SHEET_CUTS}
    shotrender("decide", shotlist, NEXT, "retake", "--words", "sunset glow", "--note", "warmer", "--by", "ana")
    shotrender("render", shotlist, "--retakes")
    changed = {c: _off_lines(before[c], picture(out, c), c) for c in SHEET_CUTS}
    assert changed.pop(NEXT) >= 15 and max(changed.values()) <= 0.5, changed  # measured: 31.3, others 0.0


def test_a_place_retake_repaints_the_place_and_keeps_the_approved_cut(rendered):
    shotlist, out = rendered
    before = {c: picture(out, c) for c in SHEET_CUTS}
    page_decides(shotlist, "C001", "approve")
    shotrender("decide", shotlist, NEXT, "retake", "--scope", "place", "--words", "sunset glow", "--note", "warmer",
               "--by", "ana")
    done = shotrender("render", shotlist, "--retakes")
    assert "C001: approved · place changed since" in done.output
    changed = {c: _off_lines(before[c], picture(out, c), c) for c in SHEET_CUTS}
    assert changed.pop("C001") == 0 and min(changed.values()) >= 10, changed  # measured: 55-58 each
    rows = status(shotlist)
    assert rows["cut", "C001"]["place_changed"] and rows["cut", NEXT]["review"] == "waiting for review"
    assert all(rows["cut", c]["state"] == "up to date" for c in ("C002", "C004", "C006"))


# ------------------------------------------------------------------------------------------- the page
def test_the_page_sends_a_place_retake_and_shows_what_it_left_behind(rendered, browser):  # noqa: F811
    shotlist, out = rendered
    page_decides(shotlist, "C001", "approve")
    with review_server(shotlist, "--reviewer", "ana") as (host, port, token):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"http://{host}:{port}/?token={token}#{NEXT}")
        page.wait_for_selector("body[data-ready='1']")
        page.click("#retake")
        page.fill("#note", "the whole park warmer")
        page.fill("#words", "sunset glow")
        page.select_option("#scope", "place")
        page.click("#send")
        page.wait_for_selector(f"#cut-list [data-cut={NEXT}][data-state=retake]")
        assert decisions.read(decisions.path_for(shotlist))[-1].changes.as_dict() == {
            "prompt": "sunset glow", "scope": "place"}
        shotrender("render", shotlist, "--retakes")
        page.goto(f"http://{host}:{port}/?token={token}#C001")
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert page.inner_text("#cut-state") == "approved · place changed since"
        page.click(f"#cut-list [data-cut={NEXT}]")
        assert page.locator("#takes figure").count() == 2  # both takes, the new one waiting for review
        assert page.get_attribute(f"#cut-list [data-cut={NEXT}]", "data-state") == "waiting"
        wait_for_pictures(page)
        page.screenshot(path=str(out.parent / "place_retake.png"), full_page=True)  # an artefact, looked at
        page.close()
    assert problems == []


# ------------------------------------------------------------------------------------------- candidates
def test_a_retake_with_candidates_paints_them_as_takes_and_the_one_picked_becomes_current(rendered):
    shotlist, out = rendered
    shotrender("decide", shotlist, NEXT, "retake", "--candidates", "3", "--words", "sunset glow", "--note", "a few",
               "--by", "ana")
    done = shotrender("render", shotlist, "--retakes")
    assert "candidate 1 of 3" in done.output and "candidate 2 of 3" in done.output
    kept = sorted((out / "takes").glob(f"ep01_{NEXT}.v*.png"))
    assert [p.name[-8:] for p in kept] == ["v001.png", "v002.png", "v003.png", "v004.png"]  # the old one, 3 new
    pictures = [decode_png(p.read_bytes()) for p in kept[1:]]
    assert all(_off_lines(a, b, NEXT) > 1 for i, a in enumerate(pictures) for b in pictures[i + 1:])  # each its own
    assert np.array_equal(pictures[-1], picture(out, NEXT))  # the last is the current picture
    assert status(shotlist)["cut", NEXT]["review"] == "waiting for review"

    refused = shotrender("decide", shotlist, NEXT, "approve", "--take", "1", "--by", "ana", code=2)
    assert "take 1 of C003 is not a candidate painted with its current picture" in refused.output
    refused = shotrender("decide", shotlist, NEXT, "retake", "--take", "2", "--note", "x", "--by", "ana", code=2)
    assert "a candidate is picked by approving it" in refused.output
    shotrender("decide", shotlist, NEXT, "approve", "--take", "2", "--by", "ana")
    assert np.array_equal(picture(out, NEXT), pictures[0])  # the one picked is the cut's picture now
    row = status(shotlist)["cut", NEXT]
    assert row["review"] == "approved" and not any("stale" in r for r in row["reasons"]), row
    assert painted(shotrender("render", shotlist)) == set()
    assert np.array_equal(picture(out, NEXT), pictures[0])
    for args in (("--candidates", "9"), ("--candidates", "2", "--scope", "place")):
        shotrender("decide", shotlist, NEXT, "retake", *args, "--note", "x", "--by", "ana", code=2)


# ------------------------------------------------------------------------------------------- region retakes
# The region is C003's sky and hill above the bench's left: C001, C002, C004 and C006 each see part of it.
CUT, RECT = NEXT, (30, 10, 80, 60)
REGION = ",".join(map(str, RECT))


def region_retake(shotlist, *args: str, code: int = 0):
    return shotrender("decide", shotlist, CUT, "retake", "--region", REGION, *args, "--note", "warmer there",
                      "--by", "ana", code=code)


def follow_error(image: np.ndarray, retaken: np.ndarray, cut: str) -> float:
    """Mean |image − C003's retaken picture warped into `cut`'s frame| (of 255) inside the region as `cut`
    sees it, away from either drawing's lines: how far `cut` is from showing the retaken region."""
    m = location.true_transform(cut, CUT, TINY_SIZE)
    inside = cv2.warpPerspective(region_mask([RECT], TINY_SIZE).view(np.uint8), m, TINY_SIZE,
                                 flags=cv2.INTER_NEAREST)
    inside = cv2.erode(inside, np.ones((5, 5), np.uint8)) > 0
    layouts = dict(location.layouts(TINY_SIZE))
    lines = _near_lines(layouts[cut], 3) | _near_lines(
        cv2.warpPerspective(layouts[CUT], m, TINY_SIZE, borderValue=(255, 255, 255)), 3)
    warped = cv2.warpPerspective(retaken, m, TINY_SIZE, flags=cv2.INTER_LINEAR)
    assert (inside & ~lines).sum() > 200, cut  # it does see part of the region
    return float(np.abs(image.astype(np.float32) - warped).mean(axis=2)[inside & ~lines].mean())


def test_a_region_retake_repaints_the_region_and_the_cuts_that_see_it_follow(rendered):
    shotlist, out = rendered
    before = {c: picture(out, c) for c in ("C001", "C002", CUT, "C004", "C006")}
    page_decides(shotlist, "C001", "approve")  # a person's decision: C001's picture must not change
    done = region_retake(shotlist, "--words", "sunset glow")
    assert f"{CUT}: retake recorded" in done.output
    told = status(shotlist)
    assert told["cut", CUT]["reasons"] == [f"region {REGION} retaken"]
    assert told["sheet", "park/1"]["reasons"] == [f"{CUT} region retaken"]
    stale = {cut for (kind, cut), row in told.items() if kind == "cut" and row["state"] == "stale"}

    done = shotrender("render", shotlist, "--retakes")
    assert f"region {REGION} of take 1 painted again" in done.output
    assert painted(done) == stale  # status named exactly the cuts render painted
    after = {c: picture(out, c) for c in before}
    change = np.abs(after[CUT].astype(np.float32) - before[CUT]).mean(axis=2)
    inside = region_mask([RECT], TINY_SIZE)
    assert change[inside].mean() >= 15 and change[~inside].mean() <= 2, (change[inside].mean(),
                                                                         change[~inside].mean())
    # measured: 107.9 inside, 0.00 outside
    assert np.array_equal(after["C001"], before["C001"])
    for cut in ("C002", "C004"):
        then, now = follow_error(before[cut], after[CUT], cut), follow_error(after[cut], after[CUT], cut)
        assert now <= 0.15 * then, (cut, now, then)

    rows = status(shotlist)
    assert rows["cut", CUT]["review"] == "waiting for review"
    assert sorted(p.name for p in (out / "takes").glob(f"ep01_{CUT}.v*.png")) == [
        f"ep01_{CUT}.v001.png", f"ep01_{CUT}.v002.png"]
    assert rows["cut", "C001"]["state"] == "approved" and rows["cut", "C001"]["place_changed"]
    assert all(rows["cut", c]["state"] == "up to date" for c in ("C002", CUT, "C004", "C006"))
    assert sidecar(out, CUT)["region"]["rects"] == [list(RECT)]
    sheet = json.loads((out / "sheets" / "ep01_park_1.json").read_text())
    assert sheet["retouches"][CUT] == sidecar(out, CUT)["image"]["sha256"]
    assert "painted again" not in shotrender("render", shotlist).output  # done: nothing more to paint


def test_region_retakes_are_refused_clearly_where_they_cannot_be_painted(rendered):
    shotlist, out = rendered
    path = decisions.path_for(shotlist)
    for args, words in [
        ((CUT, "retake", "--region", "200,100,80,60"), "region 200,100,80,60 reaches past C003's picture, 256×144"),
        ((CUT, "retake", "--region", "30,10,80"), "is not X,Y,W,H"),
        ((CUT, "retake", "--region", "30,10,0,60"), "width and height from 1"),
        ((CUT, "retake", "--region", REGION, "--strength", "0.5"), "give it no strength"),
        ((CUT, "retake", "--scope", "region"), "names its region"),
        (("C007", "retake", "--region", REGION), "C007 reuses C001"),
    ]:
        done = shotrender("decide", shotlist, *args, "--note", "there", "--by", "ana", code=2)
        assert words in done.output, (args, done.output)
        assert "Traceback" not in done.output
    assert not path.exists()  # nothing written by a refused decision
    with pytest.raises(decisions.DecisionError, match="reaches past"):  # the page's way in, the same rule
        page_decides(shotlist, CUT, "retake", "there", scope="region", region=[250, 0, 10, 10])
    retouch(shotlist, "C002")
    shotrender("render", shotlist)
    done = shotrender("decide", shotlist, "C002", "retake", "--region", REGION, "--note", "x", "--by", "ana", code=2)
    assert "is a retouch" in done.output


def test_a_region_retake_is_left_out_when_its_cut_changed_since_it_was_drawn(rendered):
    shotlist, out = rendered
    region_retake(shotlist)
    shotrender("render", shotlist, "--retakes")
    assert "region" in sidecar(out, CUT)

    def prompt(data):
        next(c for c in data["cuts"] if c["id"] == CUT)["prompt"] = "a kite in the sky"

    edit(shotlist, prompt)  # painted over the region's take, the edit would be lost outside the region
    told = status(shotlist)
    assert any("left out: since it was drawn, prompt changed" in r for r in told["cut", CUT]["reasons"])
    assert told["sheet", "park/1"]["reasons"] == [f"{CUT} released"]
    done = shotrender("render", shotlist)
    assert "painted again" not in done.output and "region" not in sidecar(out, CUT)
    sheet = json.loads((out / "sheets" / "ep01_park_1.json").read_text())
    assert CUT not in (sheet.get("retouches") or {})

    region_retake(shotlist)
    edit(shotlist, lambda d: d.update(size=[384, 216]))
    reasons = status(shotlist)["cut", CUT]["reasons"]
    assert any("left out: it was drawn on a 256×144 picture, the frame is 384×216" in r for r in reasons), reasons
    done = shotrender("render", shotlist)
    assert "painted again" not in done.output
    assert picture(out, CUT).shape[:2] == (216, 384) and "region" not in sidecar(out, CUT)
    rows = status(shotlist)
    assert all(row["state"] in ("up to date", "flagged") for (kind, _), row in rows.items() if kind == "cut")


def test_a_farm_paints_a_region_retake_in_the_sheet_unit_and_its_followers_in_the_cut_units(rendered):
    shotlist, out = rendered
    before = picture(out, "C002")
    region_retake(shotlist)
    done = shotrender("render", shotlist, "--chain", "park", "--sheets-only")  # farm.py's sheet unit
    assert f"{CUT}: region {REGION} of take 1 painted again" in done.output
    assert f"sheet park/1: {CUT} region retaken: written into its painting" in done.output
    done = shotrender("render", shotlist, "--cuts", "C001,C002,C003,C004,C006", "--no-sheets")  # a cut unit
    assert painted(done) == {"C001", "C002", "C004", "C006"}
    assert follow_error(picture(out, "C002"), picture(out, CUT), "C002") <= 0.15 * follow_error(
        before, picture(out, CUT), "C002")


def test_an_approval_after_a_region_retake_on_the_same_picture_takes_it_back(rendered):
    shotlist, out = rendered
    before = sidecar(out, CUT)["image"]["sha256"]
    region_retake(shotlist)
    page_decides(shotlist, CUT, "approve")
    reasons = status(shotlist)["cut", CUT]["reasons"]
    assert len(reasons) == 1 and reasons[0].startswith("locked: approved by ana"), reasons  # no "otherwise stale"
    assert painted(shotrender("render", shotlist)) == set() and sidecar(out, CUT)["image"]["sha256"] == before


def test_a_retouch_of_a_region_retaken_cut_takes_its_place_in_the_sheet(rendered):
    shotlist, out = rendered
    region_retake(shotlist)
    shotrender("render", shotlist, "--retakes")
    assert "region" in sidecar(out, CUT)
    retouch(shotlist, CUT)
    shotrender("render", shotlist)
    record = sidecar(out, CUT)
    assert record["status"] == "retouched" and "region" not in record
    sheet = json.loads((out / "sheets" / "ep01_park_1.json").read_text())
    assert sheet["retouches"][CUT] == record["retouch"]["sha256"]
    rows = status(shotlist)
    assert not [c for (kind, c), row in rows.items() if kind == "cut" and row["state"] == "stale"]


def test_a_later_retake_of_the_cut_ends_its_region_and_the_sheet_lets_it_go(rendered):
    shotlist, out = rendered
    region_retake(shotlist, "--words", "sunset glow")
    shotrender("render", shotlist, "--retakes")
    assert np.array_equal(picture(out, "C007"), picture(out, "C001"))  # the reuse followed its source's patch
    region_retake(shotlist, "--seed", "5")  # a second region on the region's take: both are kept
    shotrender("render", shotlist, "--retakes")
    assert sidecar(out, CUT)["region"]["rects"] == [list(RECT), list(RECT)]
    shotrender("decide", shotlist, CUT, "retake", "--note", "the whole cut again", "--by", "ana")
    assert status(shotlist)["sheet", "park/1"]["reasons"] == [f"{CUT} released"]
    shotrender("render", shotlist, "--retakes")
    assert "region" not in sidecar(out, CUT)
    sheet = json.loads((out / "sheets" / "ep01_park_1.json").read_text())
    assert CUT not in (sheet.get("retouches") or {})
    rows = status(shotlist)
    assert not [c for (kind, c), row in rows.items() if kind == "cut" and row["state"] == "stale"]


def test_the_page_draws_a_region_sends_it_shows_both_takes_and_picks_a_candidate(rendered, browser):  # noqa: F811
    shotlist, out = rendered
    with review_server(shotlist, "--reviewer", "ana") as (host, port, token):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"http://{host}:{port}/?token={token}#C007")
        page.wait_for_selector("body[data-ready='1']")
        # a reused cut is decided on through its source: no buttons, and the page says why
        assert not page.is_visible("#approve") and not page.is_visible("#retake")
        assert page.inner_text("#undecidable") == ("C007 reuses C001: its picture is C001's, and follows it; "
                                                   "decide on C001")
        page.click(f"#cut-list [data-cut={CUT}]")
        assert page.is_visible("#retake") and not page.is_visible("#undecidable")
        wait_for_pictures(page)
        box = page.locator(".strip .me img.render").bounding_box()

        def at(x: float, y: float) -> tuple[float, float]:  # a point of the picture, on the screen
            return box["x"] + x / TINY_SIZE[0] * box["width"], box["y"] + y / TINY_SIZE[1] * box["height"]

        x, y, w, h = RECT
        page.mouse.move(*at(x, y))
        page.mouse.down()
        page.mouse.move(*at(x + w / 2, y + h / 2), steps=4)
        page.mouse.move(*at(x + w, y + h), steps=4)
        page.mouse.up()
        drawn = [int(n) for n in page.input_value("#region").split(",")]
        assert np.abs(np.subtract(drawn, RECT)).max() <= 1, drawn  # a screen pixel is 1.8 picture pixels
        assert page.input_value("#scope") == "region" and page.locator(".strip .me .region").count() == 1
        page.fill("#note", "warmer there")
        page.fill("#words", "sunset glow")
        page.screenshot(path=str(out.parent / "region_drawn.png"), full_page=True)  # an artefact, looked at
        page.click("#send")
        page.wait_for_selector(f"#cut-list [data-cut={CUT}][data-state=retake]")
        made = decisions.read(decisions.path_for(shotlist))[-1]
        assert made.changes.as_dict() == {"prompt": "sunset glow", "scope": "region", "region": drawn}

        done = shotrender("render", shotlist, "--retakes")
        assert "painted again" in done.output
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#takes figure").count() == 2  # both takes, the new one current and waiting
        assert page.get_attribute(f"#cut-list [data-cut={CUT}]", "data-state") == "waiting"
        assert page.locator("#takes figure[data-take='2'].current").count() == 1
        assert page.locator("#takes figure[data-take='1'] .region").count() == 1  # where it was asked
        wait_for_pictures(page)
        page.screenshot(path=str(out.parent / "region_retaken.png"), full_page=True)

        # "paint 4": four candidates of a retake of the cut, and the director picks one
        page.click("#retake")
        page.fill("#note", "a few skies to choose from")
        page.check("#paint4")
        page.click("#send")
        page.wait_for_selector(f"#cut-list [data-cut={CUT}][data-state=retake]")
        assert decisions.read(decisions.path_for(shotlist))[-1].changes.as_dict() == {"candidates": 4}
        shotrender("render", shotlist, "--retakes")
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#takes figure").count() == 6  # takes 3 to 6: the four candidates, 6 current
        assert page.locator("#takes button.pick").count() == 3
        wait_for_pictures(page)
        page.screenshot(path=str(out.parent / "candidates.png"), full_page=True)
        page.click("#takes figure[data-take='4'] button.pick")
        page.wait_for_selector(f"#cut-list [data-cut={CUT}][data-state=approved]")
        assert page.locator("#takes figure[data-take='4'].current").count() == 1
        assert sidecar(out, CUT)["image"]["sha256"] == json.loads(
            (out / "takes" / f"ep01_{CUT}.v004.json").read_text())["image"]["sha256"]
        page.close()
    assert problems == []


@pytest.mark.slow
def test_the_tiny_pipeline_repaints_a_region_retake_inside_alone_with_the_same_bytes_in_two_processes(
        tmp_path, tiny_model):
    """The random-weight pipeline, through its inpainting pipeline on the same weights: the region retake
    changes C003 inside the region and not outside it; `render --retakes` in this process and in another,
    on copies of one folder, writes the same bytes for every cut."""
    import os
    import shutil
    import subprocess
    import sys

    from shotrender.backends.diffusers.pipeline import PASTE

    size, rect = (144, 80), (17, 6, 45, 34)  # the park still registers at this size; RECT, scaled to it
    shotlist = _location_episode(tmp_path / "a", size, model=str(tiny_model), continuity={"max_attempts": 1})
    shotrender("render", shotlist)
    out = shotlist.parent / "out"
    before = {c: picture(out, c) for c in ("C001", "C002", CUT, "C004")}
    page_decides(shotlist, "C001", "approve")
    shotrender("decide", shotlist, CUT, "retake", "--region", ",".join(map(str, rect)), "--words", "sunset glow",
               "--note", "warmer there", "--by", "ana")
    shutil.copytree(shotlist.parent, tmp_path / "b", symlinks=True)
    other = subprocess.Popen([sys.executable, "-m", "shotrender", "render", str(tmp_path / "b" / shotlist.name),
                              "--retakes", "--progress", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    done = shotrender("render", shotlist, "--retakes")
    assert f"region {','.join(map(str, rect))} of take 1 painted again" in done.output
    _, err = other.communicate(timeout=600)
    assert other.returncode == 0, err
    change = np.abs(picture(out, CUT).astype(np.float32) - before[CUT]).mean(axis=2)
    inside = region_mask([rect], size)
    # the inpainting's paste is feathered over PASTE px past the region, rounded out to the latent's blocks
    band = cv2.dilate(inside.view(np.uint8), np.ones((2 * PASTE + 5,) * 2, np.uint8)) > 0
    print(f"tiny pipeline, region retake of {CUT}: {change[inside].mean():.1f}/255 inside, "
          f"{change[~band].mean():.2f} outside its paste's band ({change[~inside].mean():.2f} with it)")
    assert change[inside].mean() >= 15 and change[~band].mean() <= 2
    assert np.array_equal(picture(out, "C001"), before["C001"])  # approved: a person's decision
    other_out = tmp_path / "b" / "out"
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == {p.name: p.read_bytes()
                                                                   for p in other_out.glob("*.png")}
