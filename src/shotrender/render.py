"""The one orchestrator: plan + backend + store -> images, sidecars and the manifest.

For each chain, in order: ask state.py whether the cut is up to date (its cache key from its inputs,
the key of the cut before it among them); skip it if so; otherwise render it, guided by the cut before
it (continuity.py), check it, retry or flag it, and write it atomically. The model loads on the first
cut that needs it, once. Reused cuts are copied from their source once it exists.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from shotrender import __version__, continuity, signals
from shotrender.backends.base import PARAMS, Backend, RenderRequest
from shotrender.errors import BackendError, Interrupted, ShotRenderError
from shotrender.images import encode_png, read_layout
from shotrender.plan import Chain, Job, Link, Plan
from shotrender.shotlist import ShotList
from shotrender.state import RunSettings, State, Verdict
from shotrender.store import Store


@dataclass(frozen=True)
class RenderOptions:
    out_dir: Path
    settings: RunSettings = RunSettings()  # what decides the run's identity: model, device, continuity, ...
    force: bool = False
    force_cuts: frozenset[str] = frozenset()
    batch: int = 1  # chains run side by side; their cuts' first attempts are batched


@dataclass
class CutResult:
    cut: str
    chain: str
    status: str  # rendered | flagged | cached | reused | failed | blocked
    seconds: float = 0.0
    seed: int | None = None
    error: str | None = None  # why it failed, or why it is flagged
    flagged: bool = False  # over a continuity limit: rendered so now, or cached and still so


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

    @property
    def flagged(self) -> list[CutResult]:
        """Cuts flagged for review, rendered this run or cached: a flag holds until the cut is rendered again."""
        return [r for r in self.results if r.flagged]


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




@dataclass(frozen=True)
class PairCheck:
    upstream: str
    cut: str
    chain: str
    mode: str  # flow | colour | missing
    overlap: float | None = None
    score: float | None = None
    limit: float | None = None

    @property
    def over(self) -> bool:
        return self.score is not None and self.limit is not None and self.score > self.limit


def check(plan: Plan, out_dir: Path, settings: RunSettings | None = None) -> list[PairCheck]:
    """Score every guided pair of existing renders the way render's check does, rendering nothing.

    A pair is a cut and the one before it in its chain, where the run's settings paint the cut from it
    (state.State.guided): with `--no-continuity`, or a background whose continuity is off, there is
    nothing to check. A pair's second render and layout are the next pair's first: each picture is read once.
    """
    store = Store(out_dir, plan.shotlist.episode)
    sl = plan.shotlist
    state = State(plan, store, {}, settings or RunSettings())
    rows: list[PairCheck] = []
    for chain in plan.chains:
        settings_bg = sl.continuity_for(chain.name if chain.name in sl.backgrounds else None)
        last: tuple[str | None, np.ndarray | None, np.ndarray | None] = (None, None, None)  # cut, render, layout
        for job in chain.jobs:
            if not state.guided(job):
                continue
            a, layout_a = last[1:] if last[0] == job.upstream else (store.read_image(job.upstream), None)
            b = store.read_image(job.cut)
            last = (job.cut, b, None)
            if a is None or b is None:
                rows.append(PairCheck(job.upstream, job.cut, chain.name, "missing"))
                continue
            if layout_a is None:
                layout_a = read_layout(job.upstream_layout, sl.width, sl.height)
            layout_b = read_layout(job.layout, sl.width, sl.height)
            last = (job.cut, b, layout_b)
            p = continuity.pair(layout_a, layout_b, settings_bg)
            if p.overlap >= settings_bg.min_overlap:
                score, _ = continuity.flow_score(b, p.warp(a), p)
                rows.append(PairCheck(job.upstream, job.cut, chain.name, "flow", p.overlap, score, settings_bg.limit))
            else:
                head = store.read_image(job.chain_head)
                score = continuity.colour_score(b, continuity.lab_stats(head)) if head is not None else None
                rows.append(PairCheck(job.upstream, job.cut, chain.name, "colour", p.overlap, score,
                                      settings_bg.colour_limit))
    return rows


@dataclass
class _Attempt:
    image: np.ndarray
    strength: float
    seed: int
    score: float | None  # None when nothing was checked
    error: float | None = None
    seconds: float = 0.0

    def record(self) -> dict:
        out = {"strength": self.strength, "seed": self.seed, "seconds": round(self.seconds, 4)}
        if self.score is not None:
            out["score"] = round(self.score, 6)
        if self.error is not None:
            out["render_error"] = round(self.error, 6)
        return out

    def over(self, limit: float | None) -> bool:
        return self.score is not None and limit is not None and self.score > limit


class _Blocked(Exception):
    """A cut that must be rendered from a picture that is not there."""


class _Pending:
    """One cut on its way through the continuity policy: its init image, how each attempt is finished
    (fusion, then the score) and the report for its sidecar."""

    def __init__(self, job: Job, t0: float, base: dict):
        self.job, self.t0, self.base = job, t0, base
        self.first_seconds = 0.0
        self.mode = "first" if job.upstream is None else "off"  # off: continuity off for the run or place
        self.report: dict = {}
        self.limit: float | None = None
        self.max_attempts = 1
        self.pair: continuity.Pair | None = None
        self.warped: np.ndarray | None = None
        self.guided_by: dict[str, str] = {}  # cut -> sha256 of its picture this render was painted from

    def setup(self, sl: ShotList, store: Store, verdict: Verdict, guided: bool, upstream_layout: bytes | None
              ) -> None:
        """Decode the layout from the bytes the key was made of; when guided, read the renders it is painted
        from, naming each in `guided_by` with the hash of the picture used (state.py's provenance check)."""
        job = self.job
        self.width, self.height = sl.width, sl.height
        self.layout = self.init = read_layout(job.layout, sl.width, sl.height, verdict.layout)
        self.settings = settings = sl.continuity_for(job.chain if job.chain in sl.backgrounds else None)
        if not guided:
            return
        upstream = store.read_picture(job.upstream)
        if upstream is None:
            raise _Blocked(f"{job.upstream} before it in the chain has no render; render it first "
                           f"(or add it to the selection)")
        self.guided_by[job.upstream] = upstream[1]
        layout_a = read_layout(job.upstream_layout, sl.width, sl.height, upstream_layout)
        self.pair = continuity.pair(layout_a, self.layout, settings)
        self.report.update(upstream=job.upstream, overlap=round(self.pair.overlap, 4),
                           layout_error=round(self.pair.layout_error, 6))
        if self.pair.overlap >= settings.min_overlap:
            self.mode, self.limit = "flow", settings.limit
            self.warped = self.pair.warp(upstream[0])
            self.init = continuity.guided_init(self.layout, self.warped, self.pair.weight)
        else:
            head = store.read_picture(job.chain_head)
            self.mode = "colour" if head is not None else "unchecked"
            if head is not None:
                self.limit = settings.colour_limit
                self.report["reference"] = job.chain_head
                self.guided_by[job.chain_head] = head[1]
                self.reference_stats = continuity.lab_stats(head[0])
        if self.limit is not None:
            self.max_attempts = settings.max_attempts

    def request(self, attempt: int) -> RenderRequest:
        job = self.job
        strength, seed = continuity.attempt_params(job.strength, job.seed, attempt)
        return RenderRequest(
            cut=job.cut, init_image=self.init, layout=self.layout, prompt=job.prompt, negative=job.negative,
            seed=seed, steps=job.steps, strength=strength, guidance=job.guidance, width=self.width,
            height=self.height,
        )

    def attempt(self, image: np.ndarray, attempt: int, seconds: float) -> _Attempt:
        strength, seed = continuity.attempt_params(self.job.strength, self.job.seed, attempt)
        score = error = None
        if self.mode == "flow":
            image = continuity.fuse(image, self.warped, self.pair.weight, self.settings.fusion)
            score, error = continuity.flow_score(image, self.warped, self.pair)
        elif self.mode == "colour":
            score = continuity.colour_score(image, self.reference_stats)
        return _Attempt(image, strength, seed, score, error, seconds)

    def pictures(self, chosen: _Attempt):
        if self.mode == "flow":
            yield "flow", continuity.flow_picture(self.pair)
            yield "error", continuity.error_picture(chosen.image, self.warped, self.pair)


def _ends_the_run(error: Exception) -> bool:
    """Whatever a backend raises fails its cut, and the run goes on with other chains; but our own errors
    that are not about one cut (an interrupt, a model that cannot load, a full disk, a broken layout) end it."""
    return isinstance(error, ShotRenderError) and not isinstance(error, BackendError)


class Run:
    """One render call's state: the backend (loaded on first need), the store, the freshness rule (state.py).

    This is the extension point for executors (`Executor`): an executor may build a Run per worker
    (`Run(plan, backend, options, progress, loaded=...)`) and call `run_chains`, and reports into the
    driver's Run through `finish(result, detail)`, `progress`, and `result` (`backend`, `model_loads`).
    """

    def __init__(self, plan: Plan, backend: Backend, options: RenderOptions, progress: Progress,
                 loaded: bool = False):
        self.plan = plan
        self.sl = plan.shotlist
        self.backend = backend
        self.identity = backend.identity()
        self.options = options
        self.progress = progress
        self.store = Store(options.out_dir, self.sl.episode)
        self.reads = getattr(backend, "reads", PARAMS)
        self.state = State(plan, self.store, self.identity, options.settings, self.reads)
        self.layouts: dict[str, tuple[str, bytes]] = {}  # chain -> its cut asked for last and that cut's layout bytes
        self.loaded = loaded  # a worker that keeps its backend between calls passes True after the first
        self.result = RunResult(self.sl.episode, options.out_dir)

    def ensure_loaded(self) -> None:
        if not self.loaded:
            draft = self.identity.get("backend") == "draft"
            self.progress.message("draft backend: colour keys painted from the layouts, no diffusion model"
                                  if draft else f"loading model {self.options.settings.model or self.sl.model}")
            t0 = time.perf_counter()
            self.backend.load()
            self.loaded = True
            self.result.model_loads += 1
            self.result.backend = self.backend.describe()
            if not draft:
                self.progress.message(f"model loaded in {time.perf_counter() - t0:.1f} s")

    def forced(self, cut: str) -> bool:
        return self.options.force or cut in self.options.force_cuts

    def run_chains(self, chains: tuple[Chain, ...]) -> None:
        """Run chains `batch` at a time, in waves: a wave takes the next cut of each chain of the group, so
        each chain still runs in order, and the first attempts of a wave's renders go to the backend as
        one batch. With batch 1 this is plain chain-after-chain order."""
        size = max(1, self.options.batch)
        for start in range(0, len(chains), size):
            group = chains[start:start + size]
            blocked: dict[str, str] = {}
            for position in range(max(len(c.jobs) for c in group)):
                wave = []
                for chain in group:
                    if position < len(chain.jobs):
                        pending = self.prepare(chain.jobs[position], chain, blocked.get(chain.name))
                        if pending is not None:
                            wave.append(pending)
                for pending, image in zip(wave, self.paint_first(wave), strict=True):
                    if self.complete(pending, image).status == "failed":
                        blocked[pending.job.chain] = pending.job.cut
            for chain in group:
                for link in chain.links:
                    self.progress.cut_started(link.cut)
                    self.run_link(link, chain.name)

    def prepare(self, job: Job, chain: Chain, blocked_by: str | None) -> _Pending | None:
        """Finish a cut that needs no render (blocked, cached) and return None; else set up its render."""
        t0 = time.perf_counter()
        self.progress.cut_started(job.cut)
        if blocked_by is not None:
            self.finish(CutResult(job.cut, chain.name, "blocked", seed=job.seed,
                                  error=f"not rendered: {blocked_by} before it in the chain failed"), "")
            return None
        verdict = self.state.job(job)
        # the bytes of the layout before this cut's, when that cut was asked for just before; a selection that
        # leaves cuts of the chain out (--cuts C001,C003) asked for another one, and its layout is not this pair's
        last = self.layouts.pop(chain.name, None)
        upstream_layout = last[1] if last is not None and last[0] == job.upstream else None
        self.layouts[chain.name] = (job.cut, verdict.layout)
        if verdict.stored.warning:
            self.progress.message(f"warning: {verdict.stored.warning}")
        if not self.forced(job.cut) and verdict.skip:
            flagged = verdict.state == "flagged"
            self.finish(CutResult(job.cut, job.chain, "cached", time.perf_counter() - t0, job.seed,
                                  verdict.reasons[0] if flagged else None, flagged), "")
            return None
        pending = _Pending(job, t0, {
            "key": verdict.key, "inputs": verdict.inputs, "chain": job.chain, "position": job.position,
            "upstream": job.upstream, "layout": str(job.layout),
            "model": self.options.settings.model or self.sl.model, "shotrender": __version__, "host": platform.node(),
        })
        guided = self.state.guided(job)
        try:
            pending.setup(self.sl, self.store, verdict, guided, upstream_layout)
            self.ensure_loaded()
        except _Blocked as e:
            self.finish(CutResult(job.cut, chain.name, "blocked", seed=job.seed, error=f"not rendered: {e}"), "")
            return None
        except Exception as e:
            if _ends_the_run(e):
                raise
            self.fail(pending, e)
            return None
        return pending

    def paint_first(self, wave: list[_Pending]) -> list[np.ndarray | Exception]:
        """First attempts of a wave: batched where the backend can and the parameters agree."""
        if not wave:
            return []
        requests = [p.request(0) for p in wave]
        groups: dict[tuple, list[int]] = {}
        batch = getattr(self.backend, "render_batch", None) if self.options.batch > 1 else None
        for i, r in enumerate(requests):
            groups.setdefault((r.steps, r.strength, r.guidance, bool(r.negative)) if batch else (i,), []).append(i)
        out: list[np.ndarray | Exception] = [None] * len(wave)
        for members in groups.values():
            t = time.perf_counter()
            try:
                if len(members) > 1:
                    images = batch([requests[i] for i in members])
                else:
                    images = [self.backend.render(requests[members[0]])]
            except Exception as e:
                if _ends_the_run(e):
                    raise
                if len(members) == 1:
                    out[members[0]] = e
                    continue
                images = []  # one of them is bad: render each alone, so only that one fails
                for i in members:
                    try:
                        images.append(self.backend.render(requests[i]))
                    except Exception as single:
                        if _ends_the_run(single):
                            raise
                        images.append(single)
            share = (time.perf_counter() - t) / len(members)
            for i, image in zip(members, images, strict=True):
                out[i] = image
                wave[i].first_seconds = share
        self.result.backend = self.backend.describe()  # a float32 fallback changes what ran
        return out

    def complete(self, p: _Pending, first: np.ndarray | Exception) -> CutResult:
        """Check the first attempt, retry under the policy while over the limit, write the best."""
        job = p.job
        try:
            if isinstance(first, Exception):
                raise first
            attempts = [p.attempt(first, 0, p.first_seconds)]
            while attempts[-1].over(p.limit) and len(attempts) < p.max_attempts:
                t = time.perf_counter()
                image = self.backend.render(p.request(len(attempts)))
                self.result.backend = self.backend.describe()
                attempts.append(p.attempt(image, len(attempts), time.perf_counter() - t))
        except Exception as e:
            if _ends_the_run(e):
                raise
            return self.fail(p, e)
        best = min(range(len(attempts)), key=lambda i: attempts[i].score if attempts[i].score is not None else 0)
        chosen = attempts[best]
        flagged = chosen.over(p.limit)
        report = {**p.report, "mode": p.mode, "limit": p.limit, "attempts": [a.record() for a in attempts],
                  "chosen": best, "flagged": flagged}
        if flagged:
            report["reason"] = (f"{p.mode} score {chosen.score:.4f} over the limit {p.limit:g} "
                                f"after {len(attempts)} attempts")
        written = {name: self.store.write_picture(job.cut, name, encode_png(img)) for name, img in p.pictures(chosen)}
        seconds = time.perf_counter() - p.t0
        status = "flagged" if flagged else "rendered"
        self.store.write_cut(job.cut, encode_png(chosen.image), {
            **p.base, "status": status, "device": self.result.backend, "continuity": report, "pictures": written,
            "guided_by": p.guided_by,
            "seed_used": chosen.seed, "strength_used": chosen.strength,
            "timings": {"render": round(sum(a.seconds for a in attempts), 4), "total": round(seconds, 4)},
        })
        used = {"seed": chosen.seed, "steps": job.steps, "strength": f"{chosen.strength:g}",
                "guidance": f"{job.guidance:g}"}
        detail = ("".join(f"{name} {value} " for name, value in used.items() if name in self.reads)
                  + p.mode + (f" score {chosen.score:.4f}" if chosen.score is not None else "")
                  + (f" after {len(attempts)} attempts" if len(attempts) > 1 else "") + f" {seconds:.2f} s")
        return self.finish(CutResult(job.cut, job.chain, status, seconds, chosen.seed,
                                     report.get("reason") if flagged else None, flagged), detail)

    def fail(self, p: _Pending, error: Exception) -> CutResult:
        seconds = time.perf_counter() - p.t0
        self.store.write_failure(p.job.cut, {**p.base, "error": str(error), "timings": {"total": seconds}})
        return self.finish(CutResult(p.job.cut, p.job.chain, "failed", seconds, p.job.seed, str(error)), "")

    def run_link(self, link: Link, chain: str) -> None:
        t0 = time.perf_counter()
        verdict = self.state.link(link, chain)
        if verdict.skip and not self.forced(link.cut):
            self.finish(CutResult(link.cut, chain, "cached", time.perf_counter() - t0), "")
            return
        if not self.store.read_state(link.source).image_ok:
            self.finish(CutResult(link.cut, chain, "blocked",
                                  error=f"reuses {link.source}, which has no render yet"), "")
            return
        self.store.write_link(link.cut, link.source, {
            "key": verdict.key, "chain": chain, "status": "reused", "shotrender": __version__,
        })
        self.finish(CutResult(link.cut, chain, "reused", time.perf_counter() - t0), f"copy of {link.source}")

    def finish(self, result: CutResult, detail: str) -> CutResult:
        self.result.results.append(result)
        self.progress.cut_finished(result, detail)
        return result


class Executor(Protocol):
    """Where chains run. In-process by default (`Run.run_chains`); executors/ray.py runs them on a cluster
    and must leave `run.result` and `run.progress` as an in-process run would."""

    def run(self, run: Run, chains: tuple[Chain, ...]) -> None: ...


def render(plan: Plan, backend: Backend, options: RenderOptions,
           progress: Progress | None = None, on_start: Callable[[Store], None] | None = None,
           executor: Executor | None = None) -> RunResult:
    """Render every job of `plan` into `options.out_dir`; always leaves a manifest that matches the disk.

    Raises Interrupted on SIGINT/SIGTERM (after writing the manifest) and ModelError when the model
    cannot load; a cut that fails is recorded and blocks the rest of its chain, other chains go on.
    """
    progress = progress or SilentProgress()
    run = Run(plan, backend, options, progress)
    t0 = time.perf_counter()
    run.store.prepare()
    if on_start:
        on_start(run.store)
    progress.start(plan.shotlist.episode, plan.cut_count)
    interrupted = completed = False
    with signals.catching():  # SIGINT/SIGTERM raise Interrupted, so `finally` blocks remove temporaries
        try:
            if executor is None:
                run.run_chains(plan.chains)
            else:
                executor.run(run, plan.chains)
            completed = True
        except Interrupted:
            interrupted = True
            raise
        finally:
            # a second signal must not stop the rebuild half way: the manifest would stay as it was, listing
            # cuts whose sidecars this run has since removed; it is held until the manifest is written
            with signals.held():
                run.result.seconds = time.perf_counter() - t0
                progress.close()
                # a run that failed before any cut finished (a model that cannot load) changed nothing, and
                # its summary would hide the last real run's; an interrupt may have landed between a cut's
                # writes, so after one the manifest is rebuilt all the same
                if run.result.results or interrupted or not run.store.manifest_path.exists():
                    try:
                        run.store.write_manifest(plan, _run_summary(run.result))
                    except (OSError, ShotRenderError):
                        if completed:  # a render that went well but left no manifest must not exit 0
                            raise  # otherwise the error on its way up says more than this one
    return run.result


def _run_summary(result: RunResult) -> dict:
    counts: dict[str, int] = {}
    for r in result.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return {
        "counts": counts, "seconds": round(result.seconds, 3), "backend": result.backend,
        "model_loads": result.model_loads, "shotrender": __version__,
    }
