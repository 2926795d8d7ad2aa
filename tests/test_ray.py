"""`render --executor ray` on a private local Ray cluster (loopback only) gives what a local render gives."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ray.exceptions import RayActorError

from shotrender.backends.draft import DraftBackend
from shotrender.executors.ray import ChainWorker, RayExecutor, phases
from shotrender.files import TMP_MARK
from shotrender.plan import make_plan
from shotrender.render import RenderOptions
from shotrender.render import render as run_render
from shotrender.shotlist import load
from test_farm import manifest_content, pictures

from helpers import cut, episode, pan_layouts, run_cli, write_shotlist

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "shots" / "example"


def _env():
    # Ray gives each worker OMP_NUM_THREADS = its CPUs unless the variable is set; CPU renders' bytes depend
    # on the thread count, so the local run and the workers get the same one.
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.mark.slow
def test_ray_renders_the_example_as_a_local_run_does(tmp_path):
    work = tmp_path / "example"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("renders"))
    local, cluster = tmp_path / "local", tmp_path / "ray"
    assert run_cli("render", str(work / "episode.yaml"), "--out", str(local), env=_env()).returncode == 0
    result = run_cli("render", str(work / "episode.yaml"), "--out", str(cluster), "--executor", "ray",
                     "--progress", "plain", env=_env())
    assert result.returncode == 0, result.stderr
    assert "ray: 2 workers (1 CPU, 0 GPU each) on a local cluster" in result.stderr
    assert "7 rendered, 1 reused" in result.stdout
    lines = result.stderr.splitlines()
    painted = [i for i, line in enumerate(lines) if line.startswith("sheet ") and "painted in" in line]
    cut_lines = [i for i, line in enumerate(lines) if line.startswith("[")]
    assert len(painted) == 2 and max(painted) < min(cut_lines)  # both sheets before any cut: cuts wait for sheets only
    # 8 cuts, the previews of the 6 cuts of the park's and the street's sheets, and the 2 sheets
    assert pictures(cluster) == pictures(local) and len(pictures(local)) == 8 + 2 * 6
    assert pictures(cluster / "sheets") == pictures(local / "sheets") and len(pictures(local / "sheets")) == 2
    assert manifest_content(cluster) == manifest_content(local)


@pytest.mark.slow
def test_ray_workers_keep_the_model_loaded_and_paint_the_same_bytes(tmp_path, tiny_model):
    park = pan_layouts(tmp_path / "pan", 3, 64, 64, step=6, seed=4)
    cuts = [cut("C001", layout=str(park[0].relative_to(tmp_path))), cut("C002", bg="street"),
            cut("C003", layout=str(park[1].relative_to(tmp_path))), cut("C004", bg=None),
            cut("C005", layout=str(park[2].relative_to(tmp_path)))]
    data = episode(cuts, size=[64, 64], model=str(tiny_model))
    data["defaults"].update(steps=3, strength=0.5)
    path = write_shotlist(tmp_path, data, width=64, height=64)
    local, cluster = tmp_path / "local", tmp_path / "ray"
    assert run_cli("render", str(path), "--out", str(local), env=_env()).returncode == 0
    result = run_cli("render", str(path), "--out", str(cluster), "--executor", "ray", "--workers", "1",
                     "--progress", "plain", env=_env())
    assert result.returncode == 0, result.stderr
    manifest = json.loads((cluster / "manifest.json").read_text())
    assert manifest["last_run"]["model_loads"] == 1  # three chains, one worker, one load
    assert set(manifest["counts"]) <= {"rendered", "flagged"} and sum(manifest["counts"].values()) == 5
    assert pictures(cluster) == pictures(local)
    assert manifest_content(cluster) == manifest_content(local)  # the same cache keys: a local rerun renders nothing
    again = run_cli("render", str(path), "--out", str(cluster), env=_env())
    assert "5 cached" in again.stdout and "rendered" not in again.stdout, again.stdout + again.stderr


class _Ref:  # hashable by identity, as Ray's object refs are
    def __init__(self, worker, plan, lost):
        self.worker, self.plan, self.lost = worker, plan, lost


class _FakeRay:
    """Just enough of Ray's API to drive the executor's dispatch loop in-process; the calls numbered in
    `lose` (from 1) die as a lost worker would."""

    def __init__(self, lose: set[int]):
        self.lose, self.calls, self.killed = lose, [], 0

    def actor(self, backend, options):
        fake, worker = self, ChainWorker(backend, options)

        class Method:
            def remote(self, plan, stage):
                fake.calls.append((stage, "+".join(plan.chains[0].cuts) if stage == "cuts" else plan.chains[0].name))
                return _Ref(worker, (plan, stage), len(fake.calls) in fake.lose)

        return type("Actor", (), {"run": Method()})()

    def wait(self, refs, num_returns, timeout=None):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        if ref.lost:
            raise RayActorError()
        return ref.worker.run(*ref.plan)

    def kill(self, actor):
        self.killed += 1


@pytest.mark.parametrize("lose, counts", [
    ({1}, {"rendered": 7, "reused": 1}),
    ({1, 2}, {"rendered": 3, "blocked": 5}),  # the park's sheets lost twice: its 4 renders and 1 reuse blocked
    ({3, 4}, {"rendered": 6, "failed": 2}),  # cut C001 (and C007, its reuse) lost twice
])
def test_sheets_go_out_first_then_every_cut_alone_and_a_lost_task_once_more(tmp_path, lose, counts):
    plan = make_plan(load(EXAMPLE / "episode.yaml"))
    fake = _FakeRay(lose)

    class Executor(RayExecutor):
        def run(self, run, chains):
            for tasks in phases(run, chains):
                self._dispatch(fake, run, tasks, [fake.actor(run.backend, run.options)],
                               lambda: fake.actor(run.backend, run.options))

    result = run_render(plan, DraftBackend(), RenderOptions(tmp_path), executor=Executor())
    calls = list(dict.fromkeys(fake.calls))  # a task given out again is one task
    assert calls == [("sheets", "park"), ("sheets", "street"), ("cuts", "C001+C007"), ("cuts", "C002"),
                     ("cuts", "C003"), ("cuts", "C008"), ("cuts", "C004"), ("cuts", "C005"), ("cuts", "C006")]
    assert fake.killed == len(lose)
    assert {s: result.count(s) for s in ("rendered", "reused", "failed", "blocked") if result.count(s)} == counts
    if "failed" in counts:
        assert all("lost twice" in r.error for r in result.results if r.status == "failed")
    if "blocked" in counts:
        blocked = [r for r in result.results if r.status == "blocked"]
        assert "its sheet park/1 is missing" in blocked[0].error and "--sheets-only" in blocked[0].error


@pytest.mark.slow
def test_sigterm_during_a_ray_render_exits_143_with_the_manifest_written(tmp_path):
    data = episode([cut(f"C{i:03d}", bg=["park", "street"][i % 2]) for i in range(1, 41)], size=[512, 288])
    path = write_shotlist(tmp_path, data, width=512, height=288)
    out = tmp_path / "renders" / "ep01"
    log = (tmp_path / "err.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "shotrender", "render", str(path), "--executor", "ray",
                             "--progress", "plain"], stdout=subprocess.DEVNULL, stderr=log, env=_env())
    deadline = time.monotonic() + 120
    while not list(out.glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)  # Ray is up and the first cut is written: Ray's own SIGTERM handler is in place by now
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143, (tmp_path / "err.log").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    assert 0 < manifest["counts"].get("rendered", 0) < 40 and sum(manifest["counts"].values()) == 40
    assert not [p.name for p in out.iterdir() if TMP_MARK in p.name]


def test_ray_options_without_the_ray_executor_are_a_usage_error(tmp_path):
    path = write_shotlist(tmp_path, episode([cut("C001")]))
    result = run_cli("render", str(path), "--workers", "2", "--address", "auto")
    assert result.returncode == 2
    assert "--address, --workers only mean something with --executor ray" in result.stderr
    assert not (tmp_path / "renders").exists()


def test_without_ray_installed_the_executor_says_how_to_get_it(tmp_path):
    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    path = write_shotlist(tmp_path / "ep", episode([cut("C001")]))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "noray")}
    result = run_cli("render", str(path), "--executor", "ray", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "pip install 'shotrender[ray]'" in result.stderr
