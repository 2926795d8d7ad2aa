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
import test_review
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


# ------------------------------------------------------------------------------------------- the page
browser = test_review.browser  # one Chromium for this module's page test


def test_the_page_draws_a_region_sends_it_shows_both_takes_and_picks_a_candidate(rendered, browser):
    shotlist, out = rendered
    with test_review.review_server(shotlist, "--reviewer", "ana") as (host, port, token):
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
        test_review.wait_for_pictures(page)
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
        test_review.wait_for_pictures(page)
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
        test_review.wait_for_pictures(page)
        page.screenshot(path=str(out.parent / "candidates.png"), full_page=True)
        page.click("#takes figure[data-take='4'] button.pick")
        page.wait_for_selector(f"#cut-list [data-cut={CUT}][data-state=approved]")
        assert page.locator("#takes figure[data-take='4'].current").count() == 1
        assert sidecar(out, CUT)["image"]["sha256"] == json.loads(
            (out / "takes" / f"ep01_{CUT}.v004.json").read_text())["image"]["sha256"]
        page.close()
    assert problems == []
