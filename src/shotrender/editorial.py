"""Shot list scaffolds from the edit (a CMX 3600 EDL or an OpenTimelineIO timeline) or a folder of layouts.

The pieces are small and, apart from reading files, pure:

>>> timeline = read_timeline("cut.edl", rate=parse_rate("23.976"))   # OpenTimelineIO, imported only here
>>> entries, skipped, how = cuts_from_timeline(timeline)   # one Entry per clip of the first video track
>>> entries = attach_layouts(entries, Path("layouts"))      # C012 -> layouts/C012.png
>>> text = scaffold_yaml(entries, episode="ep01", size=layouts_size(entries), model="draft", base_dir=Path("."))

What it writes is what `validate` reads back: every value is a plain YAML word or a double-quoted
scalar with every character that is not printable escaped, comments hold no line break or control
character, and an event, a name or a layout that validate would refuse is refused here, with the reason.

OpenTimelineIO and its CMX 3600 adapter are the optional extra `shotrender[editorial]`.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from shotrender.errors import UsageError
from shotrender.shotlist import ASPECT_TOLERANCE, CONTACT_SHEET, ID_RE, MAX_FRAMES, MAX_ID_LENGTH
from shotrender.shotlist.files import _layout_header
from shotrender.shotlist.validation import _round8
from shotrender.words import counted

LAYOUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
INSTALL_HINT = "pip install 'shotrender[editorial]'"


@dataclass(frozen=True)
class IdForm:
    """A common way of writing the cut id in a clip or file name."""

    name: str
    pattern: re.Pattern[str]
    example: str  # a name and the id found in it


# Tried in this order when no --id-pattern is given; the first that finds an id in every name is used.
# ASCII only: a Unicode digit (\u0663) is not one an id may hold.
ID_FORMS = (
    IdForm("C and a number", re.compile(r"(?<![A-Za-z])([Cc][0-9]+[A-Za-z]?)(?![A-Za-z0-9])"),
           "ep02_C010_lo -> C010, s01c010 -> c010, C012A_v3 -> C012A"),
    IdForm("a number on its own", re.compile(r"(?<![A-Za-z0-9])([0-9]+[A-Za-z]?)(?![A-Za-z0-9])"),
           "010 -> 010, sc_014_v2 -> 014"),
    IdForm("the first letters and digits", re.compile(r"[A-Za-z]*[0-9]+[A-Za-z]?"), "K12_take2 -> K12"),
)

# The frame rates SMPTE timecode has (and the CMX 3600 reader accepts), and the decimal names editors
# give the NTSC ones: 23.976 fps is 24000/1001, not 23976/1000.
TIMECODE_RATES = tuple(Fraction(n) for n in (24, 25, 30, 48, 50, 60)) + tuple(
    Fraction(n * 1000, 1001) for n in (24, 30, 48, 60))
NTSC_NAMES = {"23.976": Fraction(24000, 1001), "23.98": Fraction(24000, 1001), "29.97": Fraction(30000, 1001),
              "47.952": Fraction(48000, 1001), "47.95": Fraction(48000, 1001), "59.94": Fraction(60000, 1001)}


@dataclass(frozen=True)
class Entry:
    """One cut of the scaffold."""

    id: str
    frames: int | None = None  # duration in the edit
    notes: str | None = None  # markers, one per line
    clip: str | None = None  # the clip's name in the edit, when it differs from the id
    layout: Path | None = None
    layout_size: tuple[int, int] | None = None
    # a layout wider or taller than the frame: a moving cut's stub, ((x, y, width) of its first framing, of its
    # last), in layout pixels, and what the layout looks like ("wider", "taller")
    camera: tuple[tuple[int, int, int], tuple[int, int, int], str] | None = None
    bg: str | None = None  # the place `propose_places` put it in


@dataclass(frozen=True)
class Place:
    """A background proposed by `init --places`: cuts whose layouts register together, and the evidence."""

    id: str
    cuts: tuple[str, ...]
    evidence: tuple[str, ...]  # comment lines: which cuts matched, with what agreement; or why one is alone


def parse_rate(text: str) -> Fraction:
    """`--rate`: a whole number (24), a fraction (24000/1001) or an NTSC rate's decimal name (23.976),
    one of the rates SMPTE timecode has."""
    value: Fraction | None = None
    m = re.fullmatch(r"\s*([0-9]{1,9})\s*(?:/\s*([0-9]{1,9})\s*)?", text)  # int() refuses 4,300 digits
    if m and int(m.group(2) or 1):
        value = Fraction(int(m.group(1)), int(m.group(2) or 1))
    else:
        try:
            decimal = Decimal(text.strip())
        except InvalidOperation:
            decimal = None
        if decimal is not None and decimal.is_finite() and decimal.adjusted() < 4:  # 1e999999999 is no rate
            value = next((rate for name, rate in NTSC_NAMES.items() if Decimal(name) == decimal), Fraction(decimal))
    if value not in TIMECODE_RATES:
        whole = ", ".join(str(r) for r in TIMECODE_RATES if r.denominator == 1)
        ntsc = ", ".join(f"{name} ({rate.numerator}/{rate.denominator})" for name, rate in NTSC_NAMES.items()
                         if name in ("23.976", "29.97", "47.952", "59.94"))
        raise UsageError(f"--rate {text!r} is not a timecode rate; give one of {whole}, or an NTSC rate as its "
                         f"decimal or its fraction: {ntsc}")
    return value


def rate_name(rate: Fraction) -> str:
    """24 -> "24", 24000/1001 -> "23.976"."""
    if rate.denominator == 1:
        return str(rate.numerator)
    return next(name for name, r in NTSC_NAMES.items() if r == rate)


def _otio():
    try:
        import opentimelineio
    except ImportError:
        raise UsageError(f"reading an edit needs OpenTimelineIO: {INSTALL_HINT}") from None
    return opentimelineio


#: an edit file is read up to this size (an EDL of 10,000 events is about 1 MB, its OTIO about 20 MB)
MAX_EDIT_BYTES = 64 << 20
#: how deep an OTIO file's JSON may nest: a timeline is 6 to 10 levels deep, 30 with nested stacks and
#: metadata; OpenTimelineIO's C++ reader recurses per level and overflows its stack (a segfault) far below
#: what a file can hold, so the depth is measured before the parser sees the file
MAX_OTIO_DEPTH = 200
# an EDL event line: number, reel, channels, transition (and a duration for D and W), four timecodes
_EVENT = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\S+)(.*)$")
_TIMECODE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})[:;.](\d{2})$")


def read_timeline(path: Path, rate: Fraction | float = 24, edl: bool | None = None) -> Any:
    """An EDL (read at `rate` fps by the CMX 3600 adapter) or any file OpenTimelineIO reads (.otio, …).
    `edl` says which; by default a name ending in .edl is an EDL.

    The file is read by shotrender (a regular file, at most MAX_EDIT_BYTES), checked (`edl_video_events`,
    `otio_depth_problem`) and only then handed to the parser; whatever the parser still refuses is a
    UsageError naming the file, never a traceback."""
    from shotrender.files import read_regular

    otio = _otio()
    is_edl = path.suffix.lower() == ".edl" if edl is None else edl
    what = "EDL" if is_edl else "timeline"
    try:
        data = read_regular(path, MAX_EDIT_BYTES, follow_symlinks=True)
    except FileNotFoundError:
        raise UsageError(f"{_shown(str(path))}: file not found") from None
    except OSError as e:
        raise UsageError(f"{_shown(str(path))}: cannot be read as an {what} ({e.strerror})") from None
    except ValueError as e:
        raise UsageError(f"{_shown(str(path))}: {e}; an {what} is read up to {MAX_EDIT_BYTES >> 20} MB") from None
    if is_edl:
        try:
            import otio_cmx3600_adapter  # noqa: F401  (registers the "cmx_3600" adapter)
        except ImportError:
            raise UsageError(f"reading an EDL needs the CMX 3600 adapter: {INSTALL_HINT}") from None
    try:
        text = data.decode("utf-8-sig") if is_edl or path.suffix.lower() == ".otio" else None
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UsageError(f"{_shown(str(path))}:{line}: the {what} is not UTF-8 text; export it again") from None
    try:
        if is_edl:
            timeline = otio.adapters.read_from_string(edl_video_events(text, path, rate), adapter_name="cmx_3600",
                                                      rate=float(rate))
        elif text is not None:
            problem = otio_depth_problem(data)
            if problem:
                raise UsageError(f"{_shown(str(path))}: {problem}")
            timeline = otio.adapters.read_from_string(text, adapter_name="otio_json")
        else:
            timeline = otio.adapters.read_from_file(str(path))
    # the parsers' own errors, and what their bugs raise on input they do not expect (a KeyError for a clip
    # without media_references, an AttributeError for some malformed events)
    except (otio.exceptions.OTIOError, ValueError, IndexError, KeyError, TypeError, AttributeError) as e:
        raise UsageError(f"{_shown(str(path))}: not a readable {what}: {_shown(str(e))}") from None
    if not isinstance(timeline, otio.schema.Timeline):
        kind = timeline.schema_name() if isinstance(timeline, otio.core.SerializableObject) else "list or value"
        raise UsageError(f"{_shown(str(path))}: holds a {kind}, not a timeline; export the edit as one")
    if not isinstance(timeline.tracks, otio.schema.Stack):  # `"tracks": null` reads, then segfaults video_tracks()
        raise UsageError(f"{_shown(str(path))}: the timeline has no tracks; export the edit again")
    return timeline


def isolated(edit: Path, fps: float, is_edl: bool, pattern: re.Pattern[str] | None
             ) -> tuple[list[Entry], Counter, str]:
    """`cuts_from_timeline(read_timeline(...))` run in a forked child, its result or its refusal handed back as
    JSON. OpenTimelineIO's C++ reader and its timeline methods can crash the process on a malformed file (a
    fuzz pass found a segfault in `video_tracks()` with `"tracks": null`, fixed in read_timeline, and another
    inside the JSON reader); a crash of the child is exit 2 naming the file, never a core dump. Forking costs a
    few milliseconds. The child's answer is plain data, never a pickle: nothing the parent reads can run code."""
    import json
    import signal

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no cleanup of the parent's, whatever happens
        os.close(read_end)
        try:
            entries, skipped, how = cuts_from_timeline(read_timeline(edit, fps, is_edl), pattern)
            answer = {"entries": [{"id": e.id, "frames": e.frames, "notes": e.notes, "clip": e.clip}
                                  for e in entries], "skipped": dict(skipped), "how": how}
        except UsageError as e:
            answer = {"refused": str(e)}
        except BaseException as e:  # anything else: said, as the parent would have said it
            answer = {"failed": f"{type(e).__name__}: {e}"}
        with os.fdopen(write_end, "wb") as f:
            f.write(json.dumps(answer).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        how = (f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status)
               else f"exit {os.WEXITSTATUS(status)}")
        raise UsageError(f"{_shown(str(edit))}: OpenTimelineIO crashed reading it ({how}); the file is malformed: "
                         "export the edit again")
    answer = json.loads(data)
    if "refused" in answer:
        raise UsageError(answer["refused"])
    if "failed" in answer:
        raise RuntimeError(answer["failed"])
    return [Entry(**e) for e in answer["entries"]], Counter(answer["skipped"]), answer["how"]


def edl_video_events(text: str, path: Path, rate: Fraction | float) -> str:
    """The EDL with its audio-only events left out, each video event's line checked first.

    An editor writes a cut's picture and sound as two events of one number (001 V, 001 A), which the CMX
    3600 adapter cannot read; the scaffold reads the first video track alone, so the audio events, and the
    comment lines under them, are dropped before it. UsageError naming the line and event at fault for an
    event line that is no CMX 3600 event (too few fields, a timecode that is no timecode at `rate`)."""
    out = []
    keep = True  # lines before the first event (TITLE, FCM) are kept
    for number, line in enumerate(text.splitlines(), 1):
        m = _EVENT.match(line)
        if m is None:
            if keep:
                out.append(line)
            continue
        event, channels, rest = m.group(1), m.group(3).upper(), m.group(5).split()
        keep = "V" in channels or channels == "B"  # B: both picture and sound
        if not keep:
            continue
        at = f"{_shown(str(path))}:{number}: event {event}"
        # after the transition (C, D or W001 with a duration, K with its own fields): four timecodes end the line
        if len(rest) < 4:
            raise UsageError(f"{at}: {len(rest)} fields after the transition where an event has 4 timecodes (source "
                             f"in and out, record in and out): {_shown(line.strip())}; fix the line or export the "
                             "EDL again")
        for tc in rest[-4:]:
            t = _TIMECODE.match(tc)
            if t is None or int(t.group(2)) > 59 or int(t.group(3)) > 59 or int(t.group(4)) >= math.ceil(rate):
                raise UsageError(f"{at}: {_shown(tc)} is no timecode at {float(rate):g} fps (HH:MM:SS:FF); fix the "
                                 "line or give the EDL's --rate")
        out.append(line)
    return "\n".join(out) + "\n"


def otio_depth_problem(data: bytes) -> str | None:
    """Why an OTIO (JSON) file is not handed to the parser: it nests deeper than MAX_OTIO_DEPTH. Measured on the
    bytes, strings left out, in one pass of numpy: no recursion and no parser."""
    import numpy as np

    raw = np.frombuffer(re.sub(rb'"(?:[^"\\]|\\.)*"', b'""', data), np.uint8)
    step = (raw == ord("{")).astype(np.int32) + (raw == ord("[")) - (raw == ord("}")) - (raw == ord("]"))
    depth = int(np.cumsum(step).max(initial=0))
    if depth > MAX_OTIO_DEPTH:
        return (f"nests {depth} levels deep, more than the {MAX_OTIO_DEPTH} a timeline needs (a timeline is about "
                "10); export the edit again")
    return None


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


def _ids(names: list[str], pattern: re.Pattern[str]) -> tuple[list[str | None], list[int]]:
    """The id the pattern finds in each name (None where it finds no usable one) and those names' indexes."""
    ids: list[str | None] = []
    for name in names:
        found = cut_id(name, pattern)
        usable = found is not None and ID_RE.match(found) and len(found) <= MAX_ID_LENGTH \
            and found.lower() != CONTACT_SHEET  # what validate takes as a cut id (shotlist/validation.py)
        ids.append(found if usable else None)
    return ids, [i for i, found in enumerate(ids) if found is None]


def _suggest_pattern(names: list[str]) -> str | None:
    """A pattern that finds a distinct id in every name, if one of a few simple shapes does: a form of
    ID_FORMS, the n-th run of letters and digits (ep02_park_lo, ep02_gate_lo -> park, gate: `^ep02_(...)`
    when what comes before it is the same in every name), or the whole name."""
    shapes = [form.pattern.pattern for form in ID_FORMS]
    runs = [list(re.finditer(r"[A-Za-z0-9]+", name)) for name in names]
    for n in range(min(map(len, runs), default=0)):
        before = {name[:found[n].start()] for name, found in zip(names, runs, strict=True)}
        if len(before) == 1:
            shapes.append(f"^{re.escape(before.pop())}([A-Za-z0-9]+)")
        else:
            shapes.append(rf"^[^A-Za-z0-9]*(?:[A-Za-z0-9]+[^A-Za-z0-9]+){{{n}}}([A-Za-z0-9]+)")
    shapes.append(r"^([A-Za-z0-9_-]+)$")
    for shape in shapes:
        ids, bad = _ids(names, re.compile(shape))
        if not bad and len(set(ids)) == len(ids):
            return shape
    return None


def find_ids(names: list[str], shown: list[str], what: str, pattern: re.Pattern[str] | None) -> tuple[list[str], str]:
    """The cut id in each name, and how it was found: by `pattern` if given, else by the first of ID_FORMS
    that finds a distinct one in every name. `shown` is how each name is written in messages; `what` is
    "clip" or "file". Raises UsageError saying what each form found, with an --id-pattern that would work
    when there is one."""
    tries = [(f"--id-pattern '{_shown(pattern.pattern)}'", "", pattern)] if pattern is not None else [
        (form.name, f" ({form.example})", form.pattern) for form in ID_FORMS]
    failed = []
    repeated: str | None = None  # the first id a form gave more than one name
    for label, example, pat in tries:
        ids, bad = _ids(names, pat)
        if not bad:
            found = [i for i in ids if i is not None]  # all of them
            sources: dict[str, list[str]] = {}
            first: dict[str, str] = {}  # C001 and c001 are one id to validate (a case-blind disk has one file)
            for found_id, name in zip(found, shown, strict=True):
                sources.setdefault(first.setdefault(found_id.lower(), found_id), []).append(name)
            dups = {k: v for k, v in sources.items() if len(v) > 1}
            if not dups:
                return found, f"{label}, e.g. {shown[0]} -> {found[0]}"
            repeated = repeated or next(iter(dups))
            listed = "; ".join(f"{k} ({', '.join(v)})" for k, v in dups.items())
            failed.append(f"{label}{example} gives the same id to more than one {what}: {listed}")
            continue
        listed = ", ".join(shown[i] + (f" -> {_shown(raw)}, not an id" if (raw := cut_id(names[i], pat)) else "")
                           for i in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        failed.append(f"{label}{example} finds no id in {len(bad)} of {len(names)}: {listed}{more}")
    suggestion = _suggest_pattern(names)
    example_fix = (f"--id-pattern, e.g. --id-pattern '{suggestion}' ({shown[0]} -> "
                   f"{cut_id(names[0], re.compile(suggestion))})" if suggestion is not None else "--id-pattern REGEX")
    if repeated is not None:
        keep = "rename the clips in the edit" if what == "clip" else "keep one file per cut in the folder"
        fix = f"{keep}, or, if {repeated} is not the cut id, give {example_fix}"
    elif suggestion is not None:
        fix = f"give {example_fix}"
    else:
        fix = (f"no simple pattern finds a distinct id in every {what} name; rename them so each holds its cut "
               f"id ({'C012.png' if what == 'file' else 'C012_take2'}), or give --id-pattern REGEX")
    raise UsageError(f"no distinct cut id (letters, digits, '_', '-') for every {what}: " + "; ".join(failed)
                     + f"; {fix}")


def cuts_from_timeline(timeline: Any, pattern: re.Pattern[str] | None = None) -> tuple[list[Entry], Counter, str]:
    """One Entry per clip of the first video track, in record order; gaps, transitions and generated
    media (black, bars) are skipped and counted by kind. Also says how the ids were found (`find_ids`).
    A clip that lasts no frame, or less than none (its out point before its in point), is refused."""
    otio = _otio()
    tracks = timeline.video_tracks()
    if not tracks:
        raise UsageError(f"the timeline {_quote(timeline.name)} has no video track")
    skipped: Counter = Counter()
    clips = []
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
            clips.append(item)
    if not clips:
        raise UsageError(f"the first video track of {_quote(timeline.name)} has no clips "
                         f"(skipped: {_counts(skipped) or 'nothing'})")
    bad = [f"clip {n} {_shown(clip.name)} ({_source_range(clip)}) lasts {frames} frames"
           for n, clip in enumerate(clips, 1) if not 1 <= (frames := clip.duration().to_frames()) <= MAX_FRAMES]
    if bad:
        raise UsageError(f"{len(bad)} clip{'s' if len(bad) != 1 else ''} of the first video track "
                         f"{'do' if len(bad) != 1 else 'does'} not last from 1 to {MAX_FRAMES} frames: "
                         f"{'; '.join(bad)}; fix the events' in and out points in the edit (an out point "
                         "before the in point reverses an event), or remove them")
    ids, how = find_ids([c.name for c in clips], [_shown(c.name) for c in clips], "clip", pattern)
    entries = [Entry(found, frames=clip.duration().to_frames(), notes=_marker_notes(clip),
                     clip=clip.name if clip.name != found else None) for found, clip in zip(ids, clips, strict=True)]
    return entries, skipped, how


def _source_range(clip: Any) -> str:
    """A clip's source in and out points, as timecode when its rate has one."""
    otio = _otio()
    start = clip.trimmed_range().start_time
    end = start + clip.duration()
    try:
        return f"source {otio.opentime.to_timecode(start)} to {otio.opentime.to_timecode(end)}"
    except ValueError:  # not a timecode rate, or a negative time
        return f"source frames {start.to_frames()} to {end.to_frames()}"


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


def natural_key(text: str) -> list:
    """Sort key that puts C2 before C10. A digit is what int() reads (isdecimal): a superscript ¹ is a
    character of the name, not a number."""
    return [int(part) if part.isdecimal() else part.lower() for part in re.split(r"(\d+)", text)]


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise UsageError(f"{_shown(str(folder))}: not a folder of layouts")
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in LAYOUT_SUFFIXES),
                  key=lambda p: natural_key(p.name))


def cuts_from_layouts(folder: Path, pattern: re.Pattern[str] | None = None) -> tuple[list[Entry], str]:
    """One Entry per image in the folder, ids from the file names (`find_ids`), in natural order; and how
    the ids were found."""
    images = _images(folder)
    if not images:
        raise UsageError(f"{_shown(str(folder))}: no layout images ({', '.join(LAYOUT_SUFFIXES)})")
    ids, how = find_ids([p.stem for p in images], [_shown(p.name) for p in images], "file", pattern)
    sizes = _layout_sizes(images)
    entries = [Entry(found, layout=path, layout_size=sizes[path]) for found, path in zip(ids, images, strict=True)]
    entries.sort(key=lambda e: natural_key(e.id))
    return entries, how


def attach_layouts(entries: list[Entry], folder: Path) -> list[Entry]:
    """Give each entry its layout: the image in `folder` whose name is the cut id, or holds it between
    non-alphanumerics (C012.png, ep01_C012_lo.png; not C0120.png), letter case ignored."""
    images = _images(folder)
    found: dict[str, Path] = {}
    missing: list[str] = []
    ambiguous: list[str] = []
    for e in entries:
        word = re.compile(rf"(?<![A-Za-z0-9]){re.escape(e.id)}(?![A-Za-z0-9])", re.IGNORECASE)
        matches = [p for p in images if word.search(p.stem)]
        if not matches:
            missing.append(e.id)
        elif len(matches) > 1:
            ambiguous.append(f"{e.id} ({', '.join(_shown(p.name) for p in matches)})")
        else:
            found[e.id] = matches[0]
    problems = []
    if missing:
        problems.append(f"no layout in {_shown(str(folder))} for {len(missing)} cut{'s' if len(missing) != 1 else ''}: "
                        f"{', '.join(missing)}")
    if ambiguous:
        problems.append(f"more than one layout for {'; '.join(ambiguous)}")
    if problems:
        raise UsageError("; ".join(problems) + "; add or rename the layouts (C012.png), or leave out --layouts")
    sizes = _layout_sizes(list(found.values()))
    return [replace(e, layout=found[e.id], layout_size=sizes[found[e.id]]) for e in entries]


def _layout_sizes(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    """Each layout's size, read as validate reads it; every layout validate would refuse is refused here."""
    sizes: dict[Path, tuple[int, int]] = {}
    problems: list[str] = []
    for path in paths:
        header = _layout_header(path)
        if isinstance(header, tuple):
            sizes[path] = header
        else:
            problems.append(f"{_shown(path.name)} {header.message} ({header.fix})")
    if problems:
        raise UsageError(f"{len(problems)} layout{'s' if len(problems) != 1 else ''} that validate would refuse: "
                         + "; ".join(problems))
    return sizes


def layouts_size(entries: list[Entry]) -> tuple[int, int] | None:
    """The output size for the layouts' most common size: the nearest with both sides multiples of 8 from
    64 to 8192 and the same aspect, within validate's tolerance; None without layouts."""
    sizes = Counter(e.layout_size for e in entries if e.layout_size)
    if not sizes:
        return None
    w, h = sizes.most_common(1)[0][0]
    best = None
    for width in range(64, 8193, 8):
        height = _round8(width * h / w)
        if abs((w / h) / (width / height) - 1) <= ASPECT_TOLERANCE:  # as validate compares them
            cost = abs(width - w) + abs(height - h)
            if best is None or cost < best[0]:
                best = (cost, width, height)
    if best is None:
        raise UsageError(f"the layouts are {w}x{h} (aspect {w / h:.3f}); no size with sides multiples of 8 from "
                         "64 to 8192 has that aspect; crop them to a wider or taller frame")
    return best[1], best[2]


def camera_stubs(entries: list[Entry], size: tuple[int, int]) -> list[Entry]:
    """A layout whose aspect is not the frame's is drawn for a camera move (docs/camera.md): one wider than the
    frame for a PAN across it, one taller for a vertical PAN. Each becomes a moving cut with a stub camera: the
    frame at the layout's full height (or width), from one end to the other, for the user to correct from the
    camera sheet; validate then checks it as any move. A track-in's layout has the frame's aspect, and needs a
    camera written by hand."""
    target = size[0] / size[1]
    out = []
    for e in entries:
        if e.layout_size is None or abs((e.layout_size[0] / e.layout_size[1]) / target - 1) <= ASPECT_TOLERANCE:
            out.append(e)
            continue
        w, h = e.layout_size
        if w / h > target:  # wider: the frame at the layout's height, left to right
            frame_w = min(w, round(h * target))
            stub = ((0, 0, frame_w), (w - frame_w, 0, frame_w), "wider")
        else:  # taller: the frame at the layout's width, top to bottom
            frame_h = min(h, round(w / target))
            stub = ((0, 0, w), (0, h - frame_h, w), "taller")
        out.append(replace(e, camera=stub))
    return out


STUB_FRAMES = 48  # two seconds at 24 fps, for a stub camera whose cut has no length from the edit


def episode_prefix(names: list[str]) -> str | None:
    """The episode every name starts with (`ep07_C001.png`, `EP07-C002.png` -> ep07), or None."""
    found = {m.group(1).lower() if m else None for m in (re.match(r"(?i)(ep[0-9]+)[_-]", name) for name in names)}
    return found.pop() if len(found) == 1 and None not in found else None


def parse_size(text: str) -> tuple[int, int]:
    """`W,H` as given to --size: both multiples of 8 from 64 to 8192."""
    m = re.fullmatch(r"\s*([0-9]{1,5})\s*[,x]\s*([0-9]{1,5})\s*", text)  # int() refuses 4,300 digits
    if not m or not all(64 <= int(v) <= 8192 and int(v) % 8 == 0 for v in m.groups()):
        raise UsageError(f"--size {text!r}: give W,H, each a multiple of 8 from 64 to 8192, e.g. 1024,576")
    return int(m.group(1)), int(m.group(2))


def episode_id(name: str) -> str:
    """An episode id made from a file or folder name: characters other than [A-Za-z0-9_-] become '_'."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "ep01"


def propose_places(entries: list[Entry], size: tuple[int, int], progress=None) -> tuple[list[Entry], list[Place]]:
    """The layouts registered together as one place would be (docs/sheets.md): each group of cuts that register
    with each other becomes a background, `place1`, `place2`, ... in the order of their first cut, and each
    entry gets its `bg`. A moving cut's stub camera gives the views it is compared through. `progress(text)`
    hears the start and the end (registration reads every layout: minutes for hundreds of cuts)."""
    from shotrender import camera, sheets
    from shotrender.images import read_layout

    # registration reads no more than its working width: layouts read at that size, not the episode's (300
    # layouts at 1920x1080 would hold 1.8 GB)
    work = sheets.Settings().work_width
    if size[0] > work:
        size = (work, max(1, round(size[1] * work / size[0])))
    layouts, views = [], {}
    for e in entries:
        if e.layout is None:
            continue
        if e.camera is None:
            layouts.append((e.id, read_layout(e.layout, *size)))
            continue
        (x0, y0, w0), (x1, y1, w1), _ = e.camera
        aspect = size[1] / size[0]
        move = camera.Move(camera.Framing(x0, y0, w0, w0 * aspect), camera.Framing(x1, y1, w1, w1 * aspect),
                           STUB_FRAMES)
        delivery = camera.deliver(move, size)
        layouts.append((e.id, sheets.warp(read_layout(e.layout, None, None), delivery.layout_matrix(), delivery.size)))
        views[e.id] = camera.views(move, delivery, size)
    if not layouts:
        raise UsageError("--places registers the layouts, and no cut has one: give --layouts DIR")
    if progress:
        progress(f"registering {counted(len(layouts), 'layout')} to find the places they show")
    registration = sheets.register("episode", layouts, frame=size, views=views)
    places = []
    for sheet in registration.sheets:
        name = f"place{len(places) + 1}"
        if len(sheet.cuts) > 1:
            joined = [f"{p.a}-{p.b} {math.floor(p.agreement * 100) / 100:.2f}" for p in sheet.links]
            evidence = (f"{counted(len(sheet.cuts), 'cut')} whose layouts register together; the pairs that joined "
                        "them, with the share of lines that agree:", *_wrapped(joined))
        else:
            why = registration.alone(sheet.cuts[0]) or "the only layout"
            evidence = (f"{sheet.cuts[0]} matches no other layout ({why}): a place of its own, or one to join by "
                        "hand (docs/shotlist.md#hints)",)
        places.append(Place(name, sheet.cuts, evidence))
    if progress:
        alone = sum(len(p.cuts) == 1 for p in places)
        progress(f"{counted(len(places), 'place')} proposed: {len(places) - alone} of several cuts, {alone} alone")
    of = {cut: p.id for p in places for cut in p.cuts}
    return [replace(e, bg=of.get(e.id)) for e in entries], places


def _wrapped(items: list[str], width: int = 100) -> list[str]:
    """Items joined by ', ' into lines of at most about `width` characters."""
    lines, line = [], ""
    for item in items:
        if line and len(line) + len(item) + 2 > width:
            lines.append(line + ",")
            line = ""
        line = f"{line}, {item}" if line else item
    return [*lines, line] if line else lines


BACKGROUNDS_HINT = """\
Cuts of one place share a background: its prompt, its seed, and continuity from cut to cut
(docs/continuity.md). A cut without bg: is a chain of one, painted on its own. Group them like this:
backgrounds:
  park:
    prompt: "city park in spring, cherry trees"
and give each cut of the park the line   bg: park"""


def scaffold_yaml(entries: list[Entry], *, episode: str, size: tuple[int, int], model: str, base_dir: Path,
                  header: str = "", places: list[Place] | None = None) -> str:
    """A version-1 shot list: one cut per entry, layouts relative to `base_dir` (where the file will be),
    prompts left empty to fill in, and a commented example of backgrounds, or the `places` proposed, each with
    its evidence in comments. `header` becomes comment lines at the top. Raises UsageError for text that a
    UTF-8 shot list cannot hold."""
    if not ID_RE.match(episode):
        raise UsageError(f"--episode {_shown(episode)} may use only letters, digits, '_' and '-'")
    if model == "":
        raise UsageError("--model is empty; give draft, a diffusers folder, a .safetensors file or a hub id")
    lines = [f"# {_shown(line)}".rstrip() for line in header.splitlines()]
    lines += [
        "version: 1",
        f"episode: {episode}",
        f"size: [{size[0]}, {size[1]}]",
        f"model: {_q(model, '--model')}",
        "defaults:",
        '  prompt: ""               # the style, put first in every prompt',
    ]
    if places:
        lines += ["# The places below were proposed by registering the layouts (docs/commands.md#init): rename them,",
                  "# and correct a place split in two or a cut in the wrong one by editing its bg:.",
                  "backgrounds:"]
        for place in places:
            lines += [f"  # {_shown(line)}" for line in place.evidence]
            lines += [f"  {place.id}:", '    prompt: ""']
    else:
        lines += [f"# {line}" for line in BACKGROUNDS_HINT.splitlines()]
    lines.append("cuts:")
    for e in entries:
        lines.append(f"  - id: {_q(e.id, 'the cut id')}" + (f"  # clip {_shown(e.clip)}" if e.clip else ""))
        layout = Path("layouts") / f"{e.id}.png"
        if e.layout is not None:
            layout = Path(os.path.relpath(e.layout.resolve(), base_dir.resolve()))
        lines.append(f"    layout: {_q(layout.as_posix(), f'the layout of cut {e.id}')}")
        if e.bg is not None:
            lines.append(f"    bg: {e.bg}")
        if e.frames is not None:
            lines.append(f"    frames: {e.frames}")
        if e.notes:
            lines.append(f"    notes: {_q(e.notes, f'the markers of cut {e.id}')}")
        if e.camera is not None:
            (x0, y0, w0), (x1, y1, w1), shape = e.camera
            lines += [f"    camera:                 # a stub: the layout is {shape} than the frame; mark the first "
                      "and last framings as on the camera sheet (docs/camera.md)",
                      f"      from: {{x: {x0}, y: {y0}, width: {w0}}}",
                      f"      to: {{x: {x1}, y: {y1}, width: {w1}}}"]
            if e.frames is None:  # from the edit, the cut's frames are the move's length
                lines.append(f"      frames: {STUB_FRAMES}            # the move's length: from the camera sheet too")
        lines.append('    prompt: ""')
    return "\n".join(lines) + "\n"


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _quote(text: str) -> str:
    """`text` as a YAML double-quoted scalar, every character Python does not call printable escaped (control
    characters, line and paragraph separators, format characters, non-characters), so the line holds no
    break and nothing a YAML reader refuses."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _shown(text: str) -> str:
    """Text for a comment or a message: as it is when every character is printable, else quoted and escaped."""
    return text if text.isprintable() else _quote(text)


def _q(text: str, what: str) -> str:
    """A YAML scalar that reads back as `text`: plain when that is safe, else double-quoted and escaped.
    Text holding a lone surrogate (a file name's bytes that are not UTF-8) cannot be written: refused."""
    if re.fullmatch(r"[A-Za-z0-9_./-]+", text) and yaml.safe_load(text) == text:
        return text
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        raise UsageError(f"{what} {_quote(text)} is not UTF-8 text (a file name in another encoding?), which a "
                         "shot list cannot hold; rename it")
    return _quote(text)


def make_scaffold(*, edit: Path | None = None, edl: bool | None = None, rate: str = "24", layouts: Path | None = None,
                  id_pattern: str | None = None, size: str | None = None, model: str = "draft",
                  episode: str | None = None, base_dir: Path = Path("."), places: bool = False,
                  progress=None) -> tuple[str, str]:
    """`shotrender init`: the shot list text, and a one-line summary for the terminal.

    With `edit` (an EDL if `edl`; by default if its name ends in .edl), one cut per clip of its first video
    track, each matched to a layout in `layouts` if given (else `layouts/<id>.png`, to be drawn); without it,
    one cut per image in `layouts`. Cut ids are found by `id_pattern`, or else by ID_FORMS; `rate` is read
    by `parse_rate`. With `places`, the layouts are registered and grouped into backgrounds (`propose_places`),
    `progress(text)` hearing how it goes.
    """
    pattern = compile_pattern(id_pattern) if id_pattern is not None else None
    fixed_size = parse_size(size) if size else None
    if edit is not None:
        is_edl = edit.suffix.lower() == ".edl" if edl is None else edl
        fps = parse_rate(rate)
        entries, skipped, how = isolated(edit, fps, is_edl, pattern)
        if layouts is not None:
            entries = attach_layouts(entries, layouts)
        rate_note = f" (EDL read at {rate_name(fps)} fps)" if is_edl else ""
        source = f"{_shown(str(edit))}{rate_note}: {counted(len(entries), 'cut')}"
        if skipped:
            source += f" (skipped: {_counts(skipped)})"
    elif layouts is not None:
        entries, how = cuts_from_layouts(layouts, pattern)
        source = f"the layouts in {_shown(str(layouts))}: {counted(len(entries), 'cut')}"
    else:
        raise UsageError("give the edit (--from-edl CUT.edl or --from-otio TIMELINE.otio) or --layouts DIR")
    final_size = fixed_size or layouts_size(entries) or (1024, 576)
    entries = camera_stubs(entries, final_size)
    proposed = None
    if places:
        entries, proposed = propose_places(entries, final_size, progress)
    moving = sum(e.camera is not None for e in entries)
    prefix = episode_prefix([e.layout.name for e in entries if e.layout is not None]) if edit is None else None
    name = episode or prefix or episode_id(edit.stem if edit is not None else layouts.name)  # type: ignore[union-attr]
    where = "this file's folder" if base_dir.resolve() != Path.cwd().resolve() else "the folder it was made in"
    header = (f"Made by `shotrender init` from {source}.\n"
              f"Cut ids: {how}.\n"
              f"Layout paths are relative to {where}.\n"
              + ("Write the prompts, check the places proposed (below)" if proposed else
                 "Write the prompts and group the cuts into backgrounds (below)")
              + ", then: shotrender validate <this file>")
    text = scaffold_yaml(entries, episode=name, size=final_size, model=model, base_dir=base_dir, header=header,
                         places=proposed)
    layouts_note = f"layouts from {_shown(str(layouts))}" if layouts is not None else "layouts to draw in layouts/"
    moves = (f"; {moving} layout{'s' if moving != 1 else ''} wider or taller than the frame: moving cut"
             f"{'s' if moving != 1 else ''} with a camera stub to correct (docs/camera.md)") if moving else ""
    grouped = f"; {counted(len(proposed), 'place')} proposed" if proposed else ""
    return text, f"{source}; cut ids: {how}; {layouts_note}; size {final_size[0]}x{final_size[1]}{moves}{grouped}"
