"""Camera moves (camera.py) against hostile and careless shot lists and output folders: values past what a
float holds, moves longer than any cut, hand-edited sidecars and manifests."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from test_camera import _place, _reused_pan

from helpers import run_cli


def _with_camera(path, **change):
    data = yaml.safe_load(path.read_text())
    data["cuts"][1]["camera"] = {**data["cuts"][1]["camera"], **change}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_framing_too_narrow_for_a_float_deliverable_is_refused_with_its_line(tmp_path):
    # 1e-300 px wide: the deliverable would be 1e302 px wide, past what a float of its pixel count holds;
    # 5e-324 (the smallest float): its scale is infinite
    path = _place(tmp_path, cuts=("C001", "P01"))
    for width in (1e-300, 5e-324):
        _with_camera(path, to={"x": 0, "y": 0, "width": width})
        result = run_cli("validate", str(path))
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "over 16384 px on a side" in result.stderr and "cuts[1].camera" in result.stderr, result.stderr


def test_a_move_longer_than_any_cut_is_refused_before_anything_is_painted(tmp_path):
    # frames: 2147483647 (a cut's own maximum) made render build a camera file of two billion framings and
    # never end; the move's length is checked on the camera, and on the cut's frames a move takes
    path = _place(tmp_path, cuts=("C001", "P01"))
    _with_camera(path, frames=2**31 - 1)
    assert run_cli("validate", str(path)).returncode == 2
    result = run_cli("render", str(path))
    assert result.returncode == 2, result.stderr
    assert "cuts[1].camera.frames (cut P01): a camera move takes at most 14400 frames" in result.stderr
    assert not (tmp_path / "out").exists()
    data = yaml.safe_load(path.read_text())
    del data["cuts"][1]["camera"]["frames"]
    data["cuts"][1]["frames"] = 100_000
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli("validate", str(path))
    assert result.returncode == 2 and "cuts[1].frames (cut P01): a camera move takes at most" in result.stderr
    data["cuts"][1]["frames"] = 14_400  # the longest move there is: checked, not painted
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert run_cli("validate", str(path)).returncode == 0


@pytest.mark.parametrize("cut", ["P01", "P02"])
def test_a_moving_cuts_sidecar_edited_to_name_no_camera_file_is_missing_and_the_file_comes_back(tmp_path, cut):
    # the camera entry and the file deleted together: status called the cut up to date, render skipped it,
    # and the compositor's camera file never came back (for the moving cut, and for its reuse P02)
    path = _reused_pan(tmp_path)
    out = tmp_path / "out"
    camera_file = out / f"ep01_{cut}.camera.json"
    before = camera_file.read_bytes()
    sidecar = out / f"ep01_{cut}.json"
    record = json.loads(sidecar.read_text())
    del record["camera"], record["pictures"]["camera"]
    sidecar.write_text(json.dumps(record))
    camera_file.unlink()
    rows = {r["cut"]: r for r in json.loads(run_cli("status", str(path), "--json").stdout)}
    assert rows[cut]["state"] == "missing", rows[cut]
    assert run_cli("render", str(path)).returncode == 0
    assert camera_file.read_bytes() == before
    assert {r["state"] for r in json.loads(run_cli("status", str(path), "--json").stdout)} == {"up to date"}


def test_a_framing_under_a_tile_pixel_in_the_manifest_crashes_no_report(tmp_path):
    # an edited manifest's framing 0.5 px wide: its box on the contact sheet's tile ended before it started,
    # and Pillow's ValueError ended the report with a traceback
    path = _place(tmp_path, cuts=("C001", "P01"))
    assert run_cli("render", str(path)).returncode == 0
    manifest = tmp_path / "out" / "manifest.json"
    record = json.loads(manifest.read_text())
    for cut in record["cuts"]:
        if cut["cut"] == "P01":
            cut["camera"]["end"] = [10, 10, 0.5, 0.5]
    manifest.write_text(json.dumps(record))
    result = run_cli("report", str(path))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert (tmp_path / "out" / "ep01_contact.png").is_file()


def test_no_camera_file_or_preview_is_left_beside_a_render_they_do_not_belong_to(tmp_path, monkeypatch):
    # T01 loses its camera and P02 reuses a fixed cut: their old camera files and previews stayed beside the
    # new frame-size pictures, for a compositor to apply. A shorter move's preview frames (no MP4 writer)
    # left the longer one's last frames.
    from click.testing import CliRunner

    from shotrender import camera
    from shotrender.cli import cli

    def render():
        result = CliRunner().invoke(cli, ["render", str(path), "--progress", "none"])
        assert result.exit_code == 0, result.output

    monkeypatch.setattr(camera, "movie", lambda frames, size, beside, fps=camera.FPS: None)
    path = _place(tmp_path, cuts=("C001", "P01", "T01"))
    data = yaml.safe_load(path.read_text())
    data["cuts"].append({"id": "P02", "reuse": "T01"})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    render()
    out = tmp_path / "out"
    assert len(list(out.glob("ep01_P01.preview.*.png"))) == 48 and (out / "ep01_P02.camera.json").is_file()
    data["cuts"][1]["camera"]["frames"] = 12
    del data["cuts"][2]["camera"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    render()
    assert sorted(p.name for p in out.glob("ep01_P01.preview.*")) == [f"ep01_P01.preview.{n:04d}.png"
                                                                      for n in range(1, 13)]
    for cut in ("T01", "P02"):
        assert sorted(p.name for p in out.glob(f"ep01_{cut}.*")) == sorted(
            f"ep01_{cut}.{ext}" for ext in (("png", "json", "flow.png", "error.png") if cut == "T01"
                                            else ("png", "json"))), cut
    assert {r["state"] for r in json.loads(run_cli("status", str(path), "--json").stdout)} == {"up to date"}


@pytest.mark.parametrize("change", [{"frames": 50}, {"easing": "slow-in-out"}])
def test_retiming_a_pan_repaints_neither_its_sheet_nor_the_places_other_cuts(tmp_path, change):
    # the edit lengthens the PAN by two frames, or eases it: the painting it travels over is the same, so only
    # its camera file and preview are made again. Before, the whole place's sheet and every cut on it were
    # stale ("the cameras changed") and painted again.
    path = _place(tmp_path, cuts=("C001", "P01", "C004"))
    assert run_cli("render", str(path)).returncode == 0
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.glob("ep01_*.png")}
    _with_camera(path, **change)
    rows = {r["cut"]: r["state"] for r in json.loads(run_cli("status", str(path), "--json").stdout)}
    assert rows == {"park/1": "up to date", "C001": "up to date", "P01": "stale", "C004": "up to date"}, rows
    result = run_cli("render", str(path))
    assert result.returncode == 0 and "1 rendered, 2 cached" in result.stdout, result.stdout
    assert {p.name: p.read_bytes() for p in out.glob("ep01_*.png")} == before
    record = json.loads((out / "ep01_P01.camera.json").read_text())
    assert (record["frames"], record["easing"]) == (change.get("frames", 48), change.get("easing", "linear"))
    assert {r["state"] for r in json.loads(run_cli("status", str(path), "--json").stdout)} == {"up to date"}


@pytest.mark.parametrize("damage", ["fifo", "edited"])
def test_a_reuse_is_not_copied_from_a_damaged_camera_file(tmp_path, damage):
    # render --cuts P02 --force copies P01 without painting it: from a FIFO at P01's camera file it crashed
    # with an OSError traceback; from an edited one it wrote that file's contents as P02's camera, up to date
    path = _reused_pan(tmp_path)
    out = tmp_path / "out"
    source, mine = out / "ep01_P01.camera.json", out / "ep01_P02.camera.json"
    good = mine.read_bytes()
    source.unlink()
    if damage == "fifo":
        os.mkfifo(source)
    else:
        source.write_text('{"x": 1}\n')
    result = run_cli("render", str(path), "--cuts", "P02", "--force")
    assert "Traceback" not in result.stderr, result.stderr
    assert "P02: blocked: reuses P01, whose camera file is missing or changed" in result.stdout + result.stderr
    assert mine.read_bytes() == good
    source.unlink()
    assert run_cli("render", str(path)).returncode == 0  # P01 painted again, P02 up to date with it
    assert mine.read_bytes() == good
    assert {r["state"] for r in json.loads(run_cli("status", str(path), "--json").stdout)} == {"up to date"}


def test_a_kill_while_encoding_the_preview_movie_leaves_nothing_behind(tmp_path):
    # The movie was encoded in the system temp folder (shotrender-preview-*), which nothing cleaned after a
    # kill -9: it is now a temporary of the output folder, which the next run's clean-up removes.
    import signal
    import subprocess
    import sys

    path = _place(tmp_path, cuts=("C001", "P01"))
    temp = tmp_path / "system-temp"
    temp.mkdir()
    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal, sys\n"
        "from shotrender import camera\n"
        "from shotrender.cli import cli\n"
        "frame_image, seen = camera.frame_image, []\n"
        "def dying(*args):\n"
        "    seen.append(1)\n"
        "    if len(seen) == 5:  # the movie's fifth frame: the encoder holds a half-written file\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return frame_image(*args)\n"
        "camera.frame_image = dying\n"
        "cli(['render', sys.argv[1], '--progress', 'none'])\n"), str(path)],
        env={**os.environ, "TMPDIR": str(temp)}, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    out = tmp_path / "out"
    assert not list(temp.iterdir()) and [p.name for p in out.glob("*.tmp-*")]  # the half movie is in out/
    from shotrender.store import Store

    Store(out, "ep01").prepare()  # what the next run does first
    assert not list(out.glob("*.tmp-*"))
