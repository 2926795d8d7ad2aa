"""The shot list, version 1: schema as frozen dataclasses, `parse` (pure) and `load` (reads files).

Every problem in a file is collected in one pass and reported together, each with file:line, the field
path, the cut id where there is one, and how to fix it. YAML is read with the safe loader only, and
aliases are walked with a node budget so an alias bomb is refused instead of expanded.

>>> sl = parse(text, source="shots/ep01.yaml")      # pure: no file is opened
>>> sl = load("shots/ep01.yaml")                   # reads the file and checks the layouts it names
"""

from __future__ import annotations

import difflib
import gc
import math
import os
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from shotrender import art_board as boards
from shotrender import model_settings as models
from shotrender import preview as previews
from shotrender.camera import EASINGS, EDGE_TOLERANCE, MAX_MOVE_FRAMES, MAX_SIDE, Framing, Move, deliver
from shotrender.errors import Problem, ShotListError, UsageError

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
            "backgrounds", "cuts", *models.TOP_KEYS, "preview")
BG_KEYS = (*CUT_PARAMS, "continuity", "art_board")
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
}
CUT_INFO = ("frames", "notes")  # editorial facts: kept with the cut, change no picture
CUT_KEYS = ("id", "layout", "bg", "reuse", "camera", *CUT_PARAMS, *CUT_INFO)
REUSE_KEYS = ("id", "reuse", *CUT_INFO)
CAMERA_KEYS = ("from", "to", "frames", "easing")
FRAMING_KEYS = ("x", "y", "width", "height")
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

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in CONTINUITY_FIELDS}


@dataclass(frozen=True)
class Background:
    id: str
    params: Params
    line: int | None = None
    continuity: dict | None = None  # overrides of the episode's continuity settings
    art_board: boards.ArtBoard | None = None  # the place's colour board


@dataclass(frozen=True)
class Cut:
    id: str
    index: int  # position in the shot list, 0-based
    layout: str | None = None  # as written, relative to the shot list's folder
    bg: str | None = None
    reuse: str | None = None
    params: Params = field(default_factory=Params)
    line: int | None = None
    layout_line: int | None = None
    frames: int | None = None  # duration in the edit
    notes: str | None = None
    camera: Move | None = None  # a PAN or track over an oversized layout (camera.py); None: a fixed frame
    camera_lines: tuple[int | None, int | None, int | None] | None = None  # of camera:, from:, to: (if written)


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
        """A `model:`/`controlnet:` value as the backend wants it: paths made absolute, hub ids untouched."""
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


# ---------------------------------------------------------------------------------------------- YAML


_STR_TAG = "tag:yaml.org,2002:str"


class _Walk:
    """Turns a composed YAML node tree into plain values; with `track`, remembers each path's line.

    Walking the nodes ourselves (rather than PyYAML's constructor) is what lets us refuse tags, report
    repeated keys with their line, and count alias expansions; it is also 20 times faster.
    """

    def __init__(self, loader, source: str, problems: list[Problem], track: bool):
        self.loader = loader
        self.source = source
        self.problems = problems
        self.lines: dict[tuple, int] | None = {} if track else None
        self.seen: set[int] = set()
        self.budget = ALIAS_BUDGET

    def value(self, node: yaml.Node, path: tuple | None, repeated: bool = False) -> Any:
        if node.__class__ is yaml.ScalarNode and node.tag == _STR_TAG:
            if self.lines is not None:
                self.lines.setdefault(path, node.start_mark.line + 1)
            return node.value
        # An alias makes the composer hand back a node already seen; only such repeats are counted,
        # so a large honest file is never refused and an alias bomb is, long before memory runs out.
        repeated = repeated or id(node) in self.seen
        self.seen.add(id(node))
        if repeated:
            self.budget -= 1
            if self.budget < 0:
                raise _TooLarge(node.start_mark.line + 1)
        if self.lines is not None:
            self.lines.setdefault(path, node.start_mark.line + 1)
        if not node.tag.startswith("tag:yaml.org,2002:") or "python" in node.tag:
            self.problems.append(Problem(self.source, node.start_mark.line + 1, _fmt(path or ()),
                                         f"the tag {node.tag} is not allowed", "remove it; write plain values"))
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(Problem(self.source, key_node.start_mark.line + 1, _fmt(path or ()),
                                                 "a key must be plain text", "write key: value"))
                    continue
                key = key_node.value if key_node.tag == _STR_TAG else self.scalar(key_node, path)
                if key in out:
                    self.problems.append(Problem(
                        self.source, key_node.start_mark.line + 1, _fmt((*(path or ()), key)),
                        f"'{key}' is given twice", "keep one of them"))
                    continue
                if self.lines is not None and path is not None and value_node.__class__ is yaml.MappingNode:
                    # a block mapping's problems point at its key (`to:`), not at its first entry's line
                    self.lines.setdefault((*path, key), key_node.start_mark.line + 1)
                out[key] = self.value(value_node, None if path is None else (*path, key), repeated)
            return out
        if isinstance(node, yaml.SequenceNode):
            if path is None:
                return [self.value(item, None, repeated) for item in node.value]
            return [self.value(item, (*path, i), repeated) for i, item in enumerate(node.value)]
        return self.scalar(node, path)

    def scalar(self, node: yaml.ScalarNode, path: tuple | None) -> Any:
        try:
            return self.loader.construct_object(node)
        except (ValueError, KeyError, AttributeError, TypeError, IndexError, OverflowError):  # 2024-13-45, !!int abc
            self.problems.append(Problem(
                self.source, node.start_mark.line + 1, _fmt(path or ()),
                f"cannot read {node.value!r} as {_KINDS.get(node.tag, node.tag)}",
                "put it in quotes to keep it as text, or write a valid value"))
            return None


_KINDS = {"tag:yaml.org,2002:timestamp": "a date", "tag:yaml.org,2002:int": "a whole number",
          "tag:yaml.org,2002:float": "a number", "tag:yaml.org,2002:bool": "true or false"}


class _TooLarge(Exception):
    def __init__(self, line: int):
        self.line = line


def _fmt(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# libyaml's parser is 20x faster than the pure-Python one. Its events are read on the happy path
# (`_read_plain`), its composer on the careful path (`_read_yaml`); PyYAML's constructor never runs.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


MAX_DEPTH = 64  # a shot list nests five levels; the composer recurses, and thousands of levels crash it


def _too_deep(text: str) -> int | None:
    """The line where lists or mappings nest deeper than MAX_DEPTH, found from the parser's events alone."""
    loader = _Loader(text)
    depth = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    return event.start_mark.line + 1
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        if mark and getattr(e, "problem", None) == "exceeded maximum nesting depth":  # libyaml's cap (1,000)
            return mark.line + 1
        return None  # another syntax error: the composer reports it, as far as it gets
    finally:
        loader.dispose()
    return None


def _read_yaml(text: str, source: str, problems: list[Problem], track: bool) -> tuple[Any, dict[tuple, int]]:
    deep = _too_deep(text)
    if deep is not None:
        problems.append(Problem(source, deep, "", f"lists or mappings nest more than {MAX_DEPTH} levels deep",
                                "a shot list needs five levels at most; check the brackets"))
        return None, {}
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        walk = _Walk(loader, source, problems, track)
        return walk.value(node, () if track else None), walk.lines or {}
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(x for x in (e.context, e.problem) if x)
        problems.append(Problem(source, line, "", f"YAML syntax error: {what}",
                                "check indentation, colons and quotes on this line and the one before"))
    except yaml.YAMLError as e:
        problems.append(Problem(source, None, "", f"YAML error: {e}", "fix the file's syntax"))
    except _TooLarge as e:
        problems.append(Problem(source, e.line, "", "the YAML expands to too many values (an alias bomb?)",
                                "remove the aliases (*name) that repeat large blocks"))
    except RecursionError:  # aliases of aliases can nest deeper than the text does
        problems.append(Problem(source, None, "", "aliases (*name) nest values thousands of levels deep",
                                "write the values out instead of chaining aliases"))
    finally:
        loader.dispose()
    return None, {}


class _NotPlain(Exception):
    """The happy path met something it leaves to the careful path."""


# The safe resolver's own table of implicit types (by first character), used as it uses it; and the safe
# constructors of the plain scalars that table can give. Anything else (merge keys, ...) is left to the careful path.
_IMPLICIT = {first: tuple(resolvers) for first, resolvers in _Loader.yaml_implicit_resolvers.items()}
_IMPLICIT_ANY = _IMPLICIT.pop(None, ())
_SCALARS = {tag: _Loader.yaml_constructors[tag] for tag in (
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp")}
_INT_TAG = "tag:yaml.org,2002:int"


def _read_plain(text: str) -> Any:
    """The happy path: values built straight from libyaml's events, without nodes, resolver calls or lines.

    It takes only what it reads exactly as the careful path (`_read_yaml`) would: mappings, sequences and
    untagged scalars, typed by the safe resolver's table and built by the safe constructors. An anchor, an
    alias, a tag, a key given twice or that is not a scalar, more than one document or a syntax error raise
    _NotPlain, and the file is read again the careful way, which reports or counts what it found.
    """
    loader = _Loader(text)
    get = loader.get_event
    implicit = _IMPLICIT.get
    scalar, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    mapping_end, sequence_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    try:
        if get().__class__ is not yaml.StreamStartEvent:
            raise _NotPlain
        event = get()
        if event.__class__ is yaml.StreamEndEvent:
            return None
        if event.__class__ is not yaml.DocumentStartEvent:
            raise _NotPlain
        root: Any = None
        stack: list[Any] = []
        container: Any = None  # the dict or list being filled; None for the document itself
        in_map = False
        key: Any = None
        want_key = False  # in a mapping: the next event is a key
        while True:
            event = get()
            kind = event.__class__
            if kind is scalar:
                if event.anchor is not None or event.tag is not None:
                    raise _NotPlain
                value = event.value
                if event.implicit[0]:
                    for tag, regexp in implicit(value[:1], _IMPLICIT_ANY):
                        if regexp.match(value):
                            if tag == _INT_TAG and value.isdecimal() and (value[0] != "0" or len(value) == 1):
                                value = int(value)
                            elif tag in _SCALARS:
                                value = _SCALARS[tag](loader, yaml.ScalarNode(tag, value))
                            else:
                                raise _NotPlain
                            break
                if want_key:
                    if value in container:
                        raise _NotPlain
                    key, want_key = value, False
                    continue
            elif kind is mapping_start or kind is sequence_start:
                if event.anchor is not None or event.tag is not None or want_key:
                    raise _NotPlain
                value = {} if kind is mapping_start else []
            elif kind is mapping_end or kind is sequence_end:
                if not stack:
                    raise _NotPlain
                container, in_map = stack.pop()
                want_key = in_map
                if stack:
                    continue
                break
            else:
                raise _NotPlain  # an alias
            if in_map:
                container[key] = value
                want_key = True
            elif container is not None:
                container.append(value)
            else:
                root = value
            if kind is not scalar:
                stack.append((container, in_map))
                container, in_map, want_key = value, kind is mapping_start, kind is mapping_start
            elif not stack:
                break
        if get().__class__ is not yaml.DocumentEndEvent or get().__class__ is not yaml.StreamEndEvent:
            raise _NotPlain  # another document follows
        return root
    except (yaml.YAMLError, ValueError, KeyError, AttributeError, TypeError, IndexError, OverflowError) as e:
        raise _NotPlain from e  # the careful path reports it
    finally:
        loader.dispose()


# ---------------------------------------------------------------------------------------- validation


class _Checker:
    def __init__(self, source: str, lines: dict[tuple, int], problems: list[Problem]):
        self.source = source
        self.lines = lines
        self.problems = problems

    def line(self, path: tuple) -> int | None:
        if not self.lines:
            return None  # the happy path reads no lines
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def add(self, path: tuple, message: str, fix: str = "", cut: str | None = None, warning: bool = False):
        self.problems.append(Problem(self.source, self.line(path), _fmt(path), message, fix, cut, warning))

    def unknown_keys(self, data: dict, path: tuple, known: tuple[str, ...], cut: str | None = None):
        for key in data:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            fix = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(known)}"
            self.add((*path, key), f"unknown key '{key}'", fix, cut)

    def text(self, data: dict, path: tuple, key: str, cut: str | None = None, required: bool = False):
        value = data.get(key)
        if value is None:
            if required:
                self.add((*path, key) if path or key else path, f"'{key}' is missing", f"add {key}: ...", cut)
            return None
        if not isinstance(value, str):
            self.add((*path, key), f"must be text, got {_show(value)}", "put it in quotes", cut)
            return None
        return value

    def ident(self, data: dict, path: tuple, key: str, what: str, cut: str | None = None, required=True,
              example: str = "C001"):
        value = data.get(key)
        if value.__class__ is str and ID_RE.match(value) and len(value) <= MAX_ID_LENGTH:
            return value  # the usual case, first
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # `id: 12` is a fine cut id; YAML just read it as a number
        if value is None:
            if required:
                self.add(path, f"'{key}' is missing", f"give the {what} an id like {example}", cut)
            return None
        if not isinstance(value, str) or not ID_RE.match(value):
            self.add((*path, key), f"{what} id {_show(value)} may use only letters, digits, '_' and '-'",
                     f"rename it, e.g. {example}", cut)
            return None
        if len(value) > MAX_ID_LENGTH:
            self.add((*path, key), _too_long(what, value), f"shorten it, e.g. {example}",
                     cut)
            return None
        return value

    def params(self, data: dict, path: tuple, cut: str | None = None) -> Params:
        values: dict[str, Any] = {}
        for key in ("prompt", "negative"):
            values[key] = self.text(data, path, key, cut)
        values["seed"] = self.integer(data, path, "seed", 0, MAX_SEED, cut)
        values["steps"] = self.integer(data, path, "steps", 1, 1000, cut)
        strength = self.number(data, path, "strength", cut)
        if strength is not None and not 0 < strength <= 1:
            self.add((*path, "strength"), f"must be in (0, 1], got {strength}",
                     "0.3 keeps most of the layout, 1.0 repaints it fully", cut)
            strength = None
        values["strength"] = strength
        guidance = self.number(data, path, "guidance", cut)
        if guidance is not None and not 0 <= guidance <= 50:
            self.add((*path, "guidance"), f"must be between 0 and 50, got {guidance}", "7.5 is usual", cut)
            guidance = None
        values["guidance"] = guidance
        values["loras"] = models.read_loras(self, data, path, cut)
        return frozen_instance(Params, values)

    def integer(self, data: dict, path: tuple, key: str, lo: int, hi: int, cut: str | None = None):
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.add((*path, key), f"must be a whole number, got {_show(value)}", f"e.g. {key}: {lo + 1}", cut)
            return None
        if not lo <= value <= hi:
            self.add((*path, key), f"must be between {lo} and {hi}, got {value}", "", cut)
            return None
        return value

    def number(self, data: dict, path: tuple, key: str, cut: str | None = None):
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            self.add((*path, key), f"must be a number, got {_show(value)}",
                     f"e.g. {key}: {NUMBER_EXAMPLES.get(key, 0.5)}", cut)
            return None
        try:
            return float(value)
        except OverflowError:
            self.add((*path, key), f"is too large a number ({len(str(value))} digits)",
                     f"e.g. {key}: {NUMBER_EXAMPLES.get(key, 0.5)}", cut)
            return None

    def continuity(self, value: Any, path: tuple) -> dict:
        """The continuity settings given at `path`, checked; only the keys that were set."""
        data = self.mapping(value, path, "continuity")
        if not data:
            return {}
        self.unknown_keys(data, path, tuple(CONTINUITY_FIELDS))
        out: dict[str, Any] = {}
        for name, (default, lo, hi) in CONTINUITY_FIELDS.items():
            if name not in data:
                continue
            value = data[name]
            if isinstance(default, bool):
                if isinstance(value, bool):
                    out[name] = value
                else:
                    self.add((*path, name), f"must be true or false, got {_show(value)}")
            elif name == "flow_preset":
                if value in FLOW_PRESETS:
                    out[name] = value
                else:
                    self.add((*path, name), f"must be one of {', '.join(FLOW_PRESETS)}, got {_show(value)}")
            elif isinstance(default, int):
                checked = self.integer(data, path, name, lo, hi)
                if checked is not None:
                    out[name] = checked
            else:
                checked = self.number(data, path, name)
                if checked is not None and not lo <= checked <= hi:
                    self.add((*path, name), f"must be between {lo:g} and {hi:g}, got {checked:g}")
                elif checked is not None:
                    out[name] = checked
        for name in ("tile", "tile_overlap"):
            if out.get(name, 0) % 8:
                self.add((*path, name), f"must be a multiple of 8 (the model paints in 8-px latent cells), "
                         f"got {out[name]}", f"use {round(out[name] / 8) * 8 or 8}")
        if out.get("tile") and out.get("tile_overlap", 0) >= out["tile"]:
            self.add((*path, "tile_overlap"), f"must be less than tile ({out['tile']}), got {out['tile_overlap']}")
        return out

    def mapping(self, value: Any, path: tuple, what: str) -> dict | None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(path, f"{what} must be a mapping of key: value, got {_show(value)}")
            return None
        return value


def _too_long(what: str, value: str) -> str:
    return (f"{what} id '{value[:24]}...' is {len(value)} characters long; ids are at most {MAX_ID_LENGTH}, as "
            "they name the files written for each cut (a file name holds 255 bytes)")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return f"{value!r} ({type(value).__name__})"


def parse(text: str, *, source: str = "<shot list>", base_dir: Path | str = ".") -> ShotList:
    """Parse shot-list text. Pure: reads no file. Raises ShotListError with every problem found."""
    shotlist, problems = _parse(text, source, Path(base_dir))
    if any(not p.warning for p in problems):
        raise ShotListError(problems)
    return shotlist


def _parse(text: str, source: str, base_dir: Path, careful: bool = False) -> tuple[ShotList | None, list[Problem]]:
    """The shot list as far as it parsed (None when it is not a mapping at all) and every problem.

    A valid file is read once, fast, without line numbers (`_read_plain`); a file with any problem, or
    with anything that path leaves alone (anchors, tags...), is read again with them (`_read_yaml`), so
    that every message can say where.
    """
    problems: list[Problem] = []
    with gc_paused():
        if careful:
            data, lines = _read_yaml(text, source, problems, track=True)
            if problems:
                return None, problems
        else:
            try:
                data, lines = _read_plain(text), {}
            except _NotPlain:
                return _parse(text, source, base_dir, careful=True)
        shotlist, problems = _check(data, lines, source, base_dir)
    if problems and not careful:
        return _parse(text, source, base_dir, careful=True)
    return shotlist, problems


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while a shot list's values are built.

    Building them makes hundreds of thousands of objects that all live on, and each of them counts
    towards the next collection: for 30,000 cuts the collector spent twice as long as the reading
    itself, re-examining objects that were never garbage. Nothing is lost: memory is still freed
    as soon as it is unused, and the collector runs again afterwards.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _check(data: Any, lines: dict[tuple, int], source: str, base_dir: Path) -> tuple[ShotList | None,
                                                                                     list[Problem]]:
    problems: list[Problem] = []
    ck = _Checker(source, lines, problems)
    if not isinstance(data, dict):
        ck.add((), "the shot list must be a mapping with version, episode, size, model and cuts",
               "start from shots/example/episode.yaml")
        return None, problems

    ck.unknown_keys(data, (), TOP_KEYS)
    version = data.get("version")
    if version is None:
        ck.add((), "'version' is missing", "add version: 1 at the top")
    elif version != VERSION:
        ck.add(("version",), f"unknown version {version!r}", "this shotrender reads version: 1")
        return None, problems

    episode = ck.ident(data, (), "episode", "episode", example="ep01")
    width = height = 0
    size = data.get("size")
    if size is None:
        ck.add((), "'size' is missing", "add size: [1024, 576] (output width, height)")
    elif (not isinstance(size, list) or len(size) != 2
          or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
        ck.add(("size",), f"must be [width, height] in pixels, got {_show(size)}", "e.g. size: [1024, 576]")
    elif not _size_ok(*size):
        ck.add(("size",), _SIZE_RULE.format(*size), _size_fix(*size))
        # kept as written (a shot list with problems is never handed out), so `load` can fit the
        # suggestion to the layouts' aspect; check_files compares layouts only against a valid size
        width, height = size
    else:
        width, height = size
    model = ck.text(data, (), "model", required=True)
    if model == "":
        ck.add(("model",), "is empty", "model: draft, a diffusers folder, a .safetensors file or a hub id")
    seed = ck.integer(data, (), "seed", 0, MAX_SEED)
    output = ck.text(data, (), "output")
    controlnet = ck.text(data, (), "controlnet")
    continuity = Continuity(**ck.continuity(data.get("continuity"), ("continuity",)))

    defaults_data = ck.mapping(data.get("defaults"), ("defaults",), "defaults")
    defaults = Params()
    if defaults_data is not None:
        ck.unknown_keys(defaults_data, ("defaults",), CUT_PARAMS)
        defaults = ck.params(defaults_data, ("defaults",))

    backgrounds: dict[str, Background] = {}
    bgs_data = ck.mapping(data.get("backgrounds"), ("backgrounds",), "backgrounds")
    for bg_id, bg_data in (bgs_data or {}).items():
        path = ("backgrounds", bg_id)
        if not isinstance(bg_id, str) or not ID_RE.match(bg_id):
            ck.add(path, f"background id {_show(bg_id)} may use only letters, digits, '_' and '-'",
                   "rename it, e.g. park")
            continue
        if len(bg_id) > MAX_ID_LENGTH:
            ck.add(path, _too_long("background", bg_id), "shorten it, e.g. park")
            continue
        twin = next((b for b in backgrounds if b.lower() == bg_id.lower()), None)
        if twin is not None:  # its sheets are files: sheets/<episode>_<bg>_1.png is one file for both there
            ck.add(path, f"background id {bg_id} differs only in case from {twin}, and a case-blind disk has "
                   "one file for both", "give every background its own id, or merge the two")
        bg_data = ck.mapping(bg_data, path, f"background '{bg_id}'")
        if bg_data is None:
            continue
        ck.unknown_keys(bg_data, path, BG_KEYS)
        overrides = ck.continuity(bg_data.get("continuity"), (*path, "continuity")) if "continuity" in bg_data else None
        backgrounds[bg_id] = Background(bg_id, ck.params(bg_data, path), ck.line(path), overrides,
                                        boards.read(ck, bg_data, path))

    cuts = _parse_cuts(ck, data.get("cuts"), backgrounds, (width, height) if _size_ok(width, height) else None)
    _warn_empty_prompts(ck, cuts, defaults, backgrounds)

    # Returned even with problems, so the layout checks can still report on the cuts that parsed.
    shotlist = ShotList(
        source=source, base_dir=base_dir, version=VERSION, episode=episode or "", width=width, height=height,
        model=model or "", seed=seed or 0, output=output, controlnet=controlnet, continuity=continuity,
        defaults=defaults,
        backgrounds=backgrounds, cuts=tuple(cuts), model_settings=models.read_top(ck, data),
        preview=previews.read(ck, data),
    )
    return shotlist, problems


def _round8(v: int) -> int:
    return max(64, min(8192, int(round(v / 8)) * 8))


_SIZE_RULE = "{}x{}: both sides must be multiples of 8 between 64 and 8192"


def _size_ok(width: int, height: int) -> bool:
    return all(64 <= v <= 8192 and v % 8 == 0 for v in (width, height))


def suggest_size(width: int, height: int, aspect: float | None = None) -> tuple[int, int] | None:
    """A valid size near `width` x `height` with `aspect` (default: its own) within ASPECT_TOLERANCE, so the
    suggestion passes the layout check as well as the size rule; None when no valid size has that aspect.

    The width is kept (rounded to 8) where a height fits it; else the nearest valid size that fits.
    """
    aspect = aspect or width / max(height, 1)

    def fits(w: int, h: int) -> bool:
        return abs((w / h) / aspect - 1) <= ASPECT_TOLERANCE

    w = _round8(width)
    h = _round8(w / aspect)
    if fits(w, h):
        return w, h
    sizes = [(w, h) for h in range(64, 8193, 8) if fits(w := _round8(h * aspect), h)]
    return min(sizes, key=lambda wh: abs(wh[0] - width) + abs(wh[1] - height), default=None)


def _size_fix(width: int, height: int, aspect: float | None = None, what: str = "") -> str:
    size = suggest_size(width, height, aspect)
    if size is None:
        return f"no valid size has {what or 'this'} aspect; e.g. [{_round8(width)}, {_round8(height)}]"
    return f"e.g. [{size[0]}, {size[1]}]" + (f", which has {what} aspect" if what else "")


def _parse_cuts(ck: _Checker, cuts_data: Any, backgrounds: dict[str, Background],
                frame: tuple[int, int] | None) -> list[Cut]:
    if cuts_data is None or cuts_data == []:
        ck.add(("cuts",) if cuts_data == [] else (), "the shot list has no cuts",
               "add cuts: with at least one '- id: C001' entry")
        return []
    if not isinstance(cuts_data, list):
        ck.add(("cuts",), f"must be a list of cuts, got {_show(cuts_data)}", "start each cut with '- id: '")
        return []
    cuts: list[Cut] = []
    seen: dict[str, tuple[int, str]] = {}  # id in lower case -> its cut's index and id
    used_bgs: set[str] = set()
    for i, cut_data in enumerate(cuts_data):
        path = ("cuts", i)
        if not isinstance(cut_data, dict):
            ck.add(path, f"a cut must be a mapping, got {_show(cut_data)}", "write '- id: C001' and its fields")
            continue
        cut_id = ck.ident(cut_data, path, "id", "cut")
        # keyed by the id in lower case: C001 and c001 name one file on a case-blind disk (macOS, SMB shares)
        if cut_id is not None and cut_id.lower() in seen:
            first, first_id = seen[cut_id.lower()]
            twice = "is used twice" if first_id == cut_id else \
                f"differs only in case from {first_id}, and a case-blind disk has one file for both"
            ck.add((*path, "id"), f"cut id {cut_id} {twice} (first at cut #{first + 1})",
                   "give every cut its own id", cut_id)
        elif cut_id is not None:
            seen[cut_id.lower()] = (i, cut_id)
        if cut_id is not None and cut_id.lower() == CONTACT_SHEET:  # lower: a case-blind disk has one name for both
            ck.add((*path, "id"), f"cut id {cut_id} names the report's contact sheet: its render would be "
                   f"<episode>_{cut_id}.png, the file the report writes the sheet to", "rename the cut", cut_id)
        reuse = cut_data.get("reuse")
        if reuse is not None:
            for key in cut_data:
                if key in CUT_KEYS and key not in REUSE_KEYS:
                    ck.add((*path, key), f"a reused cut takes its picture from the cut it reuses; '{key}' "
                           "has no effect", f"remove '{key}', or remove 'reuse' to render this cut", cut_id)
            ck.unknown_keys({k: v for k, v in cut_data.items() if k not in CUT_KEYS}, path, REUSE_KEYS, cut_id)
            reuse = ck.ident(cut_data, path, "reuse", "reused cut", cut_id)
            cuts.append(Cut(cut_id or f"#{i}", i, reuse=reuse, line=ck.line(path), **_cut_info(ck, cut_data, path,
                                                                                                  cut_id)))
            continue
        if not cut_data.keys() <= _CUT_KEY_SET:
            ck.unknown_keys(cut_data, path, CUT_KEYS, cut_id)
        layout = ck.text(cut_data, path, "layout", cut_id)
        if layout is None and "layout" not in cut_data:
            ck.add(path, "'layout' is missing", "add layout: layouts/<cut>.png, or reuse: <cut id>", cut_id)
        elif layout == "":
            ck.add((*path, "layout"), "is empty", "give the layout image's path", cut_id)
        bg = cut_data.get("bg")
        if bg is not None:
            if bg.__class__ is not str or bg not in backgrounds:  # a background's id is a valid id
                bg = ck.ident(cut_data, path, "bg", "background", cut_id, example="park")
                if bg is not None and bg not in backgrounds:
                    close = difflib.get_close_matches(bg, list(backgrounds), n=1)
                    fix = f"did you mean '{close[0]}'?" if close else "add it under backgrounds:"
                    ck.add((*path, "bg"), f"unknown background '{bg}'", fix, cut_id)
            used_bgs.add(bg or "")
        params = ck.params(cut_data, path, cut_id)
        frames = ck.integer(cut_data, path, "frames", 1, MAX_FRAMES, cut_id)
        move = _camera(ck, cut_data["camera"], (*path, "camera"), frames, frame, cut_id) \
            if cut_data.get("camera") is not None else None
        cuts.append(frozen_instance(Cut, {
            "id": cut_id or f"#{i}", "index": i, "layout": layout, "bg": bg, "reuse": None, "params": params,
            "line": ck.line(path), "layout_line": ck.line((*path, "layout")),
            "frames": frames, "notes": ck.text(cut_data, path, "notes", cut_id), "camera": move,
            "camera_lines": None if cut_data.get("camera") is None else
            tuple(ck.line((*path, "camera", *k)) for k in ((), ("from",), ("to",)))}))

    by_id = {c.id: c for c in cuts}
    loops: set[frozenset[str]] = set()
    for c in cuts:
        if c.reuse is None:
            if c.bg is None and c.id in backgrounds:
                ck.add(("cuts", c.index, "id"), f"cut {c.id} has no bg and its id is also a background's",
                       "give it bg: or rename the cut", c.id)
            continue
        path = ("cuts", c.index, "reuse")
        if c.reuse not in by_id:
            close = difflib.get_close_matches(c.reuse, list(by_id), n=1)
            fix = f"did you mean '{close[0]}'?" if close else "name a cut of this shot list"
            ck.add(path, f"reuses unknown cut '{c.reuse}'", fix, c.id)
            continue
        trail = [c.id]
        step = c
        while step.reuse is not None and step.reuse in by_id:
            if step.reuse in trail:
                members = trail[trail.index(step.reuse):]
                if frozenset(members) not in loops:
                    loops.add(frozenset(members))
                    loop = " -> ".join([*members, step.reuse])
                    ck.add(path, f"reuse loops: {loop}", "one cut of the loop must have its own layout", c.id)
                break
            trail.append(step.reuse)
            step = by_id[step.reuse]
    for bg_id in backgrounds:
        if bg_id not in used_bgs:
            ck.add(("backgrounds", bg_id), f"background '{bg_id}' is used by no cut", "remove it or use it",
                   warning=True)
    return cuts


def _camera(ck: _Checker, data: Any, path: tuple, cut_frames: int | None, frame: tuple[int, int] | None,
            cut: str | None) -> Move | None:
    """A cut's `camera:` block, checked (docs/camera.md); None when it has a problem (each one reported)."""
    data = ck.mapping(data, path, "camera")
    if not data:
        if data == {}:
            ck.add(path, "is empty", "give from:, to: and frames:, or remove camera: for a fixed frame", cut)
        return None
    ck.unknown_keys(data, path, CAMERA_KEYS, cut)
    ends = []
    for key in ("from", "to"):
        if key not in data:
            ck.add(path, f"'{key}' is missing", f"add {key}: {{x: 0, y: 0, width: 1024}} (layout pixels)", cut)
            ends.append(None)
            continue
        ends.append(_framing(ck, data[key], (*path, key), frame, cut))
    frames = data.get("frames", cut_frames)
    if "frames" in data:
        frames = ck.integer(data, path, "frames", 0, MAX_FRAMES, cut)
    if frames is None and "frames" not in data:
        ck.add(path, "'frames' is missing, and the cut has no frames: either",
               "add frames: 48 (the move's length in frames) to camera: or to the cut", cut)
    elif frames is not None and frames < 2:
        ck.add((*path, "frames") if "frames" in data else (*path[:-1], "frames"),
               f"a camera move takes at least 2 frames, got {frames}", "give the move's length in frames", cut)
        frames = None
    elif frames is not None and frames > MAX_MOVE_FRAMES:
        ck.add((*path, "frames") if "frames" in data else (*path[:-1], "frames"),
               f"a camera move takes at most {MAX_MOVE_FRAMES} frames (ten minutes at 24 fps), got {frames}",
               "give the move's length in frames; split a longer move into cuts", cut)
        frames = None
    easing = data.get("easing", "linear")
    if easing not in EASINGS:
        ck.add((*path, "easing"), f"must be one of {', '.join(EASINGS)}, got {_show(easing)}",
               "slow-in-out starts and stops gently; linear moves at one speed", cut)
        easing = None
    start, end = ends
    if start is not None and end is not None and start == end:
        ck.add((*path, "to"), "is the same framing as 'from': the camera does not move",
               "give 'to' another x, y or width, or remove camera: for a fixed frame", cut)
        return None
    if None in (start, end, frames, easing) or frame is None:
        return None
    return Move(start, end, frames, easing)


def _framing(ck: _Checker, data: Any, path: tuple, frame: tuple[int, int] | None, cut: str | None
             ) -> Framing | None:
    data = ck.mapping(data, path, path[-1])
    if not data:
        if data == {}:
            ck.add(path, "is empty", "give x, y and width in layout pixels", cut)
        return None
    ck.unknown_keys(data, path, FRAMING_KEYS, cut)
    values = {}
    for key in FRAMING_KEYS:
        if key not in data:
            if key != "height":
                ck.add(path, f"'{key}' is missing", f"add {key}: (layout pixels)", cut)
            continue
        value = ck.number(data, path, key, cut)
        if value is not None and (value < 0 if key in ("x", "y") else value <= 0):
            ck.add((*path, key), f"must be {'0 or more' if key in ('x', 'y') else 'more than 0'}, got {value:g}",
                   "framings are measured in layout pixels from its top-left corner", cut)
            value = None
        values[key] = value
    if None in values.values() or len(values) < 3 or frame is None:
        return None
    height = values["width"] * frame[1] / frame[0]
    if "height" in values and abs(values["height"] - height) > EDGE_TOLERANCE:
        ck.add((*path, "height"), f"a {values['width']:g}-wide framing at the episode's aspect "
               f"({frame[0]}x{frame[1]}) is {height:g} high, not {values['height']:g}",
               "leave height out (it follows from width), or mark the framing at the episode's aspect", cut)
        return None
    return Framing(values["x"], values["y"], values["width"], height)


def _cut_info(ck: _Checker, cut_data: dict, path: tuple, cut_id: str | None) -> dict:
    return {"frames": ck.integer(cut_data, path, "frames", 1, MAX_FRAMES, cut_id),
            "notes": ck.text(cut_data, path, "notes", cut_id)}


def _warn_empty_prompts(ck: _Checker, cuts: list[Cut], defaults: Params, backgrounds: dict[str, Background]):
    """A cut with no prompt text at any level is painted from the layout alone: allowed, but worth a word."""
    if defaults.prompt and defaults.prompt.strip():
        return  # every cut has one
    for c in cuts:
        if c.reuse is not None:
            continue
        bg = backgrounds.get(c.bg) if c.bg else None
        texts = (c.params.prompt, bg.params.prompt if bg else None, defaults.prompt)
        if not any(t and t.strip() for t in texts):
            ck.add(("cuts", c.index), "no prompt at any level (cut, background or defaults)",
                   "write a prompt on the cut, its background or under defaults", c.id, warning=True)


# ---------------------------------------------------------------------------------------------- files


def load(path: str | Path, allow_outside: bool = False) -> ShotList:
    """Read a shot list file and check the layouts it names. Raises ShotListError with every problem."""
    shotlist, problems = load_with_warnings(path, allow_outside)
    if shotlist is None:
        raise ShotListError(problems)
    return shotlist


def load_with_warnings(path: str | Path, allow_outside: bool = False) -> tuple[ShotList | None, list[Problem]]:
    """Like `load`, but also returns warnings; the shot list is None when any problem is an error.

    Layouts and `output` must lie under the shot list's folder, symlinks resolved, unless `allow_outside`
    (`--allow-outside-paths`): a shot list from elsewhere cannot make shotrender read or write beyond it.
    """
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_SHOTLIST_BYTES:
            return None, [Problem(source, None, "", f"the file is {size / 2**20:.0f} MB; shot lists are read up to "
                                  f"{MAX_SHOTLIST_BYTES // 2**20} MB (a 30,000-cut episode takes about 3 MB)",
                                  "check that this is the shot list; split a larger one by episode")]
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, [Problem(source, None, "", "file not found", "check the path")]
    except OSError as e:
        return None, [Problem(source, None, "", f"cannot read the file: {e.strerror}", "check permissions")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        return None, [Problem(source, line, "", "the file is not UTF-8 text", "save it as UTF-8")]
    base_dir = path.parent.resolve()  # absolute once, so every path derived from it is absolute too
    shotlist, problems = _parse(text, source, base_dir)
    if shotlist is not None:
        file_problems = check_files(shotlist, allow_outside)
        if file_problems and shotlist.cuts and shotlist.cuts[0].line is None:
            # Read again with line numbers, so the layout messages can point at their lines.
            shotlist, problems = _parse(text, source, base_dir, careful=True)
            file_problems = check_files(shotlist, allow_outside)
        problems += [replace(p, line=top_key_line(text, p.field)) if p.line is None and p.field in TOP_KEYS else p
                     for p in file_problems]
        if (shotlist.width and not _size_ok(shotlist.width, shotlist.height)
                and not any(p.fix == OUTSIDE_FIX for p in file_problems)):  # layouts outside stay unopened
            problems = _fit_size_to_layouts(shotlist, problems)
    if any(not p.warning for p in problems):
        return None, problems
    return shotlist, problems


def top_key_line(text: str, key: str) -> int | None:
    """The line of a top-level key in a shot list's text, for messages about values checked after parsing."""
    m = re.search(rf"(?m)^{re.escape(key)}[ \t]*:", text)
    return text.count("\n", 0, m.start()) + 1 if m else None


OUTSIDE_FIX = ("keep it under the shot list's folder, or give --allow-outside-paths if you trust this shot list")


def _outside(value: str, base_dir: Path) -> str | None:
    """None when the path `value` (relative to `base_dir`, itself resolved) stays under it with symlinks
    resolved; else a message saying where it leads."""
    path = base_dir / Path(value).expanduser()
    resolved = path.resolve()
    if resolved.is_relative_to(base_dir):
        return None
    plain = Path(os.path.normpath(path))
    if not plain.is_relative_to(base_dir):
        where = "" if Path(value).is_absolute() else f" (it is {resolved})"
        return f"{value} is outside the shot list's folder{where}"
    inside = plain.relative_to(base_dir)
    link = next(part for part in (base_dir / Path(*inside.parts[:n]) for n in range(1, len(inside.parts) + 1))
                if part.is_symlink())
    return f"{value} leads outside the shot list's folder: {link.relative_to(base_dir)} is a symlink to " \
           f"{link.resolve()}"


OUTPUT_FIX = "write the renders to a folder of their own, such as renders/<episode>"
THUMBS = "thumbs"  # the report's thumbnails, under the output folder
# the folders render and report write files into, relative to the output folder
WRITTEN_FOLDERS = ("", THUMBS, "sheets", "takes", "retouch")
_WRITES = {THUMBS: "the report writes its thumbnails there", "sheets": "render writes its sheets there",
           "takes": "render keeps every take of a cut there",
           "retouch": "retouch export writes its layered files there and render reads the retouches there"}


def output_problems(shotlist: ShotList, folder: Path | None = None,
                    allow_outside: bool = False) -> list[tuple[str, str]]:
    """What is wrong with an output folder, as (message, fix) pairs; none when render and report may write there.

    `folder` is a `--out` folder (relative to the current folder); None means the shot list's own (`output:`
    or the default renders/<episode>). The folder, and thumbs/ under it, must not be a file, must not hold a
    layout the shot list names (render would write its PNGs over layouts named like renders), and must not
    lead outside the shot list's folder through a symlink unless `allow_outside`. A `--out` folder given
    outside the shot list's folder is the user's own choice and is not held to that last rule.
    """
    base = shotlist.base_dir
    written = shotlist.output or f"renders/{shotlist.episode}"
    path = base / Path(written).expanduser() if folder is None else Path(os.path.abspath(folder))
    shown = written if folder is None else str(folder)
    if "\0" in shown:
        return [(f"{shown!r} contains a NUL character", "name a folder without one")]
    found: list[tuple[str, str]] = []
    if not allow_outside:
        plain = Path(os.path.normpath(path))
        if folder is None:
            message = _outside(written, base)
        else:
            message = _outside(str(plain), base) if plain.is_relative_to(base) else None
        if message:
            return [(message, OUTSIDE_FIX)]  # nothing outside is looked at
    for sub in WRITTEN_FOLDERS:
        target = path / sub if sub else path
        name = f"{shown}/{sub}" if sub else shown
        if sub and target.is_symlink():
            found.append((f"{name} is a symlink; {_WRITES[sub]}",
                          f"remove {name} and run again"))
        elif os.path.lexists(target) and not target.is_dir():
            found.append((f"{name} is not a folder", "name a folder, or move the file away"))
    blocking = next((p for p in path.parents if os.path.lexists(p) and not p.is_dir()), None)
    if blocking is not None:
        found.append((f"{shown} cannot be made: {blocking} is a file", "name a folder, or move the file away"))
    # A layout at the folder's own name is a file there, refused above; one inside it is found by its folder.
    folders = {os.path.realpath(path / sub) for sub in WRITTEN_FOLDERS}
    parents: dict[str, str] = {}  # a layout's folder as written -> resolved: one resolve per folder
    links: dict[str, set[str]] = {}  # a resolved layout folder -> the names of the symlinks in it
    for cut in shotlist.cuts:
        if cut.layout is None or "\0" in cut.layout:  # such a layout is a problem of its own
            continue
        parent = os.path.dirname(cut.layout)  # strings, not Paths: 30,000 cuts in 50 ms, not 440
        real = parents.get(parent)
        if real is None:
            real = parents[parent] = os.path.realpath(base / Path(parent).expanduser())
        if real in folders:
            found.append((f"{shown} holds the layout {cut.layout} (cut {cut.id}): render and report write "
                          "there, and a render named like a layout would replace it", OUTPUT_FIX))
            break
        # a layout that is itself a symlink into the folder: the render's rename replaces the file it points at.
        # One scandir per layout folder finds its symlinks (a 30,000-cut folder in 10 ms, lstat per cut 300 ms).
        if real not in links:
            links[real] = _symlinks_in(real)
        file = os.path.join(real, os.path.basename(cut.layout))
        if os.path.basename(cut.layout) in links[real] and os.path.dirname(os.path.realpath(file)) in folders:
            found.append((f"the layout {cut.layout} (cut {cut.id}) is a symlink to {os.path.realpath(file)} in "
                          f"{shown}: render and report write there, and a render named like it would replace it",
                          OUTPUT_FIX))
            break
    return found


def _symlinks_in(folder: str) -> set[str]:
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries if entry.is_symlink()}
    except OSError:  # no such folder: the layouts' own problem
        return set()


def check_output(shotlist: ShotList, folder: Path | None = None, allow_outside: bool = False) -> Path:
    """The output folder to write or read, checked: `folder` (`--out`) or the shot list's own.

    Every command that uses an output folder asks this. Raises UsageError naming `--out`, or ShotListError
    with the `output:` line, before anything is written.
    """
    problems = output_problems(shotlist, folder, allow_outside)
    if folder is not None:
        if problems:
            raise UsageError("; ".join(f"--out {message}; {fix}" for message, fix in problems))
        return Path(folder)
    if problems:
        try:
            line = top_key_line(Path(shotlist.source).read_text(encoding="utf-8-sig"), "output")
        except (OSError, UnicodeDecodeError):
            line = None
        raise ShotListError([Problem(shotlist.source, line, "output", message, fix) for message, fix in problems])
    return shotlist.output_dir


def check_files(shotlist: ShotList, allow_outside: bool = False) -> list[Problem]:
    """Check every layout the shot list names, the model path if it is a local one, the output folder
    (`output_problems`), and that layouts stay under the shot list's folder (unless `allow_outside`)."""
    output = [Problem(shotlist.source, None, "output", message, fix)
              for message, fix in output_problems(shotlist, None, allow_outside)]
    problems: list[Problem] = []
    if not allow_outside:
        base = shotlist.base_dir
        outside: dict[str, str | None] = {}
        for cut in shotlist.cuts:
            if cut.layout is None:
                continue
            if cut.layout not in outside:
                outside[cut.layout] = _outside(cut.layout, base)
            if outside[cut.layout]:
                problems.append(Problem(shotlist.source, cut.layout_line, f"cuts[{cut.index}].layout",
                                        outside[cut.layout], OUTSIDE_FIX, cut.id))
        if problems or any(p.fix == OUTSIDE_FIX for p in output):
            return output + problems  # nothing outside is opened, not even to read a header
    headers: dict[str, tuple[int, int] | Problem] = {}  # by the path as written: one read per file
    listings: dict[Path, dict[str, str]] = {}  # a folder's file names by their lower case, for suggestions
    target = shotlist.width / shotlist.height if _size_ok(shotlist.width, shotlist.height) else None
    for cut in shotlist.cuts:
        if cut.layout is None:
            continue
        header = headers.get(cut.layout)
        if header is None:
            header = headers[cut.layout] = _layout_header(shotlist.layout_path(cut))
        if isinstance(header, tuple) and cut.camera_lines is not None:  # a moving cut's layout is any size
            problems += _camera_problems(shotlist, cut, header) if cut.camera is not None else []
            continue
        if isinstance(header, tuple) and not (target and abs((header[0] / header[1]) / target - 1) > ASPECT_TOLERANCE):
            continue
        where = (shotlist.source, cut.layout_line, f"cuts[{cut.index}].layout")
        if isinstance(header, Problem):
            fix = header.fix
            if header is _NOT_FOUND and len(problems) < MAX_SUGGESTED:
                fix = _close_files(cut.layout, shotlist.layout_path(cut), listings) or fix
            problems.append(Problem(*where, f"{cut.layout}: {header.message}", fix, cut.id))
            continue
        w, h = header
        if target and abs((w / h) / target - 1) > ASPECT_TOLERANCE:
            problems.append(Problem(
                *where, f"{cut.layout} is {w}x{h}, aspect {w / h:.3f}; size is "
                f"{shotlist.width}x{shotlist.height}, aspect {target:.3f}",
                "redraw or crop the layout to the episode's aspect, or change size", cut.id))
    for key in ("model", "controlnet"):
        value = getattr(shotlist, key)
        if value and value != "draft" and _looks_like_path(value, shotlist.base_dir):
            resolved = Path(shotlist.resolve_path_or_id(value))
            if not resolved.exists():
                problems.append(Problem(
                    shotlist.source, None, key, f"'{value}' does not exist in {shotlist.base_dir} (the shot list's "
                    f"folder); it is read as a path, as {path_reason(value, shotlist.base_dir)}", _path_fix(key)))
    problems += models.file_problems(shotlist, lambda *where: Problem(shotlist.source, *where))
    problems += boards.file_problems(shotlist, lambda *where: Problem(shotlist.source, *where))
    return output + problems


def _camera_problems(shotlist: ShotList, cut: Cut, layout: tuple[int, int]) -> list[Problem]:
    """A moving cut's framings against its layout's size, and its deliverable against the caps."""
    problems = []
    lines = cut.camera_lines or (None, None, None)
    for key, f, line in (("from", cut.camera.start, lines[1]), ("to", cut.camera.end, lines[2])):
        if f.right > layout[0] + EDGE_TOLERANCE or f.bottom > layout[1] + EDGE_TOLERANCE:
            problems.append(Problem(
                shotlist.source, line, f"cuts[{cut.index}].camera.{key}",
                f"the framing x {f.x:g}..{f.right:g}, y {f.y:g}..{f.bottom:g} goes outside the layout "
                f"{cut.layout} ({layout[0]}x{layout[1]})",
                "mark the framing inside the layout, or draw the layout over all of the camera's travel", cut.id))
    if problems:
        return problems
    move = cut.camera
    scale = shotlist.width / move.tightest.width
    # in floats first: a framing a hair wide makes a deliverable whose pixel count no float holds (or an
    # infinite scale), which its exact size below cannot be worked out from
    span = ((max(move.start.right, move.end.right) - min(move.start.x, move.end.x)) * scale,
            (max(move.start.bottom, move.end.bottom) - min(move.start.y, move.end.y)) * scale)
    if not math.isfinite(span[0] * span[1]):
        return [Problem(
            shotlist.source, lines[0], f"cuts[{cut.index}].camera",
            f"the background this move travels over is about {span[0]:.4g}x{span[1]:.4g} at the tightest "
            f"framing's scale: over {MAX_SIDE} px on a side, more than image tools load",
            "shorten the move or widen its tightest framing", cut.id)]
    w, h = deliver(move, (shotlist.width, shotlist.height)).size
    cap = shotlist.continuity_for(cut.bg).max_sheet_pixels
    if w * h > cap or max(w, h) > MAX_SIDE:
        why = (f"{w * h / 1e6:.1f} megapixels, over continuity.max_sheet_pixels ({cap / 1e6:.1f})" if w * h > cap
               else f"over {MAX_SIDE} px on a side, more than image tools load")
        problems.append(Problem(
            shotlist.source, lines[0], f"cuts[{cut.index}].camera",
            f"the background this move travels over is {w}x{h} at the tightest framing's scale: {why}",
            "shorten the move, widen its tightest framing, or raise continuity.max_sheet_pixels", cut.id))
    return problems


def _fit_size_to_layouts(shotlist: ShotList, problems: list[Problem]) -> list[Problem]:
    """The size problem's suggestion made with the layouts' aspect when they share one, so that applying it
    does not trade the size problem for an aspect one (1280x700 over 1280x720 layouts: [1280, 720])."""
    aspects = []
    for layout in dict.fromkeys(c.layout for c in shotlist.cuts if c.layout):
        header = _layout_header(shotlist.base_dir / layout)
        if isinstance(header, tuple):
            aspects.append(header[0] / header[1])
    if not aspects or any(abs(a / aspects[0] - 1) > ASPECT_TOLERANCE for a in aspects):
        return problems  # no layout to fit, or they disagree and each is reported when the size is valid
    rule = _SIZE_RULE.format(shotlist.width, shotlist.height)
    fix = _size_fix(shotlist.width, shotlist.height, aspects[0], "the layouts'")
    return [replace(p, fix=fix) if p.field == "size" and p.message == rule else p for p in problems]


_NOT_FOUND = Problem("", None, "", "file not found", "check the path (relative to the shot list)")
# Suggestions compare a name with every file in its folder; past this many problems (a folder renamed
# wholesale) the plain message is enough and a 30,000-cut shot list is still checked at once.
MAX_SUGGESTED = 100


def _close_files(written: str, path: Path, listings: dict[Path, dict[str, str]]) -> str | None:
    """'did you mean layouts/C001.png?' for a layout that is not there: the closest file names in its folder,
    case ignored (C01.png for C001.png, c001.png for C001.png)."""
    folder = path.parent
    if folder not in listings:
        try:
            with os.scandir(folder) as entries:
                listings[folder] = {e.name.lower(): e.name for e in entries if e.is_file()}
        except OSError:
            listings[folder] = {}
    names = listings[folder]
    close = difflib.get_close_matches(path.name.lower(), list(names), n=3, cutoff=0.6)
    if not close:
        return None
    prefix = written[: len(written) - len(path.name)] if written.endswith(path.name) else ""
    return f"did you mean {' or '.join(prefix + names[c] for c in close)}? (paths are relative to the shot list)"


def _path_fix(key: str) -> str:
    if key == "controlnet":
        return "give a ControlNet folder that exists (config.json and the weights)"
    return f"give a diffusers folder or .safetensors file that exists, or a hub id: owner/name, e.g. {HUB_ID_EXAMPLE}"


def _layout_header(path: Path) -> tuple[int, int] | Problem:
    """Width and height from the image header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        return _NOT_FOUND
    if not path.is_file():
        return Problem("", None, "", "is not a file", "give the path of an image")
    if path.stat().st_size == 0:
        return Problem("", None, "", "is empty (0 bytes)", "export the layout again")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            if im.format not in LAYOUT_FORMATS:
                return Problem("", None, "", f"{im.format} images are not read",
                               f"save it as one of {', '.join(LAYOUT_FORMATS)}")
            w, h = im.size
            if w * h > MAX_LAYOUT_PIXELS:
                return Problem("", None, "", f"is {w}x{h} ({w * h / 1e6:.0f} megapixels); layouts are read up to "
                               f"{MAX_LAYOUT_PIXELS // 1_000_000} megapixels", "export it at the episode's size")
            # Truncated or damaged data would otherwise surface in the middle of a render: a PNG's chunk
            # checksums are checked without decoding; other formats are decoded.
            if im.format == "PNG":
                im.verify()
            else:
                im.load()
            return w, h
    except UnidentifiedImageError:
        return Problem("", None, "", "is not an image", "export the layout as PNG")
    except Image.DecompressionBombError:
        return Problem("", None, "", f"has more than {MAX_LAYOUT_PIXELS // 1_000_000} megapixels",
                       "export it at the episode's size")
    except (OSError, SyntaxError, ValueError) as e:
        return Problem("", None, "", f"is damaged or truncated ({e})", "export the layout again")
