"""The backend protocol: one request in, one image out; `load` once, `render` many times.

Images cross this boundary as numpy arrays: height × width × 3, uint8, RGB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

#: every parameter a cut resolves; a backend's `reads` names those its pixels depend on
PARAMS = ("prompt", "negative", "seed", "steps", "strength", "guidance")


@dataclass(frozen=True)
class RenderRequest:
    """Everything that decides one cut's pixels.

    `init_image` is what img2img starts from: the layout itself, or the layout with the previous cut's
    render blended in (continuity). `layout` is always the untouched layout line art, for backends that
    read structure from it (the draft backend's regions, a ControlNet's conditioning).

    `mask` (H×W bool), when given, makes the request an inpainting: the backend paints only there, at
    `strength`, from the layout and words, with the init image around it as context, and returns the init
    image's pixels elsewhere (a diffusion model may blend its painting into the few pixels around the mask
    that share its latent blocks). regions.paint asks for it.
    """

    cut: str
    init_image: np.ndarray
    layout: np.ndarray
    prompt: str
    negative: str
    seed: int
    steps: int
    strength: float
    guidance: float
    width: int
    height: int
    control_scale: float = 1.0
    extra: dict = field(default_factory=dict)
    mask: np.ndarray | None = None

    def check_images(self) -> None:
        """Raise BackendError unless the init image and the layout are H×W×3 uint8 RGB arrays, and a mask is
        bool at the request's size, as its init image is."""
        from shotrender.errors import BackendError

        for name in ("init_image", "layout"):
            image = getattr(self, name)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise BackendError(f"cut {self.cut}: {name} must be an H×W×3 uint8 RGB array, "
                                   f"got shape {image.shape} and dtype {image.dtype}")
        size = (self.height, self.width)
        if self.mask is not None and (self.mask.dtype != bool or self.mask.shape != size
                                      or self.init_image.shape[:2] != size):
            raise BackendError(f"cut {self.cut}: an inpainting's mask must be bool and it and the init image "
                               f"{self.width}×{self.height}, got a {self.mask.dtype} mask of shape {self.mask.shape} "
                               f"and an init image of shape {self.init_image.shape}")


class Backend(Protocol):
    """What render.py needs from a backend."""

    #: short name written to sidecars and the report ("draft", "diffusers")
    name: str

    #: the request parameters its pixels depend on (of PARAMS): only these enter a cut's cache key and its
    #: log line, so a change to one it ignores renders nothing again
    reads: tuple[str, ...]

    def identity(self) -> dict:
        """What identifies the model and code behind the pixels, for cache keys and sidecars.

        Must be cheap to call and must not load the model.
        """

    def load(self) -> None:
        """Load weights; called once per process before the first render."""

    def render(self, request: RenderRequest) -> np.ndarray:
        """Paint one cut. Returns height × width × 3 uint8 RGB at the request's size."""

    def describe(self) -> dict:
        """After load: what actually ran (device, dtype, pipeline class), for sidecars and logs."""
