"""A location drawn from vector shapes, so the camera transform between any two of its cuts is known.

The world is a park in world units: one unit is the frame's width at zoom 1, x to the right, y down.
A camera (centre, zoom, rotation) sees the part of the world its frame covers; `draw` renders that view
as line art the way a layout artist draws: antialiased lines of a constant width in the frame, so a
track-in's lines are thinner in the world than a wide shot's.

`CUTS` is an episode's worth of cuts of the park: a pan over three cuts (the last one slightly
rotated), a 1.4x track-in on the bench, a cut at another angle (another drawing of the place, which
must not register with the rest) and a return to the first framing, redrawn by hand: every control
point moved by up to 1.5 px, a sign added and a cloud left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

INK = (30, 30, 30)
_SHIFT = 4  # cv2 drawing with 4 fractional bits: control points land at 1/16 px


@dataclass(frozen=True)
class Shape:
    name: str
    points: np.ndarray  # N×2 float64, world units
    closed: bool = False


@dataclass(frozen=True)
class Camera:
    x: float  # frame centre, world units
    y: float
    zoom: float = 1.0  # frame width = 1 / zoom world units
    angle: float = 0.0  # degrees, counter-clockwise on the world as the camera turns clockwise

    def world_to_cut(self, size: tuple[int, int]) -> np.ndarray:
        """3×3 matrix taking world units to this camera's pixels (pixel centres at integers)."""
        w, h = size
        s = self.zoom * w
        c, si = math.cos(math.radians(self.angle)), math.sin(math.radians(self.angle))
        rotate = np.array([[c * s, si * s, 0], [-si * s, c * s, 0], [0, 0, 1]])
        centre = np.array([[1, 0, -self.x], [0, 1, -self.y], [0, 0, 1]])
        offset = np.array([[1, 0, (w - 1) / 2], [0, 1, (h - 1) / 2], [0, 0, 1]])
        return offset @ rotate @ centre

    def cut_to_world(self, size: tuple[int, int]) -> np.ndarray:
        return np.linalg.inv(self.world_to_cut(size))


def _poly(name: str, *points: tuple[float, float], closed: bool = False) -> Shape:
    return Shape(name, np.array(points, dtype=np.float64), closed)


def _rect(name: str, x0: float, y0: float, x1: float, y1: float) -> Shape:
    return _poly(name, (x0, y0), (x1, y0), (x1, y1), (x0, y1), closed=True)


def _blob(name: str, cx: float, cy: float, rx: float, ry: float, bumps: int, rng, top_only: bool = False) -> Shape:
    """A bumpy closed curve (a canopy, a cloud, a bush); `top_only` keeps the upper half, open."""
    count = 12 * bumps
    stop = math.pi if top_only else 2 * math.pi
    t = np.linspace(0, stop, count + 1 if top_only else count, endpoint=top_only)
    wobble = 1 + 0.12 * np.abs(np.sin(t * bumps / (2 if top_only else 1) + rng.uniform(0, math.pi)))
    pts = np.stack([cx + rx * wobble * np.cos(t), cy - ry * wobble * np.sin(t)], axis=1)
    return Shape(name, pts, closed=not top_only)


def park(seed: int = 0) -> tuple[Shape, ...]:
    """A park: hills, ground, a path, fence, trees, a lamp, a bench, a building, bushes, stones, clouds."""
    rng = np.random.default_rng(seed)
    shapes: list[Shape] = []
    xs = np.linspace(-0.9, 1.5, 97)
    shapes.append(Shape("hills", np.stack([xs, -0.02 - 0.05 * np.abs(np.sin(xs * 3.1 + seed))
                                           - 0.02 * np.sin(xs * 11 + 2 * seed)], 1)))
    shapes.append(Shape("ground", np.stack([xs, 0.12 + 0.006 * np.sin(xs * 7 + seed)], 1)))
    shapes.append(_poly("path-left", (0.12, 0.12), (-0.05, 0.3)))
    shapes.append(_poly("path-right", (0.2, 0.12), (0.33, 0.3)))
    posts = np.cumsum(rng.uniform(0.03, 0.06, 12)) - 0.75 + 0.1 * seed
    for i, x in enumerate(posts):
        shapes.append(_poly(f"post-{i}", (x, 0.12), (x, 0.055)))
    shapes.append(_poly("rail-top", (posts[0], 0.065), (posts[-1], 0.065)))
    shapes.append(_poly("rail-low", (posts[0], 0.095), (posts[-1], 0.095)))
    for i, x in enumerate((-0.42, 0.02, 0.5, 1.12, 1.32)):
        x += rng.uniform(-0.04, 0.04)
        top = rng.uniform(-0.08, -0.02)
        shapes.append(_poly(f"trunk-{i}-a", (x - 0.008, 0.12), (x - 0.006, top)))
        shapes.append(_poly(f"trunk-{i}-b", (x + 0.008, 0.12), (x + 0.006, top)))
        shapes.append(_blob(f"canopy-{i}", x, top - 0.05, rng.uniform(0.05, 0.08), rng.uniform(0.05, 0.07), 7, rng))
    lamp = 0.16 + 0.05 * seed
    shapes.append(_poly("lamp-pole", (lamp, 0.12), (lamp, -0.06)))
    shapes.append(_poly("lamp-head", (lamp - 0.015, -0.06), (lamp + 0.015, -0.06), (lamp + 0.008, -0.075),
                        (lamp - 0.008, -0.075), closed=True))
    bx = 0.3 + (0.2 * seed) % 0.7
    shapes.append(_rect("bench-seat", bx, 0.085, bx + 0.13, 0.095))
    shapes.append(_rect("bench-back", bx + 0.005, 0.055, bx + 0.125, 0.07))
    for i, x in enumerate((bx + 0.01, bx + 0.12)):
        shapes.append(_poly(f"bench-leg-{i}", (x, 0.095), (x, 0.118)))
    hx = 0.68 - 0.3 * (seed % 2)
    shapes.append(_rect("building", hx, -0.12, hx + 0.28, 0.12))
    shapes.append(_poly("roof", (hx - 0.02, -0.12), (hx + 0.14, -0.2), (hx + 0.3, -0.12)))
    for row in range(3):
        for col in range(4):
            x, y = hx + 0.025 + col * 0.065, -0.1 + row * 0.06
            shapes.append(_rect(f"window-{row}-{col}", x, y, x + 0.035 + 0.004 * ((row + col) % 2), y + 0.035))
    shapes.append(_rect("door", hx + 0.12, 0.06, hx + 0.16, 0.12))
    for i in range(6):
        x = -0.7 + i * 0.4 + rng.uniform(-0.08, 0.08)
        shapes.append(_blob(f"bush-{i}", x, 0.12, rng.uniform(0.03, 0.05), rng.uniform(0.02, 0.035), 4, rng,
                            top_only=True))
    for i in range(14):
        x, y = rng.uniform(-0.8, 1.4), rng.uniform(0.15, 0.27)
        r = rng.uniform(0.006, 0.014)
        t = np.linspace(0, 2 * math.pi, 10, endpoint=False)
        shapes.append(Shape(f"stone-{i}", np.stack([x + r * np.cos(t), y + 0.6 * r * np.sin(t)], 1), True))
    for i in range(5):
        shapes.append(_blob(f"cloud-{i}", -0.6 + i * 0.45 + rng.uniform(-0.1, 0.1), rng.uniform(-0.24, -0.17),
                            rng.uniform(0.06, 0.09), rng.uniform(0.02, 0.03), 5, rng))
    return tuple(shapes)


PARK = park(0)
# Only the redrawn return has it: a sign by the path, in plain paper in every other drawing.
SIGN = (_rect("sign", -0.1, 0.02, -0.03, 0.06), _poly("sign-post", (-0.065, 0.06), (-0.065, 0.12)))
# The cut at another angle: the same kinds of things, somewhere else, framed alike.
OTHER_SIDE = park(1)


def draw(camera: Camera, size: tuple[int, int], line_width: int, shapes: tuple[Shape, ...] = PARK,
         jitter: float = 0.0, seed: int = 0) -> np.ndarray:
    """The world seen by `camera` as an RGB uint8 layout of `size` (W, H): `line_width` px lines on white.

    `jitter` moves every control point by up to that many frame pixels (a hand redrawing the layout).
    """
    w, h = size
    image = np.full((h, w, 3), 255, np.uint8)
    matrix = camera.world_to_cut(size)
    rng = np.random.default_rng(seed)
    for shape in shapes:
        pts = shape.points @ matrix[:2, :2].T + matrix[:2, 2]
        if jitter:
            pts = pts + rng.uniform(-jitter, jitter, pts.shape)
        if pts[:, 0].max() < -10 or pts[:, 0].min() > w + 10 or pts[:, 1].max() < -10 or pts[:, 1].min() > h + 10:
            continue
        fixed = np.round(pts * (1 << _SHIFT)).astype(np.int32)
        cv2.polylines(image, [fixed], shape.closed, INK, line_width, cv2.LINE_AA, _SHIFT)
    return image


def line_width(size: tuple[int, int]) -> int:
    """The pen: 1 px at 256-480 px wide frames, 4 px at 1920."""
    return max(1, round(size[0] / 480))


@dataclass(frozen=True)
class Cut:
    id: str
    camera: Camera
    shapes: tuple[Shape, ...] = PARK
    jitter: float = 0.0
    seed: int = 0

    def draw(self, size: tuple[int, int]) -> np.ndarray:
        return draw(self.camera, size, line_width(size), self.shapes, self.jitter, self.seed)


_WIDE = Camera(0.0, 0.0)
CUTS = (
    Cut("C001", _WIDE),
    Cut("C002", Camera(0.22, 0.0)),                           # pan right
    Cut("C003", Camera(0.45, 0.015, angle=2.0)),              # pan on, the camera turned 2°
    Cut("C004", Camera(0.37, 0.06, zoom=1.4)),                # T.U. on the bench
    Cut("C005", Camera(0.1, 0.0), shapes=OTHER_SIDE),         # another angle of the place
    Cut("C006", _WIDE, shapes=SIGN + tuple(s for s in PARK if s.name != "cloud-1"), jitter=1.5, seed=6),
)
SAME_PLACE = ("C001", "C002", "C003", "C004", "C006")


def cut(cut_id: str) -> Cut:
    return next(c for c in CUTS if c.id == cut_id)


def true_transform(a: str, b: str, size: tuple[int, int]) -> np.ndarray:
    """3×3 matrix taking cut b's pixels to cut a's, as drawn."""
    return cut(a).camera.world_to_cut(size) @ cut(b).camera.cut_to_world(size)


def layouts(size: tuple[int, int], ids: tuple[str, ...] | None = None) -> list[tuple[str, np.ndarray]]:
    """(cut id, layout) in shot-list order."""
    return [(c.id, c.draw(size)) for c in CUTS if ids is None or c.id in ids]


def street(count: int, seed: int = 0, span: float = 4.8, parks: int = 0) -> tuple[Cut, ...]:
    """`count` cuts of one long place (eight parks half overlapping), `span` frames of it filmed, in shuffled shot-list
    order: two thirds wide shots panning along it, a third tracked in 1.2-2x, one cut in eight a
    hand-redrawn return to an earlier framing. Every cut overlaps several others. `parks`: the first park's
    seed; streets eight or more apart share no drawing (another place)."""
    rng = np.random.default_rng(seed)
    shapes = tuple(Shape(f"{k}-{s.name}", s.points + [1.2 * k, 0], s.closed) for k in range(8)
                   for s in park(parks + k))
    cuts: list[Cut] = []
    for n in range(count):
        if cuts and rng.random() < 1 / 8:
            earlier = cuts[int(rng.integers(len(cuts)))]
            cuts.append(Cut(f"S{n + 1:03d}", earlier.camera, shapes, jitter=1.0, seed=n))
            continue
        zoom = 1.0 if rng.random() < 2 / 3 else float(rng.uniform(1.2, 2.0))
        camera = Camera(float(rng.uniform(-0.4, span - 0.4)), float(rng.uniform(-0.03, 0.06)), zoom,
                        float(rng.uniform(-1.5, 1.5)))
        cuts.append(Cut(f"S{n + 1:03d}", camera, shapes))
    order = rng.permutation(count)
    return tuple(Cut(f"S{i + 1:03d}", cuts[k].camera, shapes, cuts[k].jitter, cuts[k].seed)
                 for i, k in enumerate(order))


def facades(landmarks: bool = True) -> tuple[Shape, ...]:
    """A street of identical houses, one every 0.3 frame widths (windows, a door, a roof line): a drawing
    that matches itself shifted by one house. `landmarks` adds what tells the houses apart (a tree, a lamp,
    a sign, a parked car's outline, clouds); without them the street is truly ambiguous."""
    shapes = [_poly("ground", (-3.0, 0.12), (4.0, 0.12)), _poly("kerb", (-3.0, 0.2), (4.0, 0.2))]
    for k in range(-10, 14):
        x = 0.3 * k
        shapes.append(_rect(f"house-{k}", x + 0.02, -0.1, x + 0.28, 0.12))
        shapes.append(_poly(f"roof-{k}", (x + 0.01, -0.1), (x + 0.15, -0.16), (x + 0.29, -0.1)))
        shapes.append(_rect(f"door-{k}", x + 0.13, 0.05, x + 0.17, 0.12))
        for row in range(2):
            for col in range(3):
                wx, wy = x + 0.04 + col * 0.08, -0.07 + row * 0.07
                shapes.append(_rect(f"window-{k}-{row}-{col}", wx, wy, wx + 0.05, wy + 0.04))
    if landmarks:
        rng = np.random.default_rng(3)
        for i, x in enumerate((-0.55, 0.47, 1.38)):
            shapes.append(_poly(f"trunk-{i}", (x, 0.2), (x, 0.02)))
            shapes.append(_blob(f"canopy-{i}", x, -0.03, 0.06, 0.05, 6, rng))
        shapes.append(_poly("lamp", (0.91, 0.2), (0.91, -0.05), (0.95, -0.05)))
        shapes.append(_rect("sign", -0.3, 0.0, -0.2, 0.05))
        shapes.append(_poly("car", (0.05, 0.19), (0.07, 0.15), (0.12, 0.14), (0.2, 0.14), (0.24, 0.19), closed=True))
        for i in range(4):
            shapes.append(_blob(f"cloud-{i}", -0.5 + 0.55 * i, -0.22, 0.08, 0.02, 5, rng))
    return tuple(shapes)


def places(per: int, count: int = 3, seed: int = 4, span: float = 2.0) -> tuple[tuple[str, int, Cut], ...]:
    """`count` places of `per` cuts each (`street`: shuffled, a third tracked in, returns redrawn), sharing no
    drawing, their cuts shuffled together and named C001...: (cut id, its place, the cut). What `init --places`
    must sort out again."""
    cuts = [(p, c) for p in range(count) for c in street(per, seed=11 + p, span=span, parks=8 * p)]
    order = np.random.default_rng(seed).permutation(len(cuts))
    return tuple((f"C{n + 1:03d}", cuts[k][0], cuts[k][1]) for n, k in enumerate(order))
