"""Sheets on a location drawn from vector shapes (tests/location.py), where every camera is known."""

import itertools
import json

import cv2
import numpy as np
import pytest

import location as L
from shotrender import sheets

SIZES = [(256, 144), (384, 216)]


@pytest.fixture(scope="module", params=SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def park(request):
    size = request.param
    layouts = L.layouts(size)
    return size, dict(layouts), sheets.register("park", layouts)


def corner_error(estimate: np.ndarray, truth: np.ndarray, size) -> float:
    """Both cuts' frame corners taken across by the estimate and back by the truth: the largest
    displacement, in px of the cut whose corners moved."""
    w, h = size
    corners = np.float64([[[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]])
    there = cv2.perspectiveTransform(corners, np.linalg.inv(truth) @ estimate)[0]
    back = cv2.perspectiveTransform(corners, truth @ np.linalg.inv(estimate))[0]
    return float(max(np.abs(there - corners[0]).max(), np.abs(back - corners[0]).max()))


def ink(image: np.ndarray) -> np.ndarray:
    return image.min(axis=2) < sheets.PAPER


def test_every_pair_of_a_sheet_is_within_2_px_of_the_truth(park):
    size, _, reg = park
    sheet = reg.sheet_of("C001")
    assert sheet.cuts == L.SAME_PLACE
    for a, b in itertools.combinations(sheet.cuts, 2):
        implied = np.linalg.inv(sheet.matrix(a)) @ sheet.matrix(b)
        assert corner_error(implied, L.true_transform(a, b, size), size) < 2.0, (a, b)
    accepted = [p for p in reg.pairs if p.accepted]
    assert len(accepted) == 10  # every pair of the five cuts of the park, directly
    for p in accepted:
        assert corner_error(np.array(p.matrix), L.true_transform(p.a, p.b, size), size) < 2.0, (p.a, p.b)


def test_another_angle_is_a_sheet_of_its_own(park):
    _, _, reg = park
    assert [s.cuts for s in reg.sheets] == [L.SAME_PLACE, ("C005",)]
    assert [s.id for s in reg.sheets] == ["park/1", "park/2"]
    other = reg.sheet_of("C005")
    assert other.size == other.frame and other.links == ()
    assert not any(p.accepted for p in reg.pairs if "C005" in (p.a, p.b))


def test_a_return_registers_directly_to_its_first_framing(park):
    # C006 redraws C001's framing after the cut at another angle: its neighbour in the shot list is
    # unrelated, so only trying every pair finds it, and the tree links it to C001 itself.
    _, _, reg = park
    links = {(p.a, p.b) for p in reg.sheet_of("C006").links}
    assert ("C001", "C006") in links
    pair = next(p for p in reg.pairs if (p.a, p.b) == ("C001", "C006"))
    assert pair.overlap > 0.95 and pair.agreement < 1.0  # the same view, not the same drawing


def test_the_sheet_is_at_the_tightest_framings_scale(park):
    size, _, reg = park
    sheet = reg.sheet_of("C001")
    assert sheet.reference == "C004" and sheet.scale == 1.0
    assert sheet.priority[0] == "C004" and sheet.priority[-1] == "C006"
    m = sheet.matrix("C004")
    assert np.array_equal(m[:2, :2], np.eye(2)) and np.array_equal(m[:2, 2], np.round(m[:2, 2]))
    assert sheet.cut_scale("C001") == pytest.approx(1.4, abs=0.01)
    # The truth's extent: every cut's corners in the track-in's pixels.
    w, h = size
    corners = np.float64([[[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]])
    pts = np.vstack([cv2.perspectiveTransform(corners, L.true_transform("C004", c, size))[0] for c in sheet.cuts])
    extent = np.ceil(pts.max(0)) - np.floor(pts.min(0)) + 1
    assert np.abs(np.array(sheet.size) - extent).max() <= 3


def test_the_mosaic_uses_one_drawing_per_point(park):
    _, layouts, reg = park
    sheet = reg.sheet_of("C001")
    drawn = sheets.mosaic(sheet, layouts)
    assert drawn.image.shape == (sheet.size[1], sheet.size[0], 3)
    assert np.array_equal(drawn.coverage, drawn.owner >= 0) and drawn.coverage.mean() > 0.9
    assert (drawn.image[~drawn.coverage] == 255).all()
    for k, cut in enumerate(sheet.cuts):
        picture, seen = sheets.place(layouts[cut], sheet, cut)
        mine = drawn.owner == k
        assert (seen[mine]).all() and np.array_equal(drawn.image[mine], picture[mine]), cut
    # The tightest framing's pixels are copied, not resampled.
    assert (drawn.owner == sheet.cuts.index("C004")).sum() == layouts["C004"].shape[0] * layouts["C004"].shape[1]


def test_a_redrawn_return_does_not_double_the_lines(park):
    size, layouts, reg = park
    sheet = reg.sheet_of("C001")
    drawn = sheets.mosaic(sheet, layouts)
    first, _ = sheets.place(layouts["C001"], sheet, "C001")
    again, _ = sheets.place(layouts["C006"], sheet, "C006")
    region = drawn.owner == sheet.cuts.index("C001")  # C006 sees all of it: the same framing
    assert (drawn.owner == sheet.cuts.index("C006")).sum() < 0.01 * region.sum()
    single = (ink(drawn.image) & region).sum()
    union = (ink(np.minimum(first, again)) & region).sum()
    assert single == (ink(first) & region).sum() and union > 1.25 * single
    # Where the drawings differ, the mosaic has C001's: the cloud C006 left out, not the sign it added.
    to_sheet = sheet.matrix("C001") @ L.cut("C001").camera.world_to_cut(size)

    def box(shapes):
        pts = cv2.perspectiveTransform(np.vstack([s.points for s in shapes])[None], to_sheet)[0]
        (x0, y0), (x1, y1) = np.floor(pts.min(0)).astype(int) - 2, np.ceil(pts.max(0)).astype(int) + 2
        return np.s_[y0:y1 + 1, x0:x1 + 1]

    sign = box(L.SIGN)
    assert ink(again[sign]).sum() > 20 and ink(drawn.image[sign]).sum() == ink(first[sign]).sum()
    cloud = box([s for s in L.PARK if s.name == "cloud-1"])
    assert ink(drawn.image[cloud]).sum() == ink(first[cloud]).sum() > 5 * ink(again[cloud]).sum()


def test_a_view_of_the_mosaic_is_the_cut_where_its_drawing_won(park):
    _, layouts, reg = park
    sheet = reg.sheet_of("C001")
    drawn = sheets.mosaic(sheet, layouts)
    for k, cut in enumerate(sheet.cuts):
        picture, valid = sheets.view(drawn.image, sheet, cut)
        assert picture.shape == layouts[cut].shape and valid.all(), cut
        won, _ = sheets.view(((drawn.owner == k) * 255).astype(np.uint8), sheet, cut)
        won = won == 255
        if cut == "C006":
            assert won.mean() < 0.01
            continue
        diff = cv2.absdiff(picture, layouts[cut]).max(axis=2)
        assert diff[won].mean() < 8, cut
        lines = ink(layouts[cut]) & won
        assert (ink(picture) & lines).sum() >= 0.95 * lines.sum(), cut
    picture, _ = sheets.view(drawn.image, sheet, "C004")
    assert np.array_equal(picture, layouts["C004"])


def test_the_size_cap_scales_the_sheet_down_and_says_so():
    size = SIZES[0]
    layouts = dict(L.layouts(size, L.SAME_PLACE))
    full = sheets.register("park", list(layouts.items())).sheets[0]
    cap = full.size[0] * full.size[1] // 2
    capped = sheets.register("park", list(layouts.items()), sheets.Settings(max_sheet_pixels=cap)).sheets[0]
    assert capped.size[0] * capped.size[1] <= cap
    assert capped.scale == pytest.approx(2 ** -0.5, rel=0.02)
    assert capped.cut_scale("C004") == pytest.approx(capped.scale)
    for a, b in itertools.combinations(capped.cuts, 2):
        implied = np.linalg.inv(capped.matrix(a)) @ capped.matrix(b)
        assert corner_error(implied, L.true_transform(a, b, size), size) < 2.0, (a, b)
    # The tightest framing is no longer 1:1: laid on the sheet it shrinks, seen from it it grows back.
    drawn = sheets.mosaic(capped, layouts)
    picture, valid = sheets.view(drawn.image, capped, "C004")
    lines = ink(layouts["C004"])
    assert valid.all() and (ink(picture) & lines).sum() >= 0.8 * lines.sum()


@pytest.mark.parametrize("factor, limit", [(3, 3.5), (4, 1.0)])
def test_a_view_that_shrinks_averages_the_lines(factor, limit):
    # A wide cut of a big sheet: its view must average the sheet's thin lines like INTER_AREA does
    # (sampling the sheet every `factor` px differs from that by 5.7 and 4.6 grey levels).
    big = L.cut("C001").draw((512, 288))
    frame = (512 // factor, 288 // factor)
    m = np.array([[factor, 0, (factor - 1) / 2], [0, factor, (factor - 1) / 2], [0, 0, 1]])
    sheet = sheets.Sheet("park/1", ("C001",), frame, (512, 288), "C001", ("C001",), 1.0,
                         {"C001": tuple(map(tuple, m.tolist()))}, ())
    picture, valid = sheets.view(big, sheet, "C001")
    area = cv2.resize(big, frame, interpolation=cv2.INTER_AREA)
    assert valid.all() and cv2.absdiff(picture, area).mean() < limit


def test_json_round_trip(park):
    _, _, reg = park
    record = json.loads(json.dumps(reg.to_dict()))
    assert record["schema"] == "shotrender.sheets/1"
    assert sheets.Registration.from_dict(record) == reg


@pytest.mark.parametrize("damage", [
    lambda r: r.update(schema="shotrender.sheets/0"),
    lambda r: r.pop("pairs"),
    lambda r: r["settings"].update(extra=1),
    lambda r: r["sheets"][0]["transforms"].update(C001=[[1, 0], [0, 1]]),
    lambda r: r["sheets"][0].update(priority=[]),
    lambda r: r["sheets"][0].update(size=[0, 10]),
    lambda r: r["pairs"][0].update(accepted="yes"),
    lambda r: r["sheets"][0]["cuts"].append("C099"),
])
def test_a_damaged_record_is_refused(damage):
    record = sheets.register("park", L.layouts(SIZES[0], ("C001", "C002"))).to_dict()
    damage(record)
    with pytest.raises(ValueError):
        sheets.Registration.from_dict(record)


def test_registration_is_deterministic(park):
    _, layouts, reg = park
    again = sheets.register("park", list(layouts.items()))
    assert json.dumps(again.to_dict()) == json.dumps(reg.to_dict())


def test_cache_key_names_everything_that_decides_the_sheets():
    hashes = [("C001", "a" * 64), ("C002", "b" * 64)]
    key = sheets.cache_key("park", (256, 144), hashes, sheets.Settings())
    assert key == sheets.cache_key("park", (256, 144), list(hashes), sheets.Settings())
    others = [
        sheets.cache_key("room", (256, 144), hashes, sheets.Settings()),
        sheets.cache_key("park", (384, 216), hashes, sheets.Settings()),
        sheets.cache_key("park", (256, 144), hashes[::-1], sheets.Settings()),
        sheets.cache_key("park", (256, 144), [("C001", "a" * 64), ("C002", "c" * 64)], sheets.Settings()),
        sheets.cache_key("park", (256, 144), hashes, sheets.Settings(min_agreement=0.7)),
    ]
    assert len({key, *others}) == 6


def test_one_cut_is_one_sheet_seen_whole():
    layout = L.cut("C001").draw(SIZES[0])
    reg = sheets.register("park", [("C001", layout)])
    (sheet,) = reg.sheets
    assert sheet.size == sheet.frame and reg.pairs == ()
    assert np.array_equal(sheet.matrix("C001"), np.eye(3))
    assert np.array_equal(sheets.mosaic(sheet, {"C001": layout}).image, layout)


def test_bad_input_is_refused_with_the_cut_named():
    a, b = L.cut("C001").draw((256, 144)), L.cut("C002").draw((384, 216))
    with pytest.raises(ValueError, match="C002"):
        sheets.register("park", [("C001", a), ("C002", b)])
    with pytest.raises(ValueError, match="twice"):
        sheets.register("park", [("C001", a), ("C001", a)])
    with pytest.raises(ValueError, match="no layouts"):
        sheets.register("park", [])
    sheet = sheets.register("park", [("C001", a)]).sheets[0]
    with pytest.raises(ValueError, match="park/1"):
        sheets.view(b, sheet, "C001")


def test_a_tree_the_sheets_edge_cuts_is_painted_as_a_tree(tmp_path):
    """The example park's sheet is 2361 px wide, and its last column is seen by no cut (C008's frame ends 0.02 px
    short of that pixel's centre). Left white and padded with white to 2368, that strip joined every area the
    edge cuts, and the draft painted the rightmost tree (C008 sees it) in the sky's colours."""
    from pathlib import Path

    from shotrender.backends.draft import DraftBackend
    from shotrender.images import decode_png
    from shotrender.plan import make_plan, select
    from shotrender.render import RenderOptions, render
    from shotrender.shotlist import load

    path = Path(__file__).resolve().parents[1] / "shots" / "example" / "episode.yaml"
    plan = select(make_plan(load(path)), chain="park")
    render(plan, DraftBackend(), RenderOptions(tmp_path, stage="sheets"))
    registration = json.loads((tmp_path / "sheets" / "ep01_park.registration.json").read_text())
    sheet = sheets.Registration.from_dict(registration["registration"]).sheets[0]
    painting = decode_png((tmp_path / "sheets" / "ep01_park_1.png").read_bytes()).astype(np.float64)

    def colour(x: float, y: float) -> np.ndarray:  # a point of C008's frame, on the sheet's painting
        (sx, sy), = cv2.perspectiveTransform(np.float64([[[x, y]]]), sheet.matrix("C008"))[0]
        return np.median(painting[round(sy) - 4:round(sy) + 5, round(sx) - 4:round(sx) + 5], axis=(0, 1))

    right, middle, sky = colour(930, 220), colour(560, 200), colour(300, 30)  # two crowns, the sky
    assert np.linalg.norm(right - middle) < np.linalg.norm(right - sky), (right, middle, sky)
