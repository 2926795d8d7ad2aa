"""`shotrender init` regressions (issue 16): what it writes, validate accepts; what it refuses, it refuses
with the reason and without touching the file it was to write.

Each test once failed: the comment above it says how. They use only the command line and
`load_with_warnings`, the way a user meets them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import opentimelineio as otio
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from shotrender.cli import cli
from shotrender.shotlist import load_with_warnings

RATE = 24


def init(*args: str, cwd: Path | None = None):
    """`shotrender init ARGS` in this process; stdout and stderr apart."""
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, ["init", *args])
    finally:
        os.chdir(old)


def write_otio(path: Path, clips, rate: float = RATE) -> Path:
    """A timeline of one video track; `clips` are (name, frames, markers as (frame, colour, text))."""
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for name, frames, markers in clips:
        clip = otio.schema.Clip(name=name, media_reference=otio.schema.ExternalReference("/media/x.mov"),
                                source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(100, rate),
                                                                     otio.opentime.RationalTime(frames, rate)))
        for frame, colour, text in markers:
            clip.markers.append(otio.schema.Marker(name=text, color=colour, marked_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(100 + frame, rate), otio.opentime.RationalTime(0, rate))))
        track.append(clip)
    otio.adapters.write_to_file(otio.schema.Timeline(name="ep", tracks=[track]), str(path))
    return path


def edl_event(number: int, name: str, src_in: str, src_out: str, rec_in: str, rec_out: str) -> str:
    return (f"{number:03d}  A{number:03d}     V     C        {src_in} {src_out} {rec_in} {rec_out}\n"
            f"* FROM CLIP NAME: {name}\n\n")


def draw(path: Path, size=(128, 72)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, "white").save(path)
    return path


def draw_layouts_named_in(shotlist: Path) -> None:
    for c in yaml.safe_load(shotlist.read_text())["cuts"]:
        if not (shotlist.parent / c["layout"]).exists():
            draw(shotlist.parent / c["layout"])


def validated(shotlist: Path):
    """The shot list as validate reads it; fails the test with validate's problems if it refuses it."""
    loaded, problems = load_with_warnings(shotlist)
    assert loaded is not None, "\n".join(map(str, problems))
    return loaded


# ------------------------------------------------------------------------------------------- names


# Was: the \x80 went into the YAML raw, in the clip comment and in the notes; validate refused the file
# ("unacceptable character #x0080"). The other characters here broke it the same way or ended a line.
@pytest.mark.parametrize("bad", ["\x80", "\x07", "\x1b[31m", "\x85", "\u2028", "\ufeff", "\x7f", "\ud7ff\ue000"])
def test_control_characters_in_clip_names_and_markers_are_escaped(tmp_path, bad):
    edit = write_otio(tmp_path / "cut.otio", [(f"C001{bad}take2", 24, [(3, "RED", f"fix{bad}sky")]),
                                              ("C002", 12, [])])
    out = init("--from-otio", str(edit), "-o", str(tmp_path / "ep.yaml"))
    assert out.exit_code == 0, out.output
    draw_layouts_named_in(tmp_path / "ep.yaml")
    loaded = validated(tmp_path / "ep.yaml")
    assert [c.id for c in loaded.cuts] == ["C001", "C002"]
    assert loaded.cuts[0].notes == f"frame 3: fix{bad}sky (red marker)"  # nothing lost, nothing changed
    assert all(ch.isprintable() for ch in (tmp_path / "ep.yaml").read_text().replace("\n", ""))


# Was: "# clip C001\n    strength: 0.9" put a real `strength:` line into the cut, and validate accepted it.
@pytest.mark.parametrize("brk", ["\n", "\r", "\r\n"])
def test_a_line_break_in_a_clip_name_injects_no_key(tmp_path, brk):
    edit = write_otio(tmp_path / "cut.otio", [(f"C001_x{brk}    strength: 0.9", 24, []),
                                              (f"C002{brk}    seed: 5{brk}", 24, [])])
    out = init("--from-otio", str(edit), "-o", str(tmp_path / "ep.yaml"))
    assert out.exit_code == 0, out.output
    draw_layouts_named_in(tmp_path / "ep.yaml")
    loaded = validated(tmp_path / "ep.yaml")
    assert [(c.params.strength, c.params.seed) for c in loaded.cuts] == [(None, None), (None, None)]
    assert "# clip " in (tmp_path / "ep.yaml").read_text() and "\r" not in (tmp_path / "ep.yaml").read_text()


# Was: a layout whose file name is not UTF-8 made init crash with UnicodeEncodeError half way through
# writing -o FILE --force, leaving FILE truncated.
def test_a_file_name_that_is_not_utf8_is_refused_and_the_old_file_kept(tmp_path):
    folder = tmp_path / "layouts"
    draw(folder / "C001.png")
    draw(Path(os.fsdecode(bytes(folder) + b"/C002_\xff.png")))
    target = tmp_path / "ep.yaml"
    target.write_text("version: 1  # the artist's file\n")
    out = init("--layouts", str(folder), "-o", str(target), "--force")
    assert out.exit_code == 2, out.output
    assert "not UTF-8" in out.stderr and "C002_" in out.stderr and "rename it" in out.stderr
    assert out.exception is None or isinstance(out.exception, SystemExit)
    assert target.read_text() == "version: 1  # the artist's file\n"


# ------------------------------------------------------------------------------------------- events


# Was: `frames: -240` and `frames: 0` were written, and validate refused them.
def test_reversed_and_zero_length_events_are_refused_by_name(tmp_path):
    edl = tmp_path / "cut.edl"
    edl.write_text("TITLE: rev\nFCM: NON-DROP FRAME\n\n"
                   + edl_event(1, "C001", "02:00:10:00", "02:00:00:00", "01:00:10:00", "01:00:00:00")
                   + edl_event(2, "C002", "02:00:00:00", "02:00:00:00", "01:00:10:00", "01:00:10:00")
                   + edl_event(3, "C003", "02:00:00:00", "02:00:01:00", "01:00:10:00", "01:00:11:00"))
    out = init("--from-edl", str(edl), "-o", str(tmp_path / "ep.yaml"))
    assert out.exit_code == 2, out.output
    assert "clip 1 C001 (source 02:00:10:00 to 02:00:00:00) lasts -240 frames" in out.stderr
    assert "clip 2 C002 (source 02:00:00:00 to 02:00:00:00) lasts 0 frames" in out.stderr
    assert "C003" not in out.stderr and "in and out points" in out.stderr
    assert not (tmp_path / "ep.yaml").exists()


# ------------------------------------------------------------------------------------------- --rate


# Was: 23.976, 29.97 and 59.94 were handed to the EDL reader as such and refused ("SMPTE timecode does not
# support this rate"), 30000/1001 was not a number to click, while init printed "23.976 fps" for 24000/1001.
@pytest.mark.parametrize(("rate", "fps", "shown"), [
    ("23.976", 24, "23.976"), ("23.98", 24, "23.976"), ("24000/1001", 24, "23.976"), ("29.97", 30, "29.97"),
    ("30000/1001", 30, "29.97"), ("59.94", 60, "59.94"), ("60000/1001", 60, "59.94"), ("25", 25, "25"),
])
def test_rate_takes_ntsc_decimals_and_fractions(tmp_path, rate, fps, shown):
    edl = tmp_path / "cut.edl"
    # 1 s 10 frames at the rate's nominal fps: the timecode counts frames, so 1 * fps + 10 frames
    edl.write_text("TITLE: ntsc\nFCM: NON-DROP FRAME\n\n"
                   + edl_event(1, "C001", "02:00:00:00", "02:00:01:10", "01:00:00:00", "01:00:01:10"))
    out = init("--from-edl", str(edl), "--rate", rate)
    assert out.exit_code == 0, out.output
    assert yaml.safe_load(out.stdout)["cuts"][0]["frames"] == fps + 10
    assert f"EDL read at {shown} fps" in out.stderr


@pytest.mark.parametrize("rate", ["23.97", "12", "0", "24/0", "abc", "-24", "nan", "1e400", "1e999999999", "9" * 5000])
def test_a_rate_timecode_has_not_is_a_usage_error_listing_the_rates(tmp_path, rate):
    edl = tmp_path / "cut.edl"
    edl.write_text("TITLE: x\n\n" + edl_event(1, "C001", "02:00:00:00", "02:00:01:00", "01:00:00:00", "01:00:01:00"))
    out = init("--from-edl", str(edl), "--rate", rate)
    assert out.exit_code == 2, out.output
    assert "is not a timecode rate" in out.stderr
    assert "24, 25, 30, 48, 50, 60" in out.stderr and "29.97 (30000/1001)" in out.stderr


# Was: a traceback (ValueError: Exceeds the limit (4300 digits) for integer string conversion).
def test_a_size_of_thousands_of_digits_is_a_usage_error(tmp_path):
    draw(tmp_path / "layouts" / "C001.png")
    out = init("--layouts", str(tmp_path / "layouts"), "--size", "9" * 5000 + ",576")
    assert out.exit_code == 2 and "multiple of 8" in out.stderr, out.output


# ------------------------------------------------------------------------------------------- --output


# Was: `-o /dev/full --force` ended in a traceback (OSError: No space left on device).
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_output_to_a_device_is_a_usage_error(tmp_path, force):
    draw(tmp_path / "layouts" / "C001.png")
    out = init("--layouts", str(tmp_path / "layouts"), "-o", "/dev/full", *force)
    assert out.exit_code == 2, out.output
    assert "/dev/full is not a regular file" in out.stderr
    assert out.exception is None or isinstance(out.exception, SystemExit)


# ------------------------------------------------------------------------------------------- cut ids


# Was: the default pattern took "ep02" from every file, so init said all were one cut and told the user
# to "rename them in the edit" (there was no edit), with no pattern to try.
def test_cut_ids_in_file_names_are_found_and_the_form_named(tmp_path):
    for name in ("ep02_C010_lo", "ep02_C011_lo", "ep02_C012A_lo"):
        draw(tmp_path / "layouts" / f"{name}.png")
    out = init("--layouts", "layouts", "-o", "ep02.yaml", cwd=tmp_path)
    assert out.exit_code == 0, out.output
    assert "cut ids: C and a number, e.g. ep02_C010_lo.png -> C010" in out.stderr
    loaded = validated(tmp_path / "ep02.yaml")
    assert [c.id for c in loaded.cuts] == ["C010", "C011", "C012A"]


@pytest.mark.parametrize(("names", "ids"), [
    (["C010", "C011"], ["C010", "C011"]),
    (["c010_v2", "c011_v3"], ["c010", "c011"]),
    (["s01c010", "s01c011"], ["c010", "c011"]),
    (["sc01_C020_take2", "sc01_C021"], ["C020", "C021"]),
    (["010", "011A"], ["010", "011A"]),
    (["ep02_010_lo", "ep02_011_lo"], ["010", "011"]),
    (["K12_take2", "K13"], ["K12", "K13"]),
])
def test_the_documented_id_forms(tmp_path, names, ids):
    for name in names:
        draw(tmp_path / "layouts" / f"{name}.png")
    out = init("--layouts", "layouts", "-o", "ep.yaml", cwd=tmp_path)
    assert out.exit_code == 0, out.output
    assert [c.id for c in validated(tmp_path / "ep.yaml").cuts] == ids


def test_names_without_an_id_get_what_was_tried_and_a_pattern_that_works(tmp_path):
    for name in ("ep02_park_lo", "ep02_bench_lo", "ep02_gate_lo"):
        draw(tmp_path / "layouts" / f"{name}.png")
    out = init("--layouts", "layouts", "-o", "ep.yaml", cwd=tmp_path)
    assert out.exit_code == 2, out.output
    assert "in the edit" not in out.stderr
    for form in ("C and a number", "a number on its own", "the first letters and digits"):
        assert form in out.stderr
    suggested = re.search(r"--id-pattern '([^']+)' \(ep02_bench_lo\.png -> bench\)", out.stderr)
    assert suggested, out.stderr
    again = init("--layouts", "layouts", "-o", "ep.yaml", "--id-pattern", suggested.group(1), cwd=tmp_path)
    assert again.exit_code == 0, again.output
    assert [c.id for c in validated(tmp_path / "ep.yaml").cuts] == ["bench", "gate", "park"]


def test_no_command_or_page_recommends_a_redirect_that_a_failure_leaves_empty():
    # Was: `shotrender init ... > episode.yaml`: when init refuses, the shell has already emptied the file.
    text = CliRunner().invoke(cli, ["init", "--help"]).output
    docs = Path(__file__).resolve().parents[1] / "docs" / "commands.md"
    section = docs.read_text().split("## shotrender init", 1)[1].split("\n## ", 1)[0]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for where in (text, section, readme):
        assert not re.search(r"shotrender init [^\n]*> ?\S+\.yaml", where), where


# ------------------------------------------------------------------------------------------- layouts


# Was: 100x60 layouts became size [96, 64] (each side rounded on its own), an aspect 10% off, and
# validate refused every layout.
def test_the_size_keeps_the_layouts_aspect(tmp_path):
    for name in ("C001", "C002"):
        draw(tmp_path / "layouts" / f"{name}.png", size=(100, 60))
    out = init("--layouts", "layouts", "-o", "ep.yaml", cwd=tmp_path)
    assert out.exit_code == 0, out.output
    loaded = validated(tmp_path / "ep.yaml")
    assert (loaded.width, loaded.height) == (120, 72)


# Was: written, then refused by validate (damaged file). A layout of another aspect is a camera move's
# (tests/test_hardening.py).
def test_layouts_validate_would_refuse_are_refused(tmp_path):
    draw(tmp_path / "layouts" / "C001.png")
    draw(tmp_path / "layouts" / "C002.png")
    draw(tmp_path / "layouts" / "C003.png", size=(128, 128))
    (tmp_path / "layouts" / "C003.png").write_bytes((tmp_path / "layouts" / "C001.png").read_bytes()[:60])
    out = init("--layouts", "layouts", "-o", "ep.yaml", cwd=tmp_path)
    assert out.exit_code == 2 and "C003.png is damaged or truncated" in out.stderr, out.output
    assert not (tmp_path / "ep.yaml").exists()


# ------------------------------------------------------------------------------------------- backgrounds


# Was: no backgrounds: and no bg: anywhere, and nothing said so: every cut its own chain, continuity off.
def test_the_scaffold_shows_how_to_group_cuts_and_says_why(tmp_path):
    for name in ("C001", "C002", "C003"):
        draw(tmp_path / "layouts" / f"{name}.png")
    out = init("--layouts", "layouts", "-o", "ep.yaml", cwd=tmp_path)
    assert out.exit_code == 0, out.output
    assert "chain of one" in out.stderr and "without continuity" in out.stderr
    text = (tmp_path / "ep.yaml").read_text()
    assert validated(tmp_path / "ep.yaml").backgrounds == {}
    # the commented example, uncommented and used as it says, is a background the cuts share
    lines = text.splitlines()
    start = lines.index("# backgrounds:")
    example = [line[2:] for line in lines[start:] if line.startswith("#   ") or line == "# backgrounds:"]
    grouped = text.replace("cuts:\n", "\n".join(example) + "\ncuts:\n").replace('    prompt: ""', "    bg: park")
    (tmp_path / "grouped.yaml").write_text(grouped)
    loaded = validated(tmp_path / "grouped.yaml")
    assert list(loaded.backgrounds) == ["park"] and {c.bg for c in loaded.cuts} == {"park"}


def test_a_layout_name_with_a_superscript_digit_is_sorted_not_a_crash(tmp_path):
    """Hypothesis found `C000²0.png`: '²' is a digit to str.isdigit but not to int(), and init crashed."""
    from shotrender.editorial import natural_key

    assert natural_key("C000²0") == ["c", 0, "²", 0, ""]
    assert sorted(["C10", "C2", "C¹"], key=natural_key) == ["C2", "C10", "C¹"]
