"""Checking a shot list: every problem in one pass, each with file:line, the field, the cut id and how to
fix it; `parse` turns text into a ShotList without opening a file."""

from __future__ import annotations

import difflib
import gc
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shotrender import art_board as boards
from shotrender import model_settings as models
from shotrender import preview as previews
from shotrender import trackers
from shotrender.camera import EASINGS, EDGE_TOLERANCE, MAX_MOVE_FRAMES, Framing, Move
from shotrender.errors import Problem, ShotListError
from shotrender.shotlist import hints
from shotrender.shotlist.reader import REPEATED, _fmt, _NotPlain, _read_plain, _read_yaml
from shotrender.shotlist.schema import (
    _CUT_KEY_SET,
    ASPECT_TOLERANCE,
    BG_KEYS,
    CAMERA_KEYS,
    CONTACT_SHEET,
    CONTINUITY_FIELDS,
    CUT_KEYS,
    CUT_PARAMS,
    FLOW_PRESETS,
    FRAMING_KEYS,
    ID_RE,
    MAX_FRAMES,
    MAX_ID_LENGTH,
    MAX_SEED,
    NUMBER_EXAMPLES,
    REUSE_KEYS,
    TOP_KEYS,
    VARIANT_KEYS,
    VERSION,
    Background,
    Continuity,
    Cut,
    Params,
    ShotList,
    Variant,
    frozen_instance,
)

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
    read: list[Problem] = []  # the YAML's own problems
    with gc_paused():
        if careful:
            data, lines = _read_yaml(text, source, read, track=True)
            # a key given twice spoils nothing else (its first value is kept): the rest of the file is checked
            # too, every problem said at once. A value that could not be read is None, which the checks would
            # report again in their own words.
            if any(not p.message.endswith(REPEATED) for p in read):
                return None, read
        else:
            try:
                data, lines = _read_plain(text), {}
            except _NotPlain:
                return _parse(text, source, base_dir, careful=True)
        shotlist, problems = _check(data, lines, source, base_dir)
    if problems and not careful:
        return _parse(text, source, base_dir, careful=True)
    return shotlist, read + problems


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
    retake_model = ck.text(data, (), "retake_model")
    if retake_model == "":
        ck.add(("retake_model",), "is empty", "give a FLUX.1 Kontext or Qwen-Image-Edit diffusers folder, or remove "
               "retake_model:")
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
                                        boards.read(ck, bg_data, path), _variants(ck, bg_data, path))

    cuts = _parse_cuts(ck, data.get("cuts"), backgrounds, (width, height) if _size_ok(width, height) else None)
    _warn_empty_prompts(ck, cuts, defaults, backgrounds)
    _warn_no_background(ck, cuts, backgrounds)

    # Returned even with problems, so the layout checks can still report on the cuts that parsed.
    shotlist = ShotList(
        source=source, base_dir=base_dir, version=VERSION, episode=episode or "", width=width, height=height,
        model=model or "", seed=seed or 0, output=output, controlnet=controlnet, continuity=continuity,
        defaults=defaults,
        backgrounds=backgrounds, cuts=tuple(cuts), model_settings=models.read_top(ck, data),
        preview=previews.read(ck, data),
        tracker=trackers.read(ck, data), retake_model=retake_model or None,
    )
    hints.check(ck, shotlist)
    return shotlist, problems


def _variants(ck: _Checker, bg_data: dict, path: tuple) -> dict[str, Variant]:
    """A background's `variants:` (docs/shotlist.md#variants), each checked; the ones with a problem left out."""
    where = (*path, "variants")
    block = ck.mapping(bg_data.get("variants"), where, "variants")
    out: dict[str, Variant] = {}
    if "variants" in bg_data and block == {}:
        ck.add(where, "is empty", "give each variant a name and its words, e.g. variants: {night: {prompt: night}}")
    for name, data in (block or {}).items():
        vpath = (*where, name)
        if not isinstance(name, str) or not ID_RE.match(name) or len(name) > MAX_ID_LENGTH:
            ck.add(vpath, f"variant name {_show(name)} may use only letters, digits, '_' and '-' (at most "
                   f"{MAX_ID_LENGTH})", "rename it, e.g. night")
            continue
        data = ck.mapping(data, vpath, f"variant '{name}'")
        if data is None:
            continue
        ck.unknown_keys(data, vpath, VARIANT_KEYS)
        # steps and guidance are the place's: a variant is a repaint of its painting, not another place
        params = ck.params({k: v for k, v in data.items() if k in VARIANT_KEYS}, vpath)
        out[name] = Variant(name, params, boards.read(ck, data, vpath), ck.line(vpath))
    return out


def _round8(v: float, multiple: int = 8) -> int:
    """`v` rounded to a multiple of `multiple` (8, or a model family's 16) within 64..8192."""
    return max(64, min(8192 // multiple * multiple, int(round(v / multiple)) * multiple))


_SIZE_RULE = "{}x{}: both sides must be multiples of 8 between 64 and 8192"


def _size_ok(width: int, height: int) -> bool:
    return all(64 <= v <= 8192 and v % 8 == 0 for v in (width, height))


def suggest_size(width: int, height: int, aspect: float | None = None, multiple: int = 8) -> tuple[int, int] | None:
    """A valid size near `width` x `height` with `aspect` (default: its own) within ASPECT_TOLERANCE, so the
    suggestion passes the layout check as well as the size rule; None when no valid size has that aspect.

    The width is kept (rounded to `multiple`) where a height fits it; else the nearest valid size that fits.
    """
    aspect = aspect or width / max(height, 1)

    def fits(w: int, h: int) -> bool:
        return abs((w / h) / aspect - 1) <= ASPECT_TOLERANCE

    w = _round8(width, multiple)
    h = _round8(w / aspect, multiple)
    if fits(w, h):
        return w, h
    sizes = [(w, h) for h in range(64, 8193, multiple) if fits(w := _round8(h * aspect, multiple), h)]
    return min(sizes, key=lambda wh: abs(wh[0] - width) + abs(wh[1] - height), default=None)


def _size_fix(width: int, height: int, aspect: float | None = None, what: str = "", multiple: int = 8) -> str:
    size = suggest_size(width, height, aspect, multiple)
    if size is None:
        return (f"no valid size has {what or 'this'} aspect; e.g. [{_round8(width, multiple)}, "
                f"{_round8(height, multiple)}]")
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
    used_variants: set[tuple[str, str]] = set()
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
        if True in cut_data:  # YAML 1.1 reads the key `on` as true: the hint `on:` (docs/shotlist.md#hints)
            cut_data = _on_key(ck, cut_data, path)
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
        variant = _cut_variant(ck, cut_data, path, backgrounds.get(bg) if bg else None, cut_id)
        if variant is not None:
            used_variants.add((bg, variant))
        params = ck.params(cut_data, path, cut_id)
        frames = ck.integer(cut_data, path, "frames", 1, MAX_FRAMES, cut_id)
        move = _camera(ck, cut_data["camera"], (*path, "camera"), frames, frame, cut_id) \
            if cut_data.get("camera") is not None else None
        cuts.append(frozen_instance(Cut, {
            "id": cut_id or f"#{i}", "index": i, "layout": layout, "bg": bg, "variant": variant, "reuse": None,
            "params": params,
            "line": ck.line(path), "layout_line": ck.line((*path, "layout")),
            "frames": frames, "notes": ck.text(cut_data, path, "notes", cut_id), "camera": move,
            "camera_lines": None if cut_data.get("camera") is None else
            tuple(ck.line((*path, "camera", *k)) for k in ((), ("from",), ("to",))),
            "hint": hints.read(ck, cut_data, path, cut_id)}))

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
        for name in backgrounds[bg_id].variants:
            if bg_id in used_bgs and (bg_id, name) not in used_variants:
                ck.add(("backgrounds", bg_id, "variants", name), f"variant '{name}' of background '{bg_id}' is "
                       "used by no cut: nothing is painted for it", f"give a cut of {bg_id} variant: {name}, or "
                       "remove it", warning=True)
    return cuts


def _on_key(ck: _Checker, cut_data: dict, path: tuple) -> dict:
    """The cut's mapping with the key true (how YAML 1.1 reads `on`) named `on` again, its lines too."""
    if ck.lines:
        for where, line in list(ck.lines.items()):
            if where[:len(path) + 1] == (*path, True):
                ck.lines.setdefault((*path, "on", *where[len(path) + 1:]), line)
    return {("on" if key is True else key): value for key, value in cut_data.items()}


def _cut_variant(ck: _Checker, cut_data: dict, path: tuple, bg: Background | None, cut: str | None) -> str | None:
    """A cut's `variant:`, which must name a variant of its background; None when unset or wrong."""
    value = cut_data.get("variant")
    if value is None:
        return None
    if not isinstance(value, str):
        ck.add((*path, "variant"), f"must be a variant's name, got {_show(value)}", "e.g. variant: night", cut)
        return None
    if bg is None:
        fix = "give the cut a bg: whose variants: list it" if "bg" not in cut_data else "fix its bg: first"
        ck.add((*path, "variant"), f"variant '{value}' without a background: a variant is of a place", fix, cut)
        return None
    if value not in bg.variants:
        close = difflib.get_close_matches(value, list(bg.variants), n=1)
        fix = (f"did you mean '{close[0]}'?" if close else
               f"its variants are {', '.join(bg.variants)}" if bg.variants else
               f"add it under backgrounds: {bg.id}: variants: {value}: {{prompt: ...}}")
        ck.add((*path, "variant"), f"background '{bg.id}' has no variant '{value}'", fix, cut)
        return None
    return value


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


def _warn_no_background(ck: _Checker, cuts: list[Cut], backgrounds: dict[str, Background]):
    """In an episode with backgrounds, a cut without `bg:` is painted alone: in no sheet, with none of a
    background's words, seed or art board. Allowed (a one-off insert), but more often forgotten."""
    if not backgrounds:
        return
    names = ", ".join(list(backgrounds)[:5]) + (", ..." if len(backgrounds) > 5 else "")
    for c in cuts:
        if c.bg is None and c.reuse is None:
            ck.add(("cuts", c.index), "no bg: it is painted alone, in no sheet, without any background's prompt, "
                   "seed or art board", f"add bg: (one of {names}) if it shows one of them", c.id, warning=True)


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




# What the draft backend does not read (backends/draft: DraftBackend.reads), named here so that validating
# imports no backend; a test holds the two together.
DRAFT_UNREAD = ("negative", "steps", "guidance", "loras")


def unread_warnings(shotlist: ShotList, text: str) -> list[Problem]:
    """A parameter the model's backend does not read changes no picture: a warning (`validate`), once per place
    it is written (defaults, a background, a variant, a cut), on the line of the first one there. The text is
    read again with lines only when there is something to say."""
    if shotlist.model == "draft":
        unread, why = DRAFT_UNREAD, ("the draft backend paints colour keys from the prompt, seed, strength and "
                                     "art board only", "they take effect once model: names a diffusion model")
    elif not shotlist.model_settings.ip_adapter:
        unread, why = ("art_board",), ("a diffusion model reads the art board only through an IP-Adapter",
                                       "give ip_adapter: at the top (docs/models.md), or remove art_board")
    else:
        return []
    levels = [(("defaults",), shotlist.defaults, None, None)]
    for bg in shotlist.backgrounds.values():
        levels.append((("backgrounds", bg.id), bg.params, bg.art_board, None))
        levels += [(("backgrounds", bg.id, "variants", v.name), v.params, v.art_board, None)
                   for v in bg.variants.values()]
    levels += [(("cuts", c.index), c.params, None, c.id) for c in shotlist.cuts if c.reuse is None]
    found = []
    for path, params, board, cut in levels:
        written = [k for k in unread if (board if k == "art_board" else getattr(params, k)) is not None]
        if written:
            found.append((path, written, cut))
    if not found:
        return []
    problems: list[Problem] = []
    _, lines = _read_yaml(text, shotlist.source, [], track=True)
    ck = _Checker(shotlist.source, lines, problems)
    for path, written, cut in found:
        written.sort(key=lambda k: lines.get((*path, k), 0))  # as the file has them
        these = "this changes" if len(written) == 1 else "these change"
        ck.add((*path, written[0]), f"{', '.join(written)}: {why[0]}, so {these} no picture", why[1], cut,
               warning=True)
    return problems
