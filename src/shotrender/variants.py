"""A place's variants: the same setting at night, at dusk, in rain (昼/夕/夜), one composition in another light.

A variant's sheet (sheets.variant_of) has its base sheet's geometry; its painting is the base sheet's
painting repainted by img2img at the variant's `strength`, in the variant's words, LoRAs and board
(plan.place_params with the variant), from the base's layout (its mosaic). So where the base has an edge
the variant has one, and the colours are the variant's. Cuts of the variant are views of that painting.

`request` is the one recipe; render.py sends it to the backend and stores the painting, and a retake of the
place (review) asks it again with the retake's words or seed:

    painting = backend.render(variants.request(sheet, base_painting, mosaic, params, settings))
"""

from __future__ import annotations

import numpy as np

from shotrender import model_settings as models
from shotrender import sheets
from shotrender.backends.base import RenderRequest
from shotrender.images import pad8
from shotrender.shotlist import Continuity
from shotrender.state import sheet_extra


def request(sheet: sheets.Sheet, base_painting: np.ndarray, mosaic: np.ndarray, params: dict,
            settings: Continuity, *, prompt: str | None = None, negative: str | None = None,
            seed: int | None = None) -> RenderRequest:
    """The request that paints a variant's sheet from its base sheet's painting and layout (both sheet-size RGB
    uint8; the layout as the base was painted from, State.mosaic(sheet, painted=True)):
    `params` are the variant's (plan.place_params(shotlist, bg, variant)); `prompt`, `negative` and `seed`,
    given, replace theirs (a retake's). The backend's picture is cut back to the sheet's size (`crop`)."""
    if sheet.variant is None:
        raise ValueError(f"sheet {sheet.id} is no variant's")
    w, h = sheet.size
    if base_painting.shape[:2] != (h, w) or mosaic.shape[:2] != (h, w):
        raise ValueError(f"sheet {sheet.id} is {w}×{h}: its base painting is {base_painting.shape[1]}×"
                         f"{base_painting.shape[0]}, its layout {mosaic.shape[1]}×{mosaic.shape[0]}")
    init, layout = pad8(base_painting), pad8(mosaic)
    return RenderRequest(
        cut=sheet.id, init_image=init, layout=layout, prompt=params["prompt"] if prompt is None else prompt,
        negative=params["negative"] if negative is None else negative,
        seed=params["seed"] if seed is None else seed, steps=params["steps"], strength=params["strength"],
        guidance=params["guidance"], width=init.shape[1], height=init.shape[0],
        extra={**sheet_extra(settings), **models.request_extra(params["loras"], params["art_board"])},
    )


def crop(painting: np.ndarray, sheet: sheets.Sheet) -> np.ndarray:
    """A painting at the request's size (multiples of 8) cut back to the sheet's."""
    return painting[:sheet.size[1], :sheet.size[0]]
