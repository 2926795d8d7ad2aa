"""The one orchestrator: plan + backend + store -> images, sidecars and the manifest.

For each chain, in order: hash the job's inputs into a cache key; skip the cut if its sidecar holds that
key and its image is intact; otherwise render it (loading the model on the first miss only), write it
atomically, and go on. Reused cuts are copied from their source once it exists.
"""

from __future__ import annotations

import contextlib
import platform
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shotrender import __version__
from shotrender.backends.base import Backend, RenderRequest
from shotrender.errors import BackendError, Interrupted, ShotRenderError
from shotrender.images import encode_png, read_layout
from shotrender.plan import Job, Link, Plan
from shotrender.store import CutState, Store, cache_key, job_inputs, sha256_bytes, stale_reasons


@dataclass(frozen=True)
class RenderOptions:
    out_dir: Path
    force: bool = False
    force_cuts: frozenset[str] = frozenset()


@dataclass
class CutResult:
    cut: str
    chain: str
    status: str  # rendered | cached | reused | failed | blocked
    seconds: float = 0.0
    seed: int | None = None
    error: str | None = None


@dataclass
class RunResult:
    episode: str
    out_dir: Path
    results: list[CutResult] = field(default_factory=list)
    backend: dict = field(default_factory=dict)
    seconds: float = 0.0
    model_loads: int = 0

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[CutResult]:
        return [r for r in self.results if r.status in ("failed", "blocked")]


class Progress(Protocol):
    def start(self, episode: str, total: int) -> None: ...
    def cut_started(self, cut: str) -> None: ...
    def cut_finished(self, result: CutResult, detail: str) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


class SilentProgress:
    def start(self, episode: str, total: int) -> None:
        pass

    def cut_started(self, cut: str) -> None:
        pass

    def cut_finished(self, result: CutResult, detail: str) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into an Interrupted exception so `finally` blocks remove temporaries."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _inspect(store: Store, job: Job, width: int, height: int, identity: dict,
             upstream_sha: str | None) -> tuple[dict, str, CutState]:
    """A job's current inputs, their key, and what the store holds for the cut."""
    inputs = job_inputs(job, sha256_bytes(job.layout.read_bytes()), width, height, identity, upstream_sha)
    return inputs, cache_key(inputs), store.read_state(job.cut)


@dataclass(frozen=True)
class CutStatus:
    cut: str
    chain: str
    state: str  # up to date | stale | missing | failed
    reasons: tuple[str, ...] = ()


def status(plan: Plan, backend: Backend, out_dir: Path) -> list[CutStatus]:
    """What `render` would do for each cut, and why, without rendering or loading a model."""
    store = Store(out_dir, plan.shotlist.episode)
    identity = backend.identity()
    sl = plan.shotlist
    out: list[CutStatus] = []
    for chain in plan.chains:
        for job in chain.jobs:
            inputs, key, state = _inspect(store, job, sl.width, sl.height, identity, None)
            if state.record is None:
                out.append(CutStatus(job.cut, chain.name, "missing", (state.warning,) if state.warning else ()))
            elif state.record.get("status") == "failed":
                out.append(CutStatus(job.cut, chain.name, "failed", (state.record.get("error", ""),)))
            elif not state.image_ok:
                out.append(CutStatus(job.cut, chain.name, "missing", (state.warning,)))
            elif state.record.get("key") != key:
                out.append(CutStatus(job.cut, chain.name, "stale",
                                     tuple(stale_reasons(state.record.get("inputs"), inputs))))
            else:
                out.append(CutStatus(job.cut, chain.name, "up to date"))
        for link in chain.links:
            state = store.read_state(link.cut)
            source = store.read_state(link.source)
            if not state.image_ok:
                out.append(CutStatus(link.cut, chain.name, "missing"))
            elif not source.image_ok or state.record.get("key") != _link_key(source.record):
                out.append(CutStatus(link.cut, chain.name, "stale", (f"{link.source} changed",)))
            else:
                out.append(CutStatus(link.cut, chain.name, "up to date"))
    return out


def _link_key(source_record: dict) -> str:
    return cache_key({"reuse_of": source_record["image"]["sha256"]})


class _Run:
    """State of one render call: the backend (loaded on first need) and the store."""

    def __init__(self, plan: Plan, backend: Backend, options: RenderOptions, progress: Progress):
        self.plan = plan
        self.sl = plan.shotlist
        self.backend = backend
        self.identity = backend.identity()
        self.options = options
        self.progress = progress
        self.store = Store(options.out_dir, self.sl.episode)
        self.loaded = False
        self.result = RunResult(self.sl.episode, options.out_dir)

    def ensure_loaded(self) -> None:
        if not self.loaded:
            self.progress.message(f"loading model {self.sl.model} ({self.identity.get('backend')})")
            t0 = time.perf_counter()
            self.backend.load()
            self.loaded = True
            self.result.model_loads += 1
            self.result.backend = self.backend.describe()
            self.progress.message(f"model loaded in {time.perf_counter() - t0:.1f} s")

    def forced(self, cut: str) -> bool:
        return self.options.force or cut in self.options.force_cuts

    def run_chain(self, chain_jobs: tuple[Job, ...], links: tuple[Link, ...], chain: str) -> None:
        blocked_by: str | None = None
        for job in chain_jobs:
            self.progress.cut_started(job.cut)
            if blocked_by is not None:
                self.finish(CutResult(job.cut, chain, "blocked", seed=job.seed,
                                      error=f"not rendered: {blocked_by} before it in the chain failed"), "")
                continue
            outcome = self.run_job(job)
            if outcome.status == "failed":
                blocked_by = job.cut
        for link in links:
            self.progress.cut_started(link.cut)
            self.run_link(link, chain)

    def run_job(self, job: Job) -> CutResult:
        t0 = time.perf_counter()
        inputs, key, state = _inspect(self.store, job, self.sl.width, self.sl.height, self.identity, None)
        if state.warning:
            self.progress.message(f"warning: {state.warning}")
        if not self.forced(job.cut) and state.image_ok and state.record.get("key") == key:
            return self.finish(CutResult(job.cut, job.chain, "cached", time.perf_counter() - t0, job.seed), "")
        base = {
            "key": key, "inputs": inputs, "chain": job.chain, "position": job.position, "upstream": job.upstream,
            "layout": str(job.layout), "model": self.sl.model, "shotrender": __version__, "host": platform.node(),
        }
        try:
            self.ensure_loaded()
            layout = read_layout(job.layout, self.sl.width, self.sl.height)
            request = RenderRequest(
                cut=job.cut, init_image=layout, layout=layout, prompt=job.prompt, negative=job.negative,
                seed=job.seed, steps=job.steps, strength=job.strength, guidance=job.guidance,
                width=self.sl.width, height=self.sl.height,
            )
            t_render = time.perf_counter()
            image = self.backend.render(request)
            render_seconds = time.perf_counter() - t_render
            self.result.backend = self.backend.describe()  # a float32 fallback changes what ran
            png = encode_png(image)
        except (BackendError, RuntimeError, ValueError, MemoryError) as e:
            seconds = time.perf_counter() - t0
            self.store.write_failure(job.cut, {**base, "error": str(e), "timings": {"total": seconds}})
            return self.finish(CutResult(job.cut, job.chain, "failed", seconds, job.seed, str(e)), "")
        seconds = time.perf_counter() - t0
        self.store.write_cut(job.cut, png, {
            **base, "status": "rendered", "device": self.result.backend,
            "timings": {"render": round(render_seconds, 4), "total": round(seconds, 4)},
        })
        detail = (f"seed {job.seed} steps {job.steps} strength {job.strength:g} guidance {job.guidance:g} "
                  f"{render_seconds:.2f} s")
        return self.finish(CutResult(job.cut, job.chain, "rendered", seconds, job.seed), detail)

    def run_link(self, link: Link, chain: str) -> None:
        t0 = time.perf_counter()
        source = self.store.read_state(link.source)
        if not source.image_ok:
            self.finish(CutResult(link.cut, chain, "blocked",
                                  error=f"reuses {link.source}, which has no render yet"), "")
            return
        state = self.store.read_state(link.cut)
        key = _link_key(source.record)
        if state.image_ok and state.record.get("key") == key and not self.forced(link.cut):
            self.finish(CutResult(link.cut, chain, "cached", time.perf_counter() - t0), "")
            return
        self.store.write_link(link.cut, link.source, {
            "key": key, "chain": chain, "status": "reused", "shotrender": __version__,
        })
        self.finish(CutResult(link.cut, chain, "reused", time.perf_counter() - t0), f"copy of {link.source}")

    def finish(self, result: CutResult, detail: str) -> CutResult:
        self.result.results.append(result)
        self.progress.cut_finished(result, detail)
        return result


def render(plan: Plan, backend: Backend, options: RenderOptions,
           progress: Progress | None = None, on_start: Callable[[Store], None] | None = None) -> RunResult:
    """Render every job of `plan` into `options.out_dir`; always leaves a manifest that matches the disk.

    Raises Interrupted on SIGINT/SIGTERM (after writing the manifest) and ModelError when the model
    cannot load; a cut that fails is recorded and blocks the rest of its chain, other chains go on.
    """
    progress = progress or SilentProgress()
    run = _Run(plan, backend, options, progress)
    t0 = time.perf_counter()
    run.store.prepare()
    if on_start:
        on_start(run.store)
    progress.start(plan.shotlist.episode, plan.cut_count)
    try:
        with _signals_raise():
            for chain in plan.chains:
                run.run_chain(chain.jobs, chain.links, chain.name)
    finally:
        run.result.seconds = time.perf_counter() - t0
        progress.close()
        with contextlib.suppress(OSError, ShotRenderError):
            run.store.write_manifest(plan, _run_summary(run.result))
    return run.result


def _run_summary(result: RunResult) -> dict:
    counts: dict[str, int] = {}
    for r in result.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return {
        "counts": counts, "seconds": round(result.seconds, 3), "backend": result.backend,
        "model_loads": result.model_loads, "shotrender": __version__,
    }
