"""A street drawn from vector shapes (tests/location.py's pen and cameras), with a return to its first framing
redrawn by hand: two shapes left out (a cloud, a poster on a wall) and one added (a shop sign on its bracket).

`CUTS`: S001 wide, S002 and S003 pans right (plain pans: the same drawing), S004 back on S001's framing,
every control point moved by up to 1.5 px, the cloud and the poster gone, the sign added. `REMOVED` and
`ADDED` are those shapes, so a measure knows where they are in any cut's frame (`filled`).
"""

from __future__ import annotations

import cv2
import numpy as np

from location import Camera, Cut, Shape, _blob, _poly, _rect

from helpers import episode, write_shotlist


def street() -> tuple[Shape, ...]:
    """Shop houses along a pavement, a utility pole with wires, clouds above."""
    rng = np.random.default_rng(3)
    shapes: list[Shape] = [
        _poly("pavement", (-0.9, 0.16), (1.6, 0.16)),
        _poly("kerb", (-0.9, 0.2), (1.6, 0.2)),
    ]
    x = -0.75
    for i in range(9):
        width, top = rng.uniform(0.16, 0.22), rng.uniform(-0.2, -0.1)
        shapes.append(_rect(f"house-{i}", x, top, x + width, 0.16))
        shapes.append(_rect(f"shopfront-{i}", x + 0.02, 0.07, x + width - 0.02, 0.16))
        for col in range(2):
            wx = x + 0.03 + col * (width - 0.06) / 2
            shapes.append(_rect(f"window-{i}-{col}", wx, top + 0.04, wx + 0.04, top + 0.08))
        x += width + 0.01
    shapes += [_poly("pole", (0.3, 0.2), (0.3, -0.24)), _poly("crossarm", (0.26, -0.21), (0.34, -0.21))]
    for i, sag in enumerate((0.02, 0.03)):
        t = np.linspace(0, 1, 25)
        xs = -0.9 + t * 1.2
        shapes.append(Shape(f"wire-{i}", np.stack([xs, -0.21 + sag * 4 * t * (1 - t) + 0.01 * i], 1)))
        xs = 0.3 + t * 1.3
        shapes.append(Shape(f"wire-{i}-far", np.stack([xs, -0.21 + sag * 4 * t * (1 - t) + 0.01 * i], 1)))
    for i in range(4):
        shapes.append(_blob(f"cloud-{i}", -0.45 + i * 0.5 + rng.uniform(-0.05, 0.05), -0.26 + rng.uniform(-0.01, 0.01),
                            rng.uniform(0.07, 0.09), rng.uniform(0.02, 0.03), 5, rng))
    return tuple(shapes)


STREET = street()
POSTER = _rect("poster", 0.08, -0.06, 0.15, 0.04)  # on the face of house 4
# the shapes S004 leaves out and the one it adds
REMOVED = (next(s for s in STREET if s.name == "cloud-1"), POSTER)
ADDED = (_rect("sign", -0.31, -0.04, -0.23, 0.03), _poly("sign-bracket", (-0.27, -0.04), (-0.27, -0.07)))

_WIDE = Camera(0.0, -0.04)
CUTS = (
    Cut("S001", _WIDE, STREET + (POSTER,)),
    Cut("S002", Camera(0.25, -0.04), STREET + (POSTER,)),  # pan right
    Cut("S003", Camera(0.5, -0.04), STREET + (POSTER,)),   # pan on
    Cut("S004", _WIDE, tuple(s for s in STREET if s not in REMOVED) + ADDED, jitter=1.5, seed=4),
)
PANS = (("S001", "S002"), ("S002", "S003"), ("S001", "S003"))


def layouts(size: tuple[int, int]) -> list[tuple[str, np.ndarray]]:
    return [(c.id, c.draw(size)) for c in CUTS]


def write_episode(folder, size: tuple[int, int], model: str = "draft", **top):
    """The four cuts' layouts and a shot list of them (background `street`, output `out`) in `folder`."""
    (folder / "layouts").mkdir(parents=True)
    for cut_id, image in layouts(size):
        cv2.imwrite(str(folder / "layouts" / f"{cut_id}.png"), image[:, :, ::-1])
    cuts = [{"id": c.id, "layout": f"layouts/{c.id}.png", "bg": "street"} for c in CUTS]
    data = episode(cuts, size=list(size), model=model, output="out", **top)
    del data["backgrounds"]["park"]
    return write_shotlist(folder, data, layouts=False)


def true_transform(a: str, b: str, size: tuple[int, int]) -> np.ndarray:
    """3×3 matrix taking cut b's pixels to cut a's, as drawn."""
    cams = {c.id: c.camera for c in CUTS}
    return cams[a].world_to_cut(size) @ cams[b].cut_to_world(size)


def filled(shapes: tuple[Shape, ...], cut_id: str, size: tuple[int, int], grow: int = 0) -> np.ndarray:
    """bool in the cut's frame: the shapes' outlines and what closed ones enclose, grown by `grow` px."""
    camera = next(c.camera for c in CUTS if c.id == cut_id)
    m = camera.world_to_cut(size)
    mask = np.zeros(size[::-1], np.uint8)
    for shape in shapes:
        pts = np.round((shape.points @ m[:2, :2].T + m[:2, 2]) * 16).astype(np.int32)
        if shape.closed:
            cv2.fillPoly(mask, [pts], 1, cv2.LINE_8, 4)
        cv2.polylines(mask, [pts], shape.closed, 1, 3, cv2.LINE_8, 4)
    if grow:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    return mask > 0


# --- measures --------------------------------------------------------------------------------------------

def near_lines(layout: np.ndarray, reach: int) -> np.ndarray:
    ink = (cv2.cvtColor(layout, cv2.COLOR_RGB2GRAY) < 160).astype(np.uint8)
    return cv2.dilate(ink, np.ones((2 * reach + 1,) * 2, np.uint8)) > 0


def gradient(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))


def places(size: tuple[int, int], layout: np.ndarray, ring: tuple[int, int] = (2, 14)) -> dict[str, np.ndarray]:
    """Where S004's differences are, off its own lines (3 px): `removed`, where the shapes it left out were;
    `ring`, a ring `ring` px around the shapes it added."""
    off = ~near_lines(layout, 3)
    return {"removed": filled(REMOVED, "S004", size, 2) & off,
            "ring": filled(ADDED, "S004", size, ring[1]) & ~filled(ADDED, "S004", size, ring[0]) & off}


def pan_error(renders: dict[str, np.ndarray], layouts: dict[str, np.ndarray], size: tuple[int, int]) -> float:
    """Mean over the plain pans of the masked mean |A − warp(B)| (0-1) with the true transforms, pixels within
    3 px of a line of either layout left out."""
    errors = []
    for a, b in PANS:
        m = true_transform(a, b, size)
        warped = cv2.warpPerspective(renders[b], m, size, flags=cv2.INTER_LINEAR)
        seen = cv2.warpPerspective(np.ones(size[::-1], np.uint8), m, size, flags=cv2.INTER_NEAREST)
        mask = (cv2.erode(seen, np.ones((5, 5), np.uint8)) > 0) & ~near_lines(layouts[a], 3) & ~near_lines(
            cv2.warpPerspective(layouts[b], m, size, borderValue=(255, 255, 255)), 3)
        errors.append(float((np.abs(renders[a].astype(np.float32) - warped).mean(axis=2) / 255)[mask].mean()))
    return float(np.mean(errors))


def ratios(on: dict[str, np.ndarray], off: dict[str, np.ndarray], size: tuple[int, int]) -> dict[str, float]:
    """S004 with continuity against S004 painted alone: gradient energy where the removed shapes were and in
    a ring around the added one; and the plain pans' paint error with continuity against alone."""
    drawn = dict(layouts(size))
    where = places(size, drawn["S004"])
    energy_on, energy_off = gradient(on["S004"]), gradient(off["S004"])
    out = {name: float(energy_on[m].mean() / energy_off[m].mean()) for name, m in where.items()}
    out["pans"] = pan_error(on, drawn, size) / pan_error(off, drawn, size)
    return out
