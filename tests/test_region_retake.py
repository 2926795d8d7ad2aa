"""A director's region retake (issue 26): a rectangle of one cut painted again with the retake's words, laid
into its sheet as a patch so the cuts that see it follow; and its seams with approvals, retouches, reused
cuts and size changes.

The park of tests/location.py at 256×144 on the draft backend (test_decisions' fixture: rendered once per
module, copied for each test). The region is C003's sky and hill above the bench's left: C001, C002, C004
and C006 each see part of it.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import location
import test_decisions
from shotrender.patches import region_mask
from shotrender.review import decisions
from test_decisions import TINY_SIZE, edit, page_decides, painted, picture, retouch, shotrender, sidecar, status
from test_sheet_continuity import _near_lines

park_once, rendered = test_decisions.park_once, test_decisions.rendered  # the park rendered once, a copy a test

CUT, RECT = "C003", (30, 10, 80, 60)
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


def test_a_region_retake_drawn_before_the_size_changed_is_left_out_and_said_so(rendered):
    shotlist, out = rendered
    region_retake(shotlist)
    edit(shotlist, lambda d: d.update(size=[384, 216]))
    reasons = status(shotlist)["cut", CUT]["reasons"]
    assert any("left out: it was drawn on a 256×144 picture, the frame is 384×216" in r for r in reasons), reasons
    done = shotrender("render", shotlist)
    assert "painted again" not in done.output
    assert picture(out, CUT).shape[:2] == (216, 384) and "region" not in sidecar(out, CUT)
    rows = status(shotlist)
    assert all(row["state"] in ("up to date", "flagged") for (kind, _), row in rows.items() if kind == "cut")


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
