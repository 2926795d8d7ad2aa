"""Where a cut's drawing differs from its sheet's: the regions the cut paints itself (numpy + OpenCV only).

A cut of a sheet is its view of the sheet's painting, refined from its own layout and fused back toward the
view (continuity.py). Where the cut's drawing differs from the sheet's mosaic (a sign added, a cloud left
out, a line moved) the view shows the sheet's drawing, not the cut's: fused, the cloud's fill stays as a
ghost and the sign gets a halo of the view's paint around it. So the cut paints those regions itself:

- `find(layout, view_layout)`: the region. The lines of either drawing with no line of the other near,
  and the areas whose outline changed with them: an area one drawing's lines close and the other's do not
  (the cloud's inside, which the cut's drawing makes part of the sky; the sign's face, which the sheet's
  makes part of the wall).
- `behind(picture, mask, layout)`: what the place shows in the region, continued from around it, area by
  area of the cut's own drawing: where the cloud was, the sky around it. What the cut's lines close inside
  the region (the sign's face) has nothing of the place around it to continue; that part is returned apart.
- `paint(backend, request, picture, mask)`: the backend paints the region from the cut's own layout and
  words at full strength, with the picture around it as context (the draft: `behind`, its own colours for
  what its lines close, its lines; diffusers: inpainting); outside the region the picture stays.

The areas between lines, `behind`, and the lengths' scale (`pen_unit`) are the draft backend's
(backends/draft/regions.py: gaps in the lines closed, crumbs merged), so the check, the draft and this
module see the same areas.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from shotrender import flow
from shotrender.backends.base import Backend, RenderRequest
from shotrender.backends.draft.regions import areas, behind, disc, lines, pen_unit

__all__ = ["VERSION", "behind", "disc", "find", "lines", "paint", "pen_unit"]

#: bump when the regions or their painting change how a cut of a sheet comes out: its renders are stale
VERSION = 1
# Lengths in pen widths (draft.regions.pen_unit: 1 px below 720 px wide). A line with no line of the other
# drawing within REACH is a difference.
REACH = 3
# the region reaches this far past a differing line: its antialiased edge
MARGIN = 2
# a band of pixels whose areas disagree this thin or thinner is a redrawn line's wobble, not a change
SLIVER = 2


def find(layout: np.ndarray, view_layout: np.ndarray) -> np.ndarray:
    """bool in the cut's frame: where the cut's drawing (`layout`) differs from its view of its sheet's
    (`view_layout`, aligned to it): the differing lines and the areas whose outline changed, grown by MARGIN.
    Empty when the two drawings agree (a redraw's lines a pixel or two apart agree)."""
    unit = pen_unit(layout)
    drawn, seen = lines(layout), lines(view_layout)
    differ = flow.lines_differ(drawn, seen, REACH * unit, 0)
    if not differ.any():
        return differ
    own, theirs = areas(layout), areas(view_layout)
    # an area of one drawing and an area of the other are one area of the place when each is the other's
    # largest overlap; a pixel where they are not lies in an area that changed
    paper = ~(drawn | seen)
    n_own, n_theirs = int(own.max()) + 1, int(theirs.max()) + 1
    counts = np.bincount(theirs[paper].astype(np.int64) * n_own + own[paper], minlength=n_theirs * n_own)
    counts = counts.reshape(n_theirs, n_own)
    same = (counts.argmax(1)[theirs] == own) & (counts.argmax(0)[own] == theirs)
    changed = cv2.morphologyEx((~same).view(np.uint8), cv2.MORPH_OPEN, disc(SLIVER * unit))
    # only areas that a differing line bounds: two drawings that close a gap differently change nothing drawn
    _, pieces = cv2.connectedComponents(changed, connectivity=8)
    touching = np.unique(pieces[cv2.dilate(differ.view(np.uint8), disc((SLIVER + 1) * unit)) > 0])
    kept = np.isin(pieces, touching[touching > 0])
    return cv2.dilate((differ | kept).view(np.uint8), disc(MARGIN * unit)) > 0


def paint(backend: Backend, request: RenderRequest, picture: np.ndarray, mask: np.ndarray,
          anew: bool = False) -> np.ndarray:
    """`picture` (the cut's, at the request's size) with the region `mask` painted by the backend from the
    request's layout, words and seed at full strength, the picture around it as context. The request is the
    cut's own (its refinement's, a retake's); its init image and strength are replaced. No region: the
    picture as it is, and no backend call.

    `anew`: a director's region retake, painted from the words with nothing of the picture under it kept
    (`extra["anew"]`: the draft paints its colour key there instead of continuing the paint around it;
    diffusers' inpainting at full strength paints from noise either way). Without it, a cut's own
    difference from its sheet: what the place shows there goes on from around it."""
    if not mask.any():
        return picture
    extra = {**request.extra, "anew": True} if anew else request.extra
    return backend.render(dataclasses.replace(request, init_image=picture, strength=1.0, mask=mask, extra=extra))
