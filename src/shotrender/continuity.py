"""Continuity of a cut B with A, its view of its place's sheet (or, for `check`, the cut before it):
guided init, fusion, the check, the retry policy.

All geometry comes from flow between the two *layouts* (never the renders), so what the painting does
cannot bend the flow. Pure functions on ndarrays; render.py calls them and does the I/O.

The steps, for a cut of a sheet (render.py):
1. A = the cut's view of the sheet's painting (sheets.view), followed by the residual flow from the cut's
   own layout to its view of the sheet's layout (a redrawn layout's lines sit a little off the sheet's),
   with the sheet's lines painted out where the cut's drawing has none (`paint_out_lines`).
2. `guided_init`: B's layout with A laid in where the layouts agree; the backend repaints it from the
   cut's own layout and prompt at the `refine` strength.
3. `fuse`: A blended back into B's render with weight `fusion`, feathered at the mask's edge (the
   pixel-aware fusion of Rerender-A-Video): the part of the place the sheet shows stays one painting.
4. `flow_score`: the masked warp error of the renders (Lai et al. 2018) minus the same measure on the
   layouts, so a layout that itself differs does not count against the render.
A cut painted alone: `colour_score` compares it with its place's first sheet in Lab.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from shotrender import flow, sheets
from shotrender.shotlist import Continuity

PREVIEW_WIDTH = 512


@dataclass(frozen=True)
class Pair:
    """The geometry between two layouts, in B's frame at output resolution."""

    flow: np.ndarray  # H×W×2: where each B pixel's content lies in A (backward warp)
    mask: np.ndarray  # H×W bool: B pixels that A also sees
    weight: np.ndarray  # H×W float32 in [0, 1]: the mask, feathered
    overlap: float
    layout_error: float  # masked warp error between the layouts themselves

    def warp(self, image_a: np.ndarray) -> np.ndarray:
        return flow.warp(image_a, self.flow)


def pair(layout_a: np.ndarray, layout_b: np.ndarray, settings: Continuity) -> Pair:
    """Flow, mask and overlap between two layouts of the same size."""
    pf = flow.pair_flow(layout_a, layout_b, preset=settings.flow_preset, work_width=settings.work_width)
    weight = flow.feather(pf.mask, settings.feather)
    layout_error = flow.warp_error(layout_b, flow.warp(layout_a, pf.flow), pf.mask)
    return Pair(pf.flow, pf.mask, weight, pf.overlap, layout_error)


def _blend(base: np.ndarray, top: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """base·(1 − weight) + top·weight, per pixel."""
    return cv2.blendLinear(top, base, weight, 1.0 - weight)


def sheet_view(painting: np.ndarray, mosaic: np.ndarray, sheet: sheets.Sheet, cut: str, layout: np.ndarray,
               settings: Continuity) -> tuple[np.ndarray, Pair]:
    """A cut's view of its sheet's painting, followed onto the cut's own drawing, and the pair (flow, mask)
    from the cut's layout to its view of the sheet's layout (`mosaic`), the geometry fusion and the check use.

    The camera is the registration's, so the flow is only the residual a redrawn layout needs
    (flow.residual_flow); the mask is where the cut sees the sheet and its drawing agrees with the sheet's
    (flow.drawings_differ), so the cut's own drawing wins where it differs and the sheet's painting
    everywhere else.
    """
    view, seen = sheets.view(painting, sheet, cut)
    view_layout, _ = sheets.view(mosaic, sheet, cut)
    residual = flow.residual_flow(view_layout, layout, preset=settings.flow_preset, work_width=settings.work_width)
    # only where the cut's lines moved off the sheet's (a redraw) does the residual move paint
    residual *= flow.feather(flow.drawings_differ(layout, view_layout, 1, 4), 6)[..., None]
    warped_layout = flow.warp(view_layout, residual)
    seen = cv2.erode((flow.warp(seen.view(np.uint8), residual) > 0).view(np.uint8), np.ones((3, 3), np.uint8)) > 0
    mask = seen & ~flow.drawings_differ(layout, warped_layout)
    p = Pair(residual, mask, flow.feather(mask, settings.feather), flow.overlap(mask),
             flow.warp_error(layout, warped_layout, mask))
    return paint_out_lines(p.warp(view), warped_layout, layout), p


def paint_out_lines(view: np.ndarray, view_layout: np.ndarray, layout: np.ndarray, reach: int = 3) -> np.ndarray:
    """The view of a sheet's painting with the sheet's painted lines filled in from the paint around them
    where the cut's own drawing has no line within `reach` px: a redrawn layout's moved or dropped lines
    must not come back beside its own (doubled lines, ghosts)."""
    stray = flow.drawings_differ(layout, view_layout, reach, 1) & flow.ink(view_layout)
    stray = cv2.dilate(stray.view(np.uint8), np.ones((3, 3), np.uint8))
    if not stray.any():
        return view
    return cv2.inpaint(view, stray, 3, cv2.INPAINT_TELEA)


def guided_init(layout_b: np.ndarray, warped_a: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """B's init image: its layout, with A's render laid in where A sees the same place."""
    return _blend(layout_b, warped_a, weight)


def refine_fusion(settings: Continuity, strength: float) -> float:
    """How much of its view a cut refined at `strength` is fused back toward: the settings' `fusion` up to the
    `refine` strength; above it, in proportion to what the cut keeps of its view, (1 − strength)/(1 − refine),
    so that a cut asked to repaint more of itself (its own `strength`) is not fused back into its view."""
    if strength <= settings.refine:
        return settings.fusion
    return settings.fusion * (1 - strength) / (1 - settings.refine)


def fuse(render_b: np.ndarray, warped_a: np.ndarray, weight: np.ndarray, fusion: float) -> np.ndarray:
    """Blend A's warped render into B's render with weight `fusion` where the mask holds."""
    if fusion <= 0:
        return render_b
    return _blend(render_b, warped_a, weight * np.float32(fusion))


def flow_score(render_b: np.ndarray, warped_a: np.ndarray, p: Pair) -> tuple[float, float]:
    """(score, render error): the renders' masked warp error beyond the layouts' own, on a 0-1 scale."""
    error = flow.warp_error(render_b, warped_a, p.mask)
    return max(0.0, error - p.layout_error), error


def lab_stats(image: np.ndarray) -> np.ndarray:
    """Mean and spread of L, a, b (CIELAB, L in 0-100), as a 6-vector."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    lab *= np.array([100 / 255, 1, 1], np.float32)
    lab[:, 1:] -= 128
    return np.concatenate([lab.mean(0), lab.std(0)])


def colour_score(render_b: np.ndarray, reference_stats: np.ndarray) -> float:
    """Distance in Lab between B's colour statistics and the chain's first render's (means and spreads)."""
    return float(np.linalg.norm(lab_stats(render_b) - reference_stats))


def attempt_params(strength: float, seed: int, attempt: int) -> tuple[float, int]:
    """The retry policy: attempt 0 as planned; attempt 1 keeps more of the guided init (strength × 0.75);
    attempts 2, 3, … also move the seed by 1, 2, …"""
    if attempt == 0:
        return strength, seed
    return round(max(0.05, strength * 0.75), 4), seed + attempt - 1


def _preview(image: np.ndarray, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """At most PREVIEW_WIDTH px wide: the report shows these small, and PNG encoding is paid per pixel."""
    h, w = image.shape[:2]
    if w <= PREVIEW_WIDTH:
        return image
    return cv2.resize(image, (PREVIEW_WIDTH, round(h * PREVIEW_WIDTH / w)), interpolation=interpolation)


def flow_picture(p: Pair) -> np.ndarray:
    """The flow as a colour wheel, with pixels outside the mask greyed out; preview size."""
    mask = _preview(p.mask.view(np.uint8), cv2.INTER_NEAREST).view(bool)
    picture = flow.flow_to_color(_preview(p.flow))
    picture[~mask] = (picture[~mask] // 4) + 96
    return picture


def error_picture(render_b: np.ndarray, warped_a: np.ndarray, p: Pair) -> np.ndarray:
    """The heatmap of |B − warped A| where the mask holds; preview size."""
    return _preview(flow.error_heatmap(render_b, warped_a, p.mask))
