"""What a shot list names on disk: its layouts (headers read, not pixels), the model path, the output
folder, and paths that would lead outside the shot list's folder; `load` reads a file and checks them all."""

from __future__ import annotations

import difflib
import io
import math
import os
import re
import stat
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from shotrender import art_board as boards
from shotrender import model_settings as models
from shotrender.camera import EDGE_TOLERANCE, MAX_SIDE, deliver
from shotrender.errors import Problem, ShotListError, UsageError
from shotrender.files import read_named_image
from shotrender.shotlist import hints
from shotrender.shotlist.schema import (
    ASPECT_TOLERANCE,
    HUB_ID_EXAMPLE,
    LAYOUT_FORMATS,
    MAX_LAYOUT_PIXELS,
    MAX_SHOTLIST_BYTES,
    TOP_KEYS,
    Cut,
    ShotList,
    _looks_like_path,
    path_reason,
)
from shotrender.shotlist.validation import _SIZE_RULE, _parse, _size_fix, _size_ok, unread_warnings

# ---------------------------------------------------------------------------------------------- files


def load(path: str | Path, allow_outside: bool = False) -> ShotList:
    """Read a shot list file and check the layouts it names. Raises ShotListError with every problem."""
    shotlist, problems = load_with_warnings(path, allow_outside)
    if shotlist is None:
        raise ShotListError(problems)
    return shotlist


def load_with_warnings(path: str | Path, allow_outside: bool = False, unread: bool = False
                       ) -> tuple[ShotList | None, list[Problem]]:
    """Like `load`, but also returns warnings; the shot list is None when any problem is an error. `unread`:
    also warn of parameters the model's backend does not read (`validate`; validation.unread_warnings).

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
    if unread:
        problems += unread_warnings(shotlist, text)
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


@dataclass(frozen=True)
class Named:
    """A file (or, where `folder_ok`, a folder) a shot list names besides its layouts, and where it is written."""

    value: str  # as written, relative to the shot list's folder
    line: int | None
    field: str
    cut: str | None = None
    folder_ok: bool = False  # a diffusers VAE or ControlNet folder


def named_files(shotlist: ShotList) -> list[Named]:
    """Every file a shot list names besides its layouts: art boards, LoRAs (the preview's too), the VAE, the
    IP-Adapter, a ControlNet given as a path."""
    out = [Named(bg.art_board.image, bg.art_board.line, f"backgrounds.{bg.id}.art_board.image")
           for bg in shotlist.backgrounds.values() if bg.art_board is not None]
    levels = models.lora_levels(shotlist)
    if shotlist.preview is not None:
        levels.append((shotlist.preview.loras, "preview.loras", None))
    out += [Named(lora.file, lora.line, f"{where}[{i}].file", cut)
            for loras, where, cut in levels for i, lora in enumerate(loras)]
    settings = shotlist.model_settings
    out += [Named(settings.vae, None, "vae", folder_ok=True)] if settings.vae else []
    out += [Named(settings.ip_adapter, None, "ip_adapter")] if settings.ip_adapter else []
    if shotlist.controlnet and _looks_like_path(shotlist.controlnet, shotlist.base_dir):
        out.append(Named(shotlist.controlnet, None, "controlnet", folder_ok=True))
    return out


def path_problem(value: str, base_dir: Path, allow_outside: bool, folder_ok: bool = False) -> tuple[str, str] | None:
    """The one path rule for a file a shot list names (layouts, art boards, LoRAs, VAE, IP-Adapter, ControlNet):
    under the shot list's folder, symlinks resolved, unless `allow_outside`; a regular file (or a folder, where
    `folder_ok`), so a FIFO or a device is refused before anything opens it. (message, fix), or None when the
    path may be read; a path that does not exist passes here, for its kind to say what it should be. Reading
    is files.read_named_image's (images) or files.open_regular's (weights): regular files, without blocking."""
    if "\0" in value:
        return f"{value!r} contains a NUL character", "name the file without one"
    if not allow_outside:
        message = _outside(value, base_dir)
        if message:
            return message, OUTSIDE_FIX
    try:
        mode = os.stat(base_dir / Path(value).expanduser()).st_mode
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"{value} cannot be looked at ({e.strerror})", "check the path and its folders' permissions"
    if stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode)):
        return None
    what = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a device or a socket")
    return f"{value} is {what}, not a file", "name the file itself"


def check_files(shotlist: ShotList, allow_outside: bool = False) -> list[Problem]:
    """Check every file the shot list names: each under the one path rule (`path_problem`) before anything
    is opened, then each layout's header, the model path if it is a local one, LoRAs, VAE, IP-Adapter and art
    boards for what they must be; and the output folder (`output_problems`)."""
    output = [Problem(shotlist.source, None, "output", message, fix)
              for message, fix in output_problems(shotlist, None, allow_outside)]
    problems: list[Problem] = []
    refused: set[str] = set()  # named files the path rule refused: their kinds' checks do not open them
    for named in named_files(shotlist):
        found = path_problem(named.value, shotlist.base_dir, allow_outside, named.folder_ok)
        if found:
            refused.add(named.value)
            problems.append(Problem(shotlist.source, named.line, named.field, *found, named.cut))
    ruled: dict[str, tuple[str, str] | None] = {}  # by the layout as written: one look per file
    for cut in shotlist.cuts:
        if cut.layout is None:
            continue
        if cut.layout not in ruled:
            ruled[cut.layout] = path_problem(cut.layout, shotlist.base_dir, allow_outside)
        if ruled[cut.layout]:
            problems.append(Problem(shotlist.source, cut.layout_line, f"cuts[{cut.index}].layout",
                                    *ruled[cut.layout], cut.id))
    if any(p.fix == OUTSIDE_FIX for p in problems + output):
        return output + problems  # nothing outside is opened, not even to read a header
    headers: dict[str, tuple[int, int] | Problem] = {}  # by the path as written: one read per file
    listings: dict[Path, dict[str, str]] = {}  # a folder's file names by their lower case, for suggestions
    target = shotlist.width / shotlist.height if _size_ok(shotlist.width, shotlist.height) else None
    framed: dict[str, tuple[int, int]] = {}  # the still cuts' layouts' sizes, by the path as written
    off_aspect: list[Problem] = []
    for cut in shotlist.cuts:
        if cut.layout is None:
            continue
        if ruled[cut.layout]:
            continue  # a FIFO or a folder: said above, never opened
        header = headers.get(cut.layout)
        if header is None:
            header = headers[cut.layout] = _layout_header(shotlist.layout_path(cut))
        if isinstance(header, tuple) and cut.camera_lines is not None:  # a moving cut's layout is any size
            problems += _camera_problems(shotlist, cut, header) if cut.camera is not None else []
            continue
        if isinstance(header, tuple):
            framed[cut.layout] = header
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
            off_aspect.append(Problem(
                *where, f"{cut.layout} is {w}x{h}, aspect {w / h:.3f}; size is "
                f"{shotlist.width}x{shotlist.height}, aspect {target:.3f}",
                "redraw or crop the layout to the episode's aspect, or change size", cut.id))
    problems += _size_off_aspect(shotlist, framed, off_aspect)
    problems += hints.file_problems(shotlist, {c.id: headers[c.layout] for c in shotlist.cuts
                                               if c.layout is not None and isinstance(headers.get(c.layout), tuple)})
    for key in ("model", "controlnet", "retake_model"):
        value = getattr(shotlist, key)
        if value and value != "draft" and _looks_like_path(value, shotlist.base_dir):
            resolved = Path(shotlist.resolve_path_or_id(value))
            if not resolved.exists():
                problems.append(Problem(
                    shotlist.source, None, key, f"'{value}' does not exist in {shotlist.base_dir} (the shot list's "
                    f"folder); it is read as a path, as {path_reason(value, shotlist.base_dir)}", _path_fix(key)))
    problems += models.file_problems(shotlist, lambda *where: Problem(shotlist.source, *where), refused)
    problems += models.family_problems(shotlist, lambda *where: Problem(shotlist.source, *where))
    problems += models.retake_model_problems(shotlist, lambda *where: Problem(shotlist.source, *where))
    problems += boards.file_problems(shotlist, lambda *where: Problem(shotlist.source, *where), refused)
    return output + problems


def _size_off_aspect(shotlist: ShotList, framed: dict[str, tuple[int, int]], off: list[Problem]) -> list[Problem]:
    """The layouts whose aspect is not the episode's: one problem each, or, when every layout shares one aspect
    and the size alone differs, one problem on `size`, the root cause (`size: [1024, 640]` over 16:9 layouts)."""
    aspects = [w / h for w, h in framed.values()]
    if len(off) < 2 or len(framed) < 2 or any(abs(a / aspects[0] - 1) > ASPECT_TOLERANCE for a in aspects):
        return off
    (first, (w, h)), count = next(iter(framed.items())), len(framed)
    aspect = shotlist.width / shotlist.height
    return [Problem(shotlist.source, None, "size",
                    f"{shotlist.width}x{shotlist.height} has aspect {aspect:.3f}, and "
                    f"{'both' if count == 2 else f'all {count}'} layouts have aspect {aspects[0]:.3f} "
                    f"({first} is {w}x{h})",
                    f"change size to the layouts' aspect, {_size_fix(shotlist.width, shotlist.height, aspects[0])}; "
                    f"or redraw every layout at aspect {aspect:.3f}")]


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
    if key == "retake_model":
        return "give a FLUX.1 Kontext or Qwen-Image-Edit diffusers folder that exists"
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
            im = Image.open(io.BytesIO(read_named_image(path)))
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
