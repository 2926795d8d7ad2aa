"""Whatever `shotrender init` writes, `validate` accepts, and nothing of the edit is lost on the way.

Hypothesis writes the edits and folders: clip names and marker texts of any Unicode (control characters,
line and paragraph separators, format characters included), durations from negative to long, every
spelling of every timecode rate, and layout file names of any characters, some not UTF-8. For each, init
either writes a shot list that validate accepts (layouts drawn where it says they go), with every cut's
frames and notes as they were in the edit, or refuses with one of its documented reasons, exit 2, and
writes nothing. Both run in this process (click's CliRunner, `load_with_warnings`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from shotrender.cli import cli
from shotrender.shotlist import load_with_warnings
from test_init_regressions import write_otio

SOME = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
REFUSALS = ("no distinct cut id", "not UTF-8 text", "frames: clip", "do not last from 1", "does not last from 1")
# "23.976" and "24000/1001" name the same rate; the frames field counts the timecode's frames at the nominal fps
RATES = {"24": 24, "25": 25, "30": 30, "48": 48, "50": 50, "60": 60, "23.976": 24, "23.98": 24, "24000/1001": 24,
         "29.97": 30, "30000/1001": 30, "47.952": 48, "48000/1001": 48, "59.94": 60, "60000/1001": 60}

LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # an EDL is lines: no clip name there holds one
# OpenTimelineIO holds UTF-8 text (no lone surrogate) and ends a name at a NUL
any_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
clip_name = st.builds(lambda before, c, n, after: f"{before}{c}{n:03d}{after}", any_text,
                      st.sampled_from(["C", "c", "", "_", "sc01_C"]), st.integers(0, 999), any_text)
marker = st.tuples(st.integers(-5, 60), st.sampled_from(["RED", "GREEN", "BLUE"]), any_text)
clip = st.tuples(clip_name, st.integers(-30, 400), st.lists(marker, max_size=2))


@contextmanager
def fresh_folder():
    """A folder per Hypothesis example (tmp_path is one per test)."""
    folder = Path(tempfile.mkdtemp(prefix="initprop-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def draw(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (128, 72), "white").save(path)


def refused_or_valid(result, target: Path):
    """The shot list validate read from `target`, or None when init refused as documented."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    event(f"exit {result.exit_code}")  # shown by --hypothesis-show-statistics
    if result.exit_code != 0:
        event(result.stderr.split(":")[1][:40])
        assert result.exit_code == 2 and any(r in result.stderr for r in REFUSALS), result.output
        assert not target.exists()
        return None
    text = target.read_text(encoding="utf-8")
    for c in yaml.safe_load(text)["cuts"]:
        if not (target.parent / c["layout"]).exists():
            draw(target.parent / c["layout"])
    loaded, problems = load_with_warnings(target)
    assert loaded is not None, "\n".join(map(str, problems)) + "\n" + text
    for c in loaded.cuts:  # nothing but what init means to write: no key came in with a name
        assert (c.params.prompt, c.params.strength, c.params.seed, c.params.steps, c.bg) == ("", None, None, None,
                                                                                              None)
    return loaded


def marker_notes(markers) -> str | None:
    return "\n".join(f"frame {f}: {t + ' ' if t else ''}({colour.lower()} marker)" for f, colour, t in markers) or None


@SOME
@given(clips=st.lists(clip, min_size=1, max_size=5), rate=st.sampled_from([24, 25, 30000 / 1001, 12, 60]))
def test_init_from_any_timeline_writes_what_validate_accepts(clips, rate):
    with fresh_folder() as workdir:
        timeline_case(workdir, clips, rate)


def timeline_case(workdir: Path, clips, rate) -> None:
    edit = write_otio(workdir / "cut.otio", clips, rate)
    target = workdir / "shots" / "ep.yaml"
    loaded = refused_or_valid(CliRunner().invoke(cli, ["init", "--from-otio", str(edit), "-o", str(target)]), target)
    if loaded is not None:
        assert [(c.frames, c.notes) for c in loaded.cuts] == [(f, marker_notes(m)) for _, f, m in clips]


@SOME
@given(names=st.lists(st.text(st.characters(exclude_categories=["Cs"], exclude_characters=LINE_BREAKS), max_size=16),
                      min_size=1, max_size=4),
       frames=st.lists(st.integers(-3, 90), min_size=4, max_size=4), rate=st.sampled_from(sorted(RATES)))
def test_init_from_any_edl_at_any_rate_writes_what_validate_accepts(names, frames, rate):
    with fresh_folder() as workdir:
        edl_case(workdir, names, frames, rate)


def edl_case(workdir: Path, names, frames, rate) -> None:
    fps = RATES[rate]

    def tc(f: int) -> str:
        s, f = divmod(f, fps)
        return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{f:02d}"

    lines = ["TITLE: prop", "FCM: NON-DROP FRAME", ""]
    record = 3600 * fps
    for n, (name, length) in enumerate(zip(names, frames, strict=False), 1):
        src = 7200 * fps + 1000 * n
        lines += [f"{n:03d}  A{n:03d}     V     C        {tc(src)} {tc(src + length)} {tc(record)} "
                  f"{tc(record + length)}", f"* FROM CLIP NAME: C{n:03d}{name}", ""]
        record += max(length, 0)
    edit = workdir / "cut.edl"
    edit.write_text("\n".join(lines), encoding="utf-8")
    target = workdir / "ep.yaml"
    result = CliRunner().invoke(cli, ["init", "--from-edl", str(edit), "--rate", rate, "-o", str(target)])
    if all(f > 0 for f in frames[:len(names)]):
        assert result.exit_code == 0, result.output
    loaded = refused_or_valid(result, target)
    if loaded is not None:
        assert [c.frames for c in loaded.cuts] == frames[:len(names)]


file_stem = st.builds(lambda a, c, n, b: f"{a}{c}{n:03d}{b}", any_text, st.sampled_from(["C", "c", "", "_"]),
                      st.integers(0, 999), any_text)
not_utf8_stem = st.binary(min_size=1, max_size=12).map(os.fsdecode)  # a name's bytes in any encoding


def file_name(stem: str) -> str:
    return stem.replace("/", "_").replace("\x00", "_")[:60] + ".png"


@SOME
@given(stems=st.lists(file_stem, min_size=1, max_size=4), odd=st.lists(not_utf8_stem, max_size=1))
def test_init_from_any_folder_of_layouts_writes_what_validate_accepts(stems, odd):
    with fresh_folder() as workdir:
        folder_case(workdir, sorted({file_name(s) for s in stems + odd}))


def folder_case(workdir: Path, names: list[str]) -> None:
    for name in names:
        draw(workdir / "layouts" / name)
    target = workdir / "ep.yaml"
    loaded = refused_or_valid(CliRunner().invoke(cli, ["init", "--layouts", str(workdir / "layouts"),
                                                       "-o", str(target)]), target)
    if loaded is not None:
        assert sorted(Path(c.layout).name for c in loaded.cuts) == names
