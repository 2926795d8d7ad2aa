"""Camera moves: a PAN or a track in or out over one oversized background (pure numpy + OpenCV, no file I/O).

A moving cut's layout is the whole stretch its camera travels over, drawn with the first and last frames'
framings marked. shotrender paints that stretch once, as the cut's **deliverable**, at the scale where the
tightest framing is the episode's `size` (a track-in's last frame is painted, never enlarged), and
delivers with it the framing of every frame, so compositing moves the camera (docs/camera.md).

Coordinates are continuous, pixel edges at integers: a framing (x, y, width, height) covers
[x, x + width) × [y, y + height). `Move` works in layout pixels, `Delivery` maps them onto the
deliverable's pixels.

Example:
    move = Move(Framing(0, 0, 1024, 576), Framing(2048, 0, 1024, 576), frames=48, easing="linear")
    delivery = deliver(move, (1024, 576))          # 3072x576, scale 1
    first = delivery.framing(move.at(1))           # deliverable px
    picture = frame_image(deliverable, first, (1024, 576))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

# numpy and OpenCV are imported where pictures are made: the shot-list reader checks camera blocks with
# this module, and `validate` must not wait for them
SCHEMA = "shotrender.camera/1"
EASINGS = ("linear", "slow-in-out")
# A deliverable is one picture a compositor loads whole; past this side length image tools and OpenCV's
# warps (32767 px) start to refuse it.
MAX_SIDE = 16384
# A move's length: ten minutes at 24 fps, past any cut. Its camera file (~200 bytes a frame) stays far under
# what status and reuse read back (64 MB), and its preview is minutes, not hours, to write: a typo of
# 100000 frames took 6 minutes and a 100 MB movie for a 384x216 frame, 2**31 frames never ended.
MAX_MOVE_FRAMES = 14400
# Framings read from a layout's header may sit on its edge up to this much (px) past it: a framing drawn
# to the last pixel of a 1023.6-px-wide stretch after rounding.
EDGE_TOLERANCE = 0.5
# Views the registration compares a moving cut's layout through: consecutive framings overlap by at least
# this share of their width, so every part of the path is seen by some view that registers.
VIEW_OVERLAP = 0.5


@dataclass(frozen=True)
class Framing:
    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True)
class Move:
    """The camera path of one cut on its layout: from `start` (frame 1) to `end` (frame `frames`)."""

    start: Framing
    end: Framing
    frames: int
    easing: str = "linear"

    def at(self, frame: int) -> Framing:
        """The framing of frame `frame` (1 … frames) in layout pixels: corners interpolated along the eased
        time, so a track keeps its centre line and a pan its height."""
        if not 1 <= frame <= self.frames:
            raise ValueError(f"frame {frame} is not in 1..{self.frames}")
        return self.between(ease((frame - 1) / (self.frames - 1), self.easing))

    def between(self, t: float) -> Framing:
        """The framing a share t (0 … 1) of the way from `start` to `end`, each of x, y, width and height."""
        a, b = self.start, self.end
        return Framing(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t,
                       a.width + (b.width - a.width) * t, a.height + (b.height - a.height) * t)

    @property
    def tightest(self) -> Framing:
        """The narrowest framing (the start when both are as wide): its pixels are the deliverable's."""
        return self.end if self.end.width < self.start.width else self.start

    def to_dict(self) -> dict:
        return {"from": _framing_dict(self.start), "to": _framing_dict(self.end), "frames": self.frames,
                "easing": self.easing}

    def path_dict(self) -> dict:
        """What the painting depends on: the framings. Its length and easing only time the camera over it, so a
        retimed move keeps its sheet and the place's other cuts (state.py)."""
        return {"from": _framing_dict(self.start), "to": _framing_dict(self.end)}


def ease(t: float, easing: str) -> float:
    """Share of the way travelled at time share t: `linear`, or `slow-in-out` (a cosine: the camera starts
    and stops gently, as a camera sheet's slow-in/slow-out marks ask)."""
    if easing == "linear":
        return t
    if easing == "slow-in-out":
        return (1 - math.cos(math.pi * t)) / 2
    raise ValueError(f"unknown easing {easing!r}; one of {', '.join(EASINGS)}")


@dataclass(frozen=True)
class Delivery:
    """The deliverable: `size` pixels, `scale` of them per layout pixel, its top-left corner at layout
    point `origin`."""

    size: tuple[int, int]
    scale: float
    origin: tuple[float, float]

    def framing(self, f: Framing) -> Framing:
        """A layout framing in deliverable pixels."""
        s, (ox, oy) = self.scale, self.origin
        return Framing((f.x - ox) * s, (f.y - oy) * s, f.width * s, f.height * s)

    def layout_matrix(self):
        """3×3 taking layout pixel centres (at integers) to deliverable pixel centres."""
        import numpy as np

        s, (ox, oy) = self.scale, self.origin
        return np.array([[s, 0, (0.5 - ox) * s - 0.5], [0, s, (0.5 - oy) * s - 0.5], [0, 0, 1]])


def deliver(move: Move, frame: tuple[int, int]) -> Delivery:
    """Everything the framings cover, at the scale where the tightest framing is `frame` (W, H) pixels,
    grown right and down to multiples of 8. The grid is placed so that the tightest framing's corner falls
    on a deliverable pixel corner: its frame is the deliverable's own pixels, not a resampling of them."""
    tight = move.tightest
    s = frame[0] / tight.width
    left, top = min(move.start.x, move.end.x), min(move.start.y, move.end.y)
    right, bottom = max(move.start.right, move.end.right), max(move.start.bottom, move.end.bottom)
    # whole deliverable pixels from the covered area's edge to the tightest framing's corner
    ox = tight.x - math.ceil((tight.x - left) * s - 1e-6) / s
    oy = tight.y - math.ceil((tight.y - top) * s - 1e-6) / s
    width = _ceil8(math.ceil((right - ox) * s - 1e-6))
    height = _ceil8(math.ceil((bottom - oy) * s - 1e-6))
    return Delivery((width, height), s, (ox, oy))


def _ceil8(v: int) -> int:
    return -(-v // 8) * 8


def views(move: Move, delivery: Delivery, frame: tuple[int, int]) -> list:
    """Framings along the path, each as a 3×3 taking frame-size view pixels to deliverable pixels (pixel
    centres): what registration compares with the place's other cuts. The first and last framings, and
    between them as many as it takes for neighbours to overlap by VIEW_OVERLAP."""
    step_x = abs(move.end.x - move.start.x) / (min(move.start.width, move.end.width) * (1 - VIEW_OVERLAP))
    step_y = abs(move.end.y - move.start.y) / (min(move.start.height, move.end.height) * (1 - VIEW_OVERLAP))
    zoom = math.log(max(move.start.width, move.end.width) / min(move.start.width, move.end.width)) / math.log(2)
    count = max(2, math.ceil(max(step_x, step_y, zoom)) + 1)
    return [view_matrix(delivery.framing(move.between(i / (count - 1))), frame) for i in range(count)]


def view_matrix(f: Framing, frame: tuple[int, int]):
    """3×3 taking the pixel centres of a frame-size picture of framing `f` to the pixel centres of the
    picture `f` is measured on: output pixel u samples x + (u + 1/2)·width/W − 1/2."""
    import numpy as np

    kx, ky = f.width / frame[0], f.height / frame[1]
    return np.array([[kx, 0, f.x + kx / 2 - 0.5], [0, ky, f.y + ky / 2 - 0.5], [0, 0, 1]])


def frame_image(deliverable, f: Framing, frame: tuple[int, int]):
    """One frame of the move: the deliverable seen through framing `f` (deliverable px) at `frame` size,
    bilinear, edges repeated. This is what the camera file tells a compositor to do."""
    import cv2

    m = view_matrix(f, frame)[:2]
    return cv2.warpAffine(deliverable, m, frame, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def record(move: Move, delivery: Delivery, frame: tuple[int, int], episode: str, cut: str, picture: dict
           ) -> dict:
    """The camera file (`<episode>_<cut>.camera.json`, schema shotrender.camera/1): every frame's framing in
    deliverable pixels, with the scale and centre a 2D transform takes (docs/camera.md)."""
    framings = []
    for n in range(1, move.frames + 1):
        f = delivery.framing(move.at(n))
        framings.append({"frame": n, "x": _r(f.x), "y": _r(f.y), "width": _r(f.width), "height": _r(f.height),
                         "scale": _r(frame[0] / f.width), "centre": [_r(f.x + f.width / 2), _r(f.y + f.height / 2)]})
    return {"schema": SCHEMA, "episode": episode, "cut": cut, "picture": picture, "size": list(delivery.size),
            "frame": list(frame), "frames": move.frames, "easing": move.easing,
            "layout": {"scale": _r(delivery.scale), "origin": [_r(v) for v in delivery.origin]},
            "framings": framings}


def framings_of(record: dict) -> list[Framing]:
    """The framings a camera file lists, in frame order."""
    return [Framing(f["x"], f["y"], f["width"], f["height"]) for f in record["framings"]]


def _r(v: float) -> float:
    # 1e-6 px is far below what any compositor resolves, and keeps the file's numbers readable
    return round(float(v), 6)


def _framing_dict(f: Framing) -> dict:
    return {"x": f.x, "y": f.y, "width": f.width, "height": f.height}


FPS = 24  # the preview's rate; the camera file counts frames, so a compositor keeps its own rate


def movie(frames, size: tuple[int, int], beside: Path, fps: int = FPS) -> bytes | None:
    """An MP4 (MPEG-4 Part 2, OpenCV's `mp4v`) of RGB frames at `size`, or None when this OpenCV build has no
    MP4 writer (`frames` is then not read). Frames are read one at a time: a long pan's frames never all
    sit in memory. OpenCV writes to a file: a temporary named for `beside` (the movie's final path) in its
    folder, where the output folder's clean-up removes it if this process is killed while encoding."""
    import contextlib
    import os
    import tempfile

    import cv2
    import numpy as np

    from shotrender.files import temp_prefix

    fd, path = tempfile.mkstemp(dir=Path(beside).parent, prefix=temp_prefix(Path(beside)), suffix=".mp4")
    os.close(fd)  # the suffix tells OpenCV the container
    try:
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not writer.isOpened():
            return None
        try:
            for image in frames:
                writer.write(np.ascontiguousarray(image[:, :, ::-1]))
        finally:
            writer.release()
        with open(path, "rb") as f:
            data = f.read()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return data or None
