"""The shot list's schema: its fields as frozen dataclasses, their names, limits and defaults, and the
one rule for telling a model path from a hub id (docs/shotlist.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shotrender import art_board as boards
from shotrender import model_settings as models
from shotrender import preview as previews
from shotrender import trackers
from shotrender.camera import Move

VERSION = 1
ID_RE = re.compile(r"^[A-Za-z0-9_-]+\Z")  # \Z: "C001\n" is not an id
# Ids name files: `<episode>_<cut>.render.jpg` is the longest (thumbnails), and its temporary adds
# `.tmp-HOST-PID-XXXXXXXX` (a host name is at most 64 bytes, a pid 7 digits): 2 x 64 + 12 + 86 = 226
# bytes, within the 255 a file name may have, with room for another kind of picture.
MAX_ID_LENGTH = 64
CONTACT_SHEET = "contact"  # the report's contact sheet is <episode>_contact.png, beside the renders: no cut id
CUT_PARAMS = ("prompt", "negative", "seed", "steps", "strength", "guidance", "loras")
PARAM_DEFAULTS = {"prompt": "", "negative": "", "steps": 30, "strength": 0.55, "guidance": 7.5}
TOP_KEYS = ("version", "episode", "size", "model", "seed", "output", "controlnet", "continuity", "defaults",
            "backgrounds", "cuts", *models.TOP_KEYS, "preview", "tracker", "retake_model")
BG_KEYS = (*CUT_PARAMS, "continuity", "art_board", "variants")
# a variant of a place (docs/shotlist.md#variants): its own light on the base's composition
VARIANT_KEYS = ("prompt", "negative", "seed", "art_board", "loras", "strength")
VARIANT_STRENGTH = 0.6  # how much of the base sheet's painting a variant's sheet repaints, unless it says
FLOW_PRESETS = ("ultrafast", "fast", "medium")
# name: (default, low, high); numbers are checked against the range, booleans and presets by type
CONTINUITY_FIELDS: dict[str, tuple[Any, Any, Any]] = {
    "enabled": (True, None, None),
    "min_overlap": (0.25, 0.0, 1.0),
    "fusion": (0.95, 0.0, 1.0),
    "limit": (0.05, 0.0, 1.0),
    "colour_limit": (12.0, 0.0, 100.0),
    "max_attempts": (3, 1, 10),
    "feather": (24, 0, 512),
    "flow_preset": ("fast", None, None),
    "work_width": (512, 128, 4096),
    "refine": (0.35, 0.0, 1.0),
    "max_sheet_pixels": (4096 * 4096, 256 * 256, 16384 * 16384),
    "tile": (0, 0, 4096),
    "tile_overlap": (0, 0, 4096),
    "min_agreement": (0.8, 0.5, 1.0),
}
# Settings of registration alone: they reach a cut through its sheet (its camera on it, its sheet-mates),
# so they are not among a cut's own inputs (Continuity.as_dict).
REGISTRATION_FIELDS = ("min_agreement",)
CUT_INFO = ("frames", "notes")  # editorial facts: kept with the cut, change no picture
CUT_KEYS = ("id", "layout", "bg", "variant", "reuse", "camera", "framing", "on", *CUT_PARAMS, *CUT_INFO)
REUSE_KEYS = ("id", "reuse", *CUT_INFO)
CAMERA_KEYS = ("from", "to", "frames", "easing")
FRAMING_KEYS = ("x", "y", "width", "height")
# hints to registration (docs/shotlist.md#hints): `framing: {like: C001}`, `on: {cut: C001, x, y, scale}`
LIKE_KEYS = ("like",)
ON_KEYS = ("cut", "x", "y", "scale")
MAX_HINT_SCALE = 6.0  # sheets.MAX_ZOOM: a cut closer or wider than this is no camera move of the other
_CUT_KEY_SET = frozenset(CUT_KEYS)
NUMBER_EXAMPLES = {"guidance": 7.5, "strength": 0.55}
MAX_SEED = 2**63 - 1
MAX_FRAMES = 2**31 - 1
ASPECT_TOLERANCE = 0.01
LAYOUT_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "BMP")
MAX_SHOTLIST_BYTES = 32 * 1024 * 1024  # a 30,000-cut shot list is about 3 MB
MAX_LAYOUT_PIXELS = 100_000_000  # a 4x-wide pan layout at 4K is 33 MP; a decompression bomb is billions
# Values reached through aliases (*name); generous for honest reuse of a block, tiny next to a bomb.
ALIAS_BUDGET = 100_000


@dataclass(frozen=True)
class Params:
    """Cut parameters as written at one level (cut, background or defaults); None = not set here."""

    prompt: str | None = None
    negative: str | None = None
    seed: int | None = None
    steps: int | None = None
    strength: float | None = None
    guidance: float | None = None
    loras: tuple[models.Lora, ...] | None = None  # merged by file, cut over background over defaults


@dataclass(frozen=True)
class Continuity:
    """How the cuts of one place are kept one painting: its sheets, each cut's refinement and check
    (docs/continuity.md)."""

    enabled: bool = True  # paint each place's sheets and every cut as a view of its sheet; false: each alone
    min_overlap: float = 0.25  # below this share of a cut's frame its view agrees with, the check is colour
    fusion: float = 0.95  # weight of the sheet's view blended into the cut where its layout agrees with it
    limit: float = 0.05  # allowed masked warp error of a cut's render against its view, beyond the layouts' own
    colour_limit: float = 12.0  # allowed Lab distance from the place's first sheet, for a cut painted alone
    max_attempts: int = 3
    feather: int = 24  # px of soft edge on the mask, at output resolution
    flow_preset: str = "fast"
    work_width: int = 512  # px; flow runs at this width, never above the layout's
    refine: float = 0.35  # the strength a cut repaints its view of its sheet with, from its own layout
    max_sheet_pixels: int = 4096 * 4096  # a larger sheet is painted scaled down to this (sheets.py)
    tile: int = 0  # px; the window a sheet larger than the model's is painted in (0: the model's own size)
    tile_overlap: int = 0  # px between windows (0: a quarter of the window)
    min_agreement: float = 0.8  # share of two layouts' lines that must agree once aligned to register them

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in CONTINUITY_FIELDS if name not in REGISTRATION_FIELDS}


@dataclass(frozen=True)
class Variant:
    """The same place in another light (夕, 夜, rain): its sheets are painted from the base sheets' paintings."""

    name: str
    params: Params  # prompt, negative, seed, strength (of the repaint from the base), loras; steps, guidance unset
    art_board: boards.ArtBoard | None = None  # over the background's
    line: int | None = None


@dataclass(frozen=True)
class Background:
    id: str
    params: Params
    line: int | None = None
    continuity: dict | None = None  # overrides of the episode's continuity settings
    art_board: boards.ArtBoard | None = None  # the place's colour board
    variants: Mapping[str, Variant] = field(default_factory=dict)  # name -> variant, as written


@dataclass(frozen=True)
class Hint:
    """Where the shot list says a cut's layout lies on another cut's, for registration to refine: `framing:
    {like: C001}` (the same framing) or `on: {cut: C001, x, y, scale}` (its top-left corner at x, y of C001's
    layout pixels, `scale` times closer)."""

    on: str  # the other cut
    x: float = 0.0
    y: float = 0.0
    scale: float = 1.0
    key: str = "framing"  # as written: framing (like) or on
    line: int | None = None


@dataclass(frozen=True)
class Cut:
    id: str
    index: int  # position in the shot list, 0-based
    layout: str | None = None  # as written, relative to the shot list's folder
    bg: str | None = None
    variant: str | None = None  # one of its background's variants; None: the base
    reuse: str | None = None
    params: Params = field(default_factory=Params)
    line: int | None = None
    layout_line: int | None = None
    frames: int | None = None  # duration in the edit
    notes: str | None = None
    camera: Move | None = None  # a PAN or track over an oversized layout (camera.py); None: a fixed frame
    camera_lines: tuple[int | None, int | None, int | None] | None = None  # of camera:, from:, to: (if written)
    hint: Hint | None = None  # where registration should look for it (`framing:` or `on:`)


@dataclass(frozen=True)
class ShotList:
    source: str  # the file name used in messages
    base_dir: Path  # the folder relative paths are read from
    version: int
    episode: str
    width: int
    height: int
    model: str
    seed: int
    output: str | None
    controlnet: str | None
    continuity: Continuity
    defaults: Params
    backgrounds: dict[str, Background]
    cuts: tuple[Cut, ...]
    model_settings: models.ModelSettings = models.ModelSettings()  # vae, scheduler, clip_skip, ip_adapter
    preview: previews.Preview | None = None  # the overrides `render --preview` paints with
    tracker: trackers.Settings | None = None  # the studio's tracker, for `shotrender tracker push|pull`
    #: an instruction-editing model (FLUX.1 Kontext, Qwen-Image-Edit) that paints a cut retake from the picture
    #: sent back and the retake's note (docs/review.md); None: a retake is painted again from the layout
    retake_model: str | None = None

    def cut(self, cut_id: str) -> Cut:
        for c in self.cuts:
            if c.id == cut_id:
                return c
        raise KeyError(cut_id)

    def continuity_for(self, bg_id: str | None) -> Continuity:
        """The episode's continuity settings with the background's overrides."""
        bg = self.backgrounds.get(bg_id) if bg_id else None
        if bg is None or not bg.continuity:
            return self.continuity
        return replace(self.continuity, **bg.continuity)

    def layout_path(self, cut: Cut) -> Path:
        assert cut.layout is not None, f"cut {cut.id} is reused and has no layout"
        return self.base_dir / cut.layout

    @property
    def output_dir(self) -> Path:
        return self.base_dir / (self.output if self.output else f"renders/{self.episode}")

    def resolve_path_or_id(self, value: str) -> str:
        """A `model:`, `controlnet:` or `retake_model:` value as the backend wants it: paths made absolute, hub ids
        untouched."""
        if value == "draft" or not _looks_like_path(value, self.base_dir):
            return value
        return str((self.base_dir / Path(value).expanduser()).resolve())


def frozen_instance(cls: Any, values: dict) -> Any:
    """`cls(**values)` for a frozen dataclass without __post_init__, given all its fields in their order;
    `values` becomes the instance's own dict.

    A frozen dataclass's __init__ sets each field through object.__setattr__: for the Cut, Params and Job
    made per cut that was a fifth of validating a large shot list. This is three times faster.
    """
    if len(values) != len(cls.__dataclass_fields__):
        raise TypeError(f"{cls.__name__}: give all of its fields")
    obj = object.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    return obj


CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
HUB_ID_EXAMPLE = "stable-diffusion-v1-5/stable-diffusion-v1-5"


def path_reason(value: str, base_dir: Path | None) -> str | None:
    """Why a `model:`, `controlnet:` or --model value is a path and not a Hugging Face hub id; None for a
    hub id. One rule for the shot list and the command line (docs/models.md, "Path or hub id"), decided
    without importing anything heavy, so a path that is not there fails at once.

    A hub id is `owner/name`: one '/', no checkpoint extension, and an owner that is not a folder in
    `base_dir`. Anything else is a path, relative to `base_dir` unless absolute. With `base_dir` None the
    value has been resolved already (an absolute path or a hub id), and no folder is looked at.
    """
    if value.startswith(("/", "./", "../", "~")) or "\\" in value:
        return "it starts like a path"
    if value.lower().endswith(CHECKPOINT_SUFFIXES):
        return f"it ends with {Path(value).suffix}"
    slashes = value.count("/")
    if slashes != 1:
        return "it has no '/'" if not slashes else "it has more than one '/'"
    owner = value.split("/", 1)[0]
    if base_dir is not None and (base_dir / owner).is_dir():
        return f"{owner}/ is a folder there"
    return None


def _looks_like_path(value: str, base_dir: Path) -> bool:
    return path_reason(value, base_dir) is not None


