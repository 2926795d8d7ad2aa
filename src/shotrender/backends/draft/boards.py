"""The draft backend's art boards: a place's palette taken from its board, and colours pulled toward it.

`board_palette` clusters the board's colours in CIELAB (k-means on a small copy); `toward` moves each
colour of a chosen palette toward its nearest board colour by the board's strength, in Lab, so the
draft's regions keep their roles and relative tones but take the board's hues.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from shotrender.backends.draft.palettes import Colours

COLOURS = 8  # board colours kept: a location board has a handful of masses
SIDE = 96  # px the board is shrunk to before clustering: its masses, not its brush strokes


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """n×3 float RGB in 0..1 → n×3 CIELAB (L 0-100)."""
    return cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.float32), cv2.COLOR_RGB2LAB).reshape(-1, 3)


def to_rgb(lab: np.ndarray) -> np.ndarray:
    return np.clip(cv2.cvtColor(lab.reshape(-1, 1, 3).astype(np.float32), cv2.COLOR_LAB2RGB).reshape(-1, 3), 0, 1)


@lru_cache(maxsize=16)
def board_palette(path: str, mtime_ns: int) -> np.ndarray:
    """The board's COLOURS main colours, n×3 Lab; read once per file version (`mtime_ns` keys the cache)."""
    from PIL import Image

    from shotrender.files import read_named_image

    with Image.open(io.BytesIO(read_named_image(Path(path)))) as image:
        rgb = np.asarray(image.convert("RGB"))
    scale = SIDE / max(rgb.shape[:2])
    small = cv2.resize(rgb, None, fx=min(scale, 1), fy=min(scale, 1), interpolation=cv2.INTER_AREA)
    lab = to_lab(small.reshape(-1, 3).astype(np.float32) / 255)
    k = min(COLOURS, len(np.unique(lab, axis=0)))
    # seeded initial centres (cv2.setRNGSeed) so one board gives one palette on every run
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5)
    _, _, centres = cv2.kmeans(lab, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    return centres


def nearest(lab: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """For each Lab colour, the nearest of `palette`'s."""
    return palette[np.argmin(((lab[:, None, :] - palette[None, :, :]) ** 2).sum(-1), axis=1)]


def toward(colours: Colours, palette: np.ndarray, strength: float) -> Colours:
    """`colours` with every colour moved `strength` of the way (in Lab) to its nearest board colour."""
    def pull(rgb: np.ndarray) -> np.ndarray:
        lab = to_lab(rgb)
        return to_rgb(lab + strength * (nearest(lab, palette) - lab)).reshape(rgb.shape)

    return Colours(sky=pull(colours.sky), cloud=pull(colours.cloud), ground=pull(colours.ground),
                   natural=pull(colours.natural), built=pull(colours.built), accents=pull(colours.accents),
                   line=colours.line, haze=colours.haze * (1 - strength))
