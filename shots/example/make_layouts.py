"""Draw the example episode's layouts: one line-art panorama per location, one crop of it per cut.

    python shots/example/make_layouts.py

Writes `layouts/C001.png` … next to this file: 1024×576 single-channel grayscale PNGs, black
anti-aliased lines (about 2.5 px) on white, no fill. The same bytes on every run.

Each location is drawn once, wider than the frame, the way a PAN background is; a cut is a crop of
it. So two cuts of one background that pan show overlapping views of the same place, which is what
the continuity step reads (optical flow between consecutive layouts). Shapes are drawn far to near,
each closed shape filled with paper before its outline, so a nearer shape hides the lines behind it.
"""

from __future__ import annotations

from itertools import cycle, pairwise
from pathlib import Path

import cv2
import numpy as np

FRAME = (1024, 576)
#: drawn at twice the size and reduced with area averaging: smoother anti-aliasing than LINE_AA alone
SUPERSAMPLE = 2
LINE = 5  # px at the supersampled size, 2.5 px in the frame
SUBPIXEL_BITS = 4


class Sheet:
    """A panorama of line art in frame pixels (y down), drawn at SUPERSAMPLE× for clean lines."""

    def __init__(self, width: int, height: int):
        self.img = np.full((height * SUPERSAMPLE, width * SUPERSAMPLE), 255, np.uint8)

    def _fixed(self, pts) -> np.ndarray:
        scale = SUPERSAMPLE * (1 << SUBPIXEL_BITS)
        return np.round(np.asarray(pts, np.float64) * scale).astype(np.int32).reshape(-1, 1, 2)

    def line(self, *pts) -> None:
        cv2.polylines(self.img, [self._fixed(pts)], False, 0, LINE, cv2.LINE_AA, SUBPIXEL_BITS)

    def shape(self, pts) -> None:
        """A closed outline that hides whatever was drawn behind it."""
        fixed = self._fixed(pts)
        cv2.fillPoly(self.img, [fixed], 255, cv2.LINE_AA, SUBPIXEL_BITS)
        cv2.polylines(self.img, [fixed], True, 0, LINE, cv2.LINE_AA, SUBPIXEL_BITS)

    def rect(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.shape([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])

    def crop(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        """The frame a camera at (x, y) sees, `width`×`height` panorama pixels reduced to FRAME."""
        s = SUPERSAMPLE
        window = self.img[y * s : (y + height) * s, x * s : (x + width) * s]
        return cv2.resize(window, FRAME, interpolation=cv2.INTER_AREA)


def ellipse(cx: float, cy: float, rx: float, ry: float, start: float = 0.0, end: float = 360.0) -> np.ndarray:
    t = np.radians(np.linspace(start, end, 97))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def blob(cx: float, cy: float, rx: float, ry: float, bumps: int, depth: float = 0.12, flat_base=False):
    """A scalloped outline: a tree crown, a cloud, a hedge. `flat_base` cuts the bottom straight."""
    t = np.linspace(0.0, 2 * np.pi, bumps * 24 + 1)
    r = 1.0 + depth * np.abs(np.sin(bumps * t / 2))
    pts = np.stack([cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)], axis=1)
    if flat_base:
        pts[:, 1] = np.minimum(pts[:, 1], cy + ry * 0.35)
    return pts


def tree(sheet: Sheet, x: float, base: float, crown_y: float, rx: float, ry: float, bumps: int) -> None:
    trunk = rx * 0.13
    outline = [(x - trunk, base), (x - trunk * 0.7, crown_y), (x + trunk * 0.7, crown_y), (x + trunk, base)]
    sheet.shape(outline)
    sheet.line((x, crown_y + ry * 0.5), (x + rx * 0.35, crown_y + ry * 0.1))
    sheet.shape(blob(x, crown_y, rx, ry, bumps))


def lamp_post(sheet: Sheet, x: float, base: float, top: float) -> None:
    sheet.rect(x - 4, top, x + 4, base)
    sheet.shape([(x - 12, base), (x - 8, base - 18), (x + 8, base - 18), (x + 12, base)])
    sheet.shape([(x - 16, top), (x - 10, top - 30), (x + 10, top - 30), (x + 16, top)])
    sheet.shape([(x - 20, top - 30), (x, top - 42), (x + 20, top - 30)])


#: x, trunk base, crown centre y, crown radii: the row of cherry trees on the back lawn
PARK_TREES = [
    (120, 360, 200, 100, 80),
    (640, 368, 190, 120, 92),
    (1000, 356, 210, 96, 74),
    (1380, 364, 196, 112, 86),
    (1760, 358, 206, 98, 76),
    (2100, 366, 192, 116, 90),
]


def park() -> Sheet:
    """A city park in spring: skyline behind a hedge, cherry trees, a walkway with a bench and lamps."""
    w, h, horizon = 2200, 576, 330
    sheet = Sheet(w, h)
    for cx, cy, rx, ry in [(200, 110, 110, 28), (720, 60, 150, 34), (1260, 95, 120, 28), (1900, 70, 140, 32)]:
        sheet.shape(blob(cx, cy, rx, ry, 7, 0.25, flat_base=True))
    x = -10
    skyline = zip(cycle([150, 120, 180, 140, 110, 200, 130, 160, 150, 170]), cycle([250, 215, 262, 228, 196]))
    while x < w:
        bw, top = next(skyline)
        sheet.rect(x, top, x + bw, horizon)
        for wy in range(top + 16, horizon - 20, 26):
            sheet.line((x + 14, wy), (x + bw - 14, wy))
        x += bw
    sheet.line((-10, horizon), (w + 10, horizon))
    hedge_x = np.linspace(-10, w + 10, w // 4)
    hedge_top = 314 - 12 * np.abs(np.sin(np.pi * hedge_x / 46))
    sheet.shape([*zip(hedge_x, hedge_top, strict=True), (w + 10, 342), (-10, 342)])
    for x, base, cy, rx, ry in PARK_TREES:
        tree(sheet, x, base, cy, rx, ry, 9)
    sheet.rect(-10, 415, w + 10, 478)
    sheet.line((-10, 484), (w + 10, 484))
    for x in (800, 1560, 2040):
        lamp_post(sheet, x, 424, 160)
    bench(sheet, 250)
    bench(sheet, 1190)
    for tx in range(40, w, 137):
        ty = 500 + (tx * 37) % 60
        sheet.line((tx - 8, ty - 12), (tx, ty), (tx + 3, ty - 16), (tx + 6, ty), (tx + 14, ty - 10))
    for bed_x, bed_w in [(230, 190), (1700, 150)]:
        sheet.shape(ellipse(bed_x, 536, bed_w, 30))
        for cx in range(bed_x - bed_w + 30, bed_x + bed_w - 20, 40):
            sheet.shape(blob(cx, 528, 14, 10, 5, 0.3))
    tree(sheet, 1960, 560, 140, 150, 110, 11)
    return sheet


def bench(sheet: Sheet, x: float) -> None:
    """A park bench seen from the front, `x` its left end, standing on the walkway."""
    length = 230
    for lx in (x + 14, x + length - 22):
        sheet.rect(lx, 438, lx + 8, 470)
    sheet.rect(x + 6, 372, x + length - 6, 388)
    sheet.rect(x + 6, 396, x + length - 6, 412)
    sheet.shape([(x - 4, 430), (x + 10, 420), (x + length - 10, 420), (x + length + 4, 430)])
    sheet.rect(x - 4, 430, x + length + 4, 440)
    for ax in (x - 10, x + length - 2):
        sheet.shape([(ax, 402), (ax + 12, 402), (ax + 12, 442), (ax, 442)])


def street() -> Sheet:
    """A shopping street at dusk: two-storey shops, utility poles and wires, a sidewalk and the road."""
    w, h = 1700, 576
    sidewalk, kerb = 420, 468
    sheet = Sheet(w, h)
    for cx, cy, rx, ry in [(240, 108, 150, 10), (1080, 104, 190, 12), (1560, 112, 130, 9)]:
        sheet.shape(blob(cx, cy, rx, ry, 9, 0.3, flat_base=True))
    for x0, x1, top in [(-10, 160, 150), (420, 560, 128), (840, 960, 160), (1230, 1380, 138)]:
        sheet.rect(x0, top, x1, 300)
        for wy in range(top + 18, 290, 22):
            sheet.line((x0 + 12, wy), (x1 - 12, wy))
    x = -20
    fronts = cycle([(230, 200, "gable"), (210, 230, "flat"), (250, 185, "gable"), (190, 215, "flat")])
    while x < w:
        bw, top, roof = next(fronts)
        shop(sheet, x, x + bw, top, sidewalk, roof)
        x += bw
    sheet.line((-10, sidewalk), (w + 10, sidewalk))
    sheet.rect(-10, kerb, w + 10, kerb + 8)
    for dx in range(-40, w, 180):
        sheet.rect(dx, 536, dx + 100, 544)
    vending_machine(sheet, 660, sidewalk + 26)
    poles = [300, 1020, 1580]
    for px in poles:
        sheet.rect(px - 9, 8, px + 9, kerb - 6)
        sheet.rect(px - 46, 30, px + 46, 38)
        sheet.line((px + 9, 250), (px + 40, 240))
        sheet.shape(ellipse(px + 52, 244, 14, 7))
    ends = [-60, *poles, w + 200]
    for a, b in pairwise(ends):
        for y0, sag in [(32, 22), (44, 30)]:
            xs = np.linspace(a, b, 40)
            u = (xs - a) / (b - a)
            sheet.line(*np.stack([xs, y0 + sag * 4 * u * (1 - u)], axis=1))
    return sheet


def shop(sheet: Sheet, x0: float, x1: float, top: float, sidewalk: float, roof: str) -> None:
    """A two-storey shop front: windows upstairs, a sign board and an awning over a glazed front."""
    if roof == "gable":
        mid = (x0 + x1) / 2
        sheet.shape([(x0 - 8, top + 20), (mid, top - 22), (x1 + 8, top + 20)])
    sheet.rect(x0, top + (20 if roof == "gable" else 0), x1, sidewalk)
    floor2 = top + 90
    for wx in np.linspace(x0 + 24, x1 - 24 - 56, 2):
        sheet.rect(wx, top + 36, wx + 56, top + 76)
        sheet.line((wx + 28, top + 36), (wx + 28, top + 76))
    sheet.rect(x0 + 10, floor2, x1 - 10, floor2 + 26)
    sheet.shape([(x0 + 4, floor2 + 34), (x1 - 4, floor2 + 34), (x1 + 6, floor2 + 56), (x0 - 6, floor2 + 56)])
    sheet.rect(x0 + 18, floor2 + 70, x1 - 18, sidewalk)
    for gx in np.linspace(x0 + 18, x1 - 18, 4)[1:-1]:
        sheet.line((gx, floor2 + 70), (gx, sidewalk))


def vending_machine(sheet: Sheet, x: float, base: float) -> None:
    """A drinks machine on the sidewalk: display window and coin slot."""
    sheet.rect(x, base - 118, x + 64, base)
    sheet.rect(x + 8, base - 108, x + 56, base - 62)
    sheet.rect(x + 8, base - 40, x + 56, base - 26)


class Room:
    """One-point perspective in metres: the camera at the origin looking down +z, eye height 1.4 m."""

    focal, vx, vy, eye = 600.0, 520.0, 262.0, 1.4

    def __init__(self, sheet: Sheet):
        self.sheet = sheet

    def at(self, x: float, y: float, z: float) -> tuple[float, float]:
        """Frame pixel of a point x right, y up from the floor, z deep."""
        return self.vx + self.focal * x / z, self.vy - self.focal * (y - self.eye) / z

    def quad(self, *corners) -> None:
        self.sheet.shape([self.at(*c) for c in corners])

    def box(self, x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> None:
        """A solid box: the faces the camera sees, far ones first so the front face is on top."""
        if x0 > 0:
            self.quad((x0, y0, z0), (x0, y0, z1), (x0, y1, z1), (x0, y1, z0))
        if x1 < 0:
            self.quad((x1, y0, z0), (x1, y0, z1), (x1, y1, z1), (x1, y1, z0))
        if y1 < self.eye:
            self.quad((x0, y1, z0), (x1, y1, z0), (x1, y1, z1), (x0, y1, z1))
        self.quad((x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0))


def room() -> Sheet:
    """A bedroom: window and curtains on the back wall, bookshelf and desk on the left, bed on the right."""
    sheet = Sheet(*FRAME)
    r = Room(sheet)
    left, right, ceiling, back = -2.0, 2.0, 2.6, 6.0
    for x in (left, right):
        for y in (0.0, ceiling):
            sheet.line(r.at(x, y, back), r.at(x, y, 0.3))
    r.quad((left, 0, back), (right, 0, back), (right, ceiling, back), (left, ceiling, back))
    r.quad((-0.9, 1.0, back), (0.9, 1.0, back), (0.9, 2.1, back), (-0.9, 2.1, back))
    r.quad((-0.8, 1.08, back), (0.8, 1.08, back), (0.8, 2.02, back), (-0.8, 2.02, back))
    sheet.line(r.at(0, 1.08, back), r.at(0, 2.02, back))
    sheet.line(r.at(-0.8, 1.55, back), r.at(0.8, 1.55, back))
    for side in (-1, 1):
        inner = [(side * (0.78 + 0.05 * np.sin(k * 1.3)), 2.15 - k * 0.06) for k in range(20)]
        outer = [(side * 1.12, 0.95), (side * 1.12, 2.2)]
        sheet.shape([r.at(x, y, back - 0.05) for x, y in [*inner, *outer]])
    r.quad((-0.7, 0, 2.4), (0.6, 0, 2.4), (0.6, 0, 4.4), (-0.7, 0, 4.4))
    r.box(-2.0, -1.6, 0.0, 1.9, 3.6, 5.2)
    for y in (0.45, 0.95, 1.45):
        sheet.line(r.at(-1.6, y, 3.6), r.at(-1.6, y, 5.2))
    r.box(1.0, 2.0, 0.0, 1.05, 5.85, 6.0)
    r.box(1.0, 2.0, 0.0, 0.55, 3.2, 5.85)
    px, py = r.at(1.5, 0.62, 5.4)
    sheet.shape(blob(px, py, 52, 12, 4, 0.1))
    sheet.line(r.at(1.0, 0.55, 4.6), r.at(2.0, 0.55, 4.6))
    r.quad((2.0, 1.2, 4.0), (2.0, 1.2, 5.0), (2.0, 1.9, 5.0), (2.0, 1.9, 4.0))
    for lx, lz in [(-1.92, 1.6), (-1.28, 1.6), (-1.28, 2.6)]:
        r.box(lx - 0.04, lx + 0.04, 0.0, 0.72, lz, lz + 0.08)
    r.box(-2.0, -1.2, 0.72, 0.76, 1.6, 2.7)
    sheet.line(r.at(0, ceiling, 3.5), r.at(0, 2.2, 3.5))
    cx, cy = r.at(0, 2.2, 3.5)
    sheet.shape([*ellipse(cx, cy + 8, 48, 22, 180, 360)])
    return sheet


#: id → (location, x, y, width, height of the panorama window the camera sees)
CUTS = {
    "C001": ("park", 0, 0, 1024, 576),
    "C002": ("park", 410, 0, 1024, 576),
    "C003": ("park", 160, 76, 800, 450),
    "C004": ("street", 0, 0, 1024, 576),
    "C005": ("street", 460, 0, 1024, 576),
    "C006": ("room", 0, 0, 1024, 576),
    "C008": ("park", 820, 0, 1024, 576),
}
LOCATIONS = {"park": park, "street": street, "room": room}


def main() -> None:
    out = Path(__file__).resolve().parent / "layouts"
    out.mkdir(exist_ok=True)
    sheets = {name: draw() for name, draw in LOCATIONS.items()}
    for cut, (location, x, y, width, height) in CUTS.items():
        frame = sheets[location].crop(x, y, width, height)
        cv2.imwrite(str(out / f"{cut}.png"), frame, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"{cut}: {location} window x={x} y={y} {width}×{height}")


if __name__ == "__main__":
    main()
