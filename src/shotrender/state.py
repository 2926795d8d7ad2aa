"""What is up to date, and why not: the one rule that `render`, `status`, `check` and `--strict` ask.

A cut's cache key is the sha256 of everything that decides its pixels (store.cache_key): its layout's
bytes, its resolved parameters, the backend's identity (model hashes, device and dtype asked for,
library versions) and, for a cut guided by the one before it, that cut's *key* and the continuity
settings. Keys come from inputs alone, so the state of every cut is known before anything renders:
`status` says what the next `render` will do, and the next `render` does it.

A cut is
- missing: no sidecar, a corrupt one, or a picture that does not match it;
- failed: its last render failed;
- stale: its key is not the recorded one, or a picture it was made from (the cut before it, the
  chain's first cut, a reused cut's source) has changed since;
- flagged: up to date, and its render is over a continuity limit, until it is rendered again;
- up to date.
`render` skips exactly the cuts that are up to date or flagged.

>>> state = State(plan, store, backend.identity(), RunSettings())
>>> verdict = state.job(plan.jobs[0])
>>> verdict.state, verdict.reasons
('stale', ('layout changed',))
"""

from __future__ import annotations

from dataclasses import dataclass

from shotrender.backends.base import PARAMS
from shotrender.plan import Job, Link, Plan, make_plan
from shotrender.store import CutState, Store, cache_key, sha256_bytes

SKIPPED = ("up to date", "flagged")


@dataclass(frozen=True)
class RunSettings:
    """Everything the command line can change about a run's identity, given alike to render, status and
    check so that they judge the same run. None: the shot list's value, or the backend's default."""

    model: str | None = None
    controlnet: str | None = None
    device: str | None = None
    dtype: str | None = None
    allow_unsafe_checkpoint: bool = False
    continuity: bool = True  # False: `--no-continuity`, every cut from its own layout alone


@dataclass(frozen=True)
class Verdict:
    """One cut's state under the current inputs, with what render needs to go on from it."""

    cut: str
    chain: str
    state: str  # up to date | flagged | stale | missing | failed
    reasons: tuple[str, ...]
    key: str
    inputs: dict
    stored: CutState
    layout: bytes | None = None  # the layout's bytes as hashed: render decodes these, never the file again

    @property
    def skip(self) -> bool:
        return self.state in SKIPPED


def job_inputs(job: Job, layout_sha: str, width: int, height: int, backend_identity: dict,
               upstream_key: str | None, reads: tuple[str, ...] = PARAMS) -> dict:
    """Everything that decides a job's pixels: the parameters the backend reads (`Backend.reads`), not the
    ones it ignores; paths and times are deliberately left out."""
    return {
        "layout": layout_sha,
        "params": {**{name: getattr(job, name) for name in PARAMS if name in reads}, "width": width, "height": height},
        "backend": backend_identity,
        "upstream": upstream_key,
    }


def stale_reasons(recorded: dict | None, current: dict, upstream: str | None = None,
                  upstream_cause: str | None = None) -> list[str]:
    """Which inputs differ between a sidecar's recorded inputs and the current ones, in words."""
    if not isinstance(recorded, dict):
        return ["rendered by an older shotrender"]
    reasons = []
    if recorded.get("layout") != current["layout"]:
        reasons.append("layout changed")
    old_params = recorded.get("params") if isinstance(recorded.get("params"), dict) else {}
    reasons += [f"{name} changed" for name in current["params"] if old_params.get(name) != current["params"][name]]
    if recorded.get("backend") != current["backend"]:
        reasons.append("model or library versions changed")
    if recorded.get("upstream") != current["upstream"]:
        if current["upstream"] is None:
            reasons.append("continuity was on")
        elif recorded.get("upstream") is None:
            reasons.append("continuity was off")
        else:
            reasons.append(f"{upstream} before it changes" + (f" ({upstream_cause})" if upstream_cause else ""))
    for name in sorted(set(current) - {"layout", "params", "backend", "upstream"}):
        if recorded.get(name) != current[name] and not (name == "continuity" and recorded.get("upstream") is None):
            reasons.append(f"{name} settings changed")
    return reasons or ["inputs changed"]


class State:
    """The rule, for one plan, output folder, backend identity and run settings.

    Ask for jobs in chain order (as render and status do): a cut's key needs the key of the cut before
    it, worked out when that cut was asked for, or here from the whole plan when the selection starts
    in the middle of a chain.
    """

    def __init__(self, plan: Plan, store: Store, identity: dict, settings: RunSettings,
                 reads: tuple[str, ...] = PARAMS):
        self.plan, self.store, self.identity, self.settings, self.reads = plan, store, identity, settings, reads
        self.sl = plan.shotlist
        self._keys: dict[str, str] = {}  # cut -> current key
        self._causes: dict[str, str] = {}  # cut -> the first reason it is stale, for the cuts after it
        self._jobs: dict[str, Job] | None = None
        self._layout_sha: dict[str, str] = {}  # layout path -> sha256, for layouts shared by several cuts

    def guided(self, job: Job) -> bool:
        """Whether the cut is painted from the one before it: continuity on for the run and its background."""
        return (job.upstream is not None and self.settings.continuity
                and self.sl.continuity_for(job.chain if job.chain in self.sl.backgrounds else None).enabled)

    def job(self, job: Job) -> Verdict:
        layout = job.layout.read_bytes()
        self._layout_sha[str(job.layout)] = sha256_bytes(layout)
        inputs = self._inputs(job)
        key = cache_key(inputs)
        stored = self.store.read_state(job.cut)
        state, reasons = self._judge(stored, key)
        if state == "stale" and stored.record["key"] != key:
            reasons = tuple(stale_reasons(stored.record.get("inputs"), inputs, job.upstream,
                                          self._causes.get(job.upstream or "")))
        self._keys[job.cut] = key
        if state in ("stale", "missing", "failed") and reasons:
            self._causes[job.cut] = reasons[0]
        return Verdict(job.cut, job.chain, state, reasons, key, inputs, stored, layout)

    def link(self, link: Link, chain: str) -> Verdict:
        """A reused cut: up to date while it is a copy of its source's render under the source's current key."""
        key = cache_key({"reuse_of": self.key(link.source)})
        stored = self.store.read_state(link.cut)
        state, reasons = self._judge(stored, key)
        if state == "stale" and stored.record.get("key") != key:
            reasons = (f"{link.source} changes" + (f" ({self._causes[link.source]})"
                                                  if link.source in self._causes else ""),)
        return Verdict(link.cut, chain, state, reasons, key, {"reuse_of": link.source}, stored)

    def key(self, cut: str) -> str:
        """The current key of a rendered cut, worked out from the whole plan when it was not asked for yet."""
        if cut not in self._keys:
            if self._jobs is None:
                self._jobs = {j.cut: j for j in make_plan(self.sl).jobs}
            chain = [self._jobs[cut]]
            while chain[-1].upstream is not None and chain[-1].upstream not in self._keys:
                chain.append(self._jobs[chain[-1].upstream])
            for job in reversed(chain):
                self._keys[job.cut] = cache_key(self._inputs(job))
        return self._keys[cut]

    def _inputs(self, job: Job) -> dict:
        sha = self._layout_sha.get(str(job.layout))
        if sha is None:
            sha = self._layout_sha[str(job.layout)] = sha256_bytes(job.layout.read_bytes())
        guided = self.guided(job)
        inputs = job_inputs(job, sha, self.sl.width, self.sl.height, self.identity,
                            self.key(job.upstream) if guided else None, self.reads)
        if guided:
            inputs["continuity"] = self.sl.continuity_for(job.chain if job.chain in self.sl.backgrounds
                                                          else None).as_dict()
        return inputs

    def _judge(self, stored: CutState, key: str) -> tuple[str, tuple[str, ...]]:
        record = stored.record
        if record is None:
            return "missing", (stored.warning,) if stored.warning else ()
        if record["status"] == "failed":
            return "failed", (record["error"],)
        if not stored.image_ok:
            return "missing", (stored.warning,) if stored.warning else ()
        if record["key"] != key:
            return "stale", ()
        changed = self._changed_sources(record)
        if changed:
            return "stale", tuple(f"{cut}'s picture changed since" for cut in changed)
        if record["status"] == "flagged":
            return "flagged", (record["continuity"]["reason"],)
        return "up to date", ()

    def _changed_sources(self, record: dict) -> list[str]:
        """The cuts whose picture this render was made from and which now hold another, valid one."""
        sources = dict(record.get("guided_by") or {})
        if record.get("reuse_of"):
            sources[record["reuse_of"]] = record["image"]["sha256"]
        changed = []
        for cut, sha in sources.items():
            now = self.store.read_state(cut)
            if now.image_ok and now.record["image"]["sha256"] != sha:
                changed.append(cut)
        return changed


@dataclass(frozen=True)
class CutStatus:
    cut: str
    chain: str
    state: str  # up to date | flagged | stale | missing | failed
    reasons: tuple[str, ...] = ()


def status(plan: Plan, backend, out_dir, settings: RunSettings | None = None) -> list[CutStatus]:
    """What `render` with the same backend and settings would do for each selected cut, and why; renders
    nothing and loads no model."""
    state = State(plan, Store(out_dir, plan.shotlist.episode), backend.identity(), settings or RunSettings(),
                  getattr(backend, "reads", PARAMS))
    rows: list[CutStatus] = []
    for chain in plan.chains:
        for job in chain.jobs:
            v = state.job(job)
            rows.append(CutStatus(v.cut, v.chain, v.state, v.reasons))
        for link in chain.links:
            v = state.link(link, chain.name)
            rows.append(CutStatus(v.cut, v.chain, v.state, v.reasons))
    return rows
