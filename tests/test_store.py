import io
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from shotrender.errors import BackendError
from shotrender.files import TMP_MARK, host, temp_prefix
from shotrender.images import decode_png
from shotrender.plan import make_plan, select
from shotrender.progress import FarmProgress
from shotrender.render import CutResult, RenderOptions, render
from shotrender.shotlist import load
from shotrender.state import status
from shotrender.store import Store

from helpers import cut, episode, run_cli, run_cli_watching_imports, write_shotlist


class SpyBackend:
    """Paints a flat colour from the seed and prompt, and counts what it was asked to do."""

    name = "spy"

    def __init__(self, fail_on: set[str] = frozenset(), version: int = 1):
        self.rendered: list[str] = []
        self.loads = 0
        self.fail_on = fail_on
        self.version = version

    def identity(self):
        return {"backend": "spy", "version": self.version}

    def load(self):
        self.loads += 1

    def describe(self):
        return {"backend": "spy", "device": "cpu"}

    def render(self, request):
        if request.cut in self.fail_on:
            raise BackendError(f"spy refuses {request.cut}")
        self.rendered.append(request.cut)
        value = (request.seed + len(request.prompt)) % 256
        return np.full((request.height, request.width, 3), value, np.uint8)


CUTS = [cut("C001"), cut("C002"), cut("C003", bg="street"), cut("C004", bg="street"), cut("C005", bg=None),
        {"id": "C006", "reuse": "C001"}]


def _plan(tmp_path, cuts=CUTS, **top):
    return make_plan(load(write_shotlist(tmp_path, episode(cuts, **top))))


def _render(plan, backend, tmp_path, **kw):
    return render(plan, backend, RenderOptions(tmp_path / "out", **kw))


def test_first_run_renders_and_a_second_run_renders_nothing(tmp_path):
    plan = _plan(tmp_path)
    spy = SpyBackend()
    first = _render(plan, spy, tmp_path)
    assert spy.rendered == ["C001", "C002", "C003", "C004", "C005"] and spy.loads == 1
    assert first.count("reused") == 1
    again = SpyBackend()
    second = _render(plan, again, tmp_path)
    assert again.rendered == [] and again.loads == 0  # a cache hit never calls or loads the backend
    assert second.count("cached") == 6


def test_a_cached_rerun_reads_each_render_once(tmp_path, monkeypatch):
    """Each job asks for the cut before it and its chain's head, and the manifest for every cut: a cut
    verified once is not read and hashed again while its files stay as they were."""
    plan = _plan(tmp_path)
    _render(plan, SpyBackend(), tmp_path)
    import shotrender.store

    out, reads, real = tmp_path / "out", Counter(), shotrender.store.read_regular

    def counting(path, limit=None):
        if path.parent == out and path.suffix == ".png":
            reads[path.name] += 1
        return real(path, limit)

    monkeypatch.setattr(shotrender.store, "read_regular", counting)
    assert _render(plan, SpyBackend(), tmp_path).count("cached") == 6
    assert reads == {f"ep01_C00{n}.png": 1 for n in range(1, 7)}


def test_a_remembered_cut_is_verified_again_when_its_files_change(tmp_path):
    store = Store(tmp_path, "ep01")
    store.write_cut("C001", b"one", {"status": "rendered", "key": "k"})
    assert store.read_state("C001").image_ok and store.read_state("C001").image_ok
    other = tmp_path / "other.png"  # another process puts a different picture in place
    other.write_bytes(b"two")
    os.replace(other, store.png_path("C001"))
    state = store.read_state("C001")
    assert not state.image_ok and "does not match its sidecar" in state.warning
    store.write_cut("C001", b"two", {"status": "rendered", "key": "k"})
    assert store.read_state("C001").image_ok
    store.png_path("C001").unlink()
    assert not store.read_state("C001").image_ok


def test_outputs_sidecars_and_manifest(tmp_path):
    plan = _plan(tmp_path)
    _render(plan, SpyBackend(), tmp_path)
    out = tmp_path / "out"
    for c in ("C001", "C002", "C003", "C004", "C005", "C006"):
        image = decode_png((out / f"ep01_{c}.png").read_bytes())
        assert image.shape == (72, 128, 3)
        sidecar = json.loads((out / f"ep01_{c}.json").read_text())
        assert sidecar["schema"] == "shotrender.cut/1" and sidecar["cut"] == c
    c1 = json.loads((out / "ep01_C001.json").read_text())
    assert c1["inputs"]["params"]["seed"] == plan.jobs[0].seed and c1["status"] == "rendered"
    assert json.loads((out / "ep01_C006.json").read_text())["reuse_of"] == "C001"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema"] == "shotrender.manifest/1"
    assert [c["cut"] for c in manifest["cuts"]] == ["C001", "C002", "C003", "C004", "C005", "C006"]
    assert manifest["counts"] == {"rendered": 5, "reused": 1}


def test_changing_one_prompt_rerenders_only_that_cut(tmp_path):
    _render(_plan(tmp_path), SpyBackend(), tmp_path)
    changed = [dict(c) for c in CUTS]
    changed[3]["prompt"] = "rain"
    plan = _plan(tmp_path, changed)
    assert [(s.cut, s.reasons) for s in status(plan, SpyBackend(), tmp_path / "out") if s.state != "up to date"] \
        == [("C004", ("prompt changed",))]
    spy = SpyBackend()
    _render(plan, spy, tmp_path)
    assert spy.rendered == ["C004"]


def test_model_change_and_force(tmp_path):
    plan = _plan(tmp_path)
    _render(plan, SpyBackend(), tmp_path)
    newer = SpyBackend(version=2)
    rows = {s.cut: s for s in status(plan, newer, tmp_path / "out")}
    assert {s.state for s in rows.values()} == {"stale"}
    # every cut says why
    assert rows["C001"].reasons == rows["C003"].reasons == rows["C002"].reasons == ("model or library versions "
                                                                                    "changed",)
    spy = SpyBackend()
    _render(select(plan, cuts="C002"), spy, tmp_path, force_cuts=frozenset({"C002"}))
    assert spy.rendered == ["C002"]
    spy = SpyBackend()
    _render(plan, spy, tmp_path, force=True)
    assert len(spy.rendered) == 5


def test_corrupt_sidecar_or_image_is_a_miss_not_a_crash(tmp_path):
    plan = _plan(tmp_path)
    _render(plan, SpyBackend(), tmp_path)
    out = tmp_path / "out"
    (out / "ep01_C002.json").write_text("{ not json")
    (out / "ep01_C003.png").write_bytes(b"\x89PNG truncated")
    states = {s.cut: s.state for s in status(plan, SpyBackend(), out)}
    assert states["C002"] == "missing" and states["C003"] == "missing" and states["C001"] == "up to date"
    spy = SpyBackend()
    _render(plan, spy, tmp_path)
    assert spy.rendered == ["C002", "C003"]


def test_a_failed_cut_fails_alone_and_its_reuse_waits_for_it(tmp_path):
    """A cut depends on its sheet only: one that fails stops no other cut; a cut that reuses it is blocked."""
    plan = _plan(tmp_path)
    result = _render(plan, SpyBackend(fail_on={"C001"}), tmp_path)
    by_cut = {r.cut: r.status for r in result.results}
    assert by_cut == {"C001": "failed", "C002": "rendered", "C006": "blocked", "C003": "rendered",
                      "C004": "rendered", "C005": "rendered"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    statuses = {c["cut"]: c["status"] for c in manifest["cuts"]}
    assert statuses["C001"] == "failed" and statuses["C006"] == "missing"
    assert "spy refuses C001" in json.loads((tmp_path / "out" / "ep01_C001.json").read_text())["error"]
    spy = SpyBackend()
    again = _render(plan, spy, tmp_path)  # the rerun picks up exactly what failed
    assert spy.rendered == ["C001"] and {r.cut: r.status for r in again.results}["C006"] == "reused"


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    store = Store(tmp_path / "out", "ep01")
    store.dir.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = store.png_path("C001").with_name(f"ep01_C001.png{TMP_MARK}{host()}-{dead.stdout.strip()}-abcd")
    leftover.write_bytes(b"half")
    live = store.png_path("C002").with_name(f"{temp_prefix(store.png_path('C002'))}beef")
    live.write_bytes(b"mine")
    assert store.prepare() == [leftover]
    assert live.exists() and not leftover.exists()


# ------------------------------------------------------------------------------------------ processes


def _draft_episode(tmp_path, n=24, size=(512, 288)):
    """Unrelated scribbled layouts: continuity would flag them all, and is not what these tests are about."""
    cuts = [cut(f"C{i:03d}", bg=("park" if i % 2 else "street")) for i in range(1, n + 1)]
    data = episode(cuts, size=list(size), output="out", continuity={"enabled": False})
    return write_shotlist(tmp_path, data, width=size[0], height=size[1])


DONE = re.compile(r"\] (C\d+) \[\w+\] done")


def _all_pngs_decode(out):
    pngs = sorted(out.glob("*.png"))
    return pngs and all(decode_png(p.read_bytes()) is not None for p in pngs)


def test_kill_9_mid_render_then_rerun_renders_exactly_the_missing_cuts(tmp_path):
    path = _draft_episode(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "shotrender", "render", str(path), "--progress", "plain"],
                            stderr=subprocess.PIPE, text=True)
    done = 0
    for line in proc.stderr:
        if DONE.search(line):
            done += 1
            if done == 6:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait()
    written = {p.stem for p in out.glob("ep01_C*.json")}
    assert 6 <= len(written) < 24
    rerun = run_cli("render", str(path), "--progress", "plain")
    assert rerun.returncode == 0, rerun.stderr
    rendered = set(DONE.findall(rerun.stderr))
    assert rendered == {f"C{i:03d}" for i in range(1, 25)} - {w.split("_")[1] for w in written}
    assert _all_pngs_decode(out)
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"rendered": 24}


def test_sigterm_exits_143_and_leaves_no_temporaries(tmp_path):
    path = _draft_episode(tmp_path, n=40, size=(1024, 576))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "shotrender", "render", str(path), "--progress", "plain"],
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if DONE.search(line):
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stderr.read()
    assert proc.wait() == 143, rest
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    manifest = json.loads((out / "manifest.json").read_text())
    assert 1 <= manifest["counts"].get("rendered", 0) < 40
    assert _all_pngs_decode(out)


def test_two_concurrent_shards_into_one_folder_make_a_complete_manifest(tmp_path):
    path = _draft_episode(tmp_path, n=16)
    procs = [subprocess.Popen([sys.executable, "-m", "shotrender", "render", str(path), "--shard", f"{i}/2",
                               "--progress", "none"]) for i in (1, 2)]
    assert [p.wait() for p in procs] == [0, 0]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"] == {"rendered": 16}


def test_fully_cached_render_does_not_import_torch(tmp_path):
    path = _draft_episode(tmp_path, n=4)
    assert run_cli("render", str(path)).returncode == 0
    code, imported, out = run_cli_watching_imports("render", str(path))
    assert (code, imported) == (0, []) and "4 cached" in out.stdout


@pytest.mark.parametrize("flag", ["--force", "--force-cuts=C002"])
def test_force_flags_from_the_command_line(tmp_path, flag):
    path = _draft_episode(tmp_path, n=3)
    assert run_cli("render", str(path)).returncode == 0
    out = run_cli("render", str(path), flag, "--progress", "plain")
    assert out.returncode == 0
    assert ("3 rendered" if flag == "--force" else "1 rendered, 2 cached") in out.stdout


def test_status_command(tmp_path):
    path = _draft_episode(tmp_path, n=3)
    out = run_cli("status", str(path), "--json")
    assert [r["state"] for r in json.loads(out.stdout)] == ["missing"] * 3
    run_cli("render", str(path))
    os.utime(path)  # touching the shot list changes nothing that decides pixels
    out = run_cli("status", str(path))
    assert out.stdout.strip().endswith("3 up to date")


class BatchSpy(SpyBackend):
    def __init__(self):
        super().__init__()
        self.batches: list[list[str]] = []

    def render_batch(self, requests):
        self.batches.append([r.cut for r in requests])
        return [self.render(r) for r in requests]


def test_batch_runs_chains_side_by_side_and_batches_first_attempts(tmp_path):
    plan = _plan(tmp_path, continuity={"enabled": False})
    spy = BatchSpy()
    _render(plan, spy, tmp_path, batch=3)
    # chains park (C001, C002), street (C003, C004), C005: waves of their n-th cuts
    assert spy.batches == [["C001", "C003", "C005"], ["C002", "C004"]]
    plain = SpyBackend()
    render(plan, plain, RenderOptions(tmp_path / "plain"))
    out = tmp_path / "out"
    for c in ("C001", "C002", "C003", "C004", "C005"):
        assert (out / f"ep01_{c}.png").read_bytes() == (tmp_path / "plain" / f"ep01_{c}.png").read_bytes()


@pytest.mark.parametrize("fmt, pattern", [("openjd", r"openjd_progress: (\d+)"), ("deadline", r"Progress: (\d+)%"),
                                          ("tractor", r"TR_PROGRESS (\d+)%")])
def test_farm_progress_lines(tmp_path, fmt, pattern):
    path = _draft_episode(tmp_path, n=4)
    out = run_cli("render", str(path), "--progress", fmt)
    assert out.returncode == 0 and "\r" not in out.stdout + out.stderr
    percents = [int(p) for p in re.findall(rf"^{pattern}$", out.stdout, re.M)]
    assert percents == [0, 25, 50, 75, 100]
    assert len(DONE.findall(out.stderr)) == 4  # the per-cut lines still reach the log
    if fmt == "openjd":
        assert "openjd_status: cut C001" in out.stdout
    assert "openjd_fail" not in out.stdout


@pytest.mark.parametrize("fmt", ["openjd", "deadline", "tractor"])
def test_farm_progress_ends_with_the_summary_and_for_openjd_why_it_failed(fmt):
    out, err = io.StringIO(), io.StringIO()
    progress = FarmProgress(fmt, out, err)
    progress.start("ep01", 6)
    failures = [CutResult("C001", "park", "failed", error="CUDA out of memory\nwhile painting"),
                *(CutResult(f"C00{n}", "park", "blocked", error="not rendered") for n in (2, 3, 4, 5))]
    progress.ended("ep01: 1 rendered, 1 failed, 4 blocked", failures)
    status, *fail = out.getvalue().splitlines()[2:]
    assert status == ("openjd_status: " if fmt == "openjd" else "") + "ep01: 1 rendered, 1 failed, 4 blocked"
    assert fail == (["openjd_fail: 5 of 6 cuts not painted: C001 failed: CUDA out of memory while painting; "
                     "C002 blocked: not rendered; C003 blocked: not rendered; 2 more"] if fmt == "openjd" else [])
