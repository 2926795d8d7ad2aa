"""Camera moves (camera.py, docs/camera.md): a PAN over a layout three frames wide and a track-in, delivered as
one oversized painting, its camera file and a preview, measured on the vector park (tests/location.py),
whose camera transforms are known by construction."""

from __future__ import annotations

import json
import os
import re

import cv2
import numpy as np
import pytest
import yaml

import location
from shotrender import camera
from shotrender.camera import Framing, Move, deliver
from shotrender.images import decode_png
from test_farm import manifest_content, pictures
from test_sheet_continuity import _near_lines

from helpers import run_cli

SIZE = (384, 216)
W, H = SIZE
# The PAN layout: the park drawn three frames wide at the frames' own scale, its centre at x 0.45; the camera
# pans from its left frame to its right one, over 48 frames.
PAN_CAMERA = location.Camera(0.45, 0.0, zoom=1 / 3)
PAN = {"from": {"x": 0, "y": 0, "width": W}, "to": {"x": 2 * W, "y": 0, "width": W}, "frames": 48}
# The T.U.: a frame-size layout of C002's framing; the camera tracks in to three quarters of its width.
TU = {"from": {"x": 0, "y": 0, "width": W}, "to": {"x": W / 8, "y": H / 8, "width": W * 3 / 4}, "frames": 24,
      "easing": "slow-in-out"}


def _place(folder, cuts=("C001", "P01", "C004", "T01"), **top) -> object:
    """The park with a PAN (P01) between a wide cut and the T.U. on the bench, and a track-in (T01)."""
    (folder / "layouts").mkdir(parents=True, exist_ok=True)
    pen = location.line_width(SIZE)
    drawn = {"P01": location.draw(PAN_CAMERA, (3 * W, H), pen), "T01": location.cut("C002").draw(SIZE)}
    entries = []
    for c in cuts:
        image = drawn.get(c)
        if image is None:
            image = location.cut(c).draw(SIZE)
        cv2.imwrite(str(folder / "layouts" / f"{c}.png"), image[:, :, ::-1])
        entry = {"id": c, "layout": f"layouts/{c}.png", "bg": "park"}
        if c in ("P01", "T01"):
            entry["camera"] = PAN if c == "P01" else TU
        entries.append(entry)
    data = {"version": 1, "episode": "ep01", "size": list(SIZE), "model": "draft", "output": "out", "seed": 5,
            "defaults": {"prompt": "anime background"}, "backgrounds": {"park": {"prompt": "city park"}},
            "cuts": entries, **top}
    path = folder / "episode.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _reused_pan(folder):
    """C001 and the PAN P01, with P02 reusing P01, rendered."""
    path = _place(folder, cuts=("C001", "P01"))
    data = yaml.safe_load(path.read_text())
    data["cuts"].append({"id": "P02", "reuse": "P01"})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert run_cli("render", str(path)).returncode == 0
    return path


def _read(out, name):
    return decode_png((out / name).read_bytes())


# --- the move and the deliverable, by hand --------------------------------------------------------------

def test_deliverable_sizes_are_the_ones_worked_out_by_hand():
    frame = (1024, 576)
    pan = Move(Framing(0, 0, 1024, 576), Framing(2048, 0, 1024, 576), 48)
    d = deliver(pan, frame)
    # three frames wide at scale 1: 3072 x 576, already multiples of 8
    assert d.size == (3072, 576) and d.scale == 1 and d.origin == (0, 0)
    tu = Move(Framing(0, 0, 1024, 576), Framing(128, 72, 768, 432), 24)
    d = deliver(tu, frame)
    # the 768-wide framing becomes 1024 px: scale 4/3. Its corner (128, 72) is 170.67 and 96 deliverable px from
    # the layout's: 171 whole px to its left (the grid starts 0.25 layout px before the layout), 96 above.
    # Width 171 + (1024 - 128) * 4/3 = 1365.67 -> 1366 -> 1368 (multiple of 8); height 96 + 504 * 4/3 = 768.
    assert d.size == (1368, 768) and d.scale == pytest.approx(4 / 3) and d.origin == pytest.approx((-0.25, 0))
    assert d.framing(tu.end) == Framing(171, 96, 1024, 576)  # the tightest framing is whole deliverable pixels
    assert d.framing(tu.start).width == pytest.approx(1365 + 1 / 3)
    # a track back is the same deliverable: the tightest framing decides, wherever it is on the path
    assert deliver(Move(tu.end, tu.start, 24), frame) == d


def test_the_path_runs_from_the_first_framing_to_the_last_with_its_easing():
    move = Move(Framing(0, 0, 100, 50), Framing(300, 20, 60, 30), 5)
    assert move.at(1) == move.start and move.at(5) == move.end
    assert move.at(3) == Framing(150, 10, 80, 40)
    eased = Move(move.start, move.end, 5, "slow-in-out")
    assert eased.at(3).x == pytest.approx(150) and eased.at(3).width == pytest.approx(80)  # the middle is the middle
    assert eased.at(2).x < move.at(2).x and eased.at(4).x > move.at(4).x  # slow out of the start, into the end
    with pytest.raises(ValueError):
        move.at(6)


# --- rendering a PAN and a T.U. ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The place rendered with continuity (out) and without (off), previews as image sequences too (seq)."""
    folder = tmp_path_factory.mktemp("camera")
    path = _place(folder)
    assert run_cli("render", str(path)).returncode == 0
    off = run_cli("render", str(path), "--out", str(folder / "off"), "--no-continuity")
    assert off.returncode == 0, off.stderr
    return folder, path


def test_a_moving_cut_delivers_its_background_its_camera_file_and_a_preview(rendered):
    folder, _ = rendered
    out = folder / "out"
    pan, tu = _read(out, "ep01_P01.png"), _read(out, "ep01_T01.png")
    assert pan.shape == (H, 3 * W, 3)  # 1152 x 216: the whole stretch at the frames' scale
    assert tu.shape == (288, 512, 3)  # 288 of 384 px becomes 384: scale 4/3, 384 x 216 -> 512 x 288
    record = json.loads((out / "ep01_P01.camera.json").read_text())
    assert record["schema"] == camera.SCHEMA and record["size"] == [3 * W, H] and record["frame"] == list(SIZE)
    assert record["frames"] == 48 and len(record["framings"]) == 48
    assert record["framings"][0] == {"frame": 1, "x": 0, "y": 0, "width": W, "height": H, "scale": 1,
                                     "centre": [W / 2, H / 2]}
    assert record["framings"][-1]["x"] == 2 * W
    sidecar = json.loads((out / "ep01_P01.json").read_text())
    assert record["picture"] == sidecar["image"]
    assert sidecar["pictures"]["camera"] == "ep01_P01.camera.json"
    assert sidecar["pictures"]["preview"] == "ep01_P01.preview.mp4"
    movie = cv2.VideoCapture(str(out / "ep01_P01.preview.mp4"))
    frames = []
    while True:
        ok, image = movie.read()
        if not ok:
            break
        frames.append(image[:, :, ::-1])
    assert len(frames) == 48 and frames[0].shape == (H, W, 3)
    # the encoded movie is the move: each frame close to the deliverable seen through its framing (PSNR)
    for f, image in zip(record["framings"], frames, strict=True):
        exact = pan[:, round(f["x"]):round(f["x"]) + W].astype(np.float64)
        assert 10 * np.log10(255**2 / np.mean((exact - image) ** 2)) > 28


def _apply(deliverable: np.ndarray, f: dict, frame: tuple[int, int]) -> np.ndarray:
    """A compositor's reading of the camera file (docs/camera.md): output pixel u of the frame samples the
    deliverable at x + (u + 1/2) * width / W - 1/2, bilinear, edges repeated."""
    kx, ky = f["width"] / frame[0], f["height"] / frame[1]
    inverse = np.float64([[kx, 0, f["x"] + kx / 2 - 0.5], [0, ky, f["y"] + ky / 2 - 0.5]])
    return cv2.warpAffine(deliverable, inverse, frame, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def test_the_camera_file_applied_to_the_deliverable_gives_every_frame_of_the_preview_exactly(tmp_path, monkeypatch):
    # Without an MP4 writer the preview is its frames as pictures: what the movie encodes, before encoding.
    from shotrender.backends.draft import DraftBackend
    from shotrender.plan import make_plan
    from shotrender.render import RenderOptions, render
    from shotrender.shotlist import load
    from shotrender.state import RunSettings

    monkeypatch.setattr(camera, "movie", lambda frames, size, beside, fps=camera.FPS: None)
    path = _place(tmp_path)
    render(make_plan(load(path)), DraftBackend(), RenderOptions(tmp_path / "out", RunSettings()))
    out = tmp_path / "out"
    for cut, count in (("P01", 48), ("T01", 24)):
        record = json.loads((out / f"ep01_{cut}.camera.json").read_text())
        deliverable = _read(out, f"ep01_{cut}.png")
        sidecar = json.loads((out / f"ep01_{cut}.json").read_text())
        names = [sidecar["pictures"][f"preview.{n:04d}"] for n in range(1, count + 1)]
        assert "preview" not in sidecar["pictures"] and len(record["framings"]) == count
        for f, name in zip(record["framings"], names, strict=True):
            assert np.array_equal(_apply(deliverable, f, SIZE), _read(out, name)), (cut, f["frame"])
    # the T.U.'s last frame is the deliverable's own pixels: the tightest framing is painted 1:1
    last = json.loads((out / "ep01_T01.camera.json").read_text())["framings"][-1]
    assert (last["x"], last["y"], last["width"], last["height"]) == (64, 36, W, H)


def _detail(image: np.ndarray) -> float:
    """Mean |Laplacian|: the brush's finest detail, which enlarging a picture blurs."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(gray, cv2.CV_32F)).mean())


@pytest.mark.slow
def test_the_track_ins_last_frame_is_painted_not_enlarged(tmp_path, tiny_model, one_torch_thread):
    """On the tiny pipeline, whose paint is detail at the model's own pixel scale whatever the layout (the
    draft backend's wash is drawn relative to the picture's size, so it cannot tell)."""
    from shotrender.backends import make_backend
    from shotrender.plan import make_plan
    from shotrender.render import RenderOptions, render
    from shotrender.shotlist import load
    from shotrender.state import RunSettings

    # T01 tracks in over C002's layout to three quarters of its width; F01 is its last framing drawn at the
    # frame's size and painted as a frame; W01 is T01's layout painted as a frame-size background, whose last
    # framing compositing would have to enlarge 4/3. 256 x 144 frames: the deliverable is 344 x 192, the last
    # framing at (43, 24) (worked out as in the 1024-px case above).
    size = (256, 144)
    (tmp_path / "layouts").mkdir()
    wide = location.draw(location.cut("C002").camera, size, location.line_width(size))
    framing = cv2.resize(wide[18:18 + 108, 32:32 + 192], size, interpolation=cv2.INTER_LINEAR)
    for name, image in (("T01", wide), ("F01", framing), ("W01", wide)):
        cv2.imwrite(str(tmp_path / "layouts" / f"{name}.png"), image[:, :, ::-1])
    cuts = [{"id": c, "layout": f"layouts/{c}.png", "seed": 5} for c in ("T01", "F01", "W01")]
    cuts[0]["camera"] = {"from": {"x": 0, "y": 0, "width": 256}, "to": {"x": 32, "y": 18, "width": 192},
                         "frames": 24}
    data = {"version": 1, "episode": "ep01", "size": list(size), "model": str(tiny_model), "output": "out",
            "defaults": {"prompt": "anime background", "steps": 2, "strength": 1.0}, "cuts": cuts}
    (tmp_path / "episode.yaml").write_text(yaml.safe_dump(data))
    plan = make_plan(load(tmp_path / "episode.yaml"))
    render(plan, make_backend(plan.shotlist.model, device="cpu"), RenderOptions(tmp_path / "out", RunSettings()))
    out = tmp_path / "out"
    record = json.loads((out / "ep01_T01.camera.json").read_text())
    assert record["size"] == [344, 192] and record["framings"][-1]["x"] == 43 and record["framings"][-1]["y"] == 24
    last = _read(out, "ep01_T01.png")[24:24 + 144, 43:43 + 256]  # the last framing: the deliverable's own pixels
    enlarged = cv2.resize(_read(out, "ep01_W01.png")[18:18 + 108, 32:32 + 192], size, interpolation=cv2.INTER_LINEAR)
    ours, frame_sized, blurred = _detail(last), _detail(_read(out, "ep01_F01.png")), _detail(enlarged)
    print(f"detail (mean |Laplacian|): T.U. last frame {ours:.2f}, frame-size render of that framing "
          f"{frame_sized:.2f}, frame-size background enlarged {blurred:.2f}")
    assert abs(ours / frame_sized - 1) <= 0.1
    assert blurred < 0.8 * frame_sized  # the measure tells an enlargement


def _pan_error(out, layouts, cut: str) -> float:
    """Masked mean |fixed cut − PAN deliverable| (0-1) on the paint where the fixed cut sees, in the PAN's
    pixels through the cut's true camera: the finer picture (a closer cut) is brought down to the coarser one
    with area averaging, since detail finer than the deliverable's pixels is in the close-up alone. Pixels
    near a line of either layout are left out."""
    from shotrender.sheets import warp

    pan, fixed = _read(out, "ep01_P01.png"), _read(out, f"ep01_{cut}.png")
    to_pan = PAN_CAMERA.world_to_cut((3 * W, H)) @ location.cut(cut).camera.cut_to_world(SIZE)
    seen = warp(fixed, to_pan, (3 * W, H))
    inside = cv2.warpPerspective(np.ones((H, W), np.uint8), to_pan, (3 * W, H), flags=cv2.INTER_NEAREST) > 0
    cut_lines = cv2.warpPerspective(layouts[cut], to_pan, (3 * W, H), borderValue=(255, 255, 255))
    mask = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    mask &= ~_near_lines(layouts["P01"], 3) & ~_near_lines(cut_lines, 3)
    diff = np.abs(pan.astype(np.float32) - seen.astype(np.float32)).mean(axis=2) / 255
    return float(diff[mask].mean())


def test_fixed_cuts_before_and_after_the_pan_match_its_painting(rendered):
    folder, _ = rendered
    layouts = {"P01": location.draw(PAN_CAMERA, (3 * W, H), location.line_width(SIZE)),
               "C001": location.cut("C001").draw(SIZE), "C004": location.cut("C004").draw(SIZE)}
    for cut in ("C001", "C004"):  # before the PAN, and the T.U. on the bench after it
        on, off = _pan_error(folder / "out", layouts, cut), _pan_error(folder / "off", layouts, cut)
        print(f"{cut} against the PAN's painting: paint error {on:.4f} with sheets, {off:.4f} alone "
              f"({on / off:.3f}x)")
        assert on <= 0.3 * off, (cut, on, off)


# --- bad camera input ----------------------------------------------------------------------------------

def _one(**camera_fields) -> dict:
    return {**PAN, **camera_fields}


@pytest.mark.parametrize("move, message, where", [
    (_one(to={"x": 2 * W + 10, "y": 0, "width": W}), "the framing x 778..1162, y 0..216 goes outside the layout",
     "to:"),
    (_one(**{"from": {"x": 0, "y": 0, "width": W, "height": 200}}), "is 216 high, not 200", "height:"),
    (_one(frames=0), "a camera move takes at least 2 frames, got 0", "frames:"),
    (_one(to={"x": 0, "y": 0, "width": W}), "is the same framing as 'from': the camera does not move", "to:"),
    (_one(easing="ease"), "must be one of linear, slow-in-out, got 'ease'", "easing:"),
    (_one(zoom=2), "unknown key 'zoom'", "zoom:"),
    ({"from": PAN["from"], "frames": 48}, "'to' is missing", "camera:"),
    (_one(to={"x": 2 * W, "y": -4, "width": W}), "must be 0 or more, got -4", "y: -4"),
    (_one(to={"x": 2 * W, "y": 0, "width": W / 20}), "over continuity.max_sheet_pixels", "camera:"),
])
def test_each_camera_mistake_is_one_message_with_its_line_and_nothing_is_written(tmp_path, move, message, where):
    path = _place(tmp_path, cuts=("C001", "P01"), continuity={"max_sheet_pixels": 2_000_000})
    data = yaml.safe_load(path.read_text())
    data["cuts"][1]["camera"] = move
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    path.write_text(text)
    lines = text.splitlines()
    start = lines.index("  camera:")
    line = next(i for i in range(start, len(lines)) if lines[i].strip().startswith(where)) + 1
    result = run_cli("render", str(path))
    assert result.returncode == 2, result.stderr
    problems = [x for x in result.stderr.splitlines() if x.startswith(str(path))]
    assert len(problems) == 1 and message in problems[0], result.stderr
    assert f"{path}:{line}:" in problems[0], (problems[0], text)
    assert not (tmp_path / "out").exists()


def test_a_camera_move_needs_its_length(tmp_path):
    path = _place(tmp_path, cuts=("C001", "P01"))
    data = yaml.safe_load(path.read_text())
    del data["cuts"][1]["camera"]["frames"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli("validate", str(path))
    assert result.returncode == 2 and "'frames' is missing, and the cut has no frames" in result.stderr
    data["cuts"][1]["frames"] = 36  # the cut's own length is the move's
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert run_cli("validate", str(path)).returncode == 0
    from shotrender.shotlist import load

    assert load(path).cut("P01").camera.frames == 36


# --- state: what changes what ---------------------------------------------------------------------------

def test_a_changed_move_makes_its_cut_stale_and_a_lost_camera_file_comes_back_the_same(tmp_path):
    path = _place(tmp_path, cuts=("C001", "P01"))
    assert run_cli("render", str(path)).returncode == 0
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.glob("ep01_P01.*") if p.name != "ep01_P01.json"}
    (out / "ep01_P01.camera.json").unlink()
    status = run_cli("status", str(path))
    assert "P01" in status.stdout and "ep01_P01.camera.json is missing or changed" in status.stdout, status.stdout
    again = run_cli("render", str(path))
    assert again.returncode == 0 and "1 rendered, 1 cached" in again.stdout, again.stdout
    assert {p.name: p.read_bytes() for p in out.glob("ep01_P01.*") if p.name != "ep01_P01.json"} == before
    data = yaml.safe_load(path.read_text())
    data["cuts"][1]["camera"]["easing"] = "slow-in-out"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    status = run_cli("status", str(path))
    line = next(x for x in status.stdout.splitlines() if x.startswith("P01"))
    assert "stale" in line and "camera move changed" in line, status.stdout


# --- farms and clusters -------------------------------------------------------------------------------

@pytest.mark.slow
def test_farm_units_and_ray_render_a_moving_cut_as_a_local_render_does(tmp_path):
    from test_ray import _env

    path = _place(tmp_path, cuts=("C001", "P01", "C004"))
    local, farm, ray = tmp_path / "local", tmp_path / "farm", tmp_path / "ray"
    assert run_cli("render", str(path), "--out", str(local), env=_env()).returncode == 0
    units = json.loads(run_cli("units", str(path), "--json").stdout)["units"]
    assert units[0]["pixels"] == 2 * W * H + 3 * W * H  # two frames and the PAN's deliverable
    for unit in units:  # as a farm runs them: the sheet first, then each cut unit on its own
        for command in [unit["sheet_unit"]["command"]] + [u["command"] for u in unit["cut_units"]]:
            result = run_cli(*command[1:], "--out", str(farm), env=_env())
            assert result.returncode == 0, result.stderr
    result = run_cli("render", str(path), "--out", str(ray), "--executor", "ray", env=_env())
    assert result.returncode == 0, result.stderr

    def files(out):
        return {p.name: p.read_bytes() for p in sorted(out.glob("ep01_*")) if not p.name.endswith(".json")
                or p.name.endswith(".camera.json")}

    assert files(farm) == files(local) and files(ray) == files(local)
    assert {"ep01_P01.png", "ep01_P01.camera.json", "ep01_P01.preview.mp4"} <= set(files(local))
    assert manifest_content(farm) == manifest_content(local) == manifest_content(ray)
    assert pictures(farm / "sheets") == pictures(local / "sheets") == pictures(ray / "sheets")


def test_a_reused_moving_cut_gets_the_background_and_a_camera_file_of_its_own(tmp_path):
    path = _reused_pan(tmp_path)
    out = tmp_path / "out"
    assert (out / "ep01_P02.png").read_bytes() == (out / "ep01_P01.png").read_bytes()
    mine, source = (json.loads((out / f"ep01_{c}.camera.json").read_text()) for c in ("P02", "P01"))
    assert mine["cut"] == "P02" and mine["picture"]["file"] == "ep01_P02.png"
    assert mine["framings"] == source["framings"] and mine["picture"]["sha256"] == source["picture"]["sha256"]
    rows = json.loads(run_cli("status", str(path), "--json").stdout)
    assert {r["state"] for r in rows} == {"up to date"}


# --- hostile output folders ---------------------------------------------------------------------------

def _camera_damage(out):
    camera_file, sidecar = (None, None) if out is None else (out / "ep01_P01.camera.json", out / "ep01_P01.json")

    def edit(change):
        return lambda: sidecar.write_text(json.dumps(change(json.loads(sidecar.read_text()))))

    def replace(make):
        def act():
            camera_file.unlink()
            make(camera_file)
        return act

    return {
        "camera an int": edit(lambda r: {**r, "camera": 5}),
        "camera without its hash": edit(lambda r: {**r, "camera": {"size": [1, 1]}}),
        "camera hash not hex": edit(lambda r: {**r, "camera": {**r["camera"], "sha256": "z" * 64}}),
        "camera file elsewhere": edit(lambda r: {**r, "pictures": {**r["pictures"], "camera": "../../x.json"}}),
        "camera file another's": edit(lambda r: {**r, "pictures": {**r["pictures"], "camera": "ep01_C001.json"}}),
        "camera file edited": lambda: camera_file.write_text(camera_file.read_text().replace("48", "47")),
        "camera file a fifo": replace(lambda p: os.mkfifo(p)),
        "camera file a folder": replace(lambda p: p.mkdir()),
        "camera file a symlink": replace(lambda p: p.symlink_to(out / "ep01_C001.json")),
    }


@pytest.mark.parametrize("kind", list(_camera_damage(None)))
def test_a_damaged_camera_record_crashes_no_command_and_the_next_render_heals_it(tmp_path, kind):
    from click.testing import CliRunner

    from shotrender.cli import cli

    path = _place(tmp_path, cuts=("C001", "P01"))
    runner = CliRunner()
    assert runner.invoke(cli, ["render", str(path), "--progress", "none"]).exit_code == 0
    out = tmp_path / "out"
    before = (out / "ep01_P01.png").read_bytes()
    _camera_damage(out)[kind]()
    for args in (["status", str(path)], ["check", str(path)], ["report", str(path)], ["plan", str(path)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0 and not isinstance(result.exception, Exception), (args, result.output)
    states = {r["cut"]: r["state"] for r in json.loads(runner.invoke(cli, ["status", str(path), "--json"]).stdout)}
    assert states["P01"] == "missing" and states["C001"] == "up to date"
    held = out / "ep01_P01.camera.json"
    if held.is_dir() or held.is_fifo():  # something not a file at a name render writes is refused, as everywhere
        refused = runner.invoke(cli, ["render", str(path), "--progress", "none"])
        assert refused.exit_code == 2 and "ep01_P01.camera.json is not a regular file" in refused.output
        held.rmdir() if held.is_dir() else held.unlink()
    healed = runner.invoke(cli, ["render", str(path), "--progress", "none"])
    assert healed.exit_code == 0, healed.output
    assert (out / "ep01_P01.png").read_bytes() == before
    assert not (out / "ep01_P01.camera.json").is_symlink()
    rows = json.loads(runner.invoke(cli, ["status", str(path), "--json"]).stdout)
    assert {r["state"] for r in rows} == {"up to date"}, rows


def test_links_planted_at_a_moving_cuts_names_change_nothing_outside(tmp_path, monkeypatch):
    import itertools
    import os
    import socket
    import tempfile

    from click.testing import CliRunner

    from shotrender.cli import cli
    from test_security import _outside_state

    ep, secrets = tmp_path / "ep", tmp_path / "secrets"
    path = _place(ep, cuts=("C001", "P01"))
    out = ep / "out"
    out.mkdir()
    finals = [f"ep01_P01.{ext}" for ext in ("png", "json", "camera.json", "preview.mp4", "preview.0001.png")]
    host = socket.gethostname().replace(".", "_")
    names = finals + [f"{name}.tmp-{host}-{os.getpid()}-planted" for name in finals]
    secrets.mkdir()
    for i, name in enumerate(names):
        if i % 2:
            (secrets / f"{i}.bin").write_bytes(os.urandom(64))
        (out / name).symlink_to(secrets / f"{i}.bin")
    monkeypatch.setattr(tempfile, "_get_candidate_names",
                        lambda: itertools.chain(["planted"], tempfile._RandomNameSequence()))
    before = _outside_state(tmp_path, out)
    result = CliRunner().invoke(cli, ["render", str(path), "--progress", "none"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert _outside_state(tmp_path, out) == before
    for name in finals[:4]:
        assert not (out / name).is_symlink() and (out / name).is_file(), name


# --- report and contact sheet ---------------------------------------------------------------------------

def test_the_report_draws_each_move_and_plays_it(rendered, tmp_path):
    from PIL import Image

    from test_report import chromium

    folder, path = rendered
    assert run_cli("report", str(path)).returncode == 0
    out = folder / "out"
    html = (out / "report.html").read_text()
    for cut in ("P01", "T01"):
        record = json.loads((out / f"ep01_{cut}.camera.json").read_text())
        first, last = record["framings"][0], record["framings"][-1]
        box = " ".join(str(first[k]) for k in ("x", "y", "width", "height"))
        figure = re.search(rf'<figure class="move"><svg[^>]*aria-label="{cut} camera move">.*?</figure>', html)
        assert figure and f'data-start="{box}"' in figure.group(0), cut
        assert f'data-frames="{record["frames"]}" data-easing="{record["easing"]}"' in figure.group(0)
        assert figure.group(0).count("<polygon ") == 2 and f"{last['width']}" in figure.group(0)
    assert 'href="ep01_P01.preview.mp4">movie</a>' in html
    sheet = re.search(r'<figure class="sheet">.*?</figure>', html).group(0)
    # the two fixed cuts' frames, and the first and last framings of each moving cut
    assert sheet.count("<polygon ") == 6 and sheet.count('class="start"') == 2 and sheet.count('class="end"') == 2
    contact = np.asarray(Image.open(out / "ep01_contact.png").convert("RGB")).astype(int)
    green = (np.abs(contact - (76, 217, 100)).sum(axis=2) < 30).sum()
    assert green > 200  # the first framings drawn on the moving cuts' tiles
    dom = chromium("--dump-dom", (out / "report.html").as_uri() + "?check", profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr
    # after the page's time, the PAN's window has moved off its first framing
    play = re.search(r'<div class="play" data-size="1152 216"[^>]*><img [^>]*style="([^"]*)"', dom.stdout)
    assert play and re.search(r"left: -\d", play.group(1)), play and play.group(0)
    assert [line for line in dom.stderr.splitlines() if ":CONSOLE" in line] == []


def test_a_track_whose_sheet_had_to_be_painted_smaller_is_flagged(tmp_path):
    # T01's 512 x 288 deliverable fits in 150,000 px; with C003, which sees past it, its sheet does not and is
    # painted at 88%: T01 would be an enlargement of it
    path = _place(tmp_path, cuts=("T01", "C003"), continuity={"max_sheet_pixels": 150_000})
    result = run_cli("render", str(path))
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((tmp_path / "out" / "ep01_T01.json").read_text())
    assert sidecar["status"] == "flagged" and sidecar["continuity"]["sheet"] == "park/1"
    reason = sidecar["continuity"]["reason"]
    assert re.fullmatch(r"its sheet park/1 was painted at 8\d% of the deliverable's scale to fit "
                        r"continuity.max_sheet_pixels: raise it", reason), reason
    assert _read(tmp_path / "out", "ep01_T01.png").shape == (288, 512, 3)  # delivered at its size all the same
    assert run_cli("render", str(path), "--strict").returncode == 1


# --- retouch --------------------------------------------------------------------------------------------

def test_a_retouched_pan_is_delivered_with_its_camera_file_and_its_place_follows_it(tmp_path):
    from test_retouch import PATCH_COLOUR, artist_paints, flattened

    path = _place(tmp_path, cuts=("C001", "P01"))
    assert run_cli("render", str(path)).returncode == 0
    out = tmp_path / "out"
    before = _read(out, "ep01_C001.png")
    exported = run_cli("retouch", "export", str(path), "--cuts", "P01")
    assert exported.returncode == 0, exported.stderr
    psd = out / "retouch" / "ep01_P01.psd"
    from psd_tools import PSDImage

    assert PSDImage.open(psd).size == (3 * W, H)  # the deliverable, not a frame
    artist_paints(psd, box=(150, 60, 260, 120))  # where C001 sees the place too
    result = run_cli("render", str(path))
    assert result.returncode == 0 and "1 rendered, 1 retouched" in result.stdout, result.stdout + result.stderr
    assert np.array_equal(_read(out, "ep01_P01.png"), flattened(psd))
    record = json.loads((out / "ep01_P01.camera.json").read_text())
    sidecar = json.loads((out / "ep01_P01.json").read_text())
    assert sidecar["status"] == "retouched" and record["picture"] == sidecar["image"]
    rows = {r["cut"]: r["state"] for r in json.loads(run_cli("status", str(path), "--json").stdout)}
    assert rows == {"park/1": "up to date", "C001": "up to date", "P01": "retouched"}
    # C001 sees the patch's left part: x 150..260 of the PAN is C001's x 0..50 (its camera is 211 px on)
    patch = _read(out, "ep01_C001.png")[70:110, 5:40].reshape(-1, 3).mean(axis=0)
    assert np.abs(patch - PATCH_COLOUR).max() < 30 and np.abs(before[70:110, 5:40] - patch).mean() > 40


def test_a_preview_whose_size_rounds_to_another_aspect_keeps_its_framings_at_the_frames_aspect(tmp_path):
    path = _place(tmp_path, cuts=("C001", "P01"), preview={"scale": 0.5})  # 384x216 -> 192x112, not 192x108
    result = run_cli("render", str(path), "--preview")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "out-preview" / "ep01_P01.camera.json").read_text())
    assert record["frame"] == [192, 112] and record["size"] == [576, 112]
    for f in record["framings"]:  # a compositor scales both ways alike: `scale` holds for height too
        assert f["height"] * record["frame"][0] == pytest.approx(f["width"] * record["frame"][1])
