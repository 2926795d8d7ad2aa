"""Shot list scaffolds from the edit (a CMX 3600 EDL or an OpenTimelineIO timeline) or a folder of layouts.

The pieces are small and, apart from reading files, pure:

>>> timeline = read_timeline("cut.edl", rate=24)            # OpenTimelineIO, imported only here
>>> entries, skipped = cuts_from_timeline(timeline)         # one Entry per clip of the first video track
>>> entries = attach_layouts(entries, Path("layouts"))      # C012 -> layouts/C012.png
>>> text = scaffold_yaml(entries, episode="ep01", size=layouts_size(entries), model="draft", base_dir=Path("."))

OpenTimelineIO and its CMX 3600 adapter are the optional extra `shotrender[editorial]`.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from shotrender.errors import UsageError
from shotrender.shotlist import ID_RE, _round8

# Letters, digits and one optional letter: "C012_take2" -> C012, "C012A_v3" -> C012A, "sc_014.mov" -> 014.
DEFAULT_ID_PATTERN = r"[A-Za-z]*\d+[A-Za-z]?"
LAYOUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
INSTALL_HINT = "pip install 'shotrender[editorial]'"


@dataclass(frozen=True)
class Entry:
    """One cut of the scaffold."""

    id: str
    frames: int | None = None  # duration in the edit
    notes: str | None = None  # markers, one per line
    clip: str | None = None  # the clip's name in the edit, when it differs from the id
    layout: Path | None = None
    layout_size: tuple[int, int] | None = None


def _otio():
    try:
        import opentimelineio
    except ImportError:
        raise UsageError(f"reading an edit needs OpenTimelineIO: {INSTALL_HINT}") from None
    return opentimelineio


def read_timeline(path: Path, rate: float = 24, edl: bool | None = None) -> Any:
    """An EDL (read at `rate` fps by the CMX 3600 adapter) or any file OpenTimelineIO reads (.otio, …).
    `edl` says which; by default a name ending in .edl is an EDL."""
    otio = _otio()
    if not path.is_file():
        raise UsageError(f"{path}: file not found")
    is_edl = path.suffix.lower() == ".edl" if edl is None else edl
    if is_edl:
        try:
            import otio_cmx3600_adapter  # noqa: F401  (registers the "cmx_3600" adapter)
        except ImportError:
            raise UsageError(f"reading an EDL needs the CMX 3600 adapter: {INSTALL_HINT}") from None
    what = "EDL" if is_edl else "timeline"
    try:
        if is_edl:
            timeline = otio.adapters.read_from_file(path, adapter_name="cmx_3600", rate=rate)
        else:
            timeline = otio.adapters.read_from_file(path)
    except (otio.exceptions.OTIOError, ValueError, IndexError) as e:
        raise UsageError(f"{path}: not a readable {what}: {e}") from None
    if not isinstance(timeline, otio.schema.Timeline):
        raise UsageError(f"{path}: holds a {timeline.schema_name()}, not a timeline; export the edit as one")
    return timeline


def cut_id(name: str, pattern: re.Pattern[str]) -> str | None:
    """The cut id in a clip or file name: the pattern's first group if it has one, else its whole first match."""
    m = pattern.search(name)
    if m is None:
        return None
    return m.group(1) if pattern.groups else m.group(0)


def compile_pattern(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as e:
        raise UsageError(f"--id-pattern {text!r} is not a regular expression: {e}") from None


def cuts_from_timeline(timeline: Any, pattern: re.Pattern[str] | None = None) -> tuple[list[Entry], Counter]:
    """One Entry per clip of the first video track, in record order; gaps, transitions and generated
    media (black, bars) are skipped and counted by kind."""
    otio = _otio()
    pattern = pattern or re.compile(DEFAULT_ID_PATTERN)
    tracks = timeline.video_tracks()
    if not tracks:
        raise UsageError(f"the timeline {timeline.name!r} has no video track")
    skipped: Counter = Counter()
    entries: list[Entry] = []
    unnamed: list[str] = []
    for item in tracks[0]:
        if isinstance(item, otio.schema.Gap):
            skipped["gap"] += 1
        elif isinstance(item, otio.schema.Transition):
            skipped["transition"] += 1
        elif not isinstance(item, otio.schema.Clip):
            skipped[item.schema_name().lower()] += 1
        elif isinstance(item.media_reference, otio.schema.GeneratorReference):
            skipped[item.media_reference.generator_kind or "generator"] += 1
        else:
            found = cut_id(item.name, pattern)
            if found is None or not ID_RE.match(found):
                unnamed.append(f"{item.name!r}" + (f" -> {found!r}" if found else ""))
                continue
            entries.append(Entry(found, frames=item.duration().to_frames(), notes=_marker_notes(item),
                                 clip=item.name if item.name != found else None))
    if unnamed:
        raise UsageError(f"no usable cut id (letters, digits, '_', '-') in {len(unnamed)} clip name"
                         f"{'s' if len(unnamed) != 1 else ''}: {', '.join(unnamed)}; "
                         f"give --id-pattern (now {pattern.pattern!r})")
    if not entries:
        raise UsageError(f"the first video track of {timeline.name!r} has no clips "
                         f"(skipped: {_counts(skipped) or 'nothing'})")
    _refuse_duplicates(entries, "clip")
    return entries, skipped


def _marker_notes(clip: Any) -> str | None:
    start = clip.trimmed_range().start_time
    lines = []
    for marker in clip.markers:
        frame = (marker.marked_range.start_time - start).to_frames()
        text = f"{marker.name} " if marker.name else ""
        lines.append(f"frame {frame}: {text}({str(marker.color).lower()} marker)")
    return "\n".join(lines) or None


def _counts(counter: Counter) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counter.items())


def _refuse_duplicates(entries: list[Entry], what: str) -> None:
    sources: dict[str, list[str]] = {}
    for e in entries:
        sources.setdefault(e.id, []).append(e.clip or e.id)
    dups = {k: v for k, v in sources.items() if len(v) > 1}
    if dups:
        listed = "; ".join(f"{k} ({', '.join(v)})" for k, v in dups.items())
        raise UsageError(f"{len(dups)} cut id{'s' if len(dups) != 1 else ''} given by more than one {what}: "
                         f"{listed}; rename them in the edit or give --id-pattern")


def natural_key(text: str) -> list:
    """Sort key that puts C2 before C10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder of layouts")
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in LAYOUT_SUFFIXES),
                  key=lambda p: natural_key(p.name))


def cuts_from_layouts(folder: Path, pattern: re.Pattern[str] | None = None) -> list[Entry]:
    """One Entry per image in the folder, ids from the file names, in natural order."""
    pattern = pattern or re.compile(DEFAULT_ID_PATTERN)
    entries: list[Entry] = []
    unnamed: list[str] = []
    for path in _images(folder):
        found = cut_id(path.stem, pattern)
        if found is None or not ID_RE.match(found):
            unnamed.append(path.name)
            continue
        entries.append(Entry(found, clip=path.name, layout=path, layout_size=_image_size(path)))
    if unnamed:
        raise UsageError(f"no usable cut id in {len(unnamed)} file name{'s' if len(unnamed) != 1 else ''}: "
                         f"{', '.join(unnamed)}; give --id-pattern (now {pattern.pattern!r})")
    if not entries:
        raise UsageError(f"{folder}: no layout images ({', '.join(LAYOUT_SUFFIXES)})")
    _refuse_duplicates(entries, "file")
    entries.sort(key=lambda e: natural_key(e.id))
    return [replace(e, clip=None) for e in entries]


def attach_layouts(entries: list[Entry], folder: Path) -> list[Entry]:
    """Give each entry its layout: the image in `folder` whose name is the cut id, or holds it between
    non-alphanumerics (C012.png, ep01_C012_lo.png; not C0120.png), letter case ignored."""
    images = _images(folder)
    out: list[Entry] = []
    missing: list[str] = []
    ambiguous: list[str] = []
    for e in entries:
        word = re.compile(rf"(?<![A-Za-z0-9]){re.escape(e.id)}(?![A-Za-z0-9])", re.IGNORECASE)
        found = [p for p in images if word.search(p.stem)]
        if not found:
            missing.append(e.id)
        elif len(found) > 1:
            ambiguous.append(f"{e.id} ({', '.join(p.name for p in found)})")
        else:
            out.append(replace(e, layout=found[0], layout_size=_image_size(found[0])))
    problems = []
    if missing:
        problems.append(f"no layout in {folder} for {len(missing)} cut{'s' if len(missing) != 1 else ''}: "
                        f"{', '.join(missing)}")
    if ambiguous:
        problems.append(f"more than one layout for {'; '.join(ambiguous)}")
    if problems:
        raise UsageError("; ".join(problems) + "; add or rename the layouts (C012.png), or leave out --layouts")
    return out


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError) as e:
        raise UsageError(f"{path}: cannot read the image: {e}") from None


def layouts_size(entries: list[Entry]) -> tuple[int, int] | None:
    """The layouts' most common size, each side rounded to a multiple of 8; None without layouts."""
    sizes = Counter(e.layout_size for e in entries if e.layout_size)
    if not sizes:
        return None
    w, h = sizes.most_common(1)[0][0]
    return _round8(w), _round8(h)


def parse_size(text: str) -> tuple[int, int]:
    """`W,H` as given to --size: both multiples of 8 from 64 to 8192."""
    m = re.fullmatch(r"\s*(\d+)\s*[,x]\s*(\d+)\s*", text)
    if not m or not all(64 <= int(v) <= 8192 and int(v) % 8 == 0 for v in m.groups()):
        raise UsageError(f"--size {text!r}: give W,H, each a multiple of 8 from 64 to 8192, e.g. 1024,576")
    return int(m.group(1)), int(m.group(2))


def episode_id(name: str) -> str:
    """An episode id made from a file or folder name: characters other than [A-Za-z0-9_-] become '_'."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "ep01"


def scaffold_yaml(entries: list[Entry], *, episode: str, size: tuple[int, int], model: str, base_dir: Path,
                  header: str = "") -> str:
    """A version-1 shot list: one cut per entry, layouts relative to `base_dir` (where the file will be),
    prompts left empty to fill in. `header` becomes comment lines at the top."""
    if not ID_RE.match(episode):
        raise UsageError(f"--episode {episode!r} may use only letters, digits, '_' and '-'")
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += [
        "version: 1",
        f"episode: {_q(episode)}",
        f"size: [{size[0]}, {size[1]}]",
        f"model: {_q(model)}",
        "defaults:",
        '  prompt: ""               # the style, put first in every prompt',
        "cuts:",
    ]
    for e in entries:
        lines.append(f"  - id: {_q(e.id)}" + (f"  # clip {e.clip}" if e.clip else ""))
        layout = Path("layouts") / f"{e.id}.png"
        if e.layout is not None:
            layout = Path(os.path.relpath(e.layout.resolve(), base_dir.resolve()))
        lines.append(f"    layout: {_q(layout.as_posix())}")
        if e.frames is not None:
            lines.append(f"    frames: {e.frames}")
        if e.notes:
            lines.append(f"    notes: {_q(e.notes)}")
        lines.append('    prompt: ""')
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    """A YAML scalar: plain when it reads back as the same text, else double-quoted (JSON is valid YAML)."""
    if re.fullmatch(r"[A-Za-z0-9_./-]+", text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)


def make_scaffold(*, edit: Path | None = None, edl: bool | None = None, rate: float = 24, layouts: Path | None = None,
                  id_pattern: str = DEFAULT_ID_PATTERN, size: str | None = None, model: str = "draft",
                  episode: str | None = None, base_dir: Path = Path(".")) -> tuple[str, str]:
    """`shotrender init`: the shot list text, and a one-line summary for the terminal.

    With `edit` (an EDL if `edl`; by default if its name ends in .edl), one cut per clip of its first video
    track, each matched to a layout in `layouts` if given (else `layouts/<id>.png`, to be drawn); without it,
    one cut per image in `layouts`.
    """
    pattern = compile_pattern(id_pattern)
    fixed_size = parse_size(size) if size else None
    if edit is not None:
        is_edl = edit.suffix.lower() == ".edl" if edl is None else edl
        entries, skipped = cuts_from_timeline(read_timeline(edit, rate, is_edl), pattern)
        if layouts is not None:
            entries = attach_layouts(entries, layouts)
        rate_note = f" (EDL read at {rate:g} fps)" if is_edl else ""
        source = f"{edit}{rate_note}: {len(entries)} cuts"
        if skipped:
            source += f" (skipped: {_counts(skipped)})"
    elif layouts is not None:
        entries = cuts_from_layouts(layouts, pattern)
        source = f"the layouts in {layouts}: {len(entries)} cuts"
    else:
        raise UsageError("give the edit (--from-edl CUT.edl or --from-otio TIMELINE.otio) or --layouts DIR")
    final_size = fixed_size or layouts_size(entries) or (1024, 576)
    name = episode or episode_id(edit.stem if edit is not None else layouts.name)
    where = "this file's folder" if base_dir.resolve() != Path.cwd().resolve() else "the folder it was made in"
    header = (f"Made by `shotrender init` from {source}.\n"
              f"Layout paths are relative to {where}.\n"
              "Write the prompts (and backgrounds: docs/shotlist.md), then: shotrender validate <this file>")
    text = scaffold_yaml(entries, episode=name, size=final_size, model=model, base_dir=base_dir, header=header)
    layouts_note = f"layouts from {layouts}" if layouts is not None else "layouts to draw in layouts/"
    return text, f"{source}; {layouts_note}; size {final_size[0]}x{final_size[1]}"
