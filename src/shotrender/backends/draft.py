"""The draft backend: a colour-key preview painted from the layout's line art, with no model.

It lets a studio without a GPU or weights run a whole job and review real pictures: every region
between the layout's lines is filled with a softly shaded colour from a hand-made palette, and the
lines are kept in a dark tone of that palette. numpy and OpenCV only; it never imports torch.

- The prompt picks the palette family: a setting word (spring, cherry, autumn, forest, sea, snow,
  room, interior …) and a light word (dawn, dusk, sunset, night, rain; day when there is none).
  When several words of one kind appear the last wins, as the cut's own words come last.
- The seed picks one of the family's palettes, shifts its white balance slightly and nudges which
  colour each kind of region takes.
- A region's colour follows where it sits and its shape: large regions along the top edge read as
  sky (or ceiling), along the bottom as ground, flat shapes in the sky as clouds, small enclosed
  rectangles as windows and signs; the rest are masses, natural (curved, irregular outlines: trees,
  hedges, curtains) or built (straight, axis-aligned outlines: buildings, furniture), coloured by
  height and depth and, as far as the palette allows, unlike their neighbours of the same kind.

Strength follows img2img, with the init image's *content* as what survives: where the init image
differs from the layout (a painting was blended in) the result is (1 − strength)·init +
strength·key, and where it is the layout itself (its paper and lines) the result is the key. So a
previous cut's painting warped into the init survives in proportion to 1 − strength, while an
unguided init (the layout alone) does not wash the key out with white paper. At strength 1 the init
is ignored.

For whoever wires continuity: colours depend on the seed and on each layout's own regions, so two
consecutive cuts of one background do not match by themselves; only a guided init carries colours
from one cut to the next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from shotrender.backends.base import RenderRequest
from shotrender.errors import BackendError

#: bump whenever a change alters the pixels, so cached drafts are rendered again
VERSION = 1


@dataclass(frozen=True)
class Palette:
    """One setting in daylight, as hex colours. Lists run from high/far/light to low/near/dark."""

    sky: tuple[str, str]  # top of frame, horizon (indoors: the ceiling)
    ground: tuple[str, ...]
    natural: tuple[str, ...]  # foliage, water, fabric
    built: tuple[str, ...]  # walls, roofs, furniture, posts
    accents: tuple[str, ...]  # window glass, signs, small lit things
    haze: float = 0.3  # how far distant masses fade toward the horizon colour


@dataclass(frozen=True)
class Light:
    """How a time of day or the weather relights a daylight palette."""

    sky: tuple[str, str] | None
    multiply: tuple[float, float, float]
    ambient: str
    ambient_mix: float
    accents: tuple[str, ...] | None = None  # lit windows after dark


# fmt: off
SETTINGS: dict[str, tuple[Palette, ...]] = {
    "town": (
        Palette(("#5b9bd5", "#cfe5f3"), ("#b8b2a4", "#a39d8f", "#8c8679"),
                ("#a9c98f", "#86b07a", "#6f9a6a", "#5d7f5e"), ("#ece3d2", "#cdbb9f", "#a9b5bd", "#b58a6e"),
                ("#e6f0f6", "#f0c36a", "#8a5d4a")),
        Palette(("#74aee0", "#e4eef2"), ("#c4bba8", "#aaa08c", "#938a77"),
                ("#b5d19a", "#94bb84", "#79a372", "#628766"), ("#f1e7d5", "#d8c4a5", "#9fb3c2", "#c49a7a"),
                ("#f3f6f8", "#e9a86b", "#6f5a4e")),
    ),
    "spring": (
        Palette(("#6fb2e6", "#e6f1f7"), ("#b7d98b", "#dccdab", "#8fbf68"),
                ("#f7d3de", "#eeb0c3", "#b9d98f", "#8dbb76"), ("#f1ebe0", "#d9cdb8", "#a9bccb", "#8c7466"),
                ("#fff4f6", "#e4a06f", "#5e7080")),
        Palette(("#86bde8", "#f2eef0"), ("#c6de95", "#e4d6b8", "#9dc978"),
                ("#fbe1e8", "#f2c0cf", "#cde4a3", "#9fc787"), ("#f4efe6", "#e0d2bd", "#b3c4d0", "#957c6c"),
                ("#fffaf2", "#f0b87c", "#6b7c8a")),
    ),
    "autumn": (
        Palette(("#7fb0da", "#efe3cc"), ("#cdb27c", "#b8955f", "#a2804c"),
                ("#f1b860", "#e0863f", "#c65a38", "#a4915a"), ("#efe2c9", "#d3bd98", "#a9a9a0", "#7a5f4c"),
                ("#fbf1dc", "#c9d6de", "#5c4a3e")),
        Palette(("#92b9d8", "#f4e6c8"), ("#d6bb84", "#bf9c62", "#a8854f"),
                ("#f6cd78", "#ec9d52", "#d2704a", "#b1a068"), ("#f3e8d2", "#dcc7a3", "#b2b0a5", "#85695a"),
                ("#fff6e2", "#b9cdd8", "#634f42")),
    ),
    "forest": (
        Palette(("#8fc2d6", "#dbeadf"), ("#8fae6a", "#b59d74", "#6b8f52"),
                ("#b7d494", "#88b878", "#5f9a62", "#3f7a55"), ("#d9ccb0", "#a68f72", "#7d6a55", "#5e4b3b"),
                ("#eef5e4", "#d9b56f", "#46584c")),
        Palette(("#9ccbd8", "#e6efe0"), ("#9dba74", "#c2a97c", "#74985a"),
                ("#c6dea2", "#98c487", "#6ea86c", "#4b8660"), ("#e1d5ba", "#b09a7c", "#88745f", "#6a5443"),
                ("#f4f8ea", "#e2c07a", "#505f52")),
    ),
    "sea": (
        Palette(("#4fa0dc", "#d4ecf7"), ("#ecdfb8", "#dbc99b", "#c9b486"),
                ("#8fd0dc", "#4fb0c8", "#2f8fb0", "#7fa88a"), ("#f4efe4", "#e3d2ae", "#b9a58a", "#7a8a94"),
                ("#ffffff", "#f2b96b", "#4d6a7a")),
        Palette(("#64addf", "#e2f2f7"), ("#f1e5c4", "#e0cfa4", "#cfbb8d"),
                ("#a4dce4", "#62bcd2", "#3b9cbb", "#8cb394"), ("#f7f2e8", "#e8d9b8", "#c4b296", "#84949e"),
                ("#fbfdfd", "#e8a866", "#56707e")),
    ),
    "snow": (
        Palette(("#9fb7cc", "#e6edf2"), ("#f4f6f8", "#e3e9ef", "#d6dfe8"),
                ("#eef2f5", "#c9d6df", "#8fa595", "#6f8576"), ("#e9e4dc", "#c9c2b8", "#9aa6b4", "#7d6d66"),
                ("#fff7e6", "#f2c27a", "#55606c")),
        Palette(("#a9bfd6", "#eef1f4"), ("#f7f8fa", "#e8edf3", "#dbe3ec"),
                ("#f3f5f8", "#d3dde6", "#9aae9f", "#7a8f80"), ("#eee9e1", "#d1cac0", "#a5b1be", "#86766e"),
                ("#fffaf0", "#e9b46e", "#5d6874")),
    ),
    "interior": (
        Palette(("#f2ebde", "#e9dfcc"), ("#c99f74", "#b58a60", "#9e744f"),
                ("#e9c9b8", "#c7a7a0", "#9fb4c4", "#d8b27a"), ("#efe5d2", "#e0cfb2", "#b89474", "#8aa0ae"),
                ("#dbeef7", "#f2c27c", "#8a5b49"), haze=0.0),
        Palette(("#eef0ea", "#e2e3da"), ("#d2b08a", "#bf9a72", "#a8835d"),
                ("#e8d2c0", "#d1aa8f", "#a9bfb0", "#e0c082"), ("#ecebe1", "#d9d3bf", "#a9876b", "#9bb09a"),
                ("#e4f1f6", "#f3cf8a", "#7d5a4c"), haze=0.0),
    ),
}

LIGHTS: dict[str, Light] = {
    "day": Light(None, (1.0, 1.0, 1.0), "#ffffff", 0.0),
    "dawn": Light(("#98a6d6", "#f8d9c6"), (0.98, 0.93, 0.92), "#c9b6cf", 0.14),
    "dusk": Light(("#6c5a9c", "#f6b27c"), (1.0, 0.82, 0.72), "#7d5d86", 0.18,
                  ("#ffd89a", "#ffc46b", "#f29f6b")),
    "night": Light(("#141c38", "#34466e"), (0.34, 0.38, 0.55), "#1a2440", 0.22,
                   ("#ffd27a", "#ffe7ad", "#f5b25e")),
    "rain": Light(("#7f8a95", "#b4bcc3"), (0.8, 0.84, 0.88), "#8a949e", 0.25),
}

SETTING_WORDS = {
    "spring": ("spring", "cherry", "sakura", "blossom", "blossoms"),
    "autumn": ("autumn", "fall", "maple"),
    "forest": ("forest", "woods", "jungle"),
    "sea": ("sea", "beach", "ocean", "coast", "shore", "harbor", "harbour"),
    "snow": ("snow", "snowy", "winter"),
    "interior": ("interior", "indoor", "indoors", "room", "bedroom", "classroom", "kitchen", "hallway",
                 "corridor"),
}
LIGHT_WORDS = {
    "day": ("day", "daytime", "noon", "midday", "afternoon", "sunny"),
    "dawn": ("dawn", "sunrise", "morning"),
    "dusk": ("dusk", "sunset", "evening", "twilight"),
    "night": ("night", "midnight", "moonlight", "moonlit", "starry"),
    "rain": ("rain", "rainy", "overcast", "storm"),
}
# fmt: on
SETTING_CUES = {word: name for name, words in SETTING_WORDS.items() for word in words}
LIGHT_CUES = {word: name for name, words in LIGHT_WORDS.items() for word in words}


def prompt_cues(prompt: str) -> tuple[str, str]:
    """(setting, light) named by a prompt: "street at dusk" → ("town", "dusk")."""
    setting, light = "town", "day"
    for word in re.findall(r"[a-z]+", prompt.lower()):
        setting = SETTING_CUES.get(word, setting)
        light = LIGHT_CUES.get(word, light)
    return setting, light


def _rgb(hex_colours) -> np.ndarray:
    return np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in hex_colours], np.float32) / 255


@dataclass(frozen=True)
class Colours:
    """A palette relit and jittered: float32 RGB in 0..1, ready to paint."""

    sky: np.ndarray  # 2×3: top, horizon
    cloud: np.ndarray
    ground: np.ndarray  # n×3
    natural: np.ndarray
    built: np.ndarray
    accents: np.ndarray
    line: np.ndarray
    haze: float


def choose_colours(setting: str, light_name: str, rng: np.random.Generator) -> Colours:
    """The seed picks one of the setting's palettes and shifts its white balance a little."""
    variants = SETTINGS[setting]
    palette = variants[int(rng.integers(len(variants)))]
    light = LIGHTS[light_name]
    balance = (1 + rng.normal(0, 0.03, 3) + rng.normal(0, 0.03)).astype(np.float32)
    multiply = np.array(light.multiply, np.float32)
    ambient = _rgb([light.ambient])[0] * light.ambient_mix

    def relight(hexes) -> np.ndarray:
        c = _rgb(hexes) * balance * (1 + 0.02 * rng.standard_normal((len(hexes), 1), np.float32))
        return np.clip(c * multiply * (1 - light.ambient_mix) + ambient, 0, 1)

    # Indoors the "sky" is the ceiling: relit like the room, never replaced by an evening sky.
    if setting == "interior" or light.sky is None:
        sky = relight(palette.sky)
    else:
        sky = np.clip(_rgb(light.sky) * balance, 0, 1)
    natural, built = relight(palette.natural), relight(palette.built)
    masses = np.concatenate([natural, built])
    return Colours(
        sky=sky,
        cloud=np.clip(sky[1] * 0.45 + multiply * balance * 0.55, 0, 1),
        ground=relight(palette.ground),
        natural=natural,
        built=built,
        accents=relight(palette.accents) if light.accents is None else _rgb(light.accents),
        line=masses[np.argmin(masses.sum(axis=1))] * 0.35,
        haze=palette.haze,
    )


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


def pick_colours(
    regions: Regions, roles: np.ndarray, colours: Colours, height: int, rng: np.random.Generator
) -> np.ndarray:
    """Per region, an index into its role's colour list.

    Natural masses take colours by height (crowns high, hedges low), built ones by depth and size
    (large far walls light, small near things dark), ground by depth, accents by height (window
    glass high, shop fronts and signs low); the seed
    nudges each score. So alike regions get alike colours. Largest regions choose first, and a
    mass or ground region avoids the colours of its neighbours of the same role.
    """
    x, y, w, h = regions.box.T
    cy = regions.centroid[:, 1] / height
    smallness = 1 - np.clip(np.sqrt(regions.area / regions.labels.size / 0.12), 0, 1)
    score = {
        GROUND: (cy - 0.5) * 2,
        NATURAL: cy * 1.4 - 0.2,
        BUILT: 0.45 * (y + h) / height + 0.55 * smallness,
        ACCENT: cy * 1.2 - 0.3,
    }
    lists = {GROUND: colours.ground, NATURAL: colours.natural, BUILT: colours.built, ACCENT: colours.accents}
    nudge = {role: rng.uniform(-0.12, 0.12) for role in lists}
    choice = np.full(len(roles), -1, np.int32)
    for i in np.lexsort((np.arange(len(roles)), -regions.area)):
        role = int(roles[i])
        if role not in lists:
            continue
        n = len(lists[role])
        start = int(np.clip(score[role][i] + nudge[role], 0, 0.999) * n)
        taken = {int(choice[j]) for j in regions.border[i] if roles[j] == role} if role != ACCENT else set()
        # The nearest free colour, so a region displaced by its neighbour stays close in tone.
        free = [k for k in range(n) if k not in taken]
        choice[i] = min(free, key=lambda k: (abs(k - start), k), default=start)
    return choice


def shade(regions: Regions, roles: np.ndarray, choice: np.ndarray, colours: Colours, height: int):
    """Per region a top colour, a bottom colour, and the rows the gradient between them spans."""
    n = len(roles)
    _, y, _, h = regions.box.T.astype(np.float32)
    top, bottom = np.zeros((n, 3), np.float32), np.zeros((n, 3), np.float32)
    start, span = y.copy(), np.maximum(h, 1)
    sky = roles == SKY
    horizon = float((y + h)[sky].max()) if sky.any() else 0.6 * height
    top[sky], bottom[sky], start[sky], span[sky] = colours.sky[0], colours.sky[1], 0, horizon
    cloud = roles == CLOUD
    top[cloud], bottom[cloud] = colours.cloud, colours.cloud * 0.75 + colours.sky[1] * 0.25
    for role, options, haze, light, dark in (
        (GROUND, colours.ground, colours.haze, 1.03, 0.9),
        (NATURAL, colours.natural, colours.haze, 1.06, 0.9),
        (BUILT, colours.built, colours.haze, 1.04, 0.92),
        (ACCENT, colours.accents, 0.0, 1.03, 0.96),
    ):
        mine = roles == role
        # Distant things fade toward the horizon colour, as in aerial perspective.
        fade = haze * np.clip((0.8 - (y + h)[mine] / height) / 0.5, 0, 1)[:, None]
        base = options[choice[mine]] * (1 - fade) + colours.sky[1] * fade
        top[mine], bottom[mine] = base * light, base * dark
    return np.clip(top, 0, 1), np.clip(bottom, 0, 1), start, span


def colour_key(layout: np.ndarray, prompt: str, seed: int) -> np.ndarray:
    """The colour key of an RGB uint8 layout, lines included: H×W×3 uint8 RGB."""
    height, width = layout.shape[:2]
    rng = np.random.default_rng(seed & 0xFFFF_FFFF_FFFF_FFFF)
    colours = choose_colours(*prompt_cues(prompt), rng)
    gray = cv2.cvtColor(layout, cv2.COLOR_RGB2GRAY)
    regions = find_regions((gray < 128).view(np.uint8))
    roles = region_roles(regions, width, height)
    choice = pick_colours(regions, roles, colours, height, rng)
    top, bottom, start, span = shade(regions, roles, choice, colours, height)

    # The gradient depends only on region and row: tabulate it, then look every pixel up once.
    rows = np.arange(height, dtype=np.float32)
    t = np.clip((rows[None, :] - start[:, None]) / span[:, None], 0, 1)[..., None]
    table = np.rint((top[:, None, :] + (bottom - top)[:, None, :] * t) * 255).astype(np.uint8)
    index = regions.labels * height + np.arange(height, dtype=np.int32)[:, None]
    key = np.take(table.reshape(-1, 3), index, axis=0)
    # A faint seeded wash, so flat fills read as paint rather than vector art.
    # Smooth at an eighth of the size, then stretched linearly: a cubic resize to full size costs more.
    noise = rng.standard_normal((9, 16)).astype(np.float32)
    wash = cv2.resize(noise, (max(width // 8, 16), max(height // 8, 9)), interpolation=cv2.INTER_CUBIC)
    wash = cv2.resize(wash, (width, height), interpolation=cv2.INTER_LINEAR)
    wash = np.rint(128 + 4 * wash).astype(np.uint8)
    key = cv2.multiply(key, cv2.merge([wash, wash, wash]), scale=1 / 128)
    # Line coverage from the layout's grey levels keeps its anti-aliasing.
    ink = np.clip((235 - gray.astype(np.float32)) * (1 / 175), 0, 1)
    lines = cv2.merge([np.full((height, width), round(c * 255), np.uint8) for c in colours.line])
    return cv2.blendLinear(lines, key, ink, 1 - ink)


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrink = image.shape[1] > width
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class DraftBackend:
    """Colour-key previews from the layout alone: no model, no GPU, no torch (see the module doc)."""

    name = "draft"
    reads = ("prompt", "seed", "strength")  # a colour key, no diffusion: steps, guidance and negative do nothing

    def identity(self) -> dict:
        return {"backend": "draft", "version": VERSION}

    def load(self) -> None:
        """Nothing to load."""

    def describe(self) -> dict:
        return {"backend": "draft", "device": "cpu"}

    def render(self, request: RenderRequest) -> np.ndarray:
        """Paint one cut: key + (1 − strength)·content·(init − key), where content is 1 where the init
        image differs from the layout and 0 where it is the layout itself."""
        self._check(request)
        width, height = request.width, request.height
        layout = _fit(request.layout, width, height)
        init = _fit(request.init_image, width, height)
        key = colour_key(layout, request.prompt, request.seed)
        difference = cv2.absdiff(init, layout)
        difference = cv2.max(cv2.max(difference[..., 0], difference[..., 1]), difference[..., 2])
        # Up to 8 levels is resampling noise, not paint; from 40 levels on it is surely paint.
        keep = (1 - request.strength) * np.clip((difference.astype(np.float32) - 8) * (1 / 32), 0, 1)
        if not keep.any():
            return key
        return cv2.blendLinear(init, key, keep, 1 - keep)

    @staticmethod
    def _check(request: RenderRequest) -> None:
        request.check_images()
        if not 0.0 <= request.strength <= 1.0:
            raise BackendError(f"cut {request.cut}: strength must be within 0..1, got {request.strength}")
        if request.width <= 0 or request.height <= 0:
            size = f"{request.width}×{request.height}"
            raise BackendError(f"cut {request.cut}: size must be positive, got {size}")
