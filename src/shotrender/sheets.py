"""Sheets: the cuts of one background as views of one painting (numpy + OpenCV only, no file I/O).

A 2D background is a flat painting filmed by a 2D camera, so the layouts of one background are related
by camera transforms (a pan, a track in or out, a small turn: a similarity). `register` finds them from
the line art, accepts a transform only where the two drawings agree once aligned, and puts the cuts
that register together on one plane: a **sheet**. `mosaic` draws the sheet's layout from its cuts'
layouts (one drawing per point, never two), `view` shows a sheet-sized picture through a cut's camera.

Conventions: a transform is a 3×3 matrix taking one frame's pixel coordinates (x, y; pixel centres at
integers) to another's. `Sheet.transforms[cut]` takes the cut's pixels to the sheet's. A pair's
`matrix` takes its later cut's pixels to its earlier cut's.

Example:
    reg = register("park", [("C001", layout1), ("C002", layout2)])
    sheet = reg.sheet_of("C002")
    drawn = mosaic(sheet, {"C001": layout1, "C002": layout2})
    picture, valid = view(drawn.image, sheet, "C002")
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace

import cv2
import numpy as np

from . import flow, pairing

SCHEMA = "shotrender.sheets/1"
# Layout pixels darker than this are line; the rest is paper (as flow.texture reads them).
PAPER = 160
# A pair's acceptance needs at least this many line pixels of each drawing in the overlap (working px):
# fewer, and agreement says nothing (a sky with two clouds agrees with anything).
MIN_LINE_PIXELS = 150
# A transform that enlarges or shrinks by more than this is no camera move between two layouts.
MAX_ZOOM = 6.0
# ECC aligns the layouts' ink blurred by this sigma (px of each level): wide at detect size to reach
# the first guess's error, narrow at work size, where a wider blur starts to trade accuracy for reach.
ECC_BLUR = {"detect": 2.0, "work": 1.0}
# Phase-correlation peaks closer than this (detect px) are one peak.
PEAK_APART = 6.0
# A close-up's zooms searched when the first guesses find nothing (ORB's pyramid reaches about 1.5x),
# and how many of the clearest zoom guesses are refined.
ZOOMS = (1.8, 2.3, 3.0, 3.8)
ZOOM_GUESSES = 3
ZOOM_SCORE = 0.6  # a shrunk close-up found this clearly is a guess (unrelated drawings: up to 0.56)
# Two accepted matches of one pair whose agreements differ by less than this, and whose frames' centres
# lie more than AMBIGUOUS_APART full px apart, are repeated structure: neither is chosen.
AMBIGUOUS_MARGIN = 0.02
AMBIGUOUS_APART = 8.0
# A shot list's hint (`framing:`, `on:`) is rough: a match whose frame centre lies within this share of the
# frame's width of where the hint puts it is the one the hint means (a facade's next house is 0.3 away).
HINT_REACH = 0.25
# and its scale is rough too: the hinted frame is also tried this much larger and smaller
HINT_ZOOMS = (1.0, 1.08, 1 / 1.08, 1.17, 1 / 1.17)


@dataclass(frozen=True)
class Settings:
    """How registration measures. Lengths are in working pixels (the layout at `work_width`)."""

    detect_width: int = 384  # first estimate: phase correlation, else ORB + RANSAC on line junctions
    work_width: int = 768  # refinement (ECC on distance-to-line images) and the acceptance test
    line_tolerance: float = 2.0  # a line has a counterpart when the other drawing has a line this close
    min_agreement: float = 0.8  # share of each drawing's lines in the overlap that have a counterpart
    min_overlap: float = 0.2  # share of the smaller view that the other view also sees
    max_sheet_pixels: int = 4096 * 4096  # above it the sheet is scaled down (Sheet.scale < 1)
    same_scale: float = 0.01  # framings whose scales differ by less are equally tight: the earlier wins

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Pair:
    """One tried pair of cuts: `a` before `b` in the shot list."""

    a: str
    b: str
    accepted: bool
    overlap: float  # share of the smaller view that the other sees (0 without a transform)
    agreement: float  # the worse of the two drawings' shares of lines with a counterpart
    chamfer: float  # mean distance from a line to the other drawing's nearest line, capped (working px)
    matrix: tuple[tuple[float, ...], ...] | None  # b's pixels to a's, 3×3; None when nothing matched
    rival: float = 0.0  # refused as ambiguous: how far apart (full px) two matches as good put b in a
    hint: str = ""  # the shot list hinted this pair: "kept" (a match where it said) or "contradicted"

    @property
    def weight(self) -> float:
        return self.agreement * self.overlap


@dataclass(frozen=True)
class Hint:
    """The shot list's word on where a cut lies on another's picture (`framing: {like: C001}`, `on: {cut: C001,
    x, y, scale}`), which registration refines: `matrix` takes the cut's picture px to the other's, 3×3."""

    cut: str
    on: str
    matrix: tuple[tuple[float, ...], ...]

    def to_dict(self) -> dict:
        return {"cut": self.cut, "on": self.on, "matrix": _rows(np.array(self.matrix))}


@dataclass(frozen=True)
class Sheet:
    """One painting: the cuts (shot-list order) that see it, and how each sees it."""

    id: str  # "<background>/<n>", n from 1 in the order of each sheet's first cut
    cuts: tuple[str, ...]
    frame: tuple[int, int]  # the cuts' size, W, H
    size: tuple[int, int]  # the sheet's size, W, H
    reference: str  # the tightest framing: its pixels are the sheet's, times `scale`
    priority: tuple[str, ...]  # tightest framing first (equally tight: shot-list order); see `mosaic`
    scale: float  # sheet px per reference px: 1 unless max_sheet_pixels scaled the sheet down
    transforms: Mapping[str, tuple[tuple[float, ...], ...]]  # cut px -> sheet px, 3×3
    links: tuple[Pair, ...]  # the spanning tree of accepted pairs that joined the cuts (the plane is then
    # adjusted to every accepted pair among them, Registration.pairs)
    sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # a moving cut's deliverable, W, H
    variant: str | None = None  # a variant's sheet (`variant_of`): its base's geometry, painted from its painting

    @property
    def base(self) -> str:
        """The id of the registered sheet this one's geometry is: its own, or a variant's base's (park/1)."""
        return self.id.partition("@")[0]

    def size_of(self, cut: str) -> tuple[int, int]:
        """The size of the cut's pictures: the frame, or a moving cut's deliverable (camera.py)."""
        return self.sizes.get(cut, self.frame)

    def matrix(self, cut: str) -> np.ndarray:
        return np.array(self.transforms[cut], dtype=np.float64)

    def cut_scale(self, cut: str) -> float:
        """Sheet px per cut px: 1 for the tightest framing (unless capped), more for wider ones."""
        return _scale(self.matrix(cut))


@dataclass(frozen=True)
class Registration:
    background: str
    frame: tuple[int, int]
    settings: Settings
    sheets: tuple[Sheet, ...]
    pairs: tuple[Pair, ...]  # every pair tried, accepted or not
    hints: tuple[Hint, ...] = ()  # the shot list's hints registration was given

    def sheet_of(self, cut: str) -> Sheet:
        for sheet in self.sheets:
            if cut in sheet.transforms:
                return sheet
        raise KeyError(f"cut {cut} is not in background {self.background}'s sheets")

    def alone(self, cut: str) -> str | None:
        """Why the cut is a sheet of its own, in words (status, check, the report and the review page say
        it); None when it shares a sheet or is its place's only cut."""
        if len(self.sheet_of(cut).cuts) > 1:
            return None
        tried = [p for p in self.pairs if cut in (p.a, p.b)]
        if not tried:
            return None
        hint = self.contradicted(cut)
        if hint:
            return f"alone: {hint}"
        ambiguous = [p for p in tried if p.rival]
        if ambiguous:
            p = max(ambiguous, key=lambda p: p.agreement)
            return f"ambiguous: two matches {p.rival:.0f} px apart with {p.b if p.a == cut else p.a}"
        p = max(tried, key=lambda p: (p.matrix is not None, p.agreement))
        other = p.b if p.a == cut else p.a
        s = self.settings
        if p.matrix is None:
            return f"alone: nothing in its layout found in another's ({len(tried)} cuts tried)"
        if p.overlap < s.min_overlap:
            return f"alone: no match with {other} (overlap {_down(p.overlap)} < {s.min_overlap:.2f})"
        if p.agreement < s.min_agreement:
            return f"alone: no match with {other} (agreement {_down(p.agreement)} < {s.min_agreement:.2f})"
        return f"alone: no match with {other} (fewer than {MIN_LINE_PIXELS} line pixels where they overlap)"

    def contradicted(self, cut: str) -> str | None:
        """Why the shot list's hint placing the cut (or placing another cut on it) was not followed, in words;
        None when the drawings agreed with it or there is none. The drawings decide, never the hint alone."""
        for hint in self.hints:
            if cut not in (hint.cut, hint.on):
                continue
            pair = next((p for p in self.pairs if {p.a, p.b} == {hint.cut, hint.on}), None)
            if pair is None or pair.hint != "contradicted":
                continue
            said = f"the hint placing {hint.cut} on {hint.on} is contradicted by the drawings"
            if pair.accepted:
                return f"{said}: they match elsewhere, and are registered there"
            if pair.rival:
                return f"{said}: two matches {pair.rival:.0f} px apart, none where the hint says"
            return f"{said} (agreement {_down(pair.agreement)} < {self.settings.min_agreement:.2f} there)"
        return None

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "background": self.background,
            "frame": list(self.frame),
            "settings": self.settings.to_dict(),
            "sheets": [{
                "id": s.id, "cuts": list(s.cuts), "frame": list(s.frame), "size": list(s.size),
                "reference": s.reference, "priority": list(s.priority), "scale": s.scale,
                "transforms": {c: [list(row) for row in m] for c, m in s.transforms.items()},
                "links": [_pair_dict(p) for p in s.links],
                "sizes": {c: list(v) for c, v in s.sizes.items()},
            } for s in self.sheets],
            "pairs": [_pair_dict(p) for p in self.pairs],
            **({"hints": [h.to_dict() for h in self.hints]} if self.hints else {}),
        }

    @classmethod
    def from_dict(cls, record: dict) -> Registration:
        """The inverse of to_dict; ValueError on a record that is not one (a cache entry read back)."""
        if not isinstance(record, dict) or record.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} record")
        try:
            names = {f.name for f in fields(Settings)}
            if set(record["settings"]) != names:
                raise ValueError(f"settings must have exactly {sorted(names)}")
            settings = Settings(**record["settings"])
            sheets = tuple(Sheet(
                id=_str(s["id"]), cuts=tuple(_str(c) for c in s["cuts"]), frame=_size(s["frame"]),
                size=_size(s["size"]), reference=_str(s["reference"]),
                priority=tuple(_str(c) for c in s["priority"]), scale=_float(s["scale"]),
                transforms={_str(c): _matrix(m) for c, m in s["transforms"].items()},
                links=tuple(_pair(p) for p in s["links"]),
                sizes={_str(c): _size(v) for c, v in s.get("sizes", {}).items()},  # none: no moving cut
            ) for s in record["sheets"])
            for s in sheets:
                if not (set(s.cuts) == set(s.transforms) == set(s.priority) and s.reference == s.priority[0]
                        and set(s.sizes) <= set(s.cuts)):
                    raise ValueError(f"sheet {s.id}: its cuts, transforms and reference disagree")
            hints = tuple(Hint(_str(h["cut"]), _str(h["on"]), _matrix(h["matrix"])) for h in record.get("hints", ()))
            return cls(_str(record["background"]), _size(record["frame"]), settings, sheets,
                       tuple(_pair(p) for p in record["pairs"]), hints)
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            raise ValueError(f"malformed {SCHEMA} record: {e!r}") from e


@dataclass(frozen=True)
class Mosaic:
    image: np.ndarray  # the sheet's layout, RGB uint8 at Sheet.size; white where no cut sees
    coverage: np.ndarray  # bool: some cut sees this sheet pixel
    owner: np.ndarray  # int16: index into Sheet.cuts of the drawing used here; -1 where none


def cache_key(background: str, frame: tuple[int, int], layout_hashes: Sequence[tuple[str, str]],
              settings: Settings, moves: Mapping[str, dict] | None = None, hints: Sequence[Hint] = ()) -> str:
    """sha256 naming a registration: the background, the frame size, (cut id, layout sha256) in shot-list
    order, the settings, the camera moves of moving cuts (camera.Move.path_dict) and the shot list's hints.
    Order matters: it decides sheet numbering and which drawing wins."""
    record = {"schema": SCHEMA, "background": background, "frame": list(frame),
              "layouts": [[c, h] for c, h in layout_hashes], "settings": settings.to_dict()}
    if moves:
        record["moves"] = dict(moves)
    if hints:
        record["hints"] = [h.to_dict() for h in hints]
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --- registration --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Level:
    """One layout at one working size: what matching and the acceptance test read."""

    texture: np.ndarray  # uint8 distance-to-line (flow.texture)
    ink: np.ndarray  # float32 255 − gray, blurred by ECC_BLUR: what ECC aligns
    ink_mask: np.ndarray  # uint8: where ink does not depend on what lies beyond the frame
    distance: np.ndarray  # float32 distance to the nearest line, working px
    lines: np.ndarray  # N×2 float32 (x, y) of the line pixels
    to_full: np.ndarray  # 3×3: working px -> full px

    @property
    def shape(self) -> tuple[int, int]:
        return self.texture.shape


@dataclass(frozen=True)
class _Prepared:
    detect: _Level
    work: _Level
    orb: tuple  # (keypoints, descriptors) on detect.texture
    coarse: np.ndarray  # detect.ink at half its size: where close-ups are searched


def _level(layout: np.ndarray, width: int, blur: float) -> _Level:
    gray = flow.small_gray(layout, width)
    h, w = layout.shape[:2]
    sh, sw = gray.shape
    fx, fy = w / sw, h / sh
    # An area-averaged pixel i covers full pixels [f·i, f·(i+1)): its centre is f·(i + 1/2) − 1/2.
    to_full = np.array([[fx, 0, (fx - 1) / 2], [0, fy, (fy - 1) / 2], [0, 0, 1]])
    paper = (gray > PAPER).astype(np.uint8)
    distance = cv2.distanceTransform(paper, cv2.DIST_L2, 3)
    ys, xs = np.nonzero(paper == 0)
    # What lies beyond the frame is unknown: blur as if it were paper (not a mirror of the frame, as
    # the default border would), and leave out the band where that guess shows.
    ink = cv2.GaussianBlur((255 - gray).astype(np.float32), (0, 0), blur, borderType=cv2.BORDER_CONSTANT)
    band = math.ceil(3 * blur)
    ink_mask = np.zeros((sh, sw), np.uint8)
    ink_mask[band:sh - band, band:sw - band] = 1
    return _Level(flow.texture(gray), ink, ink_mask, distance, np.stack([xs, ys], 1).astype(np.float32), to_full)


def _prepare(layout: np.ndarray, settings: Settings) -> _Prepared:
    detect = _level(layout, settings.detect_width, ECC_BLUR["detect"])
    work = _level(layout, settings.work_width, ECC_BLUR["work"])
    orb = cv2.ORB_create(nfeatures=600, fastThreshold=10)
    h, w = detect.ink.shape
    coarse = cv2.resize(detect.ink, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    return _Prepared(detect, work, orb.detectAndCompute(detect.texture, None), coarse)


def _scale(m: np.ndarray) -> float:
    return math.sqrt(abs(np.linalg.det(m[:2, :2])))


def _to3(m2: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(m2, np.float64), [0, 0, 1]])


def _similarity(m: np.ndarray) -> np.ndarray:
    """The similarity nearest to an affine map (the camera turns and zooms; it does not shear)."""
    a = (m[0, 0] + m[1, 1]) / 2
    b = (m[1, 0] - m[0, 1]) / 2
    return np.array([[a, -b, m[0, 2]], [b, a, m[1, 2]], [0, 0, 1]])


def _in_level(m_full: np.ndarray, a: _Level, b: _Level) -> np.ndarray:
    """A full-resolution b -> a transform as b's working px -> a's working px."""
    return np.linalg.inv(a.to_full) @ m_full @ b.to_full


def _candidates(a: _Prepared, b: _Prepared) -> list[np.ndarray]:
    """First guesses of b -> a at detect size (flow.global_motion, with each cut's features computed once):
    the phase-correlation pan when its peak is clear, the next peaks a third as clear (repeated
    structure: a facade's houses give one peak a house apart), then the ORB + RANSAC similarity."""
    guesses = []
    fa, fb = a.detect.texture.astype(np.float32), b.detect.texture.astype(np.float32)
    window = cv2.createHanningWindow((fa.shape[1], fa.shape[0]), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(fa, fb, window)
    if response >= flow.PAN_RESPONSE:
        guesses.append(np.array([[1, 0, -dx], [0, 1, -dy], [0, 0, 1]]))
        guesses += [np.array([[1, 0, -x], [0, 1, -y], [0, 0, 1]]) for x, y in _more_peaks(fa * window, fb * window)
                    if math.hypot(x - dx, y - dy) > PEAK_APART]
    (ka, da), (kb, db) = a.orb, b.orb
    if da is not None and db is not None and len(ka) >= 8 and len(kb) >= 8:
        matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(db, da)
        if len(matches) >= 8:
            pts_b = np.float32([kb[m.queryIdx].pt for m in matches])
            pts_a = np.float32([ka[m.trainIdx].pt for m in matches])
            matrix, inliers = cv2.estimateAffinePartial2D(pts_b, pts_a, method=cv2.RANSAC,
                                                          ransacReprojThreshold=3.0)
            if matrix is not None and int(inliers.sum()) >= max(12, len(matches) // 10):
                guesses.append(_to3(matrix))
    return guesses


def _more_peaks(fa: np.ndarray, fb: np.ndarray, count: int = 3) -> list[tuple[float, float]]:
    """The shifts (b's content = a's moved by dx, dy) of the phase correlation's highest peaks after the
    first, each at least a third as high as it (a facade's next house: 0.45 of it; noise: under 0.2) and
    PEAK_APART from the others."""
    spectrum = np.fft.rfft2(fb) * np.conj(np.fft.rfft2(fa))
    surface = np.fft.irfft2(spectrum / (np.abs(spectrum) + 1e-9), fa.shape)
    h, w = surface.shape
    peaks: list[tuple[float, float]] = []
    top = None
    for flat in np.argsort(surface, axis=None)[::-1][:200]:
        y, x = divmod(int(flat), w)
        value = surface[y, x]
        top = value if top is None else top
        if value < top / 3 or len(peaks) > count:
            break
        shift = (x - w if x > w // 2 else x, y - h if y > h // 2 else y)
        if all(math.hypot(shift[0] - px, shift[1] - py) > PEAK_APART for px, py in peaks):
            peaks.append(shift)
    return peaks[1:]


def _zoom_candidates(a: _Prepared, b: _Prepared) -> list[np.ndarray]:
    """Guesses of b -> a when one cut is a close-up of the other, past what ORB's pyramid reaches: the
    tighter drawing's ink shrunk by each of ZOOMS and found in the other's (normalised cross-correlation at
    half the detect size, where it is clear enough), the clearest first."""
    found = []
    for s in ZOOMS:
        for tight, wide, flip in ((b, a, False), (a, b, True)):
            score, m = _find_shrunk(tight.coarse, wide.coarse, s)
            if score >= ZOOM_SCORE:
                # coarse px -> detect px on both sides (detect is twice coarse, pixel centres kept)
                up = np.array([[2, 0, 0.5], [0, 2, 0.5], [0, 0, 1]])
                m = up @ m @ np.linalg.inv(up)
                found.append((score, np.linalg.inv(m) if flip else m))
    return [m for score, m in sorted(found, key=lambda f: -f[0])[:ZOOM_GUESSES]]


def _find_shrunk(tight: np.ndarray, wide: np.ndarray, s: float) -> tuple[float, np.ndarray]:
    """`tight` shrunk by s, found in `wide`: (normalised correlation, tight px -> wide px). Windows of
    `wide` with little ink variance (paper) score 0: correlation with a flat window means nothing."""
    h, w = tight.shape
    small = cv2.resize(tight, (max(4, round(w / s)), max(4, round(h / s))), interpolation=cv2.INTER_AREA)
    th, tw = small.shape
    if th >= wide.shape[0] or tw >= wide.shape[1]:
        return 0.0, np.eye(3)
    scores = cv2.matchTemplate(wide, small, cv2.TM_CCOEFF_NORMED)
    total, squares = cv2.integral2(wide, sdepth=cv2.CV_64F)[:2]
    n = th * tw

    def box(t):
        return t[th:, tw:] - t[:-th, tw:] - t[th:, :-tw] + t[:-th, :-tw]

    variance = box(squares) / n - (box(total) / n) ** 2
    scores = np.where(np.isfinite(scores) & (variance >= small.var() / 4), scores, 0).astype(np.float32)
    _, score, _, (x, y) = cv2.minMaxLoc(scores)
    fx, fy = tw / w, th / h
    # tight px -> small px (area-averaged pixel centres) -> wide px (the template's corner at x, y)
    return float(score), np.array([[fx, 0, x + (fx - 1) / 2], [0, fy, y + (fy - 1) / 2], [0, 0, 1]])


def _refine(a: _Level, b: _Level, guess: np.ndarray) -> np.ndarray | None:
    """ECC on the blurred ink: b -> a at the levels' size, from a guess at that size; None if it fails."""
    # ECC warps its input (b) into the template's frame (a): its matrix takes a's pixels to b's.
    start = np.linalg.inv(guess)[:2].astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-4)
    try:
        _, found = cv2.findTransformECC(a.ink, b.ink, start, cv2.MOTION_AFFINE, criteria, b.ink_mask, 1)
    except cv2.error:  # did not converge: no agreement to refine towards
        return None
    return np.linalg.inv(_to3(found))


def _overlap(m: np.ndarray, a_shape: tuple[int, int], b_shape: tuple[int, int]) -> float:
    """Share of the smaller of the two frames (b mapped by m into a's) that the other one covers."""
    (ha, wa), (hb, wb) = a_shape, b_shape
    frame_a = np.float32([[0, 0], [wa, 0], [wa, ha], [0, ha]])
    frame_b = cv2.perspectiveTransform(np.float32([[[0, 0], [wb, 0], [wb, hb], [0, hb]]]), m)[0]
    area_b = abs(cv2.contourArea(frame_b))
    if not np.isfinite(frame_b).all() or area_b <= 0:
        return 0.0
    common, _ = cv2.intersectConvexConvex(frame_a, frame_b)
    return float(common / min(wa * ha, area_b))


def _line_match(a: _Level, b: _Level, m: np.ndarray, tolerance: float) -> tuple[float, float, int]:
    """b's lines seen in a through m (b -> a, working px), where a's frame (less a margin) has them:
    (share within `tolerance` of one of a's lines, mean capped distance, how many)."""
    h, w = a.shape
    margin = tolerance + 1
    pts = cv2.perspectiveTransform(b.lines[None], m)[0] if len(b.lines) else b.lines
    inside = ((pts[:, 0] >= margin) & (pts[:, 0] <= w - 1 - margin)
              & (pts[:, 1] >= margin) & (pts[:, 1] <= h - 1 - margin))
    pts = pts[inside]
    if not len(pts):
        return 0.0, flow.TEXTURE_REACH, 0
    d = a.distance[np.round(pts[:, 1]).astype(np.intp), np.round(pts[:, 0]).astype(np.intp)]
    return float((d <= tolerance).mean()), float(np.minimum(d, flow.TEXTURE_REACH).mean()), len(pts)


def _judge(a: _Level, b: _Level, m: np.ndarray, settings: Settings, zoomed: bool = True
           ) -> tuple[float, float, float, bool]:
    """(overlap, agreement, chamfer, accepted) of b -> a (working px), both directions. `zoomed`: the
    tolerance grows with the zoom between the two (see below); without, a guess is screened strictly."""
    overlap = _overlap(m, a.shape, b.shape)
    scale = _scale(m)
    if not (1 / MAX_ZOOM <= scale <= MAX_ZOOM) or overlap <= 0:
        return overlap, 0.0, flow.TEXTURE_REACH, False
    # A line is where the coarser drawing put it to within half of its own pixel: seen in the finer frame (a
    # wide shot's lines in its close-up), that half pixel is `zoom` times larger.
    grow = (max(scale, 1 / scale) - 1) / 2 if zoomed else 0.0
    share_b, dist_b, count_b = _line_match(a, b, m, settings.line_tolerance + (grow if scale > 1 else 0.0))
    share_a, dist_a, count_a = _line_match(b, a, np.linalg.inv(m),
                                           settings.line_tolerance + (grow if scale < 1 else 0.0))
    agreement = min(share_a, share_b)
    chamfer = (dist_a + dist_b) / 2
    accepted = (overlap >= settings.min_overlap and agreement >= settings.min_agreement
                and min(count_a, count_b) >= MIN_LINE_PIXELS)
    return overlap, agreement, chamfer, accepted


def _match(a_id: str, b_id: str, a: _Prepared, b: _Prepared, settings: Settings) -> Pair:
    """The pair's best match: the first guesses, then (none accepted) the close-up search. Of two accepted
    matches far apart whose agreements are near, neither is chosen: the pair is refused as ambiguous
    (`rival`: how far apart), for the other cuts of the place to settle or for status to report."""
    best = Pair(a_id, b_id, False, 0.0, 0.0, flow.TEXTURE_REACH, None)
    accepted: list[Pair] = []
    for guesses in (_candidates, _zoom_candidates):
        for guess in guesses(a, b):
            pair = _try(a_id, b_id, a, b, guess, settings)
            if pair.accepted:
                accepted.append(pair)
            elif pair.agreement > best.agreement:
                best = pair
        if accepted:
            break
    return _settle(accepted, b) if accepted else best


def _settle(accepted: list[Pair], b: _Prepared) -> Pair:
    """The best of a pair's accepted matches; refused as ambiguous (`rival`) when another as good lies far."""
    accepted = sorted(accepted, key=lambda p: -p.agreement)
    top = accepted[0]
    for other in accepted[1:]:
        apart = _apart(top, other, b.work, b.work.to_full)
        if apart > AMBIGUOUS_APART and top.agreement - other.agreement < AMBIGUOUS_MARGIN:
            return replace(top, accepted=False, rival=round(apart, 1))
    return top


def _apart(p: Pair, q: Pair, level: _Level, to_full: np.ndarray) -> float:
    """How far apart two matches put b's frame centre in a (full px)."""
    return _centres_apart(np.array(p.matrix), np.array(q.matrix), level, to_full)


def _centres_apart(m: np.ndarray, n: np.ndarray, level: _Level, to_full: np.ndarray) -> float:
    """How far apart two b -> a transforms (full px) put b's frame centre in a (full px)."""
    h, w = level.shape
    centre = to_full @ np.array([(w - 1) / 2, (h - 1) / 2, 1.0])
    there = [x @ centre for x in (m, n)]
    return float(np.hypot(*(there[0][:2] / there[0][2] - there[1][:2] / there[1][2])))


def _near(a: _Prepared, b: _Prepared, guess: np.ndarray) -> list[np.ndarray]:
    """Guesses near a rough one (b -> a, detect px), past what ECC reaches from it: b's drawing seen through
    the guess in a's frame, and the shifts phase correlation finds between the two (the clearest peaks)."""
    h, w = a.detect.shape
    seen = cv2.warpPerspective(b.detect.texture, guess, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(np.float32)
    fa = a.detect.texture.astype(np.float32)
    window = cv2.createHanningWindow((w, h), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(fa, seen, window)
    shifts = [(dx, dy), *_more_peaks(fa * window, seen * window)]
    return [guess, *(np.array([[1, 0, -x], [0, 1, -y], [0, 0, 1]]) @ guess for x, y in shifts)]


def _match_hinted(a_id: str, b_id: str, a: _Prepared, b: _Prepared, hint: np.ndarray, settings: Settings) -> Pair:
    """The pair's match where the shot list's hint (b -> a, full px) says: the hint itself and every usual
    guess (close-ups included) are refined; of the accepted matches within HINT_REACH of the hint, the nearest
    is kept, whatever rivals lie further (the hint settles repeated structure). When none lies there, the
    drawings decide as for any pair (`_match`'s rule) and the hint is marked contradicted."""
    guess = np.linalg.inv(a.detect.to_full) @ hint @ b.detect.to_full
    h, w = b.detect.shape
    centre = np.array([[1, 0, (w - 1) / 2], [0, 1, (h - 1) / 2], [0, 0, 1]])
    # the hint's zoom a little off too: b's frame a little larger or smaller about its centre
    zoomed = [guess @ centre @ np.diag([f, f, 1]) @ np.linalg.inv(centre) for f in HINT_ZOOMS]
    tried = [_try(a_id, b_id, a, b, g, settings)
             for g in (*(n for z in zoomed for n in _near(a, b, z)), *_candidates(a, b), *_zoom_candidates(a, b))]
    reach = HINT_REACH * a.work.to_full[0, 0] * a.work.shape[1]
    near = [(_centres_apart(np.array(p.matrix), hint, b.work, b.work.to_full), p) for p in tried if p.accepted]
    near = [(d, p) for d, p in near if d <= reach]
    if near:
        return replace(min(near, key=lambda dp: (dp[0], -dp[1].agreement))[1], hint="kept")
    accepted = [p for p in tried if p.accepted]
    found = _settle(accepted, b) if accepted else max(tried, key=lambda p: (p.matrix is not None, p.agreement))
    return replace(found, hint="contradicted")


def _try(a_id: str, b_id: str, a: _Prepared, b: _Prepared, guess: np.ndarray, settings: Settings) -> Pair:
    """One guess (b -> a, detect px) refined and judged."""
    full = a.detect.to_full @ guess @ np.linalg.inv(b.detect.to_full)
    # A guess whose lines do not half agree at detect size is not worth refining; it is kept as
    # the best seen (judged at work size) only so that the record shows how far off it was.
    if _judge(a.detect, b.detect, guess, settings, zoomed=False)[1] < settings.min_agreement / 2:
        overlap, agreement, chamfer, _ = _judge(a.work, b.work, _in_level(full, a.work, b.work), settings)
        return Pair(a_id, b_id, False, overlap, agreement, chamfer, _tuple(full))
    for level_a, level_b in ((a.detect, b.detect), (a.work, b.work)):
        refined = _refine(level_a, level_b, _in_level(full, level_a, level_b))
        if refined is not None:
            full = _similarity(level_a.to_full @ refined @ np.linalg.inv(level_b.to_full))
        overlap, agreement, chamfer, accepted = _judge(level_a, level_b, _in_level(full, level_a, level_b),
                                                       settings)
        if agreement < settings.min_agreement / 2:
            break  # refined and still far: not worth the finer level
    return Pair(a_id, b_id, accepted, overlap, agreement, chamfer, _tuple(full))


def register(background: str, layouts: Sequence[tuple[str, np.ndarray]], settings: Settings = Settings(),
             frame: tuple[int, int] | None = None, views: Mapping[str, Sequence[np.ndarray]] | None = None,
             cache: pairing.Cache | None = None, hints: Sequence[Hint] = ()) -> Registration:
    """The sheets of one background, from its cuts' layouts ((cut id, RGB uint8 H×W×3), shot-list order,
    at the `frame` size, W, H; default: the first layout's). Candidate pairs are proposed by pairing.py
    (near-linear in the cuts) and judged here; the plane is built from the strongest accepted pairs. Each
    pair's result and each cut's signature are read from `cache` when there, and put there when not.

    A moving cut (camera.py) gives its layout at its deliverable's size and, in `views`, the framings its
    camera travels through, each a 3×3 from a frame-size view's pixels to the layout's: it is compared with
    the other cuts through those views, and placed on the sheet whole.

    `hints` (the shot list's `framing:` and `on:`) are tried first and refined (`_match_hinted`); a hint
    naming a cut not among `layouts` is left out."""
    if not layouts:
        raise ValueError(f"background {background}: no layouts to register")
    views = views or {}
    cache = cache if cache is not None else pairing.Cache()
    ids = [c for c, _ in layouts]
    if len(set(ids)) != len(ids):
        raise ValueError(f"background {background}: a cut is listed twice: {ids}")
    w, h = frame or (layouts[0][1].shape[1], layouts[0][1].shape[0])
    for cut, image in layouts:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or (
                cut not in views and image.shape[:2] != (h, w)):
            raise ValueError(f"cut {cut}: layout must be RGB uint8 {w}×{h}, got {image.dtype} {image.shape}")
    digests = [pairing.digest(image, views.get(cut, ())) for cut, image in layouts]
    prepared: dict[int, list] = {}

    def seen(i: int) -> list:
        """The cut as frame-size pictures, prepared once and only when a pair needs matching:
        (3×3 picture px -> cut px, prepared picture)."""
        if i not in prepared:
            cut, image = layouts[i]
            prepared[i] = ([(np.asarray(v, np.float64), _prepare(warp(image, np.linalg.inv(v), (w, h)), settings))
                            for v in views[cut]] if cut in views else [(np.eye(3), _prepare(image, settings))])
        return prepared[i]

    signatures = [cache.signature(d, lambda i=i: np.concatenate([pairing.words(p.orb[1]) for _, p in seen(i)]))
                  for i, d in enumerate(digests)]
    measure = _measure(settings, (w, h))
    found: dict[tuple[int, int], Pair] = {}
    index = {c: i for i, c in enumerate(ids)}
    hints = tuple(hint for hint in hints if hint.cut in index and hint.on in index and hint.cut != hint.on)
    hinted: dict[tuple[int, int], np.ndarray] = {}  # (i, j), i < j: the hint as the pair's b -> a
    for hint in hints:
        i, j = index[hint.on], index[hint.cut]
        m = np.array(hint.matrix, np.float64)
        hinted[min(i, j), max(i, j)] = m if i < j else np.linalg.inv(m)

    def accept(i: int, j: int) -> bool:
        hint = hinted.get((i, j))
        key = pairing.pair_key(digests[i], digests[j], measure if hint is None else {**measure, "hint": _rows(hint)})
        record = cache.pair(key, lambda: _pair_dict(_match_views(ids[i], ids[j], seen(i), seen(j), settings, hint)))
        try:
            pair = _pair({**record, "a": ids[i], "b": ids[j]})
            if pair.accepted and not 1 / MAX_ZOOM <= _scale(np.array(pair.matrix)) <= MAX_ZOOM:
                raise TypeError("an accepted pair's matrix is no camera move")
        except (KeyError, TypeError):  # a damaged or edited cache entry: matched again
            cache.pairs.pop(key)
            return accept(i, j)
        found[i, j] = pair
        return pair.accepted

    tried = sorted(pairing.search(len(ids), signatures, accept, first=sorted(hinted)))
    pairs = [found[t] for t in tried]
    sizes = {cut: (image.shape[1], image.shape[0]) for cut, image in layouts if cut in views}
    accepted = [p for p in pairs if p.accepted]
    trees = _spanning_forest(ids, accepted)
    sheets = tuple(_sheet(f"{background}/{n}", members, links, (w, h), settings,
                          {c: sizes[c] for c in members if c in sizes})
                   for n, (members, links) in enumerate(trees, 1))
    return Registration(background, (w, h), settings, sheets, tuple(pairs), hints)


def _measure(settings: Settings, frame: tuple[int, int]) -> dict:
    """What a pair's result depends on besides its two layouts: part of its cache key."""
    return {"opencv": cv2.__version__, "frame": list(frame), "detect_width": settings.detect_width,
            "work_width": settings.work_width, "line_tolerance": settings.line_tolerance,
            "min_agreement": settings.min_agreement, "min_overlap": settings.min_overlap,
            "min_line_pixels": MIN_LINE_PIXELS, "max_zoom": MAX_ZOOM, "ecc_blur": ECC_BLUR, "pairing": pairing.SCHEMA}


def _match_views(a_id: str, b_id: str, a_views: list, b_views: list, settings: Settings,
                 hint: np.ndarray | None = None) -> Pair:
    """The best pair over the two cuts' views, its matrix in the cuts' own pixels (b's to a's). With a hint
    (b's pixels to a's), only views the hint has overlap are matched, each from the hint."""
    best = Pair(a_id, b_id, False, 0.0, 0.0, flow.TEXTURE_REACH, None, hint="" if hint is None else "contradicted")
    for va, pa in a_views:
        for vb, pb in b_views:
            if hint is None:
                pair = _match(a_id, b_id, pa, pb, settings)
            else:
                m = np.linalg.inv(va) @ hint @ vb
                if _overlap(_in_level(m, pa.work, pb.work), pa.work.shape, pb.work.shape) <= 0:
                    continue
                pair = _match_hinted(a_id, b_id, pa, pb, m, settings)
            if pair.matrix is not None:
                pair = replace(pair, matrix=_tuple(va @ np.array(pair.matrix) @ np.linalg.inv(vb)))
            if best.matrix is None or (pair.accepted, pair.hint == "kept", pair.weight, pair.agreement) > (
                    best.accepted, best.hint == "kept", best.weight, best.agreement):
                best = pair
    return best


def _spanning_forest(ids: list[str], accepted: list[Pair]) -> list[tuple[list[str], list[Pair]]]:
    """Kruskal: the strongest accepted pairs that join cuts not yet joined. One tree per sheet, in the
    order of each tree's first cut; members in shot-list order."""
    order = {c: i for i, c in enumerate(ids)}
    parent = list(range(len(ids)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    chosen = []
    for pair in sorted(accepted, key=lambda p: (-p.weight, order[p.a], order[p.b])):
        ra, rb = root(order[pair.a]), root(order[pair.b])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
            chosen.append(pair)
    trees: dict[int, tuple[list[str], list[Pair]]] = {}
    for c in ids:
        trees.setdefault(root(order[c]), ([], []))[0].append(c)
    for pair in chosen:
        trees[root(order[pair.a])][1].append(pair)
    return [trees[r] for r in sorted(trees)]


def _sheet(sheet_id: str, members: list[str], links: list[Pair], frame: tuple[int, int], settings: Settings,
           sizes: Mapping[str, tuple[int, int]]) -> Sheet:
    # Chain the tree's transforms from its first cut, then re-base on the tightest framing.
    edges: dict[str, list[tuple[str, np.ndarray]]] = {c: [] for c in members}
    for p in links:
        m = np.array(p.matrix)
        edges[p.a].append((p.b, m))  # b -> a
        edges[p.b].append((p.a, np.linalg.inv(m)))
    to_first = {members[0]: np.eye(3)}
    queue = [members[0]]
    while queue:
        here = queue.pop(0)
        for there, m in edges[here]:
            if there not in to_first:
                to_first[there] = to_first[here] @ m
                queue.append(there)
    scales = {c: _scale(to_first[c]) for c in members}
    priority = _tightest(members, scales, settings.same_scale)
    reference = priority[0]
    back = np.linalg.inv(to_first[reference])
    to_ref = {c: np.eye(3) if c == reference else back @ to_first[c] for c in members}

    def corners(cut: str) -> np.ndarray:
        w, h = sizes.get(cut, frame)
        return np.float64([[[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]])

    def extent(scale: float) -> tuple[np.ndarray, tuple[int, int]]:
        pts = np.vstack([cv2.perspectiveTransform(corners(c), to_ref[c])[0] for c in members]) * scale
        low = np.floor(pts.min(0) + 1e-6)
        high = np.ceil(pts.max(0) - 1e-6)
        return low, (int(high[0] - low[0]) + 1, int(high[1] - low[1]) + 1)

    scale = 1.0
    low, size = extent(scale)
    while size[0] * size[1] > settings.max_sheet_pixels:
        scale *= math.sqrt(settings.max_sheet_pixels / (size[0] * size[1])) * 0.999
        low, size = extent(scale)
    # An integer offset: the reference's pixels are the sheet's exactly (at scale 1), never resampled.
    place = np.array([[scale, 0, -low[0]], [0, scale, -low[1]], [0, 0, 1]])
    transforms = {c: _tuple(place @ to_ref[c]) for c in members}
    return Sheet(sheet_id, tuple(members), frame, size, reference, tuple(priority), scale, transforms, tuple(links),
                 dict(sizes))


def _tightest(cuts: Sequence[str], scales: Mapping[str, float], same: float) -> list[str]:
    """The cuts from the tightest framing (smallest scale onto the plane) to the widest; framings within
    `same` of each other's scale count as equally tight and keep shot-list order."""
    by_scale = sorted(cuts, key=lambda c: scales[c])
    ordered: list[str] = []
    while by_scale:
        top = scales[by_scale[0]] * (1 + same)
        group = [c for c in by_scale if scales[c] <= top]
        ordered += [c for c in cuts if c in group]
        by_scale = [c for c in by_scale if c not in group]
    return ordered


def variant_of(sheet: Sheet, name: str) -> Sheet:
    """The sheet of a place's variant `name` (the same setting at night, at dusk): the base sheet's cuts,
    cameras and size under the id `<base>@<name>` (park/1@night; no id holds '@'). Its painting is the base
    painting repainted in the variant's words (variants.py); its cuts are views of it as of any sheet."""
    return replace(sheet, id=f"{sheet.base}@{name}", variant=name)


def base_of(sheet: Sheet) -> Sheet:
    """The registered sheet a variant's sheet is of (itself for a base sheet)."""
    return sheet if sheet.variant is None else replace(sheet, id=sheet.base, variant=None)


# --- pictures on the sheet -----------------------------------------------------------------------------

def warp(image: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An image seen through m (image px -> output px) at size (W, H). Where m shrinks, the image is first
    halved by area averaging and blurred to the remaining factor, so thin lines are averaged, not skipped."""
    m = np.asarray(m, np.float64)
    shrink = 1 / _scale(m)
    while shrink >= 2 and min(image.shape[:2]) >= 2:
        h, w = image.shape[:2]
        image = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        fx, fy = w / (w // 2), h / (h // 2)
        m = m @ np.array([[fx, 0, (fx - 1) / 2], [0, fy, (fy - 1) / 2], [0, 0, 1]])
        shrink /= 2
    if shrink > 1:
        image = cv2.GaussianBlur(image, (0, 0), (shrink - 1) / 2)
    return _remap(image, m, size, cv2.INTER_LINEAR, cv2.BORDER_REPLICATE)


def _remap(image: np.ndarray, m: np.ndarray, size: tuple[int, int], interpolation: int, border: int
           ) -> np.ndarray:
    if np.array_equal(m[2], [0, 0, 1]):  # affine: OpenCV's affine warp is the faster one
        return cv2.warpAffine(image, m[:2], size, flags=interpolation, borderMode=border, borderValue=0)
    return cv2.warpPerspective(image, m, size, flags=interpolation, borderMode=border, borderValue=0)


def _inside(source_size: tuple[int, int], m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool at size: output pixels whose source point (through m, source px -> output px) is in the source."""
    ones = np.ones((source_size[1], source_size[0]), np.uint8)
    return _remap(ones, m, size, cv2.INTER_NEAREST, cv2.BORDER_CONSTANT).view(bool)


def _footprint(m: np.ndarray, source_size: tuple[int, int], size: tuple[int, int], margin: int
               ) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (inclusive) of the box at `size` that the source frame covers through m, plus margin."""
    w, h = source_size
    corners = cv2.perspectiveTransform(np.float64([[[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]]), m)[0]
    (x0, y0), (x1, y1) = np.floor(corners.min(0)) - margin, np.ceil(corners.max(0)) + margin
    return max(0, int(x0)), max(0, int(y0)), min(size[0] - 1, int(x1)), min(size[1] - 1, int(y1))


def _shift(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64)


def _place(image: np.ndarray, sheet: Sheet, cut: str) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """The cut's picture on the part of the sheet it covers: (that box as slices, picture, seen)."""
    m = sheet.matrix(cut)
    x0, y0, x1, y1 = _footprint(m, sheet.size_of(cut), sheet.size, 1)
    box = (x1 - x0 + 1, y1 - y0 + 1)
    m = _shift(-x0, -y0) @ m
    return np.s_[y0:y1 + 1, x0:x1 + 1], warp(image, m, box), _inside(sheet.size_of(cut), m, box)


def place(image: np.ndarray, sheet: Sheet, cut: str) -> tuple[np.ndarray, np.ndarray]:
    """A picture in the cut's frame (its layout, its render) laid on the sheet: (sheet-size image, black
    where the cut does not see; bool, where it sees)."""
    box, picture, seen = _place(image, sheet, cut)
    out = np.zeros((sheet.size[1], sheet.size[0]) + image.shape[2:], image.dtype)
    mask = np.zeros((sheet.size[1], sheet.size[0]), bool)
    out[box], mask[box] = picture, seen
    out[~mask] = 0
    return out, mask


def mosaic(sheet: Sheet, layouts: Mapping[str, np.ndarray]) -> Mosaic:
    """The sheet's layout from its cuts' layouts. Where several cuts see a point, one drawing is used,
    whole: the first in `sheet.priority` (the tightest framing, then the earliest cut). Two drawings of
    one line never add up."""
    w, h = sheet.size
    image = np.full((h, w, 3), 255, np.uint8)
    owner = np.full((h, w), -1, np.int16)
    for cut in sheet.priority:
        box, picture, seen = _place(layouts[cut], sheet, cut)
        free = seen & (owner[box] < 0)
        np.copyto(image[box], picture, where=free[..., None])
        np.copyto(owner[box], sheet.cuts.index(cut), where=free)
    return Mosaic(image, owner >= 0, owner)


#: how a sheet's layout is continued where no cut sees before it is painted (named in a sheet's cache key)
UNSEEN = "nearest seen pixel"


def continued(mosaic: Mosaic) -> np.ndarray:
    """The sheet's layout as its painting is asked for: where no cut sees (a strip past the outermost frames, a
    turned cut's corners), each pixel is the nearest seen one, so a line a frame's edge cuts runs on to the
    sheet's edge and the areas it parts stay apart there, as the frame's edge keeps them apart. (Left white
    paper, that strip joined every area the frames' edges cut into one: the draft painted the tree at the
    example park's right end as its sky.)"""
    if mosaic.coverage.all() or not mosaic.coverage.any():
        return mosaic.image
    _, nearest = cv2.distanceTransformWithLabels((~mosaic.coverage).view(np.uint8), cv2.DIST_L2, 3,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    seen = np.flatnonzero(mosaic.coverage)  # label k is the k-th seen pixel in raster order
    return mosaic.image.reshape(-1, 3)[seen[nearest.ravel() - 1]].reshape(mosaic.image.shape)


def view(sheet_image: np.ndarray, sheet: Sheet, cut: str) -> tuple[np.ndarray, np.ndarray]:
    """A sheet-size picture (the mosaic, the sheet's painting) seen by the cut's camera: (the picture at the
    cut's frame size, bool where the camera sees inside the sheet)."""
    if sheet_image.shape[:2] != (sheet.size[1], sheet.size[0]):
        raise ValueError(f"sheet {sheet.id} is {sheet.size[0]}×{sheet.size[1]}, "
                         f"the picture {sheet_image.shape[1]}×{sheet_image.shape[0]}")
    m = sheet.matrix(cut)
    to_cut = np.linalg.inv(m)
    size = sheet.size_of(cut)
    # Only the part of the sheet the camera sees, with a margin for the shrinking filters, is warped.
    x0, y0, x1, y1 = _footprint(m, size, sheet.size, 8 + 4 * math.ceil(_scale(m)))
    crop = sheet_image[y0:y1 + 1, x0:x1 + 1]
    return warp(crop, to_cut @ _shift(x0, y0), size), _inside(sheet.size, to_cut, size)


def _down(share: float) -> str:
    """A share with two decimals, rounded down: 0.799 is not "0.80 < 0.80"."""
    return f"{math.floor(share * 100) / 100:.2f}"


# --- JSON helpers --------------------------------------------------------------------------------------

def _tuple(m: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in m)


def _pair_dict(p: Pair) -> dict:
    return {"a": p.a, "b": p.b, "accepted": p.accepted, "overlap": p.overlap, "agreement": p.agreement,
            "chamfer": p.chamfer, "matrix": None if p.matrix is None else [list(r) for r in p.matrix],
            "rival": p.rival, **({"hint": p.hint} if p.hint else {})}


def _rows(m: np.ndarray) -> list[list[float]]:
    return [[round(float(v), 6) for v in row] for row in m]


def _str(v) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {v!r}")
    return v


def _float(v) -> float:
    if type(v) is float and math.isfinite(v):  # the common case, first: a cached record has thousands
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise TypeError(f"expected a number, got {v!r}")
    return float(v)


def _size(v) -> tuple[int, int]:
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and x > 0 for x in v)):
        raise TypeError(f"expected [width, height], got {v!r}")
    return v[0], v[1]


def _matrix(v) -> tuple[tuple[float, ...], ...]:
    if not (isinstance(v, list) and len(v) == 3 and all(isinstance(r, list) and len(r) == 3 for r in v)):
        raise TypeError(f"expected a 3×3 matrix, got {v!r}")
    return tuple(tuple(_float(x) for x in r) for r in v)


def _pair(v) -> Pair:
    if not isinstance(v["accepted"], bool):
        raise TypeError(f"accepted must be true or false, got {v['accepted']!r}")
    return Pair(_str(v["a"]), _str(v["b"]), v["accepted"], _float(v["overlap"]), _float(v["agreement"]),
                _float(v["chamfer"]), None if v["matrix"] is None else _matrix(v["matrix"]),
                _float(v.get("rival", 0.0)), _hint_state(v.get("hint", "")))


def _hint_state(v) -> str:
    if v not in ("", "kept", "contradicted"):
        raise TypeError(f"hint must be kept or contradicted, got {v!r}")
    return v
