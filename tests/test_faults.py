"""Faults from outside: kill -9, a full disk, a backend that throws or paints NaN, no network.

Each test states the guarantee it checks (docs/reliability.md lists them all) and breaks if it stops
holding. Kill times are random but seeded, so a failure replays the same way.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shotrender.backends.draft import DraftBackend
from shotrender.errors import EXIT_RENDER_FAILED
from shotrender.files import TMP_MARK, WriteError
from shotrender.plan import make_plan
from shotrender.render import RenderOptions, render
from shotrender.shotlist import load
from shotrender.store import Store

from helpers import cut, episode, pan_layouts, run_cli, write_shotlist

REPO = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^\[(\d+)/(\d+)\] ", re.M)


# ------------------------------------------------------------------------------------------ helpers


def _pan_episode(folder: Path, per_chain: int = 11, size: tuple[int, int] = (256, 144), name: str = "episode.yaml",
                 **top) -> Path:
    """Two camera pans (park, street) interleaved in episode order, and one reused cut per chain at the end:
    continuity runs for real (guided inits, flow and error pictures), with the draft backend."""
    width, height = size
    step = width // 6
    park = pan_layouts(folder / "layouts" / "park", per_chain, width, height, step, seed=3)
    street = pan_layouts(folder / "layouts" / "street", per_chain, width, height, step, seed=4)
    cuts = []
    for i in range(per_chain):
        cuts.append(cut(f"C{2 * i + 1:03d}", bg="park", layout=str(park[i].relative_to(folder))))
        cuts.append(cut(f"C{2 * i + 2:03d}", bg="street", layout=str(street[i].relative_to(folder))))
    n = 2 * per_chain
    cuts += [{"id": f"C{n + 1:03d}", "reuse": "C001"}, {"id": f"C{n + 2:03d}", "reuse": "C002"}]
    return write_shotlist(folder, episode(cuts, size=[width, height], **top), name=name, layouts=False)


def _decodes_fully(path: Path) -> bool:
    """Every chunk's CRC checks and every row of pixels is there."""
    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.load()
    except (OSError, SyntaxError, ValueError):
        return False
    return True


def _temporaries(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if TMP_MARK in p.name)


def _check_folder(out: Path) -> dict[str, str]:
    """The invariant that must hold at every instant, killed or not: every sidecar is whole JSON and
    describes the PNG beside it (same sha256, decodes fully); every PNG under its final name decodes
    fully; the manifest, when there is one, is whole JSON. Returns {cut: status} of the sidecars."""
    states = {}
    for sidecar in sorted(out.glob("ep01_*.json")):
        if TMP_MARK in sidecar.name:
            continue
        record = json.loads(sidecar.read_bytes())  # never half written
        assert record["schema"] == "shotrender.cut/1", sidecar.name
        states[record["cut"]] = record["status"]
        if record["status"] == "failed":
            continue
        png = out / record["image"]["file"]
        assert png.exists(), f"{sidecar.name} names {png.name}, which is not there"
        assert hashlib.sha256(png.read_bytes()).hexdigest() == record["image"]["sha256"], \
            f"{sidecar.name} does not describe {png.name}"
    for png in out.glob("*.png"):
        if TMP_MARK not in png.name:
            assert _decodes_fully(png), f"{png.name} is truncated or corrupt"
    if (out / "manifest.json").exists():
        json.loads((out / "manifest.json").read_bytes())
    return states


def _pngs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.png")) if TMP_MARK not in p.name}


def _render_cmd(shotlist: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "shotrender", "render", str(shotlist), "--out", str(out), *extra]


# ------------------------------------------------------------------------------------------ kill -9


def _kill_at(proc: subprocess.Popen, out: Path, lines: int, writes: int, delay: float) -> int:
    """SIGKILL `proc` after it reported `lines` finished cuts, then after it began `writes` more files (as
    far as watching the folder for temporaries sees), then after `delay` seconds. Returns its exit code."""
    seen = -1  # the first line, "ep01: 24 cuts", comes after the temporaries of dead runs were removed
    while seen < lines:
        line = proc.stderr.readline()
        if not line:
            break
        seen += seen < 0 or bool(LINE.match(line))
    begun: set[str] = set()
    while len(begun) < writes and proc.poll() is None:
        begun.update(name for name in os.listdir(out) if TMP_MARK in name)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    code = proc.wait()
    proc.stderr.close()
    return code


@pytest.mark.slow
def test_kill_9_twenty_times_then_every_image_is_intact_and_identical(tmp_path):
    """kill -9 at 20 random points, alternately in a render of another seed (every cut being replaced by a
    different picture) and in one that resumes the episode; most kills wait for a write to be under way.
    After every kill the folder holds only whole files and true sidecars; the last run finishes the episode,
    leaves no temporaries, and its pictures are byte for byte an uninterrupted run's. (Random kills find a
    wrong write order only sometimes; test_a_crash_at_any_step_of_a_render_leaves_every_sidecar_true tries
    every point.)"""
    shotlist = _pan_episode(tmp_path)
    other_seed = _pan_episode(tmp_path, name="other_seed.yaml", seed=2000)
    reference, out = tmp_path / "reference", tmp_path / "out"

    proc = subprocess.Popen(_render_cmd(shotlist, reference, "--progress", "plain"), stderr=subprocess.PIPE,
                            text=True)
    stamps = [time.perf_counter() for line in proc.stderr if LINE.match(line)]
    assert proc.wait() == 0
    assert len(stamps) == 24
    per_cut = (stamps[-1] - stamps[0]) / (len(stamps) - 1)  # how long one cut takes, to spread kills over it
    expected = _pngs(reference)

    rng = random.Random(20240611)
    killed = 0
    out.mkdir()
    for i in range(20):
        writes = rng.randint(1, 4) if rng.random() < 0.75 else 0
        delay = rng.uniform(0, 0.0005) if writes else rng.uniform(0, 1.5 * per_cut)
        proc = subprocess.Popen(_render_cmd(other_seed if i % 2 == 0 else shotlist, out, "--progress", "plain"),
                                stderr=subprocess.PIPE, text=True)
        code = _kill_at(proc, out, rng.randrange(0, 23), writes, delay)
        killed += code == -signal.SIGKILL
        assert code in (0, -signal.SIGKILL), f"run {i} ended with {code}"
        _check_folder(out)

    assert killed >= 10, f"only {killed} of 20 kills hit a running render: the test did not test much"
    final = run_cli("render", str(shotlist), "--out", str(out), "--progress", "plain")
    assert final.returncode == 0, final.stderr
    states = _check_folder(out)
    assert states == {f"C{i:03d}": "rendered" for i in range(1, 23)} | {"C023": "reused", "C024": "reused"}
    assert _temporaries(out) == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"rendered": 22, "reused": 2}
    assert [c["cut"] for c in manifest["cuts"]] == [f"C{i:03d}" for i in range(1, 25)]
    assert _pngs(out) == expected


class _Crash(BaseException):
    """Stands for kill -9: not an Exception, so nothing on the way up handles it."""


@contextlib.contextmanager
def _crash_at(step: int):
    """The `step`-th file-system step (fsync, rename, unlink; counted from 0) and every one after it raise
    _Crash, as if the process had died just before it: nothing more changes on disk, temporaries stay.
    Yields a list that records, for each step that ran, whether it changed what a reader of the folder
    sees (a rename, or an unlink of a file that was there)."""
    real = {"fsync": os.fsync, "replace": os.replace, "unlink": Path.unlink}
    visible: list[bool] = []
    crashed = []

    def wrap(name):
        def step_or_crash(*args, **kwargs):
            if crashed or len(visible) == step:
                crashed.append(name)
                raise _Crash(name)
            visible.append(False)
            result = real[name](*args, **kwargs)
            visible[-1] = name != "fsync"
            return result
        return step_or_crash

    mp = pytest.MonkeyPatch()
    mp.setattr(os, "fsync", wrap("fsync"))
    mp.setattr(os, "replace", wrap("replace"))
    mp.setattr(Path, "unlink", wrap("unlink"))
    try:
        yield visible
    finally:
        mp.undo()


def test_a_crash_at_any_step_of_a_render_leaves_every_sidecar_true(tmp_path):
    """The kill -9 test, made exhaustive: the render dies after each step that changes the folder (a rename,
    an unlink), in a first render and in a re-render that replaces every cut. Each time the folder holds
    only true sidecars and whole PNGs, and the next run completes it with the bytes of an uninterrupted run."""
    old = make_plan(load(_pan_episode(tmp_path / "old", per_chain=2, size=(128, 72))))
    new = make_plan(load(_pan_episode(tmp_path / "new", per_chain=2, size=(128, 72), seed=2000)))
    for plan, name in ((old, "old"), (new, "new")):
        render(plan, DraftBackend(), RenderOptions(tmp_path / f"reference-{name}"))
    assert _pngs(tmp_path / "reference-new") != _pngs(tmp_path / "reference-old")  # a replaced cut shows

    for start in ("empty", "old"):
        scratch = tmp_path / f"count-{start}"
        if start == "old":
            shutil.copytree(tmp_path / "reference-old", scratch)
        with _crash_at(10**6) as visible:  # a run without a crash lists the steps
            render(new, DraftBackend(), RenderOptions(scratch))
        # dying before a step that changes nothing leaves the folder as dying before the step before it
        points = [0] + [i + 1 for i, changed in enumerate(visible[:-1]) if changed]
        # (the last step, the manifest's rename, has no point after it: dying there is not dying at all)
        assert len(points) >= (23 if start == "old" else 17)
        for step in points:
            out = tmp_path / f"{start}-{step}"
            if start == "old":
                shutil.copytree(tmp_path / "reference-old", out)
            with pytest.raises(_Crash), _crash_at(step):
                render(new, DraftBackend(), RenderOptions(out))
            _check_folder(out)
            # going on with the new shot list, or back to the old one (the edit was undone): either way the
            # folder ends as an uninterrupted run of that shot list leaves it, pictures of each cut included
            for plan, name in ((old, "old"), (new, "new")) if start == "old" else ((new, "new"),):
                again = tmp_path / f"{start}-{step}-{name}"
                shutil.copytree(out, again)
                result = render(plan, DraftBackend(), RenderOptions(again))
                assert not result.failed, (start, step, name)
                assert _pngs(again) == _pngs(tmp_path / f"reference-{name}"), (start, step, name)
                shutil.rmtree(again)
            shutil.rmtree(out)


# ------------------------------------------------------------------------------------------ full disk


def _limit_file_size(limit: int):
    def preexec():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


@pytest.mark.slow
def test_full_disk_fails_in_one_line_leaves_no_partial_file_and_a_rerun_completes(tmp_path):
    """A write that hits a full disk (here: the file-size limit, which fails writes with EFBIG as a full disk
    does with ENOSPC) stops the render with exit 1 and one line saying what, where and how to fix it. What
    was written before stays whole and true; nothing half written stays. With space again, a rerun finishes.
    Continuity is off: a sheet, painted first and larger than any cut, would take the limit before any cut."""
    shotlist = _pan_episode(tmp_path, continuity={"enabled": False})
    reference, out = tmp_path / "reference", tmp_path / "out"
    assert run_cli("render", str(shotlist), "--out", str(reference)).returncode == 0
    first_cut = [reference / "ep01_C001.png", reference / "ep01_C001.json"]
    limit = max(p.stat().st_size for p in first_cut) + 1  # the first cut fits; a bigger file later does not
    assert any(p.stat().st_size > limit for p in reference.glob("ep01_C*.png"))

    result = subprocess.run(_render_cmd(shotlist, out, "--progress", "none"), capture_output=True, text=True,
                            preexec_fn=_limit_file_size(limit), timeout=300)
    assert result.returncode == EXIT_RENDER_FAILED, result.stderr
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert "\n" not in message, message
    m = re.fullmatch(r"shotrender: disk full or file too large while writing (\S+) \(.+\); free space in (\S+) "
                     r"and run again: files already written are kept", message)
    assert m, message
    assert Path(m.group(1)).parent == out and Path(m.group(2)) == out
    assert not Path(m.group(1)).exists()  # the file it could not write is not there half written
    assert _temporaries(out) == []
    states = _check_folder(out)
    assert states and set(states.values()) == {"rendered"}
    for sidecar in out.glob("ep01_C*.json"):
        assert sidecar.with_suffix(".png").exists()
    for png in out.glob("ep01_C???.png"):
        assert png.with_suffix(".json").exists(), f"{png.name} was left without its sidecar"
        assert png.read_bytes() == (reference / png.name).read_bytes()

    rerun = run_cli("render", str(shotlist), "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((out / "manifest.json").read_text())["counts"] == {"rendered": 22, "reused": 2}
    assert _pngs(out) == _pngs(reference)


def test_disk_full_on_a_sidecar_takes_its_png_back(tmp_path, monkeypatch):
    """When the PNG went in but its sidecar cannot follow, the PNG goes too: a failed write leaves the cut
    missing, not half there; the error names the file and the way out."""
    store = Store(tmp_path / "out", "ep01")
    store.prepare()
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:  # the PNG's went through; the sidecar's finds the disk full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(WriteError) as caught:
        store.write_cut("C001", b"\x89PNG whatever", {"status": "rendered"})
    assert caught.value.exit_code == EXIT_RENDER_FAILED
    assert str(caught.value).startswith(f"disk full or file too large while writing {store.sidecar_path('C001')} "
                                        "(No space left on device); free space in")
    assert sorted(p.name for p in store.dir.iterdir()) == []


# ------------------------------------------------------------------------------------------ backend faults


class _Raising:
    """The draft backend, but painting one cut raises the given exception."""

    name = "draft"

    def __init__(self, cut_id: str, error: Exception):
        self.draft, self.cut, self.error = DraftBackend(), cut_id, error

    def identity(self):
        return self.draft.identity()

    def load(self):
        self.draft.load()

    def describe(self):
        return self.draft.describe()

    def render(self, request):
        if request.cut == self.cut:
            raise self.error
        return self.draft.render(request)


@pytest.mark.parametrize("error", [OSError(5, "Input/output error reading a LoRA"),
                                   IndexError("index 31 is out of bounds for dimension 0 with size 30")],
                         ids=["OSError", "IndexError"])
def test_any_backend_exception_fails_only_its_cut(tmp_path, error):
    """tests/test_store.py covers BackendError. A backend is library code (torch, diffusers), which raises
    what it likes: any exception from painting one cut must fail that cut alone, not stop the episode with
    a traceback."""
    plan = make_plan(load(_pan_episode(tmp_path, per_chain=3, size=(128, 72))))
    result = render(plan, _Raising("C003", error), RenderOptions(tmp_path / "out"))
    by_cut = {r.cut: r.status for r in result.results}
    assert by_cut == {"C001": "rendered", "C003": "failed", "C005": "rendered", "C007": "reused",
                      "C002": "rendered", "C004": "rendered", "C006": "rendered", "C008": "reused"}
    assert str(error) in json.loads((tmp_path / "out" / "ep01_C003.json").read_text())["error"]


@pytest.mark.slow
def test_a_failing_cut_exits_1_and_status_and_the_manifest_say_which(tmp_path):
    """End to end: stderr names the failed cut, the exit code is 1, `status` says
    `failed` with the error, the manifest counts it, and a plain rerun renders exactly what was missing."""
    shotlist = _pan_episode(tmp_path, per_chain=3, size=(128, 72))
    wrapper = tmp_path / "failing_backend.py"
    wrapper.write_text(
        "import sys\n"
        "from shotrender.backends.draft import DraftBackend\n"
        "from shotrender.cli import main\n"
        "from shotrender.errors import BackendError\n"
        "real = DraftBackend.render\n"
        "def render(self, request):\n"
        "    if request.cut == 'C003':\n"
        "        raise BackendError('CUDA out of memory painting C003')\n"
        "    return real(self, request)\n"
        "DraftBackend.render = render\n"
        "sys.argv = ['shotrender', *sys.argv[1:]]\n"
        "main()\n"
    )
    out = tmp_path / "out"
    failed = subprocess.run([sys.executable, str(wrapper), "render", str(shotlist), "--out", str(out),
                             "--progress", "none"], capture_output=True, text=True, timeout=300)
    assert failed.returncode == EXIT_RENDER_FAILED, failed.stderr
    assert "Traceback" not in failed.stderr
    assert "5 rendered, 2 reused, 1 failed" in failed.stdout
    assert "  C003: failed: CUDA out of memory painting C003" in failed.stderr.splitlines()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"failed": 1, "rendered": 5, "reused": 2}
    _check_folder(out)

    status = run_cli("status", str(shotlist), "--out", str(out))
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line for line in status.stdout.splitlines()[:-1] if not line.startswith("sheet ")}
    assert rows["C003"].split(None, 2)[2] == "failed (CUDA out of memory painting C003)"
    assert {c for c, row in rows.items() if row.endswith("up to date")} == {"C001", "C002", "C004", "C005", "C006",
                                                                           "C007", "C008"}
    assert status.stdout.splitlines()[-1] == "7 up to date, 1 failed"
    as_json = {r["cut"]: r for r in json.loads(run_cli("status", str(shotlist), "--out", str(out),
                                                       "--json").stdout)}
    assert as_json["C003"]["state"] == "failed" and as_json["C003"]["reasons"] == ["CUDA out of memory painting C003"]

    # on a farm the task's last lines say why it failed, on one line, where the farm's monitor shows them
    farm = subprocess.run([sys.executable, str(wrapper), "render", str(shotlist), "--out", str(tmp_path / "farm"),
                           "--progress", "openjd"], capture_output=True, text=True, timeout=300)
    assert farm.returncode == EXIT_RENDER_FAILED, farm.stderr
    assert farm.stdout.splitlines()[-2:] == [
        "openjd_status: ep01: 5 rendered, 2 reused, 1 failed",
        "openjd_fail: 1 of 8 cuts not painted: C003 failed: CUDA out of memory painting C003"]

    rerun = run_cli("render", str(shotlist), "--out", str(out), "--progress", "plain")
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(re.findall(r"\] (C\d+) \[\w+\] done", rerun.stderr)) == ["C003"]


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("poisoned", [1, 99], ids=["recovers-in-float32", "still-broken"])
def test_a_nan_render_is_retried_once_in_float32_then_fails_only_its_cut(tmp_path, tiny_model, monkeypatch,
                                                                         poisoned):
    """tests/test_diffusers_backend.py covers the backend's NaN check and its float32 retry. Here, through the
    renderer: a cut that still comes out NaN is failed and recorded, no PNG written for it, the other cuts
    rendered; one that recovers is written, and its sidecar says float32 painted it."""
    from shotrender.backends.diffusers import DiffusersBackend

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the weights' hash cache, not the user's
    real = DiffusersBackend._paint_all
    painted: list[str] = []

    def paint_all(self, requests):
        images = real(self, requests)
        for request, image in zip(requests, images, strict=True):
            painted.append(request.cut)
            if request.cut == "C001" and painted.count("C001") <= poisoned:
                image[:] = np.nan
        return images

    monkeypatch.setattr(DiffusersBackend, "_paint_all", paint_all)
    data = episode([cut("C001"), cut("C002"), cut("C003", bg="street")], size=[64, 64], model=str(tiny_model),
                   continuity={"enabled": False})
    data["defaults"].update(steps=2, strength=0.5)
    plan = make_plan(load(write_shotlist(tmp_path, data, width=64, height=64)))
    backend = DiffusersBackend(str(tiny_model), device="cpu", dtype="bfloat16")
    out = tmp_path / "out"
    result = render(plan, backend, RenderOptions(out))

    assert painted.count("C001") == 2  # once in bfloat16, once again in float32, never a third time
    by_cut = {r.cut: r.status for r in result.results}
    c001 = json.loads((out / "ep01_C001.json").read_text())
    if poisoned == 1:
        assert by_cut == {"C001": "rendered", "C002": "rendered", "C003": "rendered"}
        assert c001["device"]["fp32_fallback_cut"] == "C001" and c001["device"]["dtype"] == "float32"
        assert _decodes_fully(out / "ep01_C001.png")
    else:
        assert by_cut == {"C001": "failed", "C002": "rendered", "C003": "rendered"}
        assert c001["status"] == "failed" and "C001 (NaN)" in c001["error"]
        assert not (out / "ep01_C001.png").exists()
        assert json.loads((out / "ep01_C003.json").read_text())["device"]["dtype"] == "float32"
    _check_folder(out)


def test_the_sidecar_names_the_model_that_painted_the_cut(tmp_path):
    """`render --model M` overrides the shot list's model; the sidecar (and so the manifest and the review
    page) must name the model that painted the picture, not the one the shot list would have used."""
    (tmp_path / "models" / "sd15").mkdir(parents=True)
    shotlist = write_shotlist(tmp_path, episode([cut("C001")], model="models/sd15"))
    result = run_cli("render", str(shotlist), "--out", str(tmp_path / "out"), "--model", "draft")
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((tmp_path / "out" / "ep01_C001.json").read_text())
    assert sidecar["inputs"]["backend"]["backend"] == "draft"
    assert sidecar["model"] == "draft"


# ------------------------------------------------------------------------------------------ network

SITECUSTOMIZE = '''
"""Loaded first by every Python process of the test: refuses and records any network connection."""
import json, os, socket

_LOG = os.environ["NETBLOCK_LOG"]


def _record(call, detail):
    with open(_LOG, "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "call": call, "detail": detail}) + "\\n")


def _refuse(name, real):
    def refuse(*args, **kwargs):
        sock = args[0] if args and isinstance(args[0], socket.socket) else None
        if sock is not None and sock.family == getattr(socket, "AF_UNIX", -1):
            return real(*args, **kwargs)  # a local socket file is no network
        _record(name, repr(args[1:] if sock is not None else args)[:200])
        raise OSError(101, f"network blocked by the test ({name})")
    return refuse


for _name in ("connect", "connect_ex"):
    setattr(socket.socket, _name, _refuse(_name, getattr(socket.socket, _name)))
socket.create_connection = _refuse("create_connection", socket.create_connection)
socket.getaddrinfo = _refuse("getaddrinfo", socket.getaddrinfo)
_record("armed", "")
'''


@pytest.mark.slow
def test_no_connection_is_attempted_without_a_hub_id(tmp_path, tiny_model):
    """With the draft backend and with a local diffusers folder, nothing reaches for the network, even
    without the HF_HUB_OFFLINE switches the test suite sets: every socket connect and name lookup in the
    process is refused and logged, and the log must hold none."""
    blocker = tmp_path / "netblock"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "net.log"
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "HF_DATASETS_OFFLINE")}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(blocker), env.get("PYTHONPATH")])),
               NETBLOCK_LOG=str(log), HF_HOME=str(tmp_path / "hf"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")

    def entries():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    # the blocker works: a plain connection attempt is refused and logged
    probe = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('example.com', 80))"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "network blocked by the test" in probe.stderr
    assert [e["call"] for e in entries()] == ["armed", "create_connection"]
    log.unlink()

    example = REPO / "shots" / "example" / "episode.yaml"
    draft = run_cli("render", str(example), "--out", str(tmp_path / "draft"), env=env)
    assert draft.returncode == 0, draft.stderr
    assert json.loads((tmp_path / "draft" / "manifest.json").read_text())["counts"] == {"rendered": 7, "reused": 1}

    # The example episode at 128x72 and 4 steps: the tiny model at 1024x576 would take many minutes on a CPU.
    small = tmp_path / "small"
    shutil.copytree(example.parent / "layouts", small / "layouts")
    text = example.read_text(encoding="utf-8")
    text, sized = re.subn(r"^size: \[1024, 576\]", "size: [128, 72]", text, flags=re.M)
    text, stepped = re.subn(r"^  steps: 30\b", "  steps: 4", text, flags=re.M)
    assert sized == stepped == 1
    (small / "episode.yaml").write_text(text, encoding="utf-8")
    tiny = run_cli("render", str(small / "episode.yaml"), "--out", str(tmp_path / "tiny"), "--model",
                   str(tiny_model), env=env)
    assert tiny.returncode == 0, tiny.stderr
    counts = json.loads((tmp_path / "tiny" / "manifest.json").read_text())["counts"]
    # the random-weight pipeline's noise may be over the continuity limit: flagged cuts are written all the same
    assert counts.get("rendered", 0) + counts.get("flagged", 0) == 7 and counts["reused"] == 1, counts
    assert json.loads((tmp_path / "tiny" / "ep01_C001.json").read_text())["device"]["backend"] == "diffusers"

    calls = entries()
    assert len([e for e in calls if e["call"] == "armed"]) >= 2  # both renders ran with the blocker in place
    assert [e for e in calls if e["call"] != "armed"] == []


def test_a_manifest_that_cannot_be_written_fails_the_render(tmp_path, monkeypatch):
    """The rebuild of the manifest used to swallow its own failure: exit 0 and no manifest."""
    plan = make_plan(load(write_shotlist(tmp_path, episode([cut("C001")]))))

    def full(self, plan, run):
        raise WriteError("disk full or file too large while writing manifest.json")

    monkeypatch.setattr(Store, "write_manifest", full)
    with pytest.raises(WriteError):
        render(plan, DraftBackend(), RenderOptions(tmp_path / "out"))
