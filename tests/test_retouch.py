"""The retouch round trip (docs/retouch.md), on the vector park whose camera transforms are known
(tests/location.py): export, an artist's patch in the painting layer, render, and the place following it."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage
from psd_tools.api.layers import PixelLayer

import location
from shotrender.images import decode_png
from test_sheet_continuity import TINY_SIZE, _location_episode, _near_lines

from helpers import run_cli, system_tool

SIZE = TINY_SIZE  # 256×144: the park registers, and a draft render of its six cuts takes a second
RETOUCHED, NEXT = "C002", "C003"  # the pan's middle cut, and the one after it, which sees its right half
PATCH = (0.62, 0.25, 0.92, 0.6)  # of RETOUCHED's frame, x0 y0 x1 y1: inside what NEXT sees
PATCH_COLOUR = (250, 30, 200)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _png(out: Path, cut: str) -> np.ndarray:
    return decode_png((out / f"ep01_{cut}.png").read_bytes())


def _sidecar(out: Path, cut: str) -> dict:
    return json.loads((out / f"ep01_{cut}.json").read_text())


def _patch_box(size=SIZE):
    w, h = size
    return int(PATCH[0] * w), int(PATCH[1] * h), int(PATCH[2] * w), int(PATCH[3] * h)


def artist_paints(psd_path: Path, colour=PATCH_COLOUR, box=None) -> None:
    """What a background artist does, by script: open the PSD, paint a patch into the `painting` layer, save."""
    psd = PSDImage.open(psd_path)
    painting = next(layer for layer in psd if layer.name == "painting")
    image = np.array(painting.topil().convert("RGBA"))
    x0, y0, x1, y1 = box or _patch_box()
    image[y0:y1, x0:x1, :3] = colour
    layer = PixelLayer.frompil(Image.fromarray(image, "RGBA"), psd, "painting")
    at = psd.index(painting)
    psd.remove(painting)
    psd.insert(at, layer)
    psd.save(psd_path)


def flattened(path: Path) -> np.ndarray:
    """The retouch as a second reader sees it: psd-tools' composite of the visible layers, or Pillow, on white."""
    if path.suffix == ".psd":
        image = PSDImage.open(path).composite(force=True)
    else:
        image = Image.open(path)
    rgba = image.convert("RGBA")
    return np.asarray(Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB"))


def patch_error(render_next: np.ndarray, retouch: np.ndarray, size=SIZE, m=None, box=None, layout=None) -> float:
    """Mean |the next cut's render − the retouch seen through its true camera `m`| (0-1) where it sees the
    patch `box`, pixels near a line of its layout left out. By default NEXT and RETOUCHED of the park."""
    m = location.true_transform(NEXT, RETOUCHED, size) if m is None else m
    layout = dict(location.layouts(size))[NEXT] if layout is None else layout
    patch = np.zeros(size[::-1], np.uint8)
    x0, y0, x1, y1 = box or _patch_box(size)
    patch[y0:y1, x0:x1] = 1
    seen = cv2.warpPerspective(patch, m, size, flags=cv2.INTER_NEAREST) > 0
    seen = cv2.erode(seen.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    mask = seen & ~_near_lines(layout, 3)
    assert mask.sum() > 200, mask.sum()  # NEXT sees a good part of the patch
    warped = cv2.warpPerspective(retouch, m, size, flags=cv2.INTER_LINEAR)
    return float((np.abs(render_next.astype(np.float32) - warped).mean(axis=2) / 255)[mask].mean())


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): _sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def rendered(tmp_path):
    """The park rendered with the draft backend, and its shot list."""
    shotlist = _location_episode(tmp_path, SIZE)
    assert run_cli("render", str(shotlist)).returncode == 0
    return shotlist, tmp_path / "out"


def test_export_writes_the_layers_a_second_reader_lists(rendered):
    shotlist, out = rendered
    status = run_cli("status", str(shotlist), "--json").stdout
    done = run_cli("retouch", "export", str(shotlist), "--cuts", f"{NEXT},C005")
    assert done.returncode == 0, done.stderr
    for cut, layers in ((NEXT, ["layout", "painting", "lines", "shared"]), ("C005", ["layout", "painting", "lines"])):
        path = out / "retouch" / f"ep01_{cut}.psd"
        psd = PSDImage.open(path)
        assert [layer.name for layer in psd] == layers
        assert {layer.name: layer.visible for layer in psd} == {
            "layout": False, "painting": True, "lines": True, **({"shared": False} if "shared" in layers else {})}
        assert np.array_equal(np.asarray(next(x for x in psd if x.name == "painting").topil().convert("RGB")),
                              _png(out, cut))
        # ImageMagick, another reader: the flattened picture then every layer, each at the delivered size
        listed = subprocess.run([system_tool("identify"), "-format", "%s %wx%h %X%Y\n", str(path)],
                                capture_output=True, text=True, check=True).stdout.split()
        assert listed == [v for i in range(len(layers) + 1) for v in (str(i), f"{SIZE[0]}x{SIZE[1]}", "+0+0")]
        merged = subprocess.run(["convert", f"{path}[0]", "png:-"], capture_output=True, check=True).stdout
        # the same picture, up to the rounding of the lines' alpha blend (ImageMagick composites at 16 bits)
        assert np.abs(decode_png(merged).astype(int) - flattened(path)).max() <= 1
    psd = PSDImage.open(out / "retouch" / f"ep01_{NEXT}.psd")
    shared = np.asarray(next(x for x in psd if x.name == "shared").topil().convert("RGBA"))[:, :, 3] > 0
    # the end of the pan: what the other cuts of its place see of it, with the true cameras
    truth = np.zeros(SIZE[::-1], bool)
    for other in ("C001", "C002", "C004", "C006"):
        m = location.true_transform(NEXT, other, SIZE)
        truth |= cv2.warpPerspective(np.ones(SIZE[::-1], np.uint8), m, SIZE, flags=cv2.INTER_NEAREST) > 0
    print(f"shared layer of {NEXT}: {shared.mean():.3f} of the frame, true {truth.mean():.3f}, "
          f"IoU {(shared & truth).sum() / (shared | truth).sum():.3f}")
    assert 0.3 < truth.mean() < 0.95 and (shared & truth).sum() / (shared | truth).sum() > 0.95
    # the place's lines are dark over transparency: transparent on paper
    lines = next(x for x in psd if x.name == "lines")
    assert 0 < (np.asarray(lines.topil().convert("RGBA"))[:, :, 3] > 0).mean() < 0.3
    # an untouched export is not a retouch
    assert run_cli("status", str(shotlist), "--json").stdout == status


def test_a_psd_retouch_is_final_and_its_place_follows_it(rendered):
    shotlist, out = rendered
    before_next, render_bytes = _png(out, NEXT), (out / f"ep01_{RETOUCHED}.png").read_bytes()
    assert run_cli("retouch", "export", str(shotlist), "--cuts", RETOUCHED).returncode == 0
    psd = out / "retouch" / f"ep01_{RETOUCHED}.psd"
    artist_paints(psd)
    artist = psd.read_bytes()
    retouch = flattened(psd)

    rows = {r["cut"]: r for r in json.loads(run_cli("status", str(shotlist), "--json").stdout)}
    assert rows[RETOUCHED]["state"] == "stale"
    assert rows[RETOUCHED]["reasons"] == [f"retouch retouch/ep01_{RETOUCHED}.psd to take in"]

    # taken in alone first: its sheet takes the fix, and the place's other cuts are stale for it
    done = run_cli("render", str(shotlist), "--cuts", RETOUCHED)
    assert done.returncode == 0, done.stderr
    rows = {r["cut"]: r for r in json.loads(run_cli("status", str(shotlist), "--json").stdout)}
    assert rows[RETOUCHED]["state"] == "retouched" and rows[RETOUCHED]["reasons"] == []
    # every other cut of the place: the views of its sheet, and C005 (another angle) that keeps its colours
    for cut in ("C001", "C003", "C004", "C005", "C006"):
        assert rows[cut]["state"] == "stale" and rows[cut]["reasons"] == [f"{RETOUCHED} retouched"], rows[cut]

    done = run_cli("render", str(shotlist))
    assert done.returncode == 0, done.stderr
    assert np.array_equal(_png(out, RETOUCHED), retouch)
    side = _sidecar(out, RETOUCHED)
    assert side["status"] == "retouched"
    assert side["retouch"] == {"file": f"retouch/ep01_{RETOUCHED}.psd", "sha256": hashlib.sha256(artist).hexdigest()}
    assert (out / side["pictures"]["before"]).read_bytes() == render_bytes  # the render, kept beside it
    # a retouched cut whose picture is deleted gets its retouch back, not a render
    (out / f"ep01_{RETOUCHED}.png").unlink()
    assert run_cli("render", str(shotlist)).returncode == 0
    assert np.array_equal(_png(out, RETOUCHED), retouch)
    manifest = {c["cut"]: c for c in json.loads((out / "manifest.json").read_text())["cuts"]}
    assert manifest[RETOUCHED]["retouch"]["sha256"] == side["retouch"]["sha256"]
    after_next = _png(out, NEXT)
    assert _sidecar(out, NEXT)["retouches"] == {RETOUCHED: side["retouch"]["sha256"]}
    before, after = patch_error(before_next, retouch), patch_error(after_next, retouch)
    print(f"draft: {NEXT} against {RETOUCHED}'s retouch where it sees the patch: {before:.4f} before, "
          f"{after:.4f} after ({after / before:.3f}x)")
    assert after <= 0.3 * before

    # --force paints every other cut again, never the retouch
    pinned = _sha(out / f"ep01_{RETOUCHED}.png")
    done = run_cli("render", str(shotlist), "--force")
    assert done.returncode == 0, done.stderr
    assert _sha(out / f"ep01_{RETOUCHED}.png") == pinned
    assert "1 retouched" in done.stdout
    assert patch_error(_png(out, NEXT), retouch) <= 0.3 * before  # the sheet painted again takes it again
    assert psd.read_bytes() == artist


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_png_or_tiff_retouch_works_the_same(rendered, suffix):
    shotlist, out = rendered
    before_next = _png(out, NEXT)
    assert run_cli("retouch", "export", str(shotlist), "--cuts", RETOUCHED).returncode == 0
    psd = out / "retouch" / f"ep01_{RETOUCHED}.psd"
    artist_paints(psd)
    retouch = flattened(psd)
    # the artist exports a flat file and keeps the PSD as shotrender wrote it (their own layered copy elsewhere)
    flat = psd.with_suffix(suffix)
    Image.fromarray(retouch).save(flat)
    shutil.move(psd, psd.with_name("artist-copy.psd"))
    assert run_cli("retouch", "export", str(shotlist), "--cuts", RETOUCHED).returncode == 0  # exported again
    artist = flat.read_bytes()
    done = run_cli("render", str(shotlist))
    assert done.returncode == 0, done.stderr
    assert np.array_equal(_png(out, RETOUCHED), retouch)
    assert _sidecar(out, RETOUCHED)["retouch"]["file"] == f"retouch/{flat.name}"
    before, after = patch_error(before_next, retouch), patch_error(_png(out, NEXT), retouch)
    print(f"{suffix}: {before:.4f} before, {after:.4f} after ({after / before:.3f}x)")
    assert after <= 0.3 * before
    assert flat.read_bytes() == artist


def test_a_redrawn_layout_after_the_retouch_is_reported_and_nothing_is_overwritten(rendered):
    shotlist, out = rendered
    assert run_cli("retouch", "export", str(shotlist), "--cuts", RETOUCHED).returncode == 0
    artist_paints(out / "retouch" / f"ep01_{RETOUCHED}.psd")
    assert run_cli("render", str(shotlist)).returncode == 0
    layout = shotlist.parent / "layouts" / f"{RETOUCHED}.png"
    image = cv2.imread(str(layout))
    cv2.line(image, (20, 100), (120, 110), (30, 30, 30), 2)  # the layout artist adds a line
    cv2.imwrite(str(layout), image)
    rows = {r["cut"]: r for r in json.loads(run_cli("status", str(shotlist), "--json").stdout)}
    assert rows[RETOUCHED]["state"] == "retouched"
    assert rows[RETOUCHED]["reasons"][0] == "retouched before the layout changed"
    text = run_cli("status", str(shotlist)).stdout
    assert f"{RETOUCHED}" in text and "retouched (retouched before the layout changed" in text
    kept = {name: sha for name, sha in _files(out).items() if RETOUCHED in name}
    for force in ((), ("--force",)):
        done = run_cli("render", str(shotlist), *force)
        assert done.returncode == 0, done.stderr
        assert {name: sha for name, sha in _files(out).items() if RETOUCHED in name} == kept


def test_release_gives_the_cut_back_and_keeps_the_file(rendered):
    shotlist, out = rendered
    first = _sha(out / f"ep01_{RETOUCHED}.png")
    assert run_cli("retouch", "export", str(shotlist), "--cuts", RETOUCHED).returncode == 0
    psd = out / "retouch" / f"ep01_{RETOUCHED}.psd"
    artist_paints(psd)
    artist = psd.read_bytes()
    assert run_cli("render", str(shotlist)).returncode == 0
    done = run_cli("retouch", "release", str(shotlist), RETOUCHED)
    assert done.returncode == 0, done.stderr
    rows = {r["cut"]: r for r in json.loads(run_cli("status", str(shotlist), "--json").stdout)}
    assert rows[RETOUCHED]["state"] == "missing"
    manifest = {c["cut"]: c for c in json.loads((out / "manifest.json").read_text())["cuts"]}
    assert manifest[RETOUCHED]["status"] == "missing"
    assert any(r["kind"] == "sheet" and r["reasons"] == [f"{RETOUCHED} released"] for r in rows.values())
    assert run_cli("render", str(shotlist)).returncode == 0
    assert _sha(out / f"ep01_{RETOUCHED}.png") == first  # the draft paints it as before the retouch
    assert _sidecar(out, RETOUCHED)["status"] == "rendered" and "retouches" not in _sidecar(out, NEXT)
    assert psd.read_bytes() == artist
    again = run_cli("retouch", "release", str(shotlist), RETOUCHED)
    assert again.returncode == 2 and "not retouched" in again.stderr


def _cmyk_psd(path: Path) -> None:
    PSDImage.frompil(Image.new("CMYK", SIZE, (0, 0, 0, 0))).save(path)


def _sixteen_bit_png(path: Path) -> None:
    cv2.imwrite(str(path), np.full((SIZE[1], SIZE[0], 3), 40000, np.uint16))


def _other_size(path: Path) -> None:
    Image.new("RGB", (SIZE[0], SIZE[0] * 9 // 16 + 8), "white").save(path)


@pytest.mark.parametrize("name, make, words", [
    (".psd", _cmyk_psd, "CMYK PSD"),
    (".png", _sixteen_bit_png, "16 bits per channel"),
    (".png", _other_size, f"the cut is delivered at {SIZE[0]}×{SIZE[1]}"),
    (".psd", None, "may be damaged"),
])
def test_a_retouch_that_cannot_be_used_is_refused_and_changes_nothing(rendered, name, make, words):
    shotlist, out = rendered
    assert run_cli("retouch", "export", str(shotlist), "--cuts", RETOUCHED).returncode == 0
    target = out / "retouch" / f"ep01_{RETOUCHED}{name}"
    if make is None:
        data = target.read_bytes()
        target.write_bytes(data[:len(data) // 2])  # the artist's save was cut short
    else:
        make(target)
    files = _files(out)
    done = run_cli("render", str(shotlist))
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr and f"ep01_{RETOUCHED}" in done.stderr
    assert _files(out) == files


def test_export_keeps_the_artists_file_and_two_new_retouches_for_one_cut_are_refused(rendered):
    shotlist, out = rendered
    assert run_cli("retouch", "export", str(shotlist), "--cuts", RETOUCHED).returncode == 0
    psd = out / "retouch" / f"ep01_{RETOUCHED}.psd"
    artist_paints(psd)
    artist = psd.read_bytes()
    done = run_cli("retouch", "export", str(shotlist), "--cuts", RETOUCHED)
    assert done.returncode == 0 and f"kept: ep01_{RETOUCHED}.psd is the artist's file" in done.stdout
    assert psd.read_bytes() == artist
    Image.fromarray(flattened(psd)).save(psd.with_suffix(".png"))
    files = _files(out)
    done = run_cli("render", str(shotlist))
    assert done.returncode == 2 and f"cut {RETOUCHED} has 2 retouches" in done.stderr, done.stderr
    assert _files(out) == files


def test_an_oversized_or_linked_retouch_is_refused(rendered, monkeypatch, tmp_path):
    from shotrender import retouch
    from shotrender.backends.draft import DraftBackend
    from shotrender.plan import make_plan
    from shotrender.render import RenderOptions, render
    from shotrender.shotlist import load

    shotlist, out = rendered
    path = out / "retouch" / f"ep01_{RETOUCHED}.png"
    path.parent.mkdir()
    Image.new("RGB", SIZE, "white").save(path)
    monkeypatch.setattr(retouch, "MAX_BYTES", 100)
    files = _files(out)
    with pytest.raises(retouch.RetouchError, match="too large to be a retouch"):
        render(make_plan(load(shotlist)), DraftBackend(), RenderOptions(out))
    assert _files(out) == files
    elsewhere = tmp_path / "elsewhere.png"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    done = run_cli("render", str(shotlist))
    assert done.returncode == 2 and "is a symlink" in done.stderr
    path.unlink()
    (out / "retouch").rmdir()
    (out / "retouch").symlink_to(tmp_path)
    done = run_cli("render", str(shotlist))
    assert done.returncode == 2 and "retouch is a symlink" in done.stderr


def _new_version(psd: Path, layered: bytes, flat: Path, colour) -> bytes:
    """The artist saves another version as PNG (painted in the layered file they keep elsewhere)."""
    psd.write_bytes(layered)
    artist_paints(psd, colour)
    Image.fromarray(flattened(psd)).save(flat)
    psd.unlink()
    return flat.read_bytes()


@pytest.mark.slow
def test_kill_9_while_a_retouch_is_taken_in_leaves_the_artists_file_and_the_rerun_completes(rendered):
    shotlist, out = rendered
    assert run_cli("retouch", "export", str(shotlist), "--cuts", RETOUCHED).returncode == 0
    psd = out / "retouch" / f"ep01_{RETOUCHED}.psd"
    artist_paints(psd)
    layered = psd.read_bytes()
    psd.unlink()  # the exported PSD goes: the artist hands in PNGs below
    flat, side = psd.with_suffix(".png"), out / f"ep01_{RETOUCHED}.json"
    rng = random.Random(20)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "shotrender", "render", str(shotlist)]
    # when the take-in writes, from the start of the process: its sidecar goes just before the picture is replaced
    _new_version(psd, layered, flat, (10, 200, 10))
    proc, t0 = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), \
        time.perf_counter()
    while side.exists() and proc.poll() is None:
        time.sleep(0.0005)
    writes = time.perf_counter() - t0
    assert proc.wait() == 0
    landed = {"before": 0, "during": 0, "after": 0}  # the take-in's writes, as the sidecar left by the kill shows
    for _ in range(10):
        artist = _new_version(psd, layered, flat, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(writes - 0.08, writes + 0.04))  # reading, flattening, writing, and the sheet's
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert flat.read_bytes() == artist
        landed["during" if not side.exists() else "after" if hashlib.sha256(artist).hexdigest() in side.read_text()
               else "before"] += 1
        done = run_cli("render", str(shotlist))
        assert done.returncode == 0, done.stderr
        assert np.array_equal(_png(out, RETOUCHED), flattened(flat))
        assert _sidecar(out, NEXT)["retouches"] == {RETOUCHED: hashlib.sha256(artist).hexdigest()}
        assert flat.read_bytes() == artist
    print(f"kills around the take-in's writes ({writes:.3f} s after the start): {landed}")


def _round_trip(shotlist: Path, out: Path, cut: str, nxt: str, m: np.ndarray, box, size, layout, render,
                outside=()) -> tuple[float, float]:
    """Export, the artist's patch, render, --force: the checks of the PSD round trip on any episode. `render`
    (force: bool) renders the episode; `outside`: --out for export. Returns the next cut's patch error before
    and after."""
    before_next = _png(out, nxt)
    assert run_cli("retouch", "export", str(shotlist), "--cuts", cut, *outside).returncode == 0
    psd = out / "retouch" / f"ep01_{cut}.psd"
    artist_paints(psd, box=box)
    artist, retouch = psd.read_bytes(), flattened(psd)
    render(False)
    assert np.array_equal(_png(out, cut), retouch)
    assert _sidecar(out, cut)["retouch"]["sha256"] == hashlib.sha256(artist).hexdigest()
    assert _sidecar(out, nxt)["retouches"] == {cut: hashlib.sha256(artist).hexdigest()}
    after_next = _png(out, nxt)
    pinned = _sha(out / f"ep01_{cut}.png")
    render(True)
    assert _sha(out / f"ep01_{cut}.png") == pinned and psd.read_bytes() == artist
    return (patch_error(before_next, retouch, size, m, box, layout),
            patch_error(after_next, retouch, size, m, box, layout))


@pytest.mark.slow
def test_the_example_round_trip(tmp_path):
    """The example episode's park (draft): C001 retouched, C002 pans 410 px right over the same panorama
    (shots/example/make_layouts.py), so its true camera is a shift."""
    example = Path(__file__).resolve().parent.parent / "shots" / "example"
    shutil.copytree(example, tmp_path / "example", ignore=shutil.ignore_patterns("renders"))
    shotlist, out = tmp_path / "example" / "episode.yaml", tmp_path / "out"

    def render(force: bool) -> None:
        done = run_cli("render", str(shotlist), "--chain", "park", "--out", str(out), *(["--force"] if force else []))
        assert done.returncode == 0, done.stderr

    render(False)
    size, box = (1024, 576), (600, 150, 900, 350)
    m = np.array([[1, 0, -410], [0, 1, 0], [0, 0, 1]], np.float64)  # C001 px -> C002 px
    layout = np.asarray(Image.open(tmp_path / "example" / "layouts" / "C002.png").convert("RGB"))
    before, after = _round_trip(shotlist, out, "C001", "C002", m, box, size, layout, render, ("--out", str(out)))
    print(f"example (draft): C002 against C001's retouch where it sees the patch: {before:.4f} before, "
          f"{after:.4f} after ({after / before:.3f}x)")
    assert after <= 0.3 * before


@pytest.mark.slow
def test_the_tiny_pipeline_round_trip(tmp_path, tiny_model):
    """The random-weight pipeline paints noise of its own: what the next cut takes of the patch comes from
    the sheet, through its view and fusion. In-process: the model loads once per render, not per command."""
    from shotrender.backends.diffusers import DiffusersBackend
    from shotrender.plan import make_plan
    from shotrender.render import RenderOptions
    from shotrender.render import render as run_render
    from shotrender.shotlist import load

    shotlist = _location_episode(tmp_path, SIZE, model=str(tiny_model))
    out = tmp_path / "out"

    def render(force: bool) -> None:
        result = run_render(make_plan(load(shotlist)), DiffusersBackend(str(tiny_model), device="cpu"),
                            RenderOptions(out, force=force))
        assert not result.failed

    render(False)
    m = location.true_transform(NEXT, RETOUCHED, SIZE)
    before, after = _round_trip(shotlist, out, RETOUCHED, NEXT, m, _patch_box(), SIZE, None, render)
    print(f"tiny pipeline: {NEXT} against {RETOUCHED}'s retouch where it sees the patch: {before:.4f} before, "
          f"{after:.4f} after ({after / before:.3f}x)")
    assert after <= 0.3 * before


def test_report_and_contact_sheet_show_the_render_beside_the_retouch(rendered):
    shotlist, out = rendered
    render_before = _png(out, RETOUCHED)
    assert run_cli("retouch", "export", str(shotlist), "--cuts", RETOUCHED).returncode == 0
    artist_paints(out / "retouch" / f"ep01_{RETOUCHED}.psd")
    assert run_cli("render", str(shotlist)).returncode == 0
    done = run_cli("report", str(shotlist))
    assert done.returncode == 0, done.stderr
    html = (out / "report.html").read_text()
    card = html[html.index(f'id="cut-{RETOUCHED}"'):]
    card = card[:card.index("</article>")]
    assert 'data-status="retouched"' in card and f"retouched: retouch/ep01_{RETOUCHED}.psd" in card
    assert f'data-src="ep01_{RETOUCHED}.before.png"' in card and f'alt="{RETOUCHED} retouch"' in card
    assert f"painted from the retouches of {RETOUCHED}" in html
    # the contact sheet: C002 is the second tile; the render in its top-left quarter, the retouch around it
    sheet = np.asarray(Image.open(out / "ep01_contact.png").convert("RGB")).astype(np.float32)
    x, y, tile, th = 10 + 330, 52, 320, 180
    inset = cv2.resize(render_before, (tile // 2, th // 2), interpolation=cv2.INTER_AREA).astype(np.float32)
    whole = cv2.resize(_png(out, RETOUCHED), (tile, th), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert np.abs(sheet[y + 4:y + 60, x + 4:x + tile // 2 - 4] - inset[4:60, 4:-4]).mean() < 12
    assert np.abs(sheet[y + th // 2 + 4:y + th - 4, x + 4:x + tile - 4] - whole[th // 2 + 4:-4, 4:-4]).mean() < 12
