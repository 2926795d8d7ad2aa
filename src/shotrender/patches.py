"""A person's patch of a place, laid into its sheet: the one way a picture a person made of a cut (an
artist's retouch, a director's region retake) goes into the painting the place's other cuts are painted from.

A retouch is the cut's whole picture; a region retake is the region of the cut's picture painted again
(its sidecar's `region.rects`). A patch is made on a cut's picture at one size. It is laid into the cut's
sheet where the cut sees it, so the place's other cuts are painted from it and follow. A patch made at
another size than the cut's picture now (the episode's `size` changed, or a moving cut's deliverable) would
land at the wrong scale: it is left out of the sheet, and `fit` says why in words that status and render
print.
"""

from __future__ import annotations

import numpy as np

from shotrender import sheets


def picture_size(inputs: dict | None) -> tuple[int, int] | None:
    """The size of the picture a cut's recorded inputs describe: a moving cut's deliverable, else the frame."""
    if not isinstance(inputs, dict):
        return None
    move = inputs.get("move")
    if isinstance(move, dict) and isinstance(move.get("size"), list) and len(move["size"]) == 2:
        return int(move["size"][0]), int(move["size"][1])
    params = inputs.get("params")
    if isinstance(params, dict) and isinstance(params.get("width"), int) and isinstance(params.get("height"), int):
        return params["width"], params["height"]
    return None


def fit(recorded: dict | None, size: tuple[int, int], sheet_id: str, what: str = "retouch") -> str | None:
    """Why a patch whose cut's recorded inputs are `recorded` cannot go into its sheet at the picture size
    `size` today, or None when it fits."""
    made = picture_size(recorded)
    if made is None or made == tuple(size):
        return None
    return f"its {what} is {made[0]}×{made[1]}, the frame {size[0]}×{size[1]}: left out of sheet {sheet_id}"


def onto_sheet(painting: np.ndarray, sheet: sheets.Sheet, pictures: dict[str, np.ndarray],
               masks: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The sheet's painting with each patch (a cut's picture) laid in where its cut sees it: all of it (a
    retouch), or only where its mask (bool, in the cut's frame) is set (a region retake). Where two patches
    overlap, the one first in the sheet's priority (the tightest framing) is on top."""
    out = painting.copy()
    for cut in reversed(sheet.priority):
        if cut in pictures:
            placed, seen = sheets.place(pictures[cut], sheet, cut)
            if masks and cut in masks:
                seen &= sheets.place(masks[cut].astype(np.uint8) * 255, sheet, cut)[0] > 127
            out[seen] = placed[seen]
    return out


def region_mask(rects, size: tuple[int, int]) -> np.ndarray:
    """bool, `size` (width, height): the union of rectangles [x, y, width, height] in a picture's pixels."""
    mask = np.zeros((size[1], size[0]), bool)
    for x, y, w, h in rects:
        mask[y:y + h, x:x + w] = True
    return mask


def sheet_reasons(had: dict, wanted: dict, regions: set[str] = frozenset()) -> list[str]:
    """Why a sheet's painting no longer holds the patches it should, in words; `regions`: the cuts whose
    patch is a region retake."""
    return ([f"{c} {'region retaken' if c in regions else 'retouched'}" for c in wanted if had.get(c) != wanted[c]]
            + [f"{c} released" for c in had if c not in wanted])
