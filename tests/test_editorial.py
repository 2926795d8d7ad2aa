"""`shotrender init`: shot-list scaffolds from an EDL, an OTIO timeline or a folder of layouts."""

from __future__ import annotations

import os
import re
from pathlib import Path

import opentimelineio as otio
import pytest
import yaml
from PIL import Image, ImageDraw

from shotrender.editorial import (
    Entry,
    attach_layouts,
    cuts_from_layouts,
    cuts_from_timeline,
    layouts_size,
    natural_key,
    read_timeline,
    scaffold_yaml,
)
from shotrender.errors import UsageError
from shotrender.shotlist import load_with_warnings, parse

from helpers import run_cli

RATE = 24
START = 86400  # 01:00:00:00 at 24 fps, in frames

# (event kind, clip name, frames, markers as (frame in the clip, colour, text)); "gap" leaves record time empty.
EVENTS_12 = [
    ("cut", "C001_take1", 48, [(12, "RED", "ANIM FIX NEEDED")]),
    ("cut", "C002_take3", 36, []),
    ("cut", "C003", 60, []),
    ("dissolve", "C004_take2", 40, []),
    ("cut", "C005A_v2", 24, [(0, "GREEN", "bank"), (20, "BLUE", "")]),
    ("black", "BL", 12, []),
    ("cut", "C006_take1", 30, []),
    ("gap", "", 18, []),
    ("cut", "C007", 72, []),
    ("cut", "C008_take4", 20, []),
    ("cut", "C009", 44, []),
    ("dissolve", "C010_take1", 50, []),
    ("cut", "C011_take2", 26, []),
]
EXPECTED_IDS = ["C001", "C002", "C003", "C004", "C005A", "C006", "C007", "C008", "C009", "C010", "C011"]
EXPECTED_FRAMES = [48, 36, 60, 40, 24, 30, 72, 20, 44, 50, 26]


def tc(frames: int) -> str:
    s, f = divmod(frames, RATE)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{f:02d}"


def write_edl(path: Path, events=EVENTS_12, title: str = "ep07 cut v3") -> Path:
    """A CMX 3600 EDL, record times contiguous except at gaps; each clip's source starts at 02:00:00:00 + 1000 n."""
    lines = [f"TITLE: {title}", "FCM: NON-DROP FRAME", ""]
    record = START
    number = 0
    previous = None
    for kind, name, frames, markers in events:
        if kind == "gap":
            record += frames
            continue
        number += 1
        src = START * 2 + 1000 * number
        reel = "BL" if kind == "black" else f"A{number:03d}"
        if kind == "dissolve":
            lines.append(f"{number:03d}  {previous[0]:<8} V     C        {tc(previous[1])} {tc(previous[1])} "
                         f"{tc(record)} {tc(record)}")
            lines.append(f"{number:03d}  {reel:<8} V     D    012 {tc(src)} {tc(src + frames)} {tc(record)} "
                         f"{tc(record + frames)}")
            lines.append(f"* FROM CLIP NAME: {previous[2]}")
            lines.append(f"* TO CLIP NAME: {name}")
        else:
            lines.append(f"{number:03d}  {reel:<8} V     C        {tc(src)} {tc(src + frames)} {tc(record)} "
                         f"{tc(record + frames)}")
            if kind != "black":
                lines.append(f"* FROM CLIP NAME: {name}")
        for frame, colour, text in markers:
            lines.append(f"* LOC: {tc(src + frame)} {colour:<7} {text}".rstrip())
        lines.append("")
        previous = (reel, src + frames, name)
        record += frames
    path.write_text("\n".join(lines))
    return path


def draw_layouts(folder: Path, ids, size=(128, 72), suffix=".png") -> list[Path]:
    """Small line drawings: a few black lines on white, different per cut."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, cut_id in enumerate(ids):
        im = Image.new("RGB", size, "white")
        draw = ImageDraw.Draw(im)
        w, h = size
        for k in range(4):
            draw.line([(k * 11 + i * 7) % w, 0, (w - 1 - k * 17 - i * 5) % w, h - 1], fill="black", width=1)
        draw.line([0, h * 2 // 3, w - 1, h * 2 // 3], fill="black")
        path = folder / f"{cut_id}{suffix}"
        im.save(path)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------------- the edit


def test_edl_events_become_cuts_in_record_order(tmp_path):
    timeline = read_timeline(write_edl(tmp_path / "cut.edl"), rate=RATE)
    entries, skipped, how = cuts_from_timeline(timeline)
    assert how == "C and a number, e.g. C001_take1 -> C001"
    assert [e.id for e in entries] == EXPECTED_IDS
    assert [e.frames for e in entries] == EXPECTED_FRAMES
    assert skipped == {"black": 1, "gap": 1, "transition": 2}
    assert entries[0].clip == "C001_take1" and entries[2].clip is None  # the name is kept only when it differs
    assert entries[0].notes == "frame 12: ANIM FIX NEEDED (red marker)"
    assert entries[4].notes == "frame 0: bank (green marker)\nframe 20: (blue marker)"
    assert all(e.notes is None for e in entries[1:4] + entries[5:])


def test_otio_timeline_with_transition_gap_and_generator(tmp_path):
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)

    def clip(name, frames, ref=None):
        c = otio.schema.Clip(name=name, media_reference=ref or otio.schema.ExternalReference(f"/media/{name}.mov"),
                             source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(100, RATE),
                                                                  otio.opentime.RationalTime(frames, RATE)))
        return c

    first = clip("sc01_C020_take2", 30)
    first.markers.append(otio.schema.Marker(name="pan slower", color="YELLOW", marked_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(105, RATE), otio.opentime.RationalTime(0, RATE))))
    track.append(first)
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(10, RATE))))
    track.append(clip("sc01_C021", 40))
    track.append(otio.schema.Transition(in_offset=otio.opentime.RationalTime(6, RATE),
                                        out_offset=otio.opentime.RationalTime(6, RATE)))
    track.append(clip("sc01_C022B", 25))
    track.append(clip("slate", 12, otio.schema.GeneratorReference(generator_kind="SMPTEBars")))
    audio = otio.schema.Track(kind=otio.schema.TrackKind.Audio)
    audio.append(clip("sc01_C999", 500))
    timeline = otio.schema.Timeline(name="ep02", tracks=[audio, track])
    path = tmp_path / "ep02.otio"
    otio.adapters.write_to_file(timeline, str(path))

    entries, skipped, how = cuts_from_timeline(read_timeline(path), re.compile(r"C\d+[A-Z]?"))
    assert [(e.id, e.frames) for e in entries] == [("C020", 30), ("C021", 40), ("C022B", 25)]
    assert entries[0].notes == "frame 5: pan slower (yellow marker)"
    assert skipped == {"gap": 1, "transition": 1, "SMPTEBars": 1}
    assert how == "--id-pattern 'C\\d+[A-Z]?', e.g. sc01_C020_take2 -> C020"
    # by default the C-and-a-number form passes over the scene's "sc01", which would make every clip one cut
    entries, _, how = cuts_from_timeline(read_timeline(path))
    assert [e.id for e in entries] == ["C020", "C021", "C022B"] and how.startswith("C and a number")
    with pytest.raises(UsageError, match=r"more than one clip: sc01 \(sc01_C020_take2, sc01_C021, sc01_C022B\); "
                                         r"rename the clips in the edit"):
        cuts_from_timeline(read_timeline(path), re.compile(r"[a-z]+\d+"))
    # a group in the pattern picks the id out of the match
    entries, _, _ = cuts_from_timeline(read_timeline(path), re.compile(r"_(C\d+)"))
    assert [e.id for e in entries] == ["C020", "C021", "C022"]


def test_timeline_errors(tmp_path):
    empty = otio.schema.Timeline(name="nothing", tracks=[otio.schema.Track(kind=otio.schema.TrackKind.Audio)])
    with pytest.raises(UsageError, match="no video track"):
        cuts_from_timeline(empty)
    black_only = tmp_path / "black.edl"
    write_edl(black_only, [("black", "BL", 24, [])])
    with pytest.raises(UsageError, match=r"has no clips \(skipped: black 1\)"):
        cuts_from_timeline(read_timeline(black_only))
    bad = tmp_path / "bad.edl"
    bad.write_text("TITLE: x\n001  A001  V  C  01:00:00:00 01:00:01:00\n")
    with pytest.raises(UsageError, match=r"bad\.edl:2: event 001: 2 fields .* 4 timecodes .*01:00:00:00 01:00:01:00"):
        read_timeline(bad)
    with pytest.raises(UsageError, match="file not found"):
        read_timeline(tmp_path / "none.edl")
    otio.adapters.write_to_file(otio.schema.Track(), str(tmp_path / "track.otio"))
    with pytest.raises(UsageError, match="holds a Track, not a timeline"):
        read_timeline(tmp_path / "track.otio")
    nameless = tmp_path / "nameless.edl"
    write_edl(nameless, [("cut", "take_one", 24, []), ("cut", "C002", 24, [])])
    with pytest.raises(UsageError, match=r"no distinct cut id .* take_one"):
        cuts_from_timeline(read_timeline(nameless))


# ------------------------------------------------------------------------------------------- layouts


def test_layouts_folder_natural_order_and_size(tmp_path):
    draw_layouts(tmp_path / "lo", ["C10", "C2", "C1"], size=(130, 73))
    draw_layouts(tmp_path / "lo", ["C3"], size=(130, 73), suffix=".jpg")
    (tmp_path / "lo" / "notes.txt").write_text("not a layout")
    entries, _ = cuts_from_layouts(tmp_path / "lo")
    assert [e.id for e in entries] == ["C1", "C2", "C3", "C10"]
    assert entries[2].layout.name == "C3.jpg"
    assert layouts_size(entries) == (128, 72)
    (tmp_path / "lo" / "C2.webp").write_bytes((tmp_path / "lo" / "C2.png").read_bytes())
    with pytest.raises(UsageError, match=r"C2 \(C2\.png, C2\.webp\)"):
        cuts_from_layouts(tmp_path / "lo")


def test_attach_layouts_by_cut_id(tmp_path):
    draw_layouts(tmp_path / "lo", ["ep01_C001_lo", "c002", "C0030", "C004"])
    entries = attach_layouts([Entry("C001"), Entry("C002"), Entry("C004")], tmp_path / "lo")
    assert [e.layout.name for e in entries] == ["ep01_C001_lo.png", "c002.png", "C004.png"]
    with pytest.raises(UsageError, match=r"no layout in .* for 2 cuts: C003, C005"):
        attach_layouts([Entry("C003"), Entry("C004"), Entry("C005")], tmp_path / "lo")


def test_natural_key():
    assert sorted(["C10", "C2", "c1", "C2A", "C100"], key=natural_key) == ["c1", "C2", "C2A", "C10", "C100"]


def test_scaffold_parses_with_frames_notes_and_warns_on_empty_prompts(tmp_path):
    text = scaffold_yaml([Entry("C001", frames=48, notes='frame 3: "fix": the sky\nframe 9: #2', clip="C001_t2"),
                          Entry("C002")], episode="ep07", size=(1024, 576), model="draft", base_dir=tmp_path,
                         header="made by a test")
    assert text.startswith("# made by a test\nversion: 1\n")
    sl = parse(text)
    assert [(c.id, c.frames, c.layout) for c in sl.cuts] == [("C001", 48, "layouts/C001.png"),
                                                             ("C002", None, "layouts/C002.png")]
    assert sl.cuts[0].notes == 'frame 3: "fix": the sky\nframe 9: #2'
    assert yaml.safe_load(text)["cuts"][0]["prompt"] == ""


# ------------------------------------------------------------------------------------------- the command


def test_init_from_edl_12_events_validates(tmp_path):
    """The must-show: 12 EDL events with a gap, two dissolves and a black event -> a shot list validate accepts."""
    write_edl(tmp_path / "cut.edl")
    draw_layouts(tmp_path / "layouts", [f"ep07_{i}" for i in EXPECTED_IDS])
    out = run_cli("init", "--from-edl", "cut.edl", "--layouts", "layouts", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (tmp_path / "episode.yaml").write_text(out.stdout)  # as `> episode.yaml` would
    data = yaml.safe_load(out.stdout)
    assert [c["id"] for c in data["cuts"]] == EXPECTED_IDS
    assert [c["frames"] for c in data["cuts"]] == EXPECTED_FRAMES
    assert data["cuts"][0]["layout"] == "layouts/ep07_C001.png"
    assert data["size"] == [128, 72] and data["model"] == "draft" and data["episode"] == "cut"
    assert out.stdout.startswith("# Made by `shotrender init` from cut.edl")
    checked = run_cli("validate", "episode.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "11 cuts" in checked.stdout
    assert checked.stderr.count("warning:") == 11 and "no prompt at any level" in checked.stderr


def test_init_output_file_paths_relative_to_it_and_force(tmp_path):
    write_edl(tmp_path / "cut.edl")
    draw_layouts(tmp_path / "layouts", EXPECTED_IDS, size=(256, 144))
    target = tmp_path / "shots" / "ep07.yaml"
    target.parent.mkdir()
    args = ["init", "--from-edl", "cut.edl", "--layouts", "layouts", "--output", "shots/ep07.yaml",
            "--model", "models/sd15", "--episode", "ep07", "--size", "1024,576"]
    out = run_cli(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = yaml.safe_load(target.read_text())
    assert data["cuts"][0]["layout"] == "../layouts/C001.png"
    assert (data["size"], data["model"], data["episode"]) == ([1024, 576], "models/sd15", "ep07")
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr and "--force" in again.stderr
    forced = run_cli(*args, "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "will ask for --allow-outside-paths" in forced.stderr
    shotlist, problems = load_with_warnings(target, allow_outside=True)
    assert problems and all(p.warning for p in problems) and "models/sd15" not in str(problems)
    shotlist, problems = load_with_warnings(target)
    assert shotlist is None and "../layouts/C001.png is outside the shot list's folder" in str(problems)


def test_init_from_layouts_only(tmp_path):
    draw_layouts(tmp_path / "ep03" / "layouts", ["C10", "C2", "C1"])
    out = run_cli("init", "--layouts", "ep03/layouts", "--output", "ep03/episode.yaml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = yaml.safe_load((tmp_path / "ep03" / "episode.yaml").read_text())
    assert [c["id"] for c in data["cuts"]] == ["C1", "C2", "C10"]
    assert data["cuts"][2]["layout"] == "layouts/C10.png" and data["episode"] == "layouts"
    assert run_cli("validate", "ep03/episode.yaml", cwd=tmp_path).returncode == 0


def test_init_errors_exit_2(tmp_path):
    write_edl(tmp_path / "cut.edl")
    draw_layouts(tmp_path / "layouts", EXPECTED_IDS[:9])
    out = run_cli("init", "--from-edl", "cut.edl", "--layouts", "layouts", cwd=tmp_path)
    assert out.returncode == 2 and "2 cuts: C010, C011" in out.stderr and "Traceback" not in out.stderr
    dup = write_edl(tmp_path / "dup.edl", [("cut", "C001_take1", 24, []), ("cut", "C001_take2", 24, [])])
    out = run_cli("init", "--from-edl", str(dup), cwd=tmp_path)
    assert out.returncode == 2 and "C001 (C001_take1, C001_take2)" in out.stderr
    out = run_cli("init", cwd=tmp_path)
    assert out.returncode == 2 and "--from-edl" in out.stderr
    out = run_cli("init", "--from-edl", "cut.edl", "--from-otio", "x.otio", cwd=tmp_path)
    assert out.returncode == 2 and "one of" in out.stderr
    out = run_cli("init", "--from-edl", "cut.edl", "--size", "100,50", cwd=tmp_path)
    assert out.returncode == 2 and "multiple of 8" in out.stderr


def test_init_without_opentimelineio_says_how_to_install(tmp_path):
    write_edl(tmp_path / "cut.edl")
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "opentimelineio.py").write_text("raise ImportError('blocked for the test')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    out = run_cli("init", "--from-edl", "cut.edl", cwd=tmp_path, env=env)
    assert out.returncode == 2 and "pip install 'shotrender[editorial]'" in out.stderr


def test_an_edl_named_otherwise_is_read_as_one_with_from_edl(tmp_path):
    (tmp_path / "cut.txt").write_text(write_edl(tmp_path / "cut.edl").read_text())
    out = run_cli("init", "--from-edl", "cut.txt", "--rate", "24", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert [c["id"] for c in yaml.safe_load(out.stdout)["cuts"]] == EXPECTED_IDS
    assert "EDL read at 24 fps" in out.stdout and "layouts to draw in layouts/" in out.stderr


# ------------------------------------------------------------------------------------------- the schema


def test_frames_and_notes_are_checked_and_allowed_on_reused_cuts():
    base = "version: 1\nepisode: ep01\nsize: [128, 72]\nmodel: draft\ndefaults: {prompt: park}\ncuts:\n"
    sl = parse(base + "  - {id: C001, layout: a.png, frames: 24, notes: 'pan'}\n"
                      "  - {id: C002, reuse: C001, frames: 12, notes: bank}\n")
    assert [(c.frames, c.notes) for c in sl.cuts] == [(24, "pan"), (12, "bank")]
    with pytest.raises(Exception) as info:
        parse(base + "  - {id: C001, layout: a.png, frames: 0, notes: 3}\n"
                     "  - {id: C002, reuse: C001, frames: 1.5}\n")
    text = str(info.value)
    assert "cuts[0].frames (cut C001): must be between 1" in text
    assert "cuts[0].notes (cut C001): must be text" in text
    assert "cuts[1].frames (cut C002): must be a whole number" in text


def test_a_prompt_at_any_level_silences_the_warning():
    from shotrender.shotlist.validation import _parse

    text = ("version: 1\nepisode: ep01\nsize: [128, 72]\nmodel: draft\nbackgrounds: {park: {prompt: park}}\n"
            "cuts:\n  - {id: C001, layout: a.png, bg: park}\n  - {id: C002, layout: a.png, prompt: ' '}\n"
            "  - {id: C003, layout: a.png, prompt: bench}\n  - {id: C004, reuse: C001}\n")
    _, problems = _parse(text, "ep.yaml", Path("."))
    problems = [p for p in problems if "no prompt" in p.message]  # not the warning for a cut without bg
    assert [(p.cut, p.warning) for p in problems] == [("C002", True)]
    assert problems[0].line == 8
