"""Reading layouts and encoding renders: ndarray H×W×3 uint8 RGB at the episode's size."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from shotrender.errors import Problem, ShotListError


def read_layout(path: Path, width: int | None, height: int | None, data: bytes | None = None) -> np.ndarray:
    """Decode a layout to RGB uint8 at width×height (None: as drawn); from `data`, the file's bytes as read
    before, if given.

    Grayscale, 16-bit, palette and CMYK images are converted; transparency is laid over white paper,
    since a transparent layout is line art on nothing.
    """
    from PIL import Image

    from shotrender.files import read_named_image

    try:
        with Image.open(io.BytesIO(data if data is not None else read_named_image(path))) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                # Pillow's 16-bit modes do not convert to RGB with scaling; do it by hand.
                arr = np.asarray(im, dtype=np.float64)
                arr = np.clip(arr / (65535.0 if arr.max() > 255 else 255.0) * 255.0, 0, 255).astype(np.uint8)
                im = Image.fromarray(arr, "L")
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(paper, rgba)
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ShotListError([Problem(str(path), None, "layout", f"cannot decode the layout: {e}",
                                     "re-export it as an 8-bit PNG")]) from e
    if width is not None and (rgb.shape[1] != width or rgb.shape[0] != height):
        import cv2

        shrink = rgb.shape[1] > width
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.ascontiguousarray(rgb)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 image; the same array always gives the same bytes."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def decode_png(data: bytes) -> np.ndarray | None:
    """RGB uint8 from PNG bytes, or None when they do not decode."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if arr is None else np.ascontiguousarray(arr[:, :, ::-1])


#: how pad8 grows a picture (named in every sheet's cache key, with sheets.UNSEEN)
PADDING = "edge"


def pad8(image: np.ndarray) -> np.ndarray:
    """The image grown right and down to multiples of 8, the size a diffusion model takes, by repeating its last
    column and row: an area the edge cuts stays closed there, as the frame's edge closes it. (Grown with white
    paper, every area the right or bottom edge cut joined the others through the strip: the draft painted the
    tree at a sheet's right end as sky.)"""
    import cv2

    h, w = image.shape[:2]
    return cv2.copyMakeBorder(image, 0, -h % 8, 0, -w % 8, cv2.BORDER_REPLICATE)
