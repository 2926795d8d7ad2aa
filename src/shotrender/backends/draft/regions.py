"""The draft backend's regions: the layout split between its lines, what each region reads as, and how a
region's paint goes on through a part of it that is painted again.

A region's role (sky, cloud, ground, natural mass, built mass, accent) follows from where it sits and
its outline's shape; see the package's doc. `behind` continues each region's paint into a mask (a cut's
own regions, shotrender/regions.py): where a cloud was left out, the sky around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Regions:
    """The layout split into the regions between its lines; every pixel, lines too, has a label."""

    labels: np.ndarray  # H×W int32 in 0..n-1
    box: np.ndarray  # n×4 float: x, y, w, h
    area: np.ndarray  # n
    centroid: np.ndarray  # n×2: x, y
    border: list[dict[int, int]]  # per region: neighbour → length of the shared border


def find_regions(line_mask: np.ndarray) -> Regions:
    """Connected areas of paper, with small gaps in the lines closed first so regions do not leak."""
    h, w = line_mask.shape
    size = max(3, round(min(h, w) / 120)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    barrier = cv2.morphologyEx(line_mask, cv2.MORPH_CLOSE, kernel)
    paper = (barrier == 0).view(np.uint8)
    _, comp, stats, centroids = cv2.connectedComponentsWithStats(paper, connectivity=4)
    keep = stats[:, cv2.CC_STAT_AREA] >= max(16, h * w // 6000)
    keep[0] = False
    n = int(keep.sum())
    if n == 0:
        whole = np.array([[0, 0, w, h]], np.float64)
        return Regions(np.zeros((h, w), np.int32), whole, np.array([h * w]), np.array([[w / 2, h / 2]]), [{}])
    for crumb in np.flatnonzero(~keep[1:]) + 1:
        cx, cy, cw, ch = stats[crumb, :4]
        barrier[cy : cy + ch, cx : cx + cw][comp[cy : cy + ch, cx : cx + cw] == crumb] = 1
    # Lines and crumbs too small to paint take the label of the nearest region, so neighbouring
    # regions meet in the middle of the line between them.
    _, nearest = cv2.distanceTransformWithLabels(barrier, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_CCOMP)
    lut = np.zeros(int(nearest.max()) + 1, np.int32)
    for index, region in enumerate(np.flatnonzero(keep)):
        # Any pixel of the region names its label: take the first one on its bounding box's top row.
        rx, ry, rw = stats[region, :3]
        first = int(np.argmax(comp[ry, rx : rx + rw] == region))
        lut[nearest[ry, rx + first]] = index
    labels = np.take(lut, nearest)

    # Borders are measured on every other pixel: only their relative lengths matter.
    coarse = labels[::2, ::2]
    codes = []
    for a, b in ((coarse[:, :-1], coarse[:, 1:]), (coarse[:-1, :], coarse[1:, :])):
        differ = a != b
        codes.append(np.minimum(a[differ], b[differ]) * n + np.maximum(a[differ], b[differ]))
    border: list[dict[int, int]] = [{} for _ in range(n)]
    for code, length in zip(*np.unique(np.concatenate(codes), return_counts=True), strict=True):
        a, b = divmod(int(code), n)
        border[a][b] = border[b][a] = int(length)
    stats = stats[keep].astype(np.float64)
    return Regions(labels, stats[:, :4], stats[:, cv2.CC_STAT_AREA], centroids[keep], border)


def lines(layout: np.ndarray) -> np.ndarray:
    """bool: an RGB layout's line pixels, faint ones too: darker than its paper (its median tone) by 40 levels.
    A layout seen through a camera that shrinks or shifts it (a view of a sheet) has lighter lines than drawn."""
    gray = cv2.cvtColor(layout, cv2.COLOR_RGB2GRAY)
    return gray < min(215, int(np.median(gray)) - 40)


def areas(layout: np.ndarray) -> np.ndarray:
    """Every pixel's region of an RGB layout between its `lines` (which take their nearest region's): int32."""
    return find_regions(lines(layout).view(np.uint8)).labels


def pen_unit(layout: np.ndarray) -> int:
    """About how many px wide a layout's pen is: lengths measured on line art scale with it (1 below 720 px
    wide, 2 at 960, 4 at 1920)."""
    return max(1, round(layout.shape[1] / 480))


def disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)


# `behind` continues a region's paint from its pixels within CONTEXT pen widths of the mask, and at least
# OFF_LINE pen widths off the layout's lines (a picture's lines may sit a pixel or two off the layout's)
CONTEXT = 12
OFF_LINE = 2


def behind(picture: np.ndarray, mask: np.ndarray, layout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the picture with `mask` filled by what the place shows there, the part of the mask left as it was).

    Each region of the layout that the mask cuts into is filled there with a plane (per channel, in x and
    y) fitted to its paint around the mask, so a sky's or a wall's shading goes on through it. A region
    (nearly) all inside the mask has no paint around it to go on from: it is left as it was and returned
    in the second mask (what lines drawn inside the mask close: a sign's face)."""
    out = picture.copy()
    unreached = np.zeros(mask.shape, bool)
    if not mask.any():
        return out, unreached
    labels, unit = areas(layout), pen_unit(layout)
    near = cv2.dilate(mask.view(np.uint8), disc(CONTEXT * unit)) > 0
    drawn = cv2.dilate(lines(layout).view(np.uint8), disc(OFF_LINE * unit)) > 0
    context = near & ~mask & ~drawn
    height, width = mask.shape
    for region in np.unique(labels[mask]):
        inside = mask & (labels == region)
        ys, xs = np.nonzero(context & (labels == region))
        if len(xs) < max(8, 0.05 * inside.sum()):
            unreached |= inside
            continue
        samples = picture[ys, xs].astype(np.float64)
        qy, qx = np.nonzero(inside)
        if len(xs) >= 24 and np.ptp(xs) > 2 and np.ptp(ys) > 2:
            # coordinates scaled to the frame keep the fit well conditioned
            basis = np.stack([np.ones(len(xs)), xs / width, ys / height], 1)
            plane, *_ = np.linalg.lstsq(basis, samples, rcond=None)
            values = np.stack([np.ones(len(qx)), qx / width, qy / height], 1) @ plane
        else:
            values = np.broadcast_to(np.median(samples, 0), (len(qx), samples.shape[1]))
        out[qy, qx] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return out, unreached


def outline_measures(regions: Regions) -> np.ndarray:
    """Per region (solidity, aligned, wiggle) of its outline, traced on a grid about 288 px high.

    solidity: area over convex hull area. aligned: the share of the outline, as a polygon within
    1.5 grid px, that runs within about 11° of horizontal or vertical. wiggle: polygon corners beyond
    a quadrilateral's four per 100 grid px of outline. Outline along the frame edge does not count.
    """
    n = len(regions.area)
    step = max(1, min(regions.labels.shape) // 288)
    grid = regions.labels[::step, ::step]
    gh, gw = grid.shape
    measures = np.tile(np.array([1.0, 1.0, 0.0]), (n, 1))
    for i in np.flatnonzero(regions.area >= 64 * step * step):
        x, y, w, h = (regions.box[i] // step).astype(int)
        x0, y0 = max(x - 1, 0), max(y - 1, 0)
        mask = (grid[y0 : y + h + 2, x0 : x + w + 2] == i).view(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if not contours:  # a thin region can fall between the grid's samples: keep the neutral measures
            continue
        outline = max(contours, key=len)
        hull = cv2.contourArea(cv2.convexHull(outline))
        corners = cv2.approxPolyDP(outline, 1.5, True)[:, 0] + (x0, y0)
        px, py = corners.T
        edge = (px <= 0) | (py <= 0) | (px >= gw - 1) | (py >= gh - 1)
        run = np.diff(corners, axis=0, append=corners[:1])
        inner = ~(edge & np.append(edge[1:], edge[:1]))
        length = np.hypot(run[:, 0], run[:, 1]) * inner
        dx, dy = np.abs(run[:, 0]), np.abs(run[:, 1])
        straight = np.minimum(dx, dy) < 0.2 * np.maximum(dx, dy)
        total = max(float(length.sum()), 1.0)
        wiggle = max(int(inner.sum()) - 4, 0) * 100 / total
        measures[i] = cv2.contourArea(outline) / max(hull, 1.0), (length * straight).sum() / total, wiggle
    return measures


SKY, CLOUD, GROUND, NATURAL, BUILT, ACCENT = range(6)


def region_roles(regions: Regions, width: int, height: int) -> np.ndarray:
    """What each region reads as in a background, from its place and shape alone."""
    n = len(regions.area)
    x, y, w, h = regions.box.T
    share = regions.area / (width * height)
    cy = regions.centroid[:, 1] / height
    top = np.bincount(regions.labels[0], minlength=n) / width
    bottom = np.bincount(regions.labels[-1], minlength=n) / width
    big = share > 0.02
    sky = big & (((top > 0.25) & (cy < 0.45)) | ((cy < 0.35) & (w > 0.5 * width)))
    solidity, aligned, wiggle = outline_measures(regions).T
    # Lawns and walkways are often cut into pieces by posts and benches: a wide, low, fairly solid
    # band that spans half the frame or reaches its side is ground too.
    wide = (w > 0.45 * width) | (x <= 1) | (x + w >= width - 1)
    band = (cy > 0.6) & (w > 2 * h) & (solidity > 0.75) & wide
    ground = big & ~sky & (((bottom > 0.25) & (cy > 0.55)) | band)
    # Measured on drawn layouts (solidity, aligned, wiggle): tree crowns 0.89–0.97, 0.2–0.52, 6–10
    # (the most aligned ones cut by the frame); buildings half hidden by a crown 0.74–0.81, 0.3–0.5;
    # buildings behind a scalloped hedge 0.94, 0.58, 5; gable roofs 1.0, 0.4, 0–1.
    natural = (aligned < 0.55) & (solidity > 0.88) & (wiggle > 4)
    roles = np.select([sky, ground, natural], [SKY, GROUND, NATURAL], BUILT)
    inside = (x > 1) & (y > 1) & (x + w < width - 1) & (y + h < height - 1)
    opening = inside & (regions.area > 0.85 * w * h) & (share < 0.015) & (w < 4 * h) & (h < 2.5 * w)
    roles[(roles == BUILT) & opening] = ACCENT
    # High up, a built-looking region that borders the sky may be a cloud (solid, flat, ringed by
    # sky) or more sky: a large piece cut off by a wire or a pole, or the thin band between two
    # wires. Top-down, so the sky spreads from piece to piece.
    edge = (x <= 1) | (y <= 1) | (x + w >= width - 1)
    high = (roles == BUILT) & ((y + h) / height < 0.5)
    for i in sorted(np.flatnonzero(high), key=lambda i: (cy[i], i)):
        around = regions.border[i]
        total = max(sum(around.values()), 1)
        against_sky = sum(length for j, length in around.items() if roles[j] == SKY) / total
        if against_sky >= 0.65 and w[i] > 2.2 * h[i] and solidity[i] > 0.8:
            roles[i] = CLOUD
        elif against_sky > 0.1 and ((edge[i] and share[i] > 0.02) or (w[i] > 6 * h[i] and solidity[i] < 0.8)):
            roles[i] = SKY
    return roles

