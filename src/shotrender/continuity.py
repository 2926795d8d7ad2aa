"""Continuity of a cut B with A, its view of its place's sheet (or, for `check`, the cut before it):
guided init, fusion, the check, the retry policy.

All geometry comes from flow between the two *layouts* (never the renders), so what the painting does
cannot bend the flow. Pure functions on ndarrays; render.py calls them and does the I/O.

The steps, for a cut of a sheet (render.py):
1. A = the cut's view of the sheet's painting (sheets.view), followed by the residual flow from the cut's
   own layout to its view of the sheet's layout (a redrawn layout's lines sit a little off the sheet's),
   with the sheet's lines painted out where the cut's drawing has none (`paint_out_lines`). Where the two
   drawings differ (regions.find: the cut's own regions), A shows what the place shows behind them
   (regions.behind: where a cloud was left out, the sky around it).
2. `guided_init`: B's layout with A laid in where the cut sees its sheet; the backend repaints it from the
   cut's own layout and prompt at the `refine` strength.
3. `fuse`: A blended back into B's render with weight `fusion`, feathered at the edge of the sheet (the
   pixel-aware fusion of Rerender-A-Video): the part of the place the sheet shows stays one painting. Then
   the cut paints its own regions itself (regions.paint), at full strength, so the fusion stops at their
   edge: no ghost of a shape its drawing left out, no halo of the view around a shape it added.
4. `sheet_score`: the masked warp error of the renders (Lai et al. 2018) where the drawings agree, minus
   the same measure on the layouts, so a layout that itself differs does not count against the render;
   and `region_error`: in and around the cut's own regions, how far the render departs from what the
   place shows there (a ghost, a halo). The score is the larger.
A cut painted alone: `colour_score` compares it with its place's first sheet in Lab.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from shotrender import flow, regions, sheets
from shotrender.shotlist import Continuity

PREVIEW_WIDTH = 512
# region_error looks this many pen widths (regions.pen_unit) around the cut's own regions, where a
# halo would be, and compares the pictures blurred by BLUR pen widths: a model's texture is no ghost. A
# region's error is the one that SHARE of it and its ring exceed: a ghost or a halo covers part of it.
RING = 8
BLUR = 2.0
SHARE = 0.1


@dataclass(frozen=True)
class Pair:
    """The geometry between two layouts, in B's frame at output resolution."""

    flow: np.ndarray  # H×W×2: where each B pixel's content lies in A (backward warp)
    mask: np.ndarray  # H×W bool: B pixels that A also sees
    weight: np.ndarray  # H×W float32 in [0, 1]: the mask, feathered
    overlap: float
    layout_error: float  # masked warp error between the layouts themselves
    # A cut against its view of its sheet: the pixels it paints itself, where its drawing differs (regions.find);
    # and where region_error looks: each region with a ring around it (int32, 1, 2, ... per region, 0 elsewhere),
    # off B's lines and what B's lines close there with nothing of the place around it. None between two cuts.
    own: np.ndarray | None = None
    around: np.ndarray | None = None
    paper: np.ndarray | None = None  # float32: 1 off B's lines, 0 on them (region_error's blur leaves them out)

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
    (flow.residual_flow). Where the cut's drawing differs from the sheet's (regions.find) the cut paints
    itself (`Pair.own`), and the view shows what the place shows behind it (regions.behind); the mask is
    where the cut sees the sheet and its drawing agrees with the sheet's.
    """
    view, seen = sheets.view(painting, sheet, cut)
    view_layout, _ = sheets.view(mosaic, sheet, cut)
    residual = flow.residual_flow(view_layout, layout, preset=settings.flow_preset, work_width=settings.work_width)
    # only where the cut's lines moved off the sheet's (a redraw) does the residual move paint
    residual *= flow.feather(flow.drawings_differ(layout, view_layout, 1, 4), 6)[..., None]
    # the residual reaches at most RESIDUAL_REACH px past the frame: the edge pixel stands in (black there
    # read as a line and as paint the cut does not see, which left a feathered pale patch at the frame's edge)
    warped_layout = flow.warp(view_layout, residual, cv2.BORDER_REPLICATE)
    seen = flow.warp(seen.view(np.uint8), residual, cv2.BORDER_REPLICATE) > 0
    seen = cv2.erode(seen.view(np.uint8), np.ones((3, 3), np.uint8)) > 0
    own = regions.find(layout, warped_layout)
    mask = seen & ~own
    shown = paint_out_lines(flow.warp(view, residual, cv2.BORDER_REPLICATE), warped_layout, layout)
    shown, unreached = regions.behind(shown, own, layout)
    unit = regions.pen_unit(layout)
    lines = cv2.dilate(regions.lines(layout).view(np.uint8), regions.disc(unit)) > 0
    _, around = cv2.connectedComponents(cv2.dilate(own.view(np.uint8), regions.disc(RING * unit)), connectivity=8)
    around[~seen | unreached | lines] = 0
    # the fusion's weight does not stop at the regions: they are painted again over it (render.py)
    p = Pair(residual, mask, flow.feather(seen, settings.feather), flow.overlap(mask),
             flow.warp_error(layout, warped_layout, mask), own, around, (~lines).astype(np.float32))
    return shown, p


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
    """B's init image: its layout, with A laid in where B sees A's place."""
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


def _paper_blur(image: np.ndarray, paper: np.ndarray, sigma: float) -> np.ndarray:
    """The image blurred off the lines: each pixel the weighted mean of the paint around it, lines left out."""
    weights = cv2.GaussianBlur(paper, (0, 0), sigma)
    blurred = cv2.GaussianBlur(image.astype(np.float32) * paper[..., None], (0, 0), sigma)
    return blurred / np.maximum(weights, 1e-3)[..., None]


def region_error(render_b: np.ndarray, view: np.ndarray, p: Pair) -> float | None:
    """How far the render departs from its view in and around the cut's own regions, where the view shows
    what the place shows behind them: |B − A| (0-1, the mean of the channels), both blurred off the lines,
    that a SHARE of a region and its ring exceed; the worst region's. A ghost of a shape the cut left out, or
    a halo around one it added, raises it. None: no region."""
    if p.around is None or not p.around.any():
        return None
    sigma = BLUR * regions.pen_unit(render_b)
    diff = np.abs(_paper_blur(render_b, p.paper, sigma) - _paper_blur(view, p.paper, sigma)).mean(axis=2)
    pieces = np.unique(p.around[p.around > 0])
    return max(float(np.percentile(diff[p.around == piece], 100 * (1 - SHARE))) for piece in pieces) / 255.0


def sheet_score(render_b: np.ndarray, view: np.ndarray, p: Pair) -> tuple[float, float, float | None]:
    """(score, render error, region error) of a cut against its view of its sheet: the score is the larger of
    the flow score where the drawings agree and the region error around the cut's own regions."""
    score, error = flow_score(render_b, view, p)
    own = region_error(render_b, view, p)
    return (score if own is None else max(score, own)), error, own


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
