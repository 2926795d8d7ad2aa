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
cut's view of its sheet's painting, given as the init, survives in proportion to 1 − strength, while
an init that is the layout alone does not wash the key out with white paper. At strength 1 the init
is ignored.

The package: `palettes.py` holds the palettes and the words of a prompt that pick them, `regions.py`
the regions between the lines and the role each reads as; this module picks each region's colour,
shades it and paints the key.

Colours depend on the seed and on each layout's own regions, so two cuts of one background painted
alone do not match; painted as views of one sheet (render.py), they show the sheet's colours.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from shotrender.backends.base import RenderRequest
from shotrender.backends.draft.boards import board_palette, toward
from shotrender.backends.draft.palettes import Colours, choose_colours, prompt_cues
from shotrender.backends.draft.regions import (
    ACCENT,
    BUILT,
    CLOUD,
    GROUND,
    NATURAL,
    SKY,
    Regions,
    behind,
    find_regions,
    region_roles,
)
from shotrender.errors import BackendError

#: bump whenever a change alters the pixels, so cached drafts are rendered again
VERSION = 1


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


def colour_key(layout: np.ndarray, prompt: str, seed: int, board: tuple[np.ndarray, float] | None = None) -> np.ndarray:
    """The colour key of an RGB uint8 layout, lines included: H×W×3 uint8 RGB. `board`: an art board's
    palette (Lab, boards.board_palette) and strength, which the colours are pulled toward."""
    height, width = layout.shape[:2]
    rng = np.random.default_rng(seed & 0xFFFF_FFFF_FFFF_FFFF)
    colours = choose_colours(*prompt_cues(prompt), rng)
    if board is not None and board[1] > 0:
        colours = toward(colours, *board)
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
    ink = _coverage(gray)
    lines = cv2.merge([np.full((height, width), round(c * 255), np.uint8) for c in colours.line])
    return cv2.blendLinear(lines, key, ink, 1 - ink)


def _coverage(gray: np.ndarray) -> np.ndarray:
    """How much of each pixel a line covers, from the layout's grey levels (its anti-aliasing kept): float32."""
    return np.clip((235 - gray.astype(np.float32)) * (1 / 175), 0, 1)


def paint_region(init: np.ndarray, mask: np.ndarray, layout: np.ndarray, key: np.ndarray, strength: float,
                 anew: bool = False) -> np.ndarray:
    """The draft's inpainting: `init` with `mask` painted from the layout. There each region of the layout
    goes on with the init's paint around it (regions.behind: where a cloud was left out, the sky); what the
    layout's lines close inside the mask, with no paint of the place around it (a sign added), takes the key's
    colours; the layout's lines are drawn in the init's own line colour. Blended over the init at `strength`;
    outside the mask, the init's pixels. `anew` (a person's retake of a region): the key's colours, from the
    request's words and seed, everywhere in the mask, nothing of the init's paint continued."""
    if anew:
        painted = key.copy()
    else:
        painted, unreached = behind(init, mask, layout)
        painted[unreached] = key[unreached]
    gray = cv2.cvtColor(layout, cv2.COLOR_RGB2GRAY)
    solid = gray < 100
    drawn = solid & ~mask  # the init's painted lines, where the layout's are solid
    samples = init[drawn] if drawn.sum() >= 16 else key[solid]
    if len(samples):
        # a redrawn layout's lines sit a pixel off the painted ones: the darkest fifth of the samples is on them
        tone = samples.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
        samples = samples[tone <= np.percentile(tone, 20)]
    lines = np.empty_like(init)
    lines[:] = np.rint(np.median(samples, 0)) if len(samples) else 0
    ink = _coverage(gray)
    painted = cv2.blendLinear(lines, painted, ink, 1 - ink)
    weight = mask.astype(np.float32) * np.float32(strength)
    return cv2.blendLinear(painted, init, weight, 1 - weight)


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrink = image.shape[1] > width
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class DraftBackend:
    """Colour-key previews from the layout alone: no model, no GPU, no torch (see the module doc)."""

    name = "draft"
    # a colour key, no diffusion: steps, guidance and negative do nothing; an art board sets the palette
    reads = ("prompt", "seed", "strength", "art_board")

    def identity(self) -> dict:
        return {"backend": "draft", "version": VERSION}

    def load(self) -> None:
        """Nothing to load."""

    def describe(self) -> dict:
        return {"backend": "draft", "device": "cpu"}

    def render(self, request: RenderRequest) -> np.ndarray:
        """Paint one cut: key + (1 − strength)·content·(init − key), where content is 1 where the init
        image differs from the layout and 0 where it is the layout itself. With a mask, only there
        (`paint_region`)."""
        self._check(request)
        width, height = request.width, request.height
        layout = _fit(request.layout, width, height)
        init = _fit(request.init_image, width, height)
        board = request.extra.get("art_board")
        if board is not None:
            board = (board_palette(board[0], os.stat(board[0]).st_mtime_ns), board[1])
        key = colour_key(layout, request.prompt, request.seed, board)
        if request.mask is not None:
            return paint_region(init, request.mask, layout, key, request.strength, bool(request.extra.get("anew")))
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
