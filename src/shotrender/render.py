"""The one orchestrator: plan + backend + store -> images, sidecars and the manifest.

For each chain (a background's cuts): its cuts registered into sheets (sheets.py, cached by the layouts'
hashes); each sheet painted once, unless state.py finds its painting up to date; then each cut, unless up
to date, painted as its view of its sheet refined from its own layout (continuity.py), checked against
that view, retried or flagged, and written atomically. A cut that registers with no other is painted
alone. A moving cut (camera.py) is painted whole at its deliverable's size, delivered with its camera file
and a preview of the move. The model loads on the first painting that needs it, once. Reused cuts are copied from their
source once it exists.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from shotrender import __version__, camera, continuity, patches, regions, retouch, sheets, signals, variants
from shotrender import model_settings as models
from shotrender.backends.base import PARAMS, Backend, RenderRequest
from shotrender.errors import BackendError, Interrupted, ShotRenderError
from shotrender.images import decode_png, encode_png, pad8, read_layout
from shotrender.plan import Chain, Job, Link, Plan, place_params, refinement
from shotrender.review import takes
from shotrender.state import PLACE_CHANGED, Retake, RunSettings, State, Verdict, sheet_extra, sheet_name
from shotrender.store import Store, cache_key, sha256_bytes
from shotrender.words import counted


@dataclass(frozen=True)
class RenderOptions:
    out_dir: Path
    settings: RunSettings = RunSettings()  # what decides the run's identity: model, device, continuity, ...
    force: bool = False
    force_cuts: frozenset[str] = frozenset()
    batch: int = 1  # chains run side by side; their cuts' first attempts are batched
    # all: each chain's sheets, then its cuts; sheets: only the sheets (`render --sheets-only`); cuts: only the
    # cuts, from sheets painted before (`--no-sheets`), a cut whose sheet is not up to date blocked
    stage: str = "all"


@dataclass
class CutResult:
    cut: str
    chain: str
    status: str  # rendered | flagged | cached | retouched | reused | failed | blocked
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
    sheets: dict[str, str] = field(default_factory=dict)  # sheet id -> painted | up to date | failed

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
    # sheet | flow | colour | missing | size (a picture not at the shot list's size: stale, or a preview's)
    # | alone (`upstream` is then "", `note` says why)
    mode: str
    overlap: float | None = None
    score: float | None = None
    limit: float | None = None
    note: str | None = None

    @property
    def over(self) -> bool:
        return self.score is not None and self.limit is not None and self.score > self.limit


def check(plan: Plan, out_dir: Path, settings: RunSettings | None = None) -> list[PairCheck]:
    """Score the existing renders of every place as render's check does, rendering nothing: each cut of a
    sheet against its view of the sheet's painting (mode `sheet`: the score render kept), and each cut
    against the cut before it in its place (mode `flow`, or `colour` below min_overlap: how alike
    neighbours are). With `--no-continuity`, or a background whose continuity is off, there is nothing to
    check. A pair's second render and layout are the next pair's first: each picture is read once.
    """
    store = Store(out_dir, plan.shotlist.episode)
    sl = plan.shotlist
    state = State(plan, store, {}, settings or RunSettings())
    rows: list[PairCheck] = []
    moving = {c.id for c in sl.cuts if c.camera is not None}  # their render is their sheet's, no frame

    for chain in plan.chains:
        settings_bg = sl.continuity_for(chain.name if chain.name in sl.backgrounds else None)
        last: tuple[str | None, np.ndarray | None, np.ndarray | None] = (None, None, None)  # cut, render, layout
        for job in chain.jobs:
            if not state.continuity_on(job):
                continue
            alone = state.alone(job)
            if alone:  # no sheet to score it against: say why, before its neighbour's score
                rows.append(PairCheck("", job.cut, chain.name, "alone", note=alone))
            if job.cut in moving:
                continue
            b = store.read_image(job.cut)
            layout_b = read_layout(job.layout, sl.width, sl.height)
            sheet = state.sheet_of(job)
            wrong = _other_size(job.cut, b, (sl.width, sl.height))
            if wrong:  # painted before the shot list's size changed: nothing to score it against
                rows.append(PairCheck(job.upstream or job.cut, job.cut, chain.name, "size", note=wrong))
                last = (None, None, None)
                continue
            if sheet is not None:
                painting = state.sheet_store.read_image(sheet_name(sheet))
                wrong = _other_size(f"sheet {sheet.id}", painting, sheet.size)
                if painting is None or b is None:
                    rows.append(PairCheck(sheet.id, job.cut, chain.name, "missing"))
                elif wrong:
                    rows.append(PairCheck(sheet.id, job.cut, chain.name, "size", note=wrong))
                else:
                    view, p = continuity.sheet_view(painting, state.mosaic(sheet), sheet, job.cut, layout_b,
                                                    settings_bg)
                    score = continuity.sheet_score(b, view, p)[0]
                    rows.append(PairCheck(sheet.id, job.cut, chain.name, "sheet", p.overlap, score, settings_bg.limit))
            if job.upstream is not None and job.upstream not in moving:
                a, layout_a = last[1:] if last[0] == job.upstream else (store.read_image(job.upstream), None)
                wrong = _other_size(job.upstream, a, (sl.width, sl.height))
                if a is None or b is None:
                    rows.append(PairCheck(job.upstream, job.cut, chain.name, "missing"))
                elif wrong:
                    rows.append(PairCheck(job.upstream, job.cut, chain.name, "size", note=wrong))
                else:
                    if layout_a is None:
                        layout_a = read_layout(job.upstream_layout, sl.width, sl.height)
                    p = continuity.pair(layout_a, layout_b, settings_bg)
                    if p.overlap >= settings_bg.min_overlap:
                        score, _ = continuity.flow_score(b, p.warp(a), p)
                        rows.append(PairCheck(job.upstream, job.cut, chain.name, "flow", p.overlap, score,
                                              settings_bg.limit))
                    else:
                        rows.append(PairCheck(job.upstream, job.cut, chain.name, "colour", p.overlap,
                                              continuity.colour_score(b, continuity.lab_stats(a)),
                                              settings_bg.colour_limit))
            last = (job.cut, b, layout_b)
    return rows


def _other_size(name: str, image: np.ndarray | None, size: tuple[int, int]) -> str | None:
    """Why a picture cannot be checked as the inputs stand now: it is of another size (the shot list's size,
    or its sheet's, changed since it was painted); None when it is the size expected or there is none."""
    if image is None or image.shape[:2] == (size[1], size[0]):
        return None
    return (f"{name}'s picture is {image.shape[1]}×{image.shape[0]}, not {size[0]}×{size[1]}: painted before "
            "the size changed; render it again")


@dataclass
class _Attempt:
    image: np.ndarray
    strength: float
    seed: int
    score: float | None  # None when nothing was checked
    error: float | None = None
    seconds: float = 0.0
    region_error: float | None = None  # around the cut's own regions (continuity.region_error); None: none

    def record(self) -> dict:
        out = {"strength": self.strength, "seed": self.seed, "seconds": round(self.seconds, 4)}
        if self.score is not None:
            out["score"] = round(self.score, 6)
        if self.error is not None:
            out["render_error"] = round(self.error, 6)
        if self.region_error is not None:
            out["region_error"] = round(self.region_error, 6)
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
        self.mode = "alone"  # alone | sheet | colour | view | retake; see docs/continuity.md, camera.md, review.md
        self.strength = job.strength
        self.report: dict = {}
        self.limit: float | None = None
        self.max_attempts = 1
        self.pair: continuity.Pair | None = None
        self.view: np.ndarray | None = None
        self.guided_by: dict[str, str] = {}  # cut or sheet -> sha256 of the picture this render was painted from
        self.delivery: camera.Delivery | None = None  # a moving cut's deliverable
        self.extra: dict = {}
        self.enlarged = 1.0  # a moving cut's deliverable px per sheet px: over 1, its sheet was painted smaller
        self.why: str | None = None  # why it is painted again (state.Verdict.why_painted), said when it is done
        self.candidates: tuple[int, ...] = ()  # seeds of the candidates painted as takes beside it (a retake's)
        self.setup_args: tuple = ()  # what `setup` was given: a candidate is set up alike
        self.retake: Retake | None = None  # a retake painted by the retake model (mode `retake`)
        self.record: dict = {}  # what its sidecar says besides the usual (a retake's `retake`)

    def setup(self, state: State, verdict: Verdict, sheet: sheets.Sheet | None, painting: tuple | None,
              mosaic: np.ndarray | None, reference: tuple | None) -> None:
        """Decode the layout from the bytes the key was made of. A cut of a sheet starts from its view of
        the sheet's painting (`painting`: image and sha256), followed onto its own drawing by a residual
        flow, the sheet's lines painted out where its own drawing has none; a cut painted alone is held to
        the colours of its place's first sheet (`reference`: its id, image and sha256). Each picture used
        is named in `guided_by` with its hash.

        A moving cut is painted at its deliverable's size: alone, as a sheet of its own (in windows where it
        is larger than the model's), or, on a sheet with other cuts, as the sheet's painting seen through
        its camera (mode `view`: nothing is painted again)."""
        job, sl = self.job, state.sl
        self.setup_args = (state, verdict, sheet, painting, mosaic, reference)
        self.delivery = state.delivery(job)
        self.width, self.height = self.delivery.size if self.delivery else (sl.width, sl.height)
        self.layout = self.init = state.layout_of(job, verdict.layout)
        self.settings = settings = sl.continuity_for(job.chain if job.chain in sl.backgrounds else None)
        if self.delivery is not None and sheet is None:
            self.extra = sheet_extra(settings)
        if sheet is None:
            alone = state.alone(job)
            if alone:  # why, for the report and the review page (the manifest holds the sidecar's words)
                self.report["alone"] = alone
            if reference is not None:
                name, image, sha = reference
                self.mode, self.limit, self.max_attempts = "colour", settings.colour_limit, settings.max_attempts
                self.report["reference"] = name
                self.guided_by[name] = sha
                self.reference_stats = continuity.lab_stats(image)
            return
        if painting is None:
            raise _Blocked(f"sheet {sheet.id} has no painting")
        image, sha = painting
        self.guided_by[sheet.id] = sha
        hint = state.contradicted(job)
        if hint:
            self.report["hint"] = hint
        if self.delivery is not None:
            self.mode = "view"
            self.view = sheets.view(image, sheet, job.cut)[0]
            self.enlarged = sheet.cut_scale(job.cut) ** -1
            self.report["sheet"] = sheet.id
            return
        self.view, self.pair = continuity.sheet_view(image, mosaic, sheet, job.cut, self.layout, settings)
        self.report.update(sheet=sheet.id, overlap=round(self.pair.overlap, 4),
                           layout_error=round(self.pair.layout_error, 6), own=round(float(self.pair.own.mean()), 4))
        self.mode, self.limit, self.max_attempts = "sheet", settings.limit, settings.max_attempts
        # a cut's own strength is its refinement's, painted as asked (not retried lower), and fused back
        # toward its view only as much as it keeps of it (plan.refinement)
        self.strength, self.fusion = refinement(job, settings)
        if job.refine is not None:
            self.max_attempts = 1
            self.report.update(refine=self.strength, fusion=round(self.fusion, 4))
        self.init = continuity.guided_init(self.layout, self.view, self.pair.weight)

    def edit(self, state: State, retake: Retake) -> None:
        """Set up a retake the retake model paints: the picture sent back, changed as the retake says, at its size
        (a moving cut's: its deliverable's); no sheet, no check, one attempt."""
        job = self.job
        self.delivery = state.delivery(job)
        self.width, self.height = self.delivery.size if self.delivery else (state.sl.width, state.sl.height)
        self.layout = state.layout_of(job)
        self.init = decode_png(retake.png)
        if self.init is None or self.init.shape[:2] != (self.height, self.width):
            raise _Blocked(f"the picture sent back for its retake ({retake.picture[:12]}) cannot be read at "
                           f"{self.width}x{self.height}")
        self.mode, self.retake = "retake", retake
        self.record = {"retake": {"decision": retake.decision, "picture": retake.picture, "take": retake.take,
                                  "instruction": retake.instruction, "model": state.sl.retake_model}}

    def request(self, attempt: int) -> RenderRequest:
        job = self.job
        strength, seed = continuity.attempt_params(self.strength, job.seed, attempt)
        if self.retake is not None:  # an editing model's request: the picture and the words that change it (its
            # strength is not read: an edit repaints the whole picture)
            return RenderRequest(cut=job.cut, init_image=self.init, layout=self.layout, prompt=self.retake.instruction,
                                 negative=job.negative, seed=job.seed, steps=job.steps, strength=1.0,
                                 guidance=job.guidance, width=self.width, height=self.height)
        return RenderRequest(
            cut=job.cut, init_image=self.init, layout=self.layout, prompt=job.prompt, negative=job.negative,
            seed=seed, steps=job.steps, strength=strength, guidance=job.guidance, width=self.width,
            height=self.height, extra={**self.extra, **models.request_extra(job.loras, job.art_board)},
        )

    def attempt(self, image: np.ndarray, attempt: int, seconds: float, backend: Backend) -> _Attempt:
        """Finish one refinement: a cut of a sheet is fused toward its view, then paints its own regions
        itself (regions.paint, with `backend`, the attempt's seed), and is scored."""
        strength, seed = continuity.attempt_params(self.strength, self.job.seed, attempt)
        score = error = own = None
        if self.mode == "retake":  # an edit has no strength: the picture is changed where its words say
            strength = None
        elif self.mode == "sheet":
            image = continuity.fuse(image, self.view, self.pair.weight, self.fusion)
            t = time.perf_counter()
            image = regions.paint(backend, self.request(attempt), image, self.pair.own)
            seconds += time.perf_counter() - t
            score, error, own = continuity.sheet_score(image, self.view, self.pair)
        elif self.mode == "colour":
            score = continuity.colour_score(image, self.reference_stats)
        return _Attempt(image, strength, seed, score, error, seconds, own)

    def pictures(self, chosen: _Attempt):
        if self.mode == "sheet":
            yield "flow", continuity.flow_picture(self.pair)
            yield "error", continuity.error_picture(chosen.image, self.view, self.pair)


def _over(mode: str, score: float, limit: float, attempts: int) -> str:
    """Why a cut's picture is flagged, in its sidecar's words."""
    return f"{mode} score {score:.4f} over the limit {limit:g} after {counted(attempts, 'attempt')}"


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
        self.sheet_store = self.state.sheet_store
        self.failed_sheets: dict[str, str] = {}  # sheet id -> why it has no painting this run
        self.loaded = loaded  # a worker that keeps its backend between calls passes True after the first
        self.retaker_loaded = False
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

    def ensure_retaker(self) -> None:
        """Load the retake model (the shot list's `retake_model:`) the first time a retake is painted with it."""
        if not self.retaker_loaded:
            self.progress.message(f"loading retake model {self.sl.retake_model}")
            t0 = time.perf_counter()
            self.state.retaker.load()
            self.retaker_loaded = True
            self.result.model_loads += 1
            self.progress.message(f"retake model loaded in {time.perf_counter() - t0:.1f} s")

    def forced(self, cut: str) -> bool:
        return self.options.force or cut in self.options.force_cuts

    def run_chains(self, chains: tuple[Chain, ...]) -> None:
        """Run chains `batch` at a time: each chain's sheets first, then its cuts in waves, a wave taking the
        next cut of each chain of the group, so that the first attempts of a wave's renders go to the
        backend as one batch. With batch 1 this is plain chain-after-chain order. A cut depends only on
        its sheet: one that fails stops no other."""
        size = max(1, self.options.batch)
        for start in range(0, len(chains), size):
            group = chains[start:start + size]
            # a region retake is painted on the picture it was drawn on, before its sheet, which then holds it
            # (on a farm, in the sheet unit: the cut units paint from the sheet with the region laid in)
            done = {cut for chain in group for cut in self.paint_regions(chain)}
            if self.options.stage != "cuts":
                for chain in group:
                    self.paint_sheets(chain)
            if self.options.stage == "sheets":
                continue
            for position in range(max(len(c.jobs) for c in group)):
                wave = []
                for chain in group:
                    if position < len(chain.jobs) and chain.jobs[position].cut not in done:
                        pending = self.prepare(chain.jobs[position], chain)
                        if pending is not None:
                            wave.append(pending)
                for pending, image in zip(wave, self.paint_first(wave), strict=True):
                    self.complete(pending, image)
            for chain in group:
                for link in chain.links:
                    self.progress.cut_started(link.cut)
                    self.run_link(link, chain.name)

    def paint_regions(self, chain: Chain) -> list[str]:
        """Paint each of the chain's cuts whose region retake holds and is not painted yet (state input
        `region`): the take it was drawn on, its rectangle painted again from the cut's layout with the
        retake's words and seed (regions.paint, anew), nothing outside it changed. Written as the cut's next
        take, waiting for review, before the sheets are painted: its sheet then holds the region as a patch
        and the cuts that see it follow in this same run. Returns the cuts painted (or failed) here."""
        done = []
        for job in chain.jobs:
            if self.state.region_of(job)[0] is None:  # asked of the decisions alone: most cuts stop here
                continue
            verdict = self.state.job(job)
            region = verdict.inputs["region"]
            if (verdict.incoming or verdict.state in ("retouched", "approved")
                    or (verdict.skip and not self.forced(job.cut))):
                continue
            t0 = time.perf_counter()
            if self.options.stage != "sheets":
                self.progress.cut_started(job.cut)
            done.append(job.cut)
            take = self.state.region_take(job)
            base = {"key": verdict.key, "inputs": verdict.inputs, "chain": job.chain, "position": job.position,
                    "layout": str(job.layout), "model": self.options.settings.model or self.sl.model,
                    "shotrender": __version__, "host": platform.node()}
            try:
                data = takes.picture(take)
                if data is None:
                    raise BackendError(f"take {take.number} ({take.png.name}), which its region retake was drawn "
                                       "on, is no longer the picture its sidecar records")
                picture = decode_png(data)
                width, height = picture.shape[1], picture.shape[0]
                rects = [*(((take.record.get("region") or {}).get("rects")) or []), region["rect"]]
                self.ensure_loaded()
                request = RenderRequest(
                    cut=job.cut, init_image=picture, layout=self.state.layout_of(job, verdict.layout),
                    prompt=", ".join(p for p in (job.prompt, region["prompt"]) if p), negative=job.negative,
                    seed=region["seed"], steps=job.steps, strength=1.0, guidance=job.guidance, width=width,
                    height=height, extra=models.request_extra(job.loras, job.art_board))
                t = time.perf_counter()
                image = regions.paint(self.backend, request, picture,
                                      patches.region_mask([region["rect"]], (width, height)), anew=True)
                seconds = time.perf_counter() - t
                self.result.backend = self.backend.describe()
            except Exception as e:
                if _ends_the_run(e):
                    raise
                self.store.write_failure(job.cut, {**base, "error": str(e), "timings": {"total": 0.0}})
                self.region_done(CutResult(job.cut, job.chain, "failed", time.perf_counter() - t0, job.seed, str(e)),
                                 "")
                continue
            takes.keep(self.store, job.cut)
            self.store.write_cut(job.cut, encode_png(image), {
                **base, "status": "rendered", "device": self.result.backend, "guided_by": {},
                "region": {"decision": region["decision"], "on": take.number, "rects": rects},
                "retouches": {c: sha for c, sha in (self.state.retouches(self.state.sheet_of(job))
                                                    if self.state.sheet_of(job) else {}).items() if c != job.cut},
                "continuity": {"mode": "region", "limit": None, "chosen": 0, "flagged": False,
                               "attempts": [{"strength": 1.0, "seed": region["seed"], "seconds": round(seconds, 4)}]},
                "seed_used": region["seed"], "strength_used": 1.0,
                "timings": {"render": round(seconds, 4), "total": round(time.perf_counter() - t0, 4)},
            })
            takes.keep(self.store, job.cut)
            x, y, w, h = region["rect"]
            self.region_done(CutResult(job.cut, job.chain, "rendered", time.perf_counter() - t0, region["seed"]),
                             f"region {x},{y},{w},{h} of take {take.number} painted again, seed {region['seed']}"
                             + (f" ({region['prompt']})" if region["prompt"] else ""))
        return done

    def region_done(self, result: CutResult, detail: str) -> None:
        """A region retake painted (or failed): a cut finished, or, in a sheet unit (`--sheets-only`), which
        counts no cuts, a line of its own."""
        if self.options.stage != "sheets":
            self.finish(result, detail)
            return
        self.result.results.append(result)
        self.progress.message(f"{result.cut}: {detail or 'failed: ' + (result.error or '')}")

    def paint_sheets(self, chain: Chain) -> None:
        """Paint each sheet the chain's selected cuts are views of, unless its painting is up to date."""
        for sheet in self.state.sheets_for(chain.jobs):
            verdict = self.state.sheet(sheet)
            if verdict.skip and not self.options.force:
                self.result.sheets[sheet.id] = "up to date"
                continue
            if not self.options.force and retouch.update_sheet(self, sheet, verdict):
                self.result.sheets[sheet.id] = "retouched"
                continue
            if not self.sheet_store.dir.is_dir():
                self.sheet_store.prepare()
            t0 = time.perf_counter()
            name = sheet_name(sheet)
            base = {"key": verdict.key, "inputs": verdict.inputs, "chain": chain.name, "sheet": sheet.id,
                    "model": self.options.settings.model or self.sl.model, "shotrender": __version__,
                    "host": platform.node()}
            if sheet.variant is not None:
                self.paint_variant(sheet, base, t0)
                continue
            params = place_params(self.sl, chain.name)
            settings = self.sl.continuity_for(chain.name)
            first = self.state.first_sheet(chain.name)
            reference = self.sheet_store.read_picture(sheet_name(first)) if first and first.id != sheet.id else None
            attempts: list[_Attempt] = []
            try:
                self.ensure_loaded()
                padded = pad8(self.state.mosaic(sheet, painted=True))
                # a later sheet of a place (another angle) is held to the colours of its first sheet
                while not attempts or (attempts[-1].over(settings.colour_limit)
                                       and len(attempts) < settings.max_attempts):
                    strength, seed = continuity.attempt_params(params["strength"], params["seed"], len(attempts))
                    t = time.perf_counter()
                    image = self.backend.render(RenderRequest(
                        cut=sheet.id, init_image=padded, layout=padded, prompt=params["prompt"],
                        negative=params["negative"], seed=seed, steps=params["steps"], strength=strength,
                        guidance=params["guidance"], width=padded.shape[1], height=padded.shape[0],
                        extra={**sheet_extra(settings), **models.request_extra(params["loras"], params["art_board"])},
                    ))[:sheet.size[1], :sheet.size[0]]
                    score = None if reference is None else continuity.colour_score(
                        image, continuity.lab_stats(reference[0]))
                    attempts.append(_Attempt(image, strength, seed, score, seconds=time.perf_counter() - t))
                self.result.backend = self.backend.describe()
            except Exception as e:
                self.sheet_failed(sheet, base, e)
                continue
            best = min(range(len(attempts)), key=lambda i: attempts[i].score if attempts[i].score is not None else 0)
            chosen, seconds = attempts[best], time.perf_counter() - t0
            flagged = chosen.over(settings.colour_limit)
            report = {"mode": "colour" if reference else "first", "limit": settings.colour_limit if reference else None,
                      "attempts": [a.record() for a in attempts], "chosen": best, "flagged": flagged}
            if reference:
                report["reference"] = first.id
            if flagged:
                report["reason"] = (f"colour score {chosen.score:.4f} over the limit {settings.colour_limit:g} "
                                    f"after {counted(len(attempts), 'attempt')}")
            self.result.sheets[sheet.id] = "flagged" if flagged else "painted"
            held, pictures, masks = retouch.held(self, sheet)
            self.sheet_store.write_cut(name, encode_png(patches.onto_sheet(chosen.image, sheet, pictures, masks)), {
                **base, "status": "flagged" if flagged else "rendered", "device": self.result.backend,
                "retouches": held,
                "seed_used": chosen.seed, "strength_used": chosen.strength, "continuity": report,
                "guided_by": {first.id: reference[1]} if reference else {},
                "timings": {"render": round(sum(a.seconds for a in attempts), 4), "total": round(seconds, 4)},
            })
            why = verdict.why_painted(self.options.force)
            self.progress.message(f"sheet {sheet.id}: {counted(len(sheet.cuts), 'cut')} on {sheet.size[0]}x"
                                  f"{sheet.size[1]}, painted in {seconds:.2f} s" + (f" ({why})" if why else "")
                                  + (f"; flagged: {report['reason']}" if flagged else ""))

    def sheet_failed(self, sheet: sheets.Sheet, base: dict, error: Exception) -> None:
        """A sheet whose painting failed: recorded, so its cuts are blocked with the reason; a run-ending error
        (an interrupt, a full disk) goes on up."""
        if _ends_the_run(error):
            raise error
        self.failed_sheets[sheet.id] = str(error)
        self.result.sheets[sheet.id] = "failed"
        self.sheet_store.write_failure(sheet_name(sheet), {**base, "error": str(error)})
        self.progress.message(f"sheet {sheet.id} failed: {error}")

    def paint_variant(self, sheet: sheets.Sheet, base: dict, t0: float) -> None:
        """Paint a variant's sheet from its base sheet's painting (variants.py), painted before it in this run
        or up to date; write it with the retouches of the variant's cuts laid in."""
        name = sheet_name(sheet)
        try:
            if sheet.base in self.failed_sheets:
                raise BackendError(f"its base sheet {sheet.base} failed: {self.failed_sheets[sheet.base]}")
            painting = self.sheet_store.read_picture(sheet_name(sheets.base_of(sheet)))
            if painting is None:
                raise BackendError(f"its base sheet {sheet.base} has no painting")
            self.ensure_loaded()
            params = place_params(self.sl, base["chain"], sheet.variant)
            request = variants.request(sheet, painting[0], self.state.mosaic(sheet, painted=True), params,
                                       self.sl.continuity_for(base["chain"]))
            t = time.perf_counter()
            image = variants.crop(self.backend.render(request), sheet)
            attempt = _Attempt(image, request.strength, request.seed, None, seconds=time.perf_counter() - t)
            self.result.backend = self.backend.describe()
        except Exception as e:
            self.sheet_failed(sheet, base, e)
            return
        seconds = time.perf_counter() - t0
        held, pictures, masks = retouch.held(self, sheet)
        self.result.sheets[sheet.id] = "painted"
        self.sheet_store.write_cut(name, encode_png(patches.onto_sheet(attempt.image, sheet, pictures, masks)), {
            **base, "status": "rendered", "device": self.result.backend, "retouches": held,
            "seed_used": attempt.seed, "strength_used": attempt.strength,
            "continuity": {"mode": "variant", "limit": None, "attempts": [attempt.record()], "chosen": 0,
                           "flagged": False, "base": sheet.base},
            "guided_by": {sheet.base: painting[1]},
            "timings": {"render": round(attempt.seconds, 4), "total": round(seconds, 4)},
            "views": self.state.variant_views(sheet),  # for the report: which cuts see it, and how
        })
        self.progress.message(f"sheet {sheet.id}: variant {sheet.variant} of {sheet.base}, repainted at strength "
                              f"{attempt.strength:g} in {seconds:.2f} s")

    def reference(self, job: Job) -> tuple | None:
        """For a cut painted alone in a place with sheets: the id, painting and hash of the sheet whose colours
        it keeps (state.colours_of), or None."""
        sheet = self.state.colours_of(job)
        picture = self.sheet_store.read_picture(sheet_name(sheet)) if sheet is not None else None
        return (sheet.id, *picture) if picture is not None else None

    def unpainted(self, sheet: sheets.Sheet | None) -> str | None:
        """With --no-sheets (stage cuts), why a cut cannot be painted from this sheet (not up to date), or None."""
        if sheet is None or self.options.stage != "cuts":
            return None
        verdict = self.state.sheet(sheet)
        if verdict.skip:
            return None
        why = f" ({verdict.reasons[0]})" if verdict.reasons else ""
        return (f"its sheet {sheet.id} is {verdict.state}{why}, and a cut is painted only from its sheet's "
                f"painting up to date: `render --chain {verdict.chain} --sheets-only` paints it")

    def prepare(self, job: Job, chain: Chain) -> _Pending | None:
        """Finish a cut that needs no render (blocked, cached) and return None; else set up its render."""
        t0 = time.perf_counter()
        self.progress.cut_started(job.cut)
        verdict = self.state.job(job)
        if verdict.stored.warning:
            self.progress.message(f"warning: {verdict.stored.warning}")
        if verdict.state == "retouched":  # the artist's picture is final: --force does not paint over it
            self.finish(CutResult(job.cut, job.chain, "retouched", time.perf_counter() - t0, job.seed),
                        "; ".join(verdict.reasons))
            return None
        # an approved picture is locked, --force or not: a retake is how the director unlocks it
        if verdict.skip and (verdict.state == "approved" or not self.forced(job.cut)):
            # flagged too: an approved cut whose place was painted again since may no longer match it
            flagged = verdict.state == "flagged" or verdict.place_changed
            why = (f"{PLACE_CHANGED} ({verdict.reasons[-1]})" if verdict.place_changed
                   else verdict.reasons[0] if flagged else None)
            self.finish(CutResult(job.cut, job.chain, "cached", time.perf_counter() - t0, job.seed, why, flagged), "")
            return None
        # a retouch saved since the run began (its listing is the state's, made then): taken in, never painted over
        if retouch.take_in(self, [job]):
            self.finish(CutResult(job.cut, job.chain, "retouched", time.perf_counter() - t0, job.seed),
                        "retouch saved during the run taken in; its place follows on the next render")
            return None
        pending = _Pending(job, t0, {
            "key": verdict.key, "inputs": verdict.inputs, "chain": job.chain, "position": job.position,
            "layout": str(job.layout),
            "model": self.options.settings.model or self.sl.model, "shotrender": __version__, "host": platform.node(),
        })
        pending.why = verdict.why_painted(self.forced(job.cut))
        pending.candidates, asked = self.state.candidates(job, verdict.stored)
        if asked:  # the cut's own picture is the last of the retake's candidates
            pending.base["candidate"] = {"of": asked, "number": len(pending.candidates) + 1,
                                         "count": len(pending.candidates) + 1}
        sheet = self.state.sheet_of(job)
        retake = self.state.retake(job)
        try:
            if retake is not None:
                pending.edit(self.state, retake)
                self.ensure_retaker()
            elif sheet is not None and sheet.id in self.failed_sheets:
                raise _Blocked(f"its sheet {sheet.id} failed: {self.failed_sheets[sheet.id]}")
            elif unpainted := self.unpainted(sheet if sheet is not None else self.state.colours_of(job)):
                raise _Blocked(unpainted)
            else:
                pending.setup(self.state, verdict, sheet,
                              self.sheet_store.read_picture(sheet_name(sheet)) if sheet else None,
                              self.state.mosaic(sheet) if sheet else None, None if sheet else self.reference(job))
            guide = sheet or self.state.colours_of(job)
            taken = guide and (self.sheet_store.read_state(sheet_name(guide)).record or {}).get("retouches")
            if taken:  # the retouches of its place this render was painted from, by hash
                pending.base["retouches"] = taken
            if pending.mode not in ("view", "retake"):
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
        """First attempts of a wave: batched where the backend can and the parameters agree. A moving cut seen
        on its sheet (mode `view`) is its view: nothing to paint."""
        out: list[np.ndarray | Exception] = [p.view if p.mode == "view" else None for p in wave]
        for i, p in enumerate(wave):
            if p.mode == "retake":
                out[i] = self._edit(p)
        painted = [i for i, p in enumerate(wave) if p.mode not in ("view", "retake")]
        for i, image in zip(painted, self._paint_first([wave[i] for i in painted]), strict=True):
            out[i] = image
        return out

    def _edit(self, p: _Pending) -> np.ndarray | Exception:
        """A retake painted by the retake model: the picture sent back changed as the retake says."""
        t = time.perf_counter()
        try:
            image = self.state.retaker.render(p.request(0))
        except Exception as e:
            if _ends_the_run(e):
                raise
            return e
        p.first_seconds = time.perf_counter() - t
        return image

    def _paint_first(self, wave: list[_Pending]) -> list[np.ndarray | Exception]:
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
            attempts = [p.attempt(first, 0, p.first_seconds, self.backend)]
            while attempts[-1].over(p.limit) and len(attempts) < p.max_attempts:
                t = time.perf_counter()
                image = self.backend.render(p.request(len(attempts)))
                attempts.append(p.attempt(image, len(attempts), time.perf_counter() - t, self.backend))
            if p.mode == "sheet":  # a float32 fallback in a retry or a region's painting changes what ran
                self.result.backend = self.backend.describe()
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
            report["reason"] = _over(p.mode, chosen.score, p.limit, len(attempts))
        elif p.enlarged > 1.001:
            flagged = report["flagged"] = True
            report["reason"] = (f"its sheet {p.report['sheet']} was painted at {100 / p.enlarged:.0f}% of the "
                                "deliverable's scale to fit continuity.max_sheet_pixels: raise it")
        takes.keep(self.store, job.cut)  # the picture replaced, if no take holds it yet (rendered before takes)
        try:
            self.paint_candidates(p)
        except Exception as e:
            if _ends_the_run(e):
                raise
            return self.fail(p, e)
        written = {name: self.store.write_picture(job.cut, name, encode_png(img)) for name, img in p.pictures(chosen)}
        png = encode_png(chosen.image)
        moved = self.deliver_move(job, p.delivery, chosen.image, png, written) if p.delivery is not None else {}
        self.store.drop_move_files(job.cut, set(written.values()))
        seconds = time.perf_counter() - p.t0
        status = "flagged" if flagged else "rendered"
        self.store.write_cut(job.cut, png, {
            # a view is cut from its sheet's painting: no backend ran for it, here or on a farm's worker
            **p.base, "status": status, "device": None if p.mode == "view" else self.state.retaker.describe()
            if p.mode == "retake" else self.result.backend,
            "continuity": report, "pictures": written, "guided_by": p.guided_by, **moved, **p.record,
            "seed_used": chosen.seed, "strength_used": chosen.strength,
            "timings": {"render": round(sum(a.seconds for a in attempts), 4), "total": round(seconds, 4)},
        })
        takes.keep(self.store, job.cut)  # every picture a cut has had stays, for the director to compare
        used = {} if p.mode == "view" else {"seed": chosen.seed, "steps": job.steps, "guidance": f"{job.guidance:g}",
                                             **({"strength": f"{chosen.strength:g}"} if p.mode != "retake" else {})}
        detail = ("".join(f"{name} {value} " for name, value in used.items() if name in self.reads)
                  + p.mode + (f" score {chosen.score:.4f}" if chosen.score is not None else "")
                  + (f" after {len(attempts)} attempts" if len(attempts) > 1 else "") + f" {seconds:.2f} s"
                  + (f" ({p.why})" if p.why else ""))
        return self.finish(CutResult(job.cut, job.chain, status, seconds, chosen.seed,
                                     report.get("reason") if flagged else None, flagged), detail)

    def paint_candidates(self, p: _Pending) -> None:
        """A retake that asked for N candidates (decide --candidates N): the N - 1 besides the cut's own
        picture (the last, written next), each painted as the cut is with its own seed (one attempt: a
        director picks among them), and kept as a take for the director to pick one (decisions.pick)."""
        for number, seed in enumerate(p.candidates, 1):
            t0 = time.perf_counter()
            params = {**p.base["inputs"]["params"], **({"seed": seed} if "seed" in p.base["inputs"]["params"] else {})}
            inputs = {**p.base["inputs"], "params": params}
            c = _Pending(dataclasses.replace(p.job, seed=seed), t0, {
                **p.base, "inputs": inputs, "key": cache_key(inputs),
                "candidate": {**p.base["candidate"], "number": number}})
            painter = self.backend
            if p.retake is not None:  # the retake model edits the picture sent back, once a seed
                c.edit(self.state, p.retake)
                painter = self.state.retaker
            else:
                c.setup(*p.setup_args)
            t = time.perf_counter()
            chosen = c.attempt(painter.render(c.request(0)), 0, time.perf_counter() - t, painter)
            flagged = chosen.over(c.limit)
            report = {**c.report, "mode": c.mode, "limit": c.limit, "attempts": [chosen.record()], "chosen": 0,
                      "flagged": flagged, **({"reason": _over(c.mode, chosen.score, c.limit, 1)} if flagged else {})}
            takes.add(self.store, p.job.cut, encode_png(chosen.image), {
                **c.base, "status": "flagged" if flagged else "rendered",
                "device": painter.describe() if p.retake is not None else self.result.backend, "continuity": report,
                **c.record,
                "guided_by": c.guided_by, "seed_used": chosen.seed, "strength_used": chosen.strength,
                "timings": {"render": round(chosen.seconds, 4), "total": round(time.perf_counter() - t0, 4)}})
            self.progress.message(f"{p.job.cut}: candidate {number} of {p.base['candidate']['count']}, seed {seed}, "
                                  "kept as a take")

    def deliver_move(self, job: Job, delivery: camera.Delivery, image: np.ndarray, png: bytes,
                     written: dict[str, str]) -> dict:
        """A moving cut's camera file and preview of the move for its picture `image` (PNG bytes `png`: a
        render or a retouch), beside it (their names go into `written`); returns the sidecar's `camera`
        entry. The preview's frames are made from the camera file's numbers as written, so the file
        reproduces them exactly."""
        frame = (self.sl.width, self.sl.height)
        record = camera.record(job.camera, delivery, frame, self.sl.episode, job.cut,
                               {"file": self.store.png_path(job.cut).name, "sha256": sha256_bytes(png)})
        data = json.dumps(record, indent=2).encode() + b"\n"
        framings = camera.framings_of(record)
        frames = (camera.frame_image(image, f, frame) for f in framings)
        movie = camera.movie(frames, frame, self.store.beside_path(job.cut, "preview.mp4"))
        if movie is not None:
            written["preview"] = self.store.write_beside(job.cut, "preview.mp4", movie)
        else:  # no MP4 writer in this OpenCV: the frames as pictures
            for n, f in enumerate(framings, 1):
                written[f"preview.{n:04d}"] = self.store.write_picture(
                    job.cut, f"preview.{n:04d}", encode_png(camera.frame_image(image, f, frame)))
        written["camera"] = self.store.write_beside(job.cut, "camera.json", data)
        first, last = record["framings"][0], record["framings"][-1]
        return {"camera": {"sha256": sha256_bytes(data), "size": record["size"], "frames": record["frames"],
                           "easing": record["easing"], "preview": written.get("preview", written.get("preview.0001")),
                           "start": [first[k] for k in ("x", "y", "width", "height")],
                           "end": [last[k] for k in ("x", "y", "width", "height")]}}

    def link_move(self, link: Link) -> dict | None:
        """A reused moving cut's camera file: its source's, naming the copy (written before the copy's sidecar,
        which names it). The preview stays the source's. None when the source's camera file is not the one its
        sidecar names (gone, edited, not a file): nothing to copy it from."""
        source = self.store.read_state(link.source).record
        if not source or "camera" not in source:
            return {}
        data = self.store.read_camera(source)
        try:
            record = json.loads(data) if data is not None else None
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        record.update(cut=link.cut, picture={"file": self.store.png_path(link.cut).name,
                                             "sha256": source["image"]["sha256"]})
        data = json.dumps(record, indent=2).encode() + b"\n"
        name = self.store.write_beside(link.cut, "camera.json", data)
        return {"pictures": {"camera": name}, "camera": {**source["camera"], "sha256": sha256_bytes(data)}}

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
        moved = self.link_move(link)
        if moved is None:
            self.finish(CutResult(link.cut, chain, "blocked", error=f"reuses {link.source}, whose camera file is "
                                  f"missing or changed; render {link.source} again first"), "")
            return
        self.store.drop_move_files(link.cut, set(moved.get("pictures", {}).values()))
        takes.keep(self.store, link.cut)  # a reuse's pictures are kept as a painted cut's are
        self.store.write_link(link.cut, link.source, {
            "key": verdict.key, "chain": chain, "status": "reused", "shotrender": __version__, **moved,
        })
        takes.keep(self.store, link.cut)
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
    progress.start(plan.shotlist.episode, 0 if options.stage == "sheets" else plan.cut_count)  # cuts finished
    interrupted = completed = False
    with signals.catching():  # SIGINT/SIGTERM raise Interrupted, so `finally` blocks remove temporaries
        try:
            retouch.refuse_links(run.state.retouch_folder, [link for chain in plan.chains for link in chain.links])
            retouch.take_in(run, [job for chain in plan.chains for job in chain.jobs])  # all checked, then written
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
