"""Optical flow between layouts: OpenCV DIS at a working resolution, forward-backward mask, warp, metrics.

Flow convention: a flow is an H×W×2 float32 field (dx, dy) on the grid of the image it starts from, pointing
into the other image: ``compute_flow(a, b)[y, x] = (dx, dy)`` where ``a[y, x] ≈ b[y + dy, x + dx]``. So
``warp(b, compute_flow(a, b))`` is b seen in a's frame; continuity uses ``warp(render_a, flow_ba)`` to put A's
painting in B's frame (backward warping: every pixel of B looks up where it was in A).

Flow is estimated on the layouts (line art), never on renders. Images are H×W×3 uint8 RGB or H×W gray.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
DEFAULT_PRESET = "fast"
# bench/bench_flow.py: at 256 px, "fast" lands within ~0.6 px (1080p pixels) of a known pan, and a pair
# (both directions, mask, upscale) stays near 30 ms on 2 cores; 320 px halves the error for ~1.5x the time.
WORK_WIDTH = 256
# Thin lines on flat white give DIS nothing to match between strokes; blurring at the working resolution
# spreads every stroke into a ramp, which cut the median flow error on line art by 1.5-3x in measurements.
LINE_BLUR_SIGMA = 2.0


def work_size(shape: tuple[int, ...], work_width: int) -> tuple[int, int]:
    """(width, height) flow is estimated at: `work_width` wide, same aspect, never larger than the image."""
    height, width = shape[:2]
    if work_width >= width:
        return width, height
    return work_width, max(1, round(height * work_width / width))


def prepare(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Gray uint8 line art at `size` (width, height), blurred so DIS has texture between strokes."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    if (gray.shape[1], gray.shape[0]) != size:
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(gray, (0, 0), LINE_BLUR_SIGMA)


def dis_flow(a: np.ndarray, b: np.ndarray, preset: str) -> np.ndarray:
    """DIS flow from gray a to gray b at their own resolution (a[y, x] ≈ b[y + dy, x + dx])."""
    dis = cv2.DISOpticalFlow.create(PRESETS[preset])
    # The presets stop refining at 1/4 (1/2 for medium) of the image they get. Our input is already the
    # working resolution, so refine all the way down: work_width is then the resolution flow really has.
    dis.setFinestScale(0)
    return dis.calc(a, b, None)


def upscale_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a flow field to `size` (width, height), scaling its vectors to the new pixel units."""
    height, width = flow.shape[:2]
    if (width, height) == size:
        return flow
    # Resizing is linear, so scaling the small field first gives the same result for a fraction of the work.
    scaled = flow * np.array([size[0] / width, size[1] / height], np.float32)
    return cv2.resize(scaled, size, interpolation=cv2.INTER_LINEAR)


def upscale_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a bool mask to `size` (width, height), keeping only pixels whose whole neighbourhood holds."""
    if (mask.shape[1], mask.shape[0]) == size:
        return mask
    # A full-resolution pixel between a True and a False working pixel may sample A outside its frame;
    # requiring every contributing working pixel to hold keeps the warped black border out of the mask.
    return cv2.resize(mask.astype(np.uint8) * 255, size, interpolation=cv2.INTER_LINEAR) == 255


def compute_flow(
    a: np.ndarray, b: np.ndarray, *, preset: str = DEFAULT_PRESET, work_width: int = WORK_WIDTH
) -> np.ndarray:
    """Dense flow on a's full-resolution grid into b: a[y, x] ≈ b[y + dy, x + dx].

    >>> flow_ba = compute_flow(layout_b, layout_a)
    >>> a_in_b_frame = warp(render_a, flow_ba)
    """
    _check_pair(a, b, preset, work_width)
    size = work_size(a.shape, work_width)
    small = dis_flow(prepare(a, size), prepare(b, size), preset)
    return upscale_flow(small, (a.shape[1], a.shape[0]))


def consistency_mask(flow_fwd: np.ndarray, flow_bwd: np.ndarray) -> np.ndarray:
    """Bool mask on flow_fwd's grid: True where the pixel is seen in the other image and its flow is trusted.

    flow_fwd goes from image X to Y (on X's grid), flow_bwd from Y to X. False where x + w_fwd leaves Y,
    where the round trip does not come back (occlusion, Ruder et al. 2016:
    |w_fwd + w_bwd(x + w_fwd)|² > 0.01(|w_fwd|² + |w_bwd(x + w_fwd)|²) + 0.5), and on motion boundaries
    (|∇u|² + |∇v|² > 0.01|w_fwd|² + 0.002). Thresholds are in pixels of the grid the flows are on.
    """
    height, width = flow_fwd.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    inside = (xs + flow_fwd[..., 0] >= 0) & (xs + flow_fwd[..., 0] <= width - 1)
    inside &= (ys + flow_fwd[..., 1] >= 0) & (ys + flow_fwd[..., 1] <= height - 1)
    back = warp(flow_bwd, flow_fwd)
    fwd_sq, back_sq = _sq(flow_fwd), _sq(back)
    occluded = _sq(flow_fwd + back) > 0.01 * (fwd_sq + back_sq) + 0.5
    du_dy, du_dx = np.gradient(flow_fwd[..., 0])
    dv_dy, dv_dx = np.gradient(flow_fwd[..., 1])
    boundary = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2 > 0.01 * fwd_sq + 0.002
    return inside & ~occluded & ~boundary


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward-warp `image` by `flow` (on the output grid): out[y, x] = image[y + dy, x + dx], bilinear.

    Pixels that look outside `image` come out 0; `consistency_mask` marks them False.
    """
    return cv2.remap(
        image, flow, None, cv2.INTER_LINEAR | cv2.WARP_RELATIVE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def overlap(mask: np.ndarray) -> float:
    """Fraction of pixels the mask holds, 0–1."""
    return np.count_nonzero(mask) / mask.size


def warp_error(x: np.ndarray, y_warped: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute difference over the mask on a 0–1 scale (Lai et al. 2018); nan if the mask is empty.

    uint8 images are read as 0–255, float images as 0–1; both images must have the same shape and dtype.
    """
    if x.shape != y_warped.shape or x.dtype != y_warped.dtype:
        raise ValueError(f"x and y_warped differ: {x.shape} {x.dtype} vs {y_warped.shape} {y_warped.dtype}")
    if not mask.any():
        return float("nan")
    channels = 1 if x.ndim == 2 else x.shape[2]
    means = cv2.mean(cv2.absdiff(x, y_warped), mask=mask.astype(np.uint8))[:channels]
    return float(np.mean(means)) / _full_scale(x)


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """float32 blend weights: 0 off the mask, rising linearly to 1 at `radius` pixels inside it.

    The frame border does not count as an edge, so a mask that reaches it keeps full weight there.
    """
    if radius <= 0:
        return mask.astype(np.float32)
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    return np.minimum(distance * (1.0 / radius), 1.0)


def flow_to_color(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """RGB uint8 picture of a flow: direction as hue, length as brightness (full at `max_magnitude`)."""
    magnitude, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1], angleInDegrees=True)
    top = max_magnitude or float(magnitude.max()) or 1.0
    hsv = np.empty((*flow.shape[:2], 3), np.uint8)
    hsv[..., 0] = angle / 2  # OpenCV's 8-bit hue runs 0–180
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(magnitude * (255.0 / top), 0, 255)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def error_heatmap(x: np.ndarray, y_warped: np.ndarray, mask: np.ndarray, *, max_error: float = 0.25) -> np.ndarray:
    """RGB uint8 map of |x − y_warped| (inferno, saturating at `max_error` on the 0–1 scale); off-mask grey.

    A fixed scale rather than the image's own maximum keeps heatmaps of different cuts comparable.
    """
    diff = cv2.absdiff(x, y_warped).astype(np.float32)
    error = diff.mean(axis=2) if diff.ndim == 3 else diff
    level = np.clip(error * (255.0 / (_full_scale(x) * max_error)), 0, 255).astype(np.uint8)
    heat = cv2.cvtColor(cv2.applyColorMap(level, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    # Grey, not black: inferno's black means "no error", which is not what an unchecked pixel is.
    heat[~mask] = 128
    return heat


@dataclass(frozen=True)
class PairFlow:
    """Flow between consecutive layouts A → B, as continuity needs it, all at B's full resolution.

    flow: B → A, on B's grid, so warp(render_a, flow) is A's render in B's frame.
    mask: B's pixels that A also sees (in frame, consistent both ways, off motion boundaries).
    overlap: the fraction of B the mask holds.
    """

    flow: np.ndarray
    mask: np.ndarray
    overlap: float


def pair_flow(
    layout_a: np.ndarray, layout_b: np.ndarray, *, preset: str = DEFAULT_PRESET, work_width: int = WORK_WIDTH
) -> PairFlow:
    """Both flows between two layouts, the consistency mask in B's frame, and the overlap fraction.

    >>> pair = pair_flow(layout_c001, layout_c002)
    >>> init = np.where(pair.mask[..., None], warp(render_c001, pair.flow), layout_c002)
    """
    _check_pair(layout_a, layout_b, preset, work_width)
    size = work_size(layout_b.shape, work_width)
    small_a, small_b = prepare(layout_a, size), prepare(layout_b, size)
    # DIS gains little from OpenCV's own threads at this size; the two directions run side by side instead.
    with ThreadPoolExecutor(max_workers=2) as pool:
        ba = pool.submit(dis_flow, small_b, small_a, preset)
        flow_ab = dis_flow(small_a, small_b, preset)
        flow_ba = ba.result()
    full = (layout_b.shape[1], layout_b.shape[0])
    mask = upscale_mask(consistency_mask(flow_ba, flow_ab), full)
    return PairFlow(flow=upscale_flow(flow_ba, full), mask=mask, overlap=overlap(mask))


def _check_pair(a: np.ndarray, b: np.ndarray, preset: str, work_width: int) -> None:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    if work_width < 8:
        raise ValueError(f"work_width must be at least 8 pixels, got {work_width}")
    if a.shape != b.shape:
        raise ValueError(f"layouts differ in size: {a.shape} vs {b.shape}; flow needs two frames of one size")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"layouts must be uint8 RGB or gray, got {a.dtype} and {b.dtype}")


def _sq(flow: np.ndarray) -> np.ndarray:
    return flow[..., 0] ** 2 + flow[..., 1] ** 2


def _full_scale(image: np.ndarray) -> float:
    return 255.0 if image.dtype == np.uint8 else 1.0
