"""Optical flow between layouts: small pure functions, ndarray in, ndarray out (numpy + OpenCV only).

Convention: `flow_ba` lives in B's frame. For a pixel x of B, x + flow_ba[x] is where the same point of
the place sits in A, so `warp(image_a, flow_ba)` shows A's content in B's frame (a backward warp, as
cv2.remap does it). The mask marks the B pixels that A also sees.

Layouts are line art: thin dark lines on flat white paper. Dense flow on that is blind in the paper,
so flow runs on the distance to the nearest line (`texture`), which gives every pixel a gradient.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# Phase correlation peaks this high only for a real shift (pans measured 0.24-0.83, a zoom 0.02,
# unrelated layouts 0.07).
PAN_RESPONSE = 0.15
# The match test compares the layouts blurred by this sigma (half-working-width px), in grey levels.
MATCH_BLUR = 2.0
MATCH_TOLERANCE = 8.0
# Distances beyond this many working pixels read the same: deep paper carries no more information.
TEXTURE_REACH = 24.0


@dataclass(frozen=True)
class PairFlow:
    flow: np.ndarray  # H×W×2 float32, B's frame, full resolution: see the module docstring
    mask: np.ndarray  # H×W bool, B's frame: pixels of B that A also sees
    overlap: float  # the mask's share of B's frame


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def small_gray(layout: np.ndarray, width: int) -> np.ndarray:
    """The layout in gray at no more than `width` px wide, area-averaged so thin lines survive."""
    # OpenCV's area resize is fast for whole halvings and ten times slower for other factors:
    # halve while that stays at or above the target, then close the gap.
    while layout.shape[1] >= 2 * width:
        layout = cv2.resize(layout, (layout.shape[1] // 2, layout.shape[0] // 2), interpolation=cv2.INTER_AREA)
    gray = _gray(layout)
    h, w = gray.shape
    if w > width:
        gray = cv2.resize(gray, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    return gray


def texture(gray: np.ndarray) -> np.ndarray:
    """Line art as uint8 distance-to-line: lines dark, paper brighter with distance."""
    paper = (gray > 160).astype(np.uint8)
    distance = cv2.distanceTransform(paper, cv2.DIST_L2, 3)
    return (np.minimum(distance, TEXTURE_REACH) * (255.0 / TEXTURE_REACH)).astype(np.uint8)


def dis(a: np.ndarray, b: np.ndarray, preset: str = "fast", start: np.ndarray | None = None) -> np.ndarray:
    """Dense flow in a's frame: a[x] ≈ b[x + flow[x]] (OpenCV DIS).

    With `start` (a smooth guess of the same flow), b is first warped by it and DIS finds only the
    residual r; the flow is then r(x) + start(x + r(x)).
    """
    solver = cv2.DISOpticalFlow.create(PRESETS[preset])
    if start is None:
        return solver.calc(a, b, None)
    residual = solver.calc(a, warp(b, start), None)
    return residual + warp(start, residual)


def global_motion(texture_a: np.ndarray, texture_b: np.ndarray) -> np.ndarray | None:
    """The pan/zoom between two layouts (as `texture` images) as a 2×3 similarity taking B's coordinates
    to A's; None when nothing agrees. Dense flow alone cannot follow a pan of a third of the frame across
    line art, which repeats itself; this gives it the right start.

    A pan is found by phase correlation (about 1 ms); anything else (a zoom, a reframing) by matching
    line junctions (ORB + RANSAC).
    """
    fa, fb = texture_a.astype(np.float32), texture_b.astype(np.float32)
    (dx, dy), response = cv2.phaseCorrelate(fa, fb, _window(*fa.shape))
    if response >= PAN_RESPONSE:
        return np.float32([[1, 0, -dx], [0, 1, -dy]])
    orb = cv2.ORB_create(nfeatures=600, fastThreshold=10)
    ka, da = orb.detectAndCompute(texture_a, None)
    kb, db = orb.detectAndCompute(texture_b, None)
    if da is None or db is None or len(ka) < 8 or len(kb) < 8:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(db, da)
    if len(matches) < 8:
        return None
    pts_b = np.float32([kb[m.queryIdx].pt for m in matches])
    pts_a = np.float32([ka[m.trainIdx].pt for m in matches])
    matrix, inliers = cv2.estimateAffinePartial2D(pts_b, pts_a, method=cv2.RANSAC, ransacReprojThreshold=3.0)
    if matrix is None or int(inliers.sum()) < max(12, len(matches) // 10):
        return None
    return matrix.astype(np.float32)


def motion_field(matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """The flow of a 2×3 transform: for each pixel x, matrix·x − x."""
    grid = _grid(height, width)
    return cv2.transform(grid, matrix) - grid


@functools.lru_cache(maxsize=4)
def _window(height: int, width: int) -> np.ndarray:
    return cv2.createHanningWindow((width, height), cv2.CV_32F)


@functools.lru_cache(maxsize=8)
def _grid(height: int, width: int) -> np.ndarray:
    """H×W×2 float32 pixel coordinates (x, y); read-only, shared."""
    grid = np.dstack(np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)))
    grid.setflags(write=False)
    return grid


def warp(image: np.ndarray, flow: np.ndarray, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """Backward warp: out[x] = image[x + flow[x]]; outside the image, black (the mask excludes it), or with
    `border` cv2.BORDER_REPLICATE the nearest edge pixel (for a flow that reaches a pixel or two past it)."""
    return cv2.remap(image, _grid(*flow.shape[:2]) + flow, None, cv2.INTER_LINEAR, borderMode=border, borderValue=0)


def consistency_mask(flow_ba: np.ndarray, flow_ab: np.ndarray, camera: np.ndarray | None = None) -> np.ndarray:
    """B pixels whose flow into A comes back (Ruder et al. 2016), lands inside A, and is no motion
    boundary. Both flows at the same resolution, in their own frames.

    `camera` is the flow of the global pan/zoom, if known: boundaries are looked for in what the flow
    does beyond it, since a zoom's flow changes steadily everywhere without any boundary.
    """
    h, w = flow_ba.shape[:2]
    target = _grid(h, w) + flow_ba
    # Sampling outside A gives the border value: a huge flow that fails the round trip below.
    back = cv2.remap(flow_ab, target, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=1e6)
    fx, fy = flow_ba[..., 0], flow_ba[..., 1]
    bx, by = back[..., 0], back[..., 1]
    own = fx * fx + fy * fy
    loop = (fx + bx) ** 2 + (fy + by) ** 2
    consistent = loop <= 0.01 * (own + bx * bx + by * by) + 0.5
    local = flow_ba if camera is None else flow_ba - camera
    ux, uy = np.gradient(local[..., 0])[::-1]
    vx, vy = np.gradient(local[..., 1])[::-1]
    boundary = ux * ux + uy * uy + vx * vx + vy * vy > 0.01 * own + 0.002
    return consistent & ~boundary


def match_mask(x: np.ndarray, y_warped: np.ndarray, *, tolerance: float = MATCH_TOLERANCE, window: int = 9
               ) -> np.ndarray:
    """Where two gray images agree: mean |x − y| over a window × window neighbourhood within `tolerance`.

    The round-trip test alone trusts any smooth flow, even between two unrelated drawings; requiring the
    (blurred) layouts to agree once warped removes that, at the cost of a few per cent of a true pan.
    """
    return cv2.blur(cv2.absdiff(x, y_warped).astype(np.float32), (window, window)) <= tolerance


def _resize_flow(flow: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = width / flow.shape[1]
    if scale == 1:
        return flow
    interpolation = cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
    # Resizing is linear, so scale the vectors on whichever side has fewer pixels.
    if scale > 1:
        return cv2.resize(flow * np.float32(scale), (width, height), interpolation=interpolation)
    return cv2.resize(flow, (width, height), interpolation=interpolation) * np.float32(scale)


def pair_flow(layout_a: np.ndarray, layout_b: np.ndarray, *, preset: str = "fast", work_width: int = 512
              ) -> PairFlow:
    """Flow B -> A and the mask of B that A sees, at full size.

    The flow that warps paintings runs at `work_width`; the backward flow, which only serves the
    round-trip test of the mask, and the mask itself run at half that: the mask is feathered anyway.
    """
    h, w = layout_b.shape[:2]
    ga, gb = small_gray(layout_a, work_width), small_gray(layout_b, work_width)
    ta, tb = texture(ga), texture(gb)
    half = (max(1, ta.shape[1] // 2), max(1, ta.shape[0] // 2))
    ta_half = cv2.resize(ta, half, interpolation=cv2.INTER_AREA)
    tb_half = cv2.resize(tb, half, interpolation=cv2.INTER_AREA)
    start_ba = start_ab = camera = None
    matrix = global_motion(ta_half, tb_half)
    if matrix is not None:
        start_ab = motion_field(cv2.invertAffineTransform(matrix), *half)
        camera = motion_field(matrix, *half)
        matrix[:, 2] *= ta.shape[1] / half[0]
        start_ba = motion_field(matrix, tb.shape[1], tb.shape[0])
    flow_ba = dis(tb, ta, preset, start_ba)
    flow_ab_half = dis(ta_half, tb_half, preset, start_ab)
    flow_ba_half = _resize_flow(flow_ba, *half)
    soft_a, soft_b = (cv2.GaussianBlur(cv2.resize(g, half, interpolation=cv2.INTER_AREA), (0, 0), MATCH_BLUR)
                      for g in (ga, gb))
    small_mask = consistency_mask(flow_ba_half, flow_ab_half, camera) & match_mask(soft_b, warp(soft_a, flow_ba_half))
    mask = cv2.resize(small_mask.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).view(bool)
    return PairFlow(_resize_flow(flow_ba, w, h), mask, float(small_mask.mean()))


# A redrawn layout's lines sit a pixel or two off the sheet's; a residual beyond this is no redraw.
RESIDUAL_REACH = 2.0  # px at full size
RESIDUAL_SMOOTH = 3.0  # sigma, working px: the residual of a redraw is smooth; DIS's noise in flat paper is not


def residual_flow(layout_a: np.ndarray, layout_b: np.ndarray, *, preset: str = "fast", work_width: int = 512
                  ) -> np.ndarray:
    """Flow B -> A, at full size, between two layouts already registered (a cut's own and its view of its
    sheet's): the camera is known, so only what a hand redrawing moves is left. It is smoothed and bounded
    by RESIDUAL_REACH, so that DIS's guesses in flat paper, where any flow is as good as another, move
    nothing much."""
    h, w = layout_b.shape[:2]
    ga, gb = small_gray(layout_a, work_width), small_gray(layout_b, work_width)
    tb = texture(gb)
    residual = cv2.GaussianBlur(dis(tb, texture(ga), preset), (0, 0), RESIDUAL_SMOOTH)
    reach = RESIDUAL_REACH * gb.shape[1] / w
    length = np.sqrt((residual ** 2).sum(axis=2, keepdims=True))
    residual *= np.minimum(1.0, reach / np.maximum(length, 1e-6))
    # Only near B's lines does the flow say anything: it fades out over the second half of TEXTURE_REACH.
    residual *= np.clip(2.0 - tb.astype(np.float32) * (2 / 255), 0, 1)[..., None]
    return _resize_flow(residual, w, h)


def ink(layout: np.ndarray) -> np.ndarray:
    """Line pixels of a layout: bool."""
    return _gray(layout) < 160


def _near(mask: np.ndarray, reach: int) -> np.ndarray:
    return cv2.dilate(mask.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)) > 0


def drawings_differ(layout_a: np.ndarray, layout_b: np.ndarray, reach: int = 3, margin: int = 6) -> np.ndarray:
    """Where two aligned drawings of one place disagree: a line of either with no line of the other within
    `reach` px (an element added, left out or moved), grown by `margin` px. Flat paper agrees, and so do two
    drawings of one line a pixel apart or of different widths."""
    return lines_differ(ink(layout_a), ink(layout_b), reach, margin)


def lines_differ(a: np.ndarray, b: np.ndarray, reach: int, margin: int) -> np.ndarray:
    """drawings_differ on two drawings' line pixels (bool)."""
    return _near((a & ~_near(b, reach)) | (b & ~_near(a, reach)), margin)


def overlap(mask: np.ndarray) -> float:
    return float(mask.mean())


def warp_error(x: np.ndarray, y_warped: np.ndarray, mask: np.ndarray) -> float:
    """Mean |x − y| over masked pixels and channels, on a 0-1 scale (Lai et al. 2018); 0 for an empty mask."""
    if not mask.any():
        return 0.0
    per_channel = cv2.mean(cv2.absdiff(x, y_warped), mask=mask.view(np.uint8))
    channels = x.shape[2] if x.ndim == 3 else 1
    return float(np.mean(per_channel[:channels])) / 255.0


def feather(mask: np.ndarray, radius: int) -> np.ndarray:
    """The mask as float32 weights that rise from 0 at its edge to 1 at `radius` px inside it."""
    if radius <= 0:
        return mask.astype(np.float32)
    inside = cv2.distanceTransform(mask.view(np.uint8), cv2.DIST_L2, 3)
    return np.minimum(inside / np.float32(radius), 1.0)


def flow_to_color(flow: np.ndarray) -> np.ndarray:
    """RGB picture of a flow field: hue is direction, brightness is length (scaled to the longest)."""
    magnitude, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1], angleInDegrees=True)
    hsv = np.empty(flow.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = (angle / 2).astype(np.uint8)
    hsv[..., 1] = 255
    top = float(magnitude.max())
    hsv[..., 2] = np.clip(magnitude * (255.0 / top), 0, 255).astype(np.uint8) if top > 0 else 0
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def error_heatmap(x: np.ndarray, y_warped: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGB heatmap of |x − y| where the mask holds (0 → dark blue, ≥ 25 % → red); grey elsewhere."""
    diff = cv2.absdiff(x, y_warped)
    diff = (diff.max(axis=2) if diff.ndim == 3 else diff).astype(np.float32)
    scaled = np.clip(diff * (255.0 / 64.0), 0, 255).astype(np.uint8)
    picture = cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    picture[~mask] = 128
    return picture
