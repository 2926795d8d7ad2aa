"""Issue 27's hardening: every file a shot list names read under one rule, every parser bounded, every command
a user pastes quoted. Each test here failed on the code before its fix."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from shotrender.plan import make_plan
from shotrender.shotlist import load

from helpers import cut, episode, write_shotlist


def test_export_job_prints_paths_a_shell_takes_whole(tmp_path):
    from shotrender.farm import missing_defaults, openjd_template

    folder = tmp_path / "my shots $(touch PWNED)"
    plan = make_plan(load(write_shotlist(folder, episode([cut("C001")]))))
    out = folder / "renders"
    template = openjd_template(plan, out, tmp_path / "elsewhere", "shotrender")
    args = missing_defaults(template, plan, out)
    echoed = subprocess.run(["bash", "-c", f"printf '%s\\n' {' '.join(args)}"], cwd=tmp_path,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert echoed == ["-p", f"ShotList={folder.resolve() / 'episode.yaml'}", "-p", f"OutputDir={out.resolve()}"]
    assert not (tmp_path / "PWNED").exists()


def test_ci_runs_exactly_the_readme_test_command_and_no_test_skips_for_a_missing_tool():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    block = readme.split("Install everything the tests need", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    assert block.startswith("scripts/install-test-deps.sh") and block.endswith("python -m pytest -q"), block
    assert block in (root / ".ci" / "run").read_text().splitlines()
    for test in set((root / "tests").glob("*.py")) - {Path(__file__).resolve()}:  # helpers.system_tool fails
        text = test.read_text()
        assert "importorskip" not in text and not re.search(r"skip(if)?\(.*(chromium|identify|which)", text), test


def test_a_mistyped_model_folder_exits_2_at_once_and_writes_nothing(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from shotrender.cli import cli

    shotlist = write_shotlist(tmp_path, episode([cut("C001")]))
    monkeypatch.chdir(tmp_path)
    for given in (["--model", "models/sd15"], []):
        if not given:  # the README's form written in the shot list
            shotlist.write_text(shotlist.read_text().replace("model: draft", "model: models/sd15"))
        out = CliRunner().invoke(cli, ["render", str(shotlist), *given])
        assert out.exit_code == 2, out.output
        assert "there is no folder models/ there" in out.output and "hf download models/sd15" in out.output
        assert not (tmp_path / "renders").exists()


# ------------------------------------------------------------------------------- one rule for named files


def _named_everywhere(folder: Path, target: str) -> Path:
    """A shot list naming `target` as its art board, a LoRA, the VAE and the IP-Adapter."""
    data = episode([cut("C001", loras=[{"file": target}])], vae=target, ip_adapter=target)
    data["backgrounds"]["park"]["art_board"] = {"image": target}
    return write_shotlist(folder, data)


def test_no_file_a_shot_list_names_is_read_outside_its_folder_unless_allowed(tmp_path):
    from shotrender.shotlist import load_with_warnings

    from helpers import draw_layout

    board = draw_layout(tmp_path / "elsewhere" / "board.png")
    shotlist = _named_everywhere(tmp_path / "show", str(board))
    loaded, problems = load_with_warnings(shotlist)
    outside = {p.field for p in problems if "outside the shot list's folder" in p.message}
    assert loaded is None and outside == {"backgrounds.park.art_board.image", "cuts[0].loras[0].file", "vae",
                                          "ip_adapter"}, problems
    _, trusted = load_with_warnings(shotlist, allow_outside=True)
    assert not any("outside" in p.message for p in trusted)


def test_a_fifo_named_as_any_file_is_refused_not_waited_on(tmp_path):
    import os

    from helpers import run_cli

    folder = tmp_path / "show"
    folder.mkdir()
    os.mkfifo(folder / "board.png")
    shotlist = _named_everywhere(folder, "board.png")
    for command in ("validate", "status", "render"):
        done = run_cli(command, str(shotlist), timeout=60)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("board.png is a FIFO (named pipe), not a file") == 4, done.stderr


# ---------------------------------------------------------------------------------------------- the edit

AV_EDL = """TITLE: ep07
FCM: NON-DROP FRAME

001  C001_lo  V     C        01:00:00:00 01:00:02:00 00:00:00:00 00:00:02:00
* FROM CLIP NAME: C001_lo
001  C001_lo  A     C        01:00:00:00 01:00:02:00 00:00:00:00 00:00:02:00
* FROM CLIP NAME: C001_lo
002  C002_lo  V     C        01:00:10:00 01:00:12:00 00:00:02:00 00:00:04:00
* FROM CLIP NAME: C002_lo
002  C002_lo  A     C        01:00:10:00 01:00:12:00 00:00:02:00 00:00:04:00
"""


def _init(folder: Path, *args: str):
    from click.testing import CliRunner

    from shotrender.cli import cli

    return CliRunner().invoke(cli, ["init", *args, "-o", str(folder / "ep.yaml")])


def test_an_edl_whose_picture_and_sound_share_event_numbers_is_read(tmp_path):
    (tmp_path / "av.edl").write_text(AV_EDL)
    out = _init(tmp_path, "--from-edl", str(tmp_path / "av.edl"))
    assert out.exit_code == 0, out.output
    assert "2 cuts" in out.output and "id: C001" in (tmp_path / "ep.yaml").read_text()


def test_an_edl_event_that_is_no_event_is_named_with_its_line(tmp_path):
    (tmp_path / "bad.edl").write_text(AV_EDL.replace("01:00:10:00 01:00:12:00", "01:00:10:00 01:00:72:00"))
    out = _init(tmp_path, "--from-edl", str(tmp_path / "bad.edl"))
    assert out.exit_code == 2 and "bad.edl:8: event 002: 01:00:72:00 is no timecode at 24 fps" in out.output


MALFORMED_OTIO = {
    "a clip without media references": '{"OTIO_SCHEMA": "Timeline.1", "tracks": {"OTIO_SCHEMA": "Stack.1", "children":'
                                       ' [{"OTIO_SCHEMA": "Track.1", "kind": "Video", "children": [{"OTIO_SCHEMA": '
                                       '"Clip.2", "name": "C001", "source_range": 5}]}]}}',
    "a list": "[1, 2]",
    "tracks that are a number": '{"OTIO_SCHEMA": "Timeline.1", "tracks": 5}',
}


def test_malformed_and_deeply_nested_otio_files_exit_2_naming_the_file(tmp_path):
    from helpers import run_cli

    for name, text in MALFORMED_OTIO.items():
        (tmp_path / "bad.otio").write_text(text)
        out = _init(tmp_path, "--from-otio", str(tmp_path / "bad.otio"))
        assert out.exit_code == 2 and "bad.otio: " in out.output, (name, out.output)
    (tmp_path / "deep.otio").write_text('{"OTIO_SCHEMA": "Stack.1", "children": [' * 100_000 + "]}" * 100_000)
    deep = run_cli("init", "--from-otio", "deep.otio", "-o", "deep.yaml", cwd=tmp_path)  # was a segfault
    assert deep.returncode == 2 and "deep.otio: nests 200000 levels deep" in deep.stderr, deep.stderr


# ------------------------------------------------------------------------------------------- PSD retouches


def crafted_psd(width: int, height: int, rects: list[tuple[int, int, int, int]], zipped: bool = False) -> bytes:
    """An RGB PSD written byte by byte: `rects` (top, left, bottom, right) are its layers, each of four channels
    of zeros, raw or zip-compressed; then the merged image, white."""
    import struct
    import zlib

    records, channel_data = b"", b""
    for top, left, bottom, right in rects:
        area = max(bottom - top, 0) * max(right - left, 0)
        data = struct.pack(">H", 2) + zlib.compress(bytes(area)) if zipped else struct.pack(">H", 0) + bytes(area)
        records += struct.pack(">iiiiH", top, left, bottom, right, 4)
        records += b"".join(struct.pack(">hI", channel, len(data)) for channel in (-1, 0, 1, 2))
        records += b"8BIMnorm" + bytes([255, 0, 0, 0]) + struct.pack(">I", 12) + bytes(12)
        channel_data += data * 4
    layers = struct.pack(">h", len(rects)) + records + channel_data
    layers += b"\0" * (len(layers) % 2)
    info = struct.pack(">I", len(layers)) + layers + struct.pack(">I", 0)
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    merged = struct.pack(">H", 0) + b"\xff" * (3 * width * height)
    return header + struct.pack(">I", 0) * 2 + struct.pack(">I", len(info)) + info + merged


def test_a_psd_retouch_with_too_many_layers_or_too_many_layer_pixels_is_refused_before_it_is_decoded(tmp_path):
    import pytest

    from shotrender.retouch import Incoming, RetouchError, flatten

    def read(data: bytes):
        return flatten(Incoming("C001", tmp_path / "ep01_C001.psd", data, "0" * 64), 128, 72)

    assert read(crafted_psd(128, 72, [(0, 0, 72, 128)] * 3)).shape == (72, 128, 3)  # a plain one is read
    with pytest.raises(RetouchError, match="has 201 layers; a retouch is read with at most 200"):
        read(crafted_psd(128, 72, [(0, 0, 1, 1)] * 201))
    with pytest.raises(RetouchError, match="million channel pixels in all, more than 64 pictures of 128x72"):
        read(crafted_psd(128, 72, [(0, 0, 2000, 2000)], zipped=True))


# ------------------------------------------------------------------------------------------ init --layouts


def test_init_makes_pan_layouts_moving_cuts_and_names_the_episode_from_the_files(tmp_path):
    from shotrender.shotlist import load_with_warnings

    from helpers import draw_layout

    for i in (1, 2):
        draw_layout(tmp_path / "layouts" / f"ep07_C00{i}.png", 128, 72, seed=i)
    draw_layout(tmp_path / "layouts" / "ep07_C003.png", 384, 72, seed=3)  # a PAN three frames wide
    draw_layout(tmp_path / "layouts" / "ep07_C004.png", 128, 216, seed=4)  # a vertical PAN
    out = _init(tmp_path, "--layouts", str(tmp_path / "layouts"))
    assert out.exit_code == 0, out.output
    loaded, problems = load_with_warnings(tmp_path / "ep.yaml")
    assert loaded is not None, problems
    assert loaded.episode == "ep07" and (loaded.width, loaded.height) == (128, 72)
    moves = {c.id: c.camera for c in loaded.cuts if c.camera is not None}
    assert (moves["C003"].start.x, moves["C003"].end.x, moves["C003"].end.width) == (0, 256, 128)
    assert (moves["C004"].start.y, moves["C004"].end.y, moves["C004"].end.width) == (0, 144, 128)
    assert "2 layouts wider or taller than the frame" in out.output


def test_an_otio_timeline_without_tracks_exits_2(tmp_path):  # was a segfault (found by tests/test_fuzz_inputs.py)
    from helpers import run_cli

    (tmp_path / "none.otio").write_text('{"OTIO_SCHEMA": "Timeline.1", "tracks": null}')
    out = run_cli("init", "--from-otio", "none.otio", "-o", "ep.yaml", cwd=tmp_path)
    assert out.returncode == 2 and "none.otio: the timeline has no tracks" in out.stderr, out.stderr


def test_a_psd_layer_that_does_not_inflate_is_refused_not_painted_black(tmp_path):  # found by the fuzz pass
    import pytest

    from shotrender.retouch import Incoming, RetouchError, flatten

    data = bytearray(crafted_psd(128, 72, [(0, 0, 72, 128)], zipped=True))
    data[data.index(b"8BIMnorm") + 40] ^= 0xFF  # a byte of the first channel's zip stream
    with pytest.raises(RetouchError, match="its layers cannot be flattened"):
        flatten(Incoming("C001", tmp_path / "ep01_C001.psd", bytes(data), "0" * 64), 128, 72)
