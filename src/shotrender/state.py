"""What is up to date, and why not: the one rule that `render`, `status`, `check` and `--strict` ask.

A cut's cache key is the sha256 of everything that decides its pixels (store.cache_key): its layout's
bytes, the parameters the backend reads, the backend's identity (model hashes, device and dtype asked
for, library versions) and, for a cut painted from its place's sheet, the sheet's *key* and the
continuity settings. A sheet's key holds its cuts' layouts, how each cut's camera sees it (sheets.py),
its background's parameters and the backend's identity. Keys come from inputs alone, so the state of
every cut is known before anything renders: `status` says what the next `render` will do, and the next
`render` does it.

A cut (or a sheet) is
- missing: no sidecar, a corrupt one, or a picture that does not match it;
- failed: its last render failed;
- stale: its key is not the recorded one, or a picture it was made from (its sheet's painting, a
  reused cut's source) has changed since;
- flagged: up to date, and its render is over a continuity limit, until it is rendered again;
- up to date;
- retouched: its picture is an artist's retouch (retouch.py), final whatever changes: nothing paints over
  it, `--force` included, until `shotrender retouch release` gives it back; a new retouch file for it makes
  it stale until render takes that in;
- approved: its current picture is approved in the decisions file (review/decisions.py), and so locked
  whatever else it would be (a retouch included).
`render` skips exactly the cuts that are up to date, flagged, retouched or approved.

>>> state = State(plan, store, backend.identity(), RunSettings())
>>> verdict = state.job(plan.jobs[0])
>>> verdict.state, verdict.reasons
('stale', ('sheet park/1 changes (C004: layout changed)',))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from shotrender import art_board as boards
from shotrender import camera, pairing, patches, regions, retouch, sheets
from shotrender import model_settings as models
from shotrender.backends.base import PARAMS
from shotrender.errors import BackendError, UsageError
from shotrender.files import WriteError, own_folder, read_named_image, read_regular, write_text_atomic
from shotrender.images import PADDING, read_layout
from shotrender.plan import Job, Link, Placed, Plan, SheetInfo, make_plan, place_params, refinement
from shotrender.review import takes
from shotrender.review.decisions import Reviews, latest_region
from shotrender.shotlist import hints
from shotrender.shotlist.files import _layout_header
from shotrender.store import SHEETS_FOLDER, CutState, Store, cache_key, camera_name, sha256_bytes

SKIPPED = ("up to date", "flagged", "retouched", "approved")
RETAKE_PARAMS = ("negative", "seed", "steps", "guidance")  # a cut's parameters the retake model reads
PLACE_CHANGED = "approved · place changed since"  # how status, render and the page say Verdict.place_changed


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
class Retake:
    """A cut retake the shot list's `retake_model:` paints (State.retake): the picture sent back, as its bytes were
    hashed, changed as the retake's note (and words) say. docs/review.md, "Retakes painted by an editing model"."""

    decision: str  # the retake's id in the decisions file
    picture: str  # sha256 of the picture sent back
    take: int | None  # the take that picture is
    png: bytes
    instruction: str


@dataclass(frozen=True)
class Verdict:
    """One cut's state under the current inputs, with what render needs to go on from it."""

    cut: str
    chain: str
    state: str  # up to date | flagged | retouched | approved | stale | missing | failed
    reasons: tuple[str, ...]
    key: str
    inputs: dict
    stored: CutState
    layout: bytes | None = None  # the layout's bytes as hashed: render decodes these, never the file again
    incoming: bool = False  # a retouch file waits to be taken in: render takes it in, never paints over it
    place_changed: bool = False  # approved, and the sheet it was painted from was (or will be) painted again

    @property
    def skip(self) -> bool:
        return self.state in SKIPPED

    def why_painted(self, forced: bool) -> str | None:
        """Why render paints it, in status's words (`stale: prompt changed`); None for a first render, or a
        picture gone (its warning is said as it is found)."""
        if self.skip:
            return f"forced: it was {self.state}" if forced else None
        if self.state in ("stale", "failed"):
            return self.state + (f": {'; '.join(self.reasons)}" if self.reasons else "")
        return None


def job_inputs(job: Job, layout_sha: str, width: int, height: int, backend_identity: dict,
               reads: tuple[str, ...] = PARAMS) -> dict:
    """Everything of its own that decides a job's pixels: the parameters the backend reads (`Backend.reads`),
    not the ones it ignores; paths and times are deliberately left out."""
    inputs = {
        "layout": layout_sha,
        "params": {**{name: getattr(job, name) for name in PARAMS if name in reads}, "width": width, "height": height},
        "backend": backend_identity,
    }
    if job.loras and "loras" in reads:
        inputs["loras"] = models.lora_inputs(job.loras)
    if job.art_board and "art_board" in reads:
        inputs["art_board"] = boards.key_inputs(job.art_board)
    return inputs


def _same_drawing(record: dict, inputs: dict) -> bool:
    """Whether a picture whose sidecar is `record` was painted from the layout, size and camera move of `inputs`."""
    then = record.get("inputs") if isinstance(record.get("inputs"), dict) else {}
    params = then.get("params") if isinstance(then.get("params"), dict) else {}
    return (then.get("layout"), then.get("move"), params.get("width"), params.get("height")) == (
        inputs["layout"], inputs.get("move"), inputs["params"]["width"], inputs["params"]["height"])


def stale_reasons(recorded: dict | None, current: dict, sheet_cause: str | None = None) -> list[str]:
    """Which inputs differ between a sidecar's recorded inputs and the current ones, in words."""
    if not isinstance(recorded, dict):
        return ["rendered by an older shotrender"]
    reasons = []
    if "layout" in current and recorded.get("layout") != current["layout"]:
        reasons.append("layout changed")
    if ("retake" in recorded) != ("retake" in current):  # another model, and what it reads: said once
        return reasons + [f"retake to paint with retake_model: {current['retake']['instruction']!r}"
                          if "retake" in current else "no longer a retake painted with retake_model"]
    old_params = recorded.get("params") if isinstance(recorded.get("params"), dict) else {}
    reasons += [f"{name} changed" for name in current["params"] if old_params.get(name) != current["params"][name]]
    if recorded.get("backend") != current["backend"]:
        reasons.append("model or library versions changed")
    if "cuts" in current and recorded.get("cuts") != current["cuts"]:
        reasons += _cuts_changed(recorded.get("cuts"), current["cuts"])
    elif "cuts" in current and (recorded.get("camera"), recorded.get("moves")) != (current["camera"],
                                                                                    current.get("moves")):
        reasons.append("the cameras changed")
    was_on, is_on = "continuity" in recorded, "continuity" in current
    if was_on != is_on:
        reasons.append("continuity was on" if was_on else "continuity was off")
    elif recorded.get("sheet") != current.get("sheet"):
        old, new = recorded.get("sheet"), current.get("sheet")
        if new is None:
            reasons.append("it no longer registers with another cut of its place: painted alone")
        elif not isinstance(old, dict) or old.get("id") != new["id"]:
            reasons.append(f"now a view of sheet {new['id']}")
        elif old.get("key") != new["key"]:
            reasons.append(f"sheet {new['id']} changes" + (f" ({sheet_cause})" if sheet_cause else ""))
        else:
            reasons.append(f"its camera on sheet {new['id']} changed")
    if "base" in current and recorded.get("base") != current["base"]:
        reasons.append(f"its base sheet {current['base']['id']} changes" + (f" ({sheet_cause})" if sheet_cause else ""))
    if was_on and is_on and recorded.get("colours") != current.get("colours") and current.get("colours"):
        reasons.append(f"sheet {current['colours']['id']}, whose colours it keeps, changes"
                       + (f" ({sheet_cause})" if sheet_cause else ""))
    if recorded.get("retake") != current.get("retake"):
        reasons.append(f"retake to paint with retake_model: {current['retake']['instruction']!r}")
    if recorded.get("move") != current.get("move"):
        reasons.append("camera move changed" if current.get("move") else "no longer a camera move")
    was_view = isinstance(recorded.get("sheet"), dict)
    if "regions" in current and was_view and recorded.get("regions") != current["regions"]:
        reasons.append("shotrender paints where a cut's drawing differs from its sheet's another way now")
    if recorded.get("region") != current.get("region"):
        region = current.get("region")
        reasons.append(f"region {','.join(map(str, region['rect']))} retaken" if region
                       else "its region retake no longer applies")
    if "unseen" in current and recorded.get("unseen") != current["unseen"]:
        reasons.append("shotrender continues a sheet's layout past its cuts' frames another way now")
    for name in sorted(set(current) - {"layout", "params", "backend", "sheet", "cuts", "camera", "colours",
                                       "move", "moves", "regions", "base", "region", "unseen", "retake"}):
        if recorded.get(name) != current[name] and (name != "continuity" or was_on):
            reasons.append(f"{name} settings changed")
    return reasons or ["inputs changed"]


def _cuts_changed(recorded, current: list) -> list[str]:
    """A sheet's cuts, as (cut, layout sha256) pairs, compared in words."""
    old = dict(tuple(c) for c in recorded) if isinstance(recorded, list) else {}
    new = dict(tuple(c) for c in current)
    out = [f"{c}: layout changed" for c in new if c in old and old[c] != new[c]]
    out += [f"{c} joined" for c in new if c not in old] + [f"{c} left" for c in old if c not in new]
    return out or ["its cuts changed order"]


class State:
    """The rule, for one plan, output folder, backend identity and run settings.

    Ask for jobs in chain order, as render and status do. A background's sheets are worked out once, from
    all its cuts' layouts (selected or not: a sheet is one painting of the whole place), and cached in the
    output folder by the layouts' hashes (`sheets/<episode>_<background>.registration.json`).
    """

    def __init__(self, plan: Plan, store: Store, identity: dict, settings: RunSettings,
                 reads: tuple[str, ...] = PARAMS):
        self.plan, self.store, self.identity, self.settings, self.reads = plan, store, identity, settings, reads
        self.sl = plan.shotlist
        self.sheet_store = Store(store.dir / SHEETS_FOLDER, self.sl.episode)
        self._places: dict[str, sheets.Registration] = {}
        self._mosaics: dict = {}  # sheet id -> its layout (sheets.Mosaic)
        self._continued: dict = {}  # sheet id -> its layout as its painting is asked for
        self._sheet_keys: dict[str, tuple[str, dict, str]] = {}  # sheet id -> key, inputs, first reason or ""
        self._chains: dict[str, tuple[Job, ...]] | None = None
        self._jobs: dict[str, Job] | None = None
        self._keys: dict[str, str] = {}  # cut -> current key
        self._layout_sha: dict[str, str] = {}  # layout path -> sha256, for layouts shared by several cuts
        self.reviews = Reviews.of(self.sl)  # the director's decisions: an approved picture is locked
        self.retouch_folder = retouch.Folder(store.dir, self.sl.episode)
        self._takes: dict | None = None  # cut -> its takes (review/takes.py), listed on first need
        self._retouches: dict[tuple[str, bool], dict[str, str]] = {}  # (sheet id, waiting) -> State.retouches
        self._retouches_at = 0  # as of this many writes of the store
        self._retaker = None  # the `retake_model:`'s backend, made on first need (State.retaker)
        self._retakes: dict[str, Retake | None] = {}  # cut -> the retake the retake model paints, or None

    # ---------------------------------------------------------------------------------------- rules
    def continuity_on(self, job: Job) -> bool:
        """Whether the cut is painted from its place's sheet: continuity on for the run and its background."""
        return (job.chain in self.sl.backgrounds and self.settings.continuity
                and self.sl.continuity_for(job.chain).enabled)

    def sheet_of(self, job: Job) -> sheets.Sheet | None:
        """The sheet a cut is a view of, or None when it is painted alone (continuity off, or a cut that
        registers with no other cut of its place)."""
        if not self.continuity_on(job):
            return None
        sheet = self.place(job.chain).sheet_of(job.cut)
        if len(sheet.cuts) < 2:
            return None
        return sheet if job.variant is None else sheets.variant_of(sheet, job.variant)

    def alone(self, job: Job) -> str | None:
        """Why the cut is painted alone when its place has other cuts ("alone: no match with C001 (agreement
        0.79 < 0.80)", "ambiguous: two matches 310 px apart with C001"); None when it is a view of a sheet."""
        return self.place(job.chain).alone(job.cut) if self.continuity_on(job) else None

    def contradicted(self, job: Job) -> str | None:
        """Why the shot list's hint on a cut that shares a sheet was not followed (`alone` says it for a cut
        painted alone); None when there is no such hint."""
        if not self.continuity_on(job) or self.sheet_of(job) is None:
            return None
        return self.place(job.chain).contradicted(job.cut)

    def colours_of(self, job: Job) -> sheets.Sheet | None:
        """For a cut painted alone in a place that has sheets: the first of them (in the cut's variant), whose
        colours it keeps."""
        if not self.continuity_on(job) or self.sheet_of(job) is not None:
            return None
        first = self.first_sheet(job.chain)
        return first if first is None or job.variant is None else sheets.variant_of(first, job.variant)

    def delivery(self, job: Job) -> camera.Delivery | None:
        """A moving cut's deliverable (its size, and how its layout maps onto it); None for a fixed cut."""
        return None if job.camera is None else camera.deliver(job.camera, (self.sl.width, self.sl.height))

    def layout_of(self, job: Job, data: bytes | None = None):
        """The cut's layout as its pictures are drawn: at the frame size, or a moving cut's on its deliverable."""
        delivery = self.delivery(job)
        if delivery is None:
            return read_layout(job.layout, self.sl.width, self.sl.height, data)
        return sheets.warp(read_layout(job.layout, None, None, data), delivery.layout_matrix(), delivery.size)

    def job(self, job: Job) -> Verdict:
        layout = read_named_image(job.layout)
        self._layout_sha[str(job.layout)] = sha256_bytes(layout)
        inputs = self._inputs(job)
        key = self._keys[job.cut] = cache_key(inputs)
        stored = self.store.read_state(job.cut)
        state, reasons = self._judge(stored, key, job.camera is not None)
        if state == "stale" and stored.record["key"] != key:
            sheet = inputs.get("sheet") or inputs.get("colours")
            reasons = tuple(stale_reasons(stored.record.get("inputs"), inputs,
                                          self._sheet_keys[sheet["id"]][2] if sheet else None))
        elif state in ("up to date", "flagged"):
            changed = self._patches_changed(job, stored.record)
            state, reasons = ("stale", changed) if changed else (state, reasons)
        left_out = self.region_of(job)[1]
        if left_out:
            reasons += (left_out,)
        taken = retouch.current_retouch(stored.record) if stored.image_ok else None
        incoming = self.retouch_folder.incoming(job.cut, taken)
        if incoming is not None:
            state, reasons = "stale", (f"retouch {retouch.FOLDER}/{incoming.path.name} to take in",)
        elif taken is not None:
            state, reasons = "retouched", tuple(
                "retouched before the layout changed" if r == "layout changed" else f"retouched before: {r}"
                for r in (stale_reasons(stored.record.get("inputs"), inputs) if stored.record["key"] != key else ()))
            sheet = self.sheet_of(job)
            left_out = sheet and self._patch_fits(job, stored.record, sheet)
            if left_out and left_out != "redrawn":
                reasons += (left_out,)
        # a new retouch to take in is a new picture: it waits for review again
        approval = (self.reviews.approval(job.cut, stored.record["image"]["sha256"], self.take_of(job.cut, stored))
                    if stored.image_ok and incoming is None else None)
        place_changed = False
        if approval is not None:
            place_changed = state == "stale" and self._place_changed(stored.record, inputs)
            reasons = (f"locked: approved by {approval.reviewer} at {approval.time}",
                       *((f"otherwise {state}" + (f": {'; '.join(reasons)}" if reasons else ""),)
                         if state != "up to date" else ()))
            state = "approved"
        return Verdict(job.cut, job.chain, state, reasons, key, inputs, stored, layout, incoming is not None,
                       place_changed)

    def _patches_changed(self, job: Job, record: dict) -> tuple[str, ...]:
        """Why a cut painted from its sheet (or keeping its colours) must be painted again because the patches
        that sheet holds changed since (a retouch waiting or taken in, one released), or ()."""
        guide = self.sheet_of(job) or self.colours_of(job)
        if guide is None:
            return ()
        # a cut's own patch (its region retake) is its picture already: it changes nothing it was painted from
        had, wanted = ({c: sha for c, sha in patches_.items() if c != job.cut}
                       for patches_ in (record.get("retouches") or {}, self.retouches(guide)))
        if had == wanted:
            return ()
        return (f"sheet {guide.id} changes ({', '.join(self.patch_reasons(had, wanted))})",)

    def _place_changed(self, record: dict, inputs: dict) -> bool:
        """Whether the sheet a cut was painted from (or whose colours it keeps) was painted again, or will be."""
        recorded = record.get("inputs") if isinstance(record.get("inputs"), dict) else {}
        for name in ("sheet", "colours"):
            now, then = inputs.get(name), recorded.get(name)
            if now is not None and (not isinstance(then, dict) or then.get("key") != now["key"]):
                return True
        return place_painted_since(self.sheet_store, record)

    def take_of(self, cut: str, stored: CutState) -> int | None:
        """The take the cut's current picture is: the latest take holding its bytes (takes/), or None."""
        if not stored.image_ok:
            return None
        return takes.current(self._all_takes().get(cut, ()), stored.record["image"]["sha256"])

    def _all_takes(self) -> dict[str, list[takes.Take]]:
        if self._takes is None:
            self._takes = takes.list_takes(self.store)
        return self._takes

    @property
    def retaker(self):
        """The backend of the shot list's `retake_model:` (an instruction-editing model), on the run's device and
        dtype: made once, loaded by whoever paints with it first."""
        if self._retaker is None:
            from shotrender.backends import make_retaker

            self._retaker = make_retaker(self.sl.resolve_path_or_id(self.sl.retake_model), self.settings.device,
                                         self.settings.dtype)
        return self._retaker

    def retake(self, job: Job, inputs: dict | None = None) -> Retake | None:
        """The retake the shot list's `retake_model:` paints for this cut, or None (it is painted from its layout):
        its latest retake, if of scope `cut`, while the picture sent back is kept (a take, or its current picture)
        and was painted from the cut's layout as it is now, at its size and on its camera move. `inputs`: the
        cut's own inputs, to compare with those the picture was painted from."""
        if job.cut in self._retakes:
            return self._retakes[job.cut]
        found = None
        retakes = self.reviews.retakes(job.cut) if self.sl.retake_model else []
        if retakes and retakes[-1].changes.where == "cut":
            d = retakes[-1]
            kept = self._picture_kept(job.cut, d.picture)
            if kept is not None and _same_drawing(kept[1], inputs or self._inputs(job)):
                words = d.changes.prompt
                found = Retake(d.id, d.picture, kept[2], kept[0], d.note + (f"; {words}" if words else ""))
        self._retakes[job.cut] = found
        return found

    def _picture_kept(self, cut: str, sha: str) -> tuple[bytes, dict, int | None] | None:
        """The picture `sha` of a cut, its sidecar's record and its take, from its takes or its current picture."""
        if self._takes is None:
            self._takes = takes.list_takes(self.store)
        for take in reversed(self._takes.get(cut, ())):
            data = takes.picture(take) if take.picture == sha else None
            if data is not None:
                return data, take.record, take.number
        stored = self.store.read_state(cut)
        if stored.image_ok and stored.record["image"]["sha256"] == sha:
            try:
                data = read_regular(self.store.png_path(cut))
            except OSError:
                return None
            return (data, stored.record, None) if sha256_bytes(data) == sha else None
        return None

    def _inputs(self, job: Job) -> dict:
        inputs = self._own_inputs(job)
        region = self.region_of(job, inputs)[0]
        return inputs if region is None else {**inputs, "region": region}

    def _own_inputs(self, job: Job) -> dict:
        """A cut's inputs but a region retake's: what the take a region retake was drawn on must have had."""
        inputs = job_inputs(job, self._sha(job), self.sl.width, self.sl.height, self.identity, self.reads)
        if job.camera is not None:
            inputs["move"] = {**job.camera.to_dict(), "size": list(self.delivery(job).size)}
        retake = self.retake(job, inputs)
        if retake is not None:
            # an edit of the picture sent back: the retake model and what it reads make its pixels, not the model
            # that paints the episode, nor the cut's prompt and strength, nor its place's sheet
            inputs["params"] = {**{name: getattr(job, name) for name in RETAKE_PARAMS},
                                "width": inputs["params"]["width"], "height": inputs["params"]["height"]}
            inputs["backend"] = self.retaker.identity()
            inputs["retake"] = {"picture": retake.picture, "instruction": retake.instruction}
            return inputs
        if self.continuity_on(job):
            sheet = self.sheet_of(job)
            inputs["continuity"] = self.sl.continuity_for(job.chain).as_dict()
            inputs["sheet"] = None if sheet is None else {
                "id": sheet.id, "key": self.sheet_key(sheet)[0], "camera": _rows(sheet.matrix(job.cut))}
            if sheet is not None:  # how it paints where its drawing differs from the sheet's
                inputs["regions"] = regions.VERSION
            colours = self.colours_of(job)
            if colours is not None:  # its render keeps that painting's colours: it changes with it
                inputs["colours"] = {"id": colours.id, "key": self.sheet_key(colours)[0]}
        return inputs

    def link(self, link: Link, chain: str) -> Verdict:
        """A reused cut: up to date while it is a copy of its source's render under the source's current key."""
        key = cache_key({"reuse_of": self._key_of(link.source)})
        stored = self.store.read_state(link.cut)
        state, reasons = self._judge(stored, key, self.sl.cut(link.source).camera is not None)
        if state == "stale" and stored.record["key"] != key:
            reasons = (f"{link.source} changes",)
        refused = retouch.link_problem(self.retouch_folder, link)
        if refused:
            state, reasons = "stale", (*reasons, refused)
        return Verdict(link.cut, chain, state, reasons, key, {"reuse_of": link.source}, stored)

    def sheet(self, sheet: sheets.Sheet) -> Verdict:
        """A sheet's painting: up to date while its key (its cuts' layouts, their cameras, the background's
        parameters, the backend) is the recorded one."""
        key, inputs, cause = self.sheet_key(sheet)
        stored = self.sheet_store.read_state(sheet_name(sheet))
        state, reasons = self._judge(stored, key)
        if state == "stale" and stored.record["key"] != key:
            base = inputs.get("base")
            reasons = tuple(stale_reasons(stored.record.get("inputs"), inputs,
                                          self.sheet_key(sheets.base_of(sheet))[2] if base else None))
        elif state in SKIPPED and (stored.record.get("retouches") or {}) != self.retouches(sheet):
            state, reasons = "stale", tuple(self.patch_reasons(stored.record.get("retouches") or {},
                                                               self.retouches(sheet)))
        return Verdict(sheet.id, sheet.id.split("/")[0], state, reasons, key, inputs, stored)

    def retouches(self, sheet: sheets.Sheet, waiting: bool = True) -> dict[str, str]:
        """The patches the sheet's painting must hold: cut -> its picture's sha256, for each of its cuts that
        is retouched at its picture's size today (patches.fit) on the layout it has now (a redrawn cut's
        retouch no longer fits), and, with `waiting`, each retouch file waiting to be taken in (render takes it
        in before it paints the sheet); and for each cut whose picture is its region retake painted, while
        that retake holds (`region_patch`). Each cut of a sheet asks it of all of them: it is worked out again
        only when the store has written since."""
        if self._retouches_at != self.store.writes:
            self._retouches, self._retouches_at = {}, self.store.writes
        if (sheet.id, waiting) not in self._retouches:
            self._retouches[sheet.id, waiting] = self._find_retouches(sheet, waiting)
        return dict(self._retouches[sheet.id, waiting])

    def _find_retouches(self, sheet: sheets.Sheet, waiting: bool) -> dict[str, str]:
        jobs = {j.cut: j for j in self.chain_jobs(sheet.id.split("/")[0])}
        out = {}
        for cut in sheet.cuts:
            if jobs[cut].variant != sheet.variant:  # a variant's cut is retouched on its variant's painting
                continue
            stored = self.store.read_state(cut)
            sha = retouch.current_retouch(stored.record) if stored.image_ok else None
            incoming = self.retouch_folder.incoming(cut, sha) if waiting else None
            if incoming is not None:
                out[cut] = incoming.sha256
            elif sha is not None and self._patch_fits(jobs[cut], stored.record, sheet) is None:
                out[cut] = sha
            elif self.region_patch(jobs[cut], stored):
                out[cut] = stored.record["image"]["sha256"]
            elif waiting and self.region_waits(jobs[cut], stored):
                out[cut] = f"region {self.region_of(jobs[cut])[0]['decision']}"  # its picture is not painted yet
        return out

    def candidates(self, job: Job, stored: CutState) -> tuple[tuple[int, ...], str | None]:
        """The seeds of the candidates render paints as takes beside the cut's own picture, and the retake
        that asked for them: while the cut waits for a retake that asked for N candidates, the N - 1 seeds
        before its own (decisions.with_retakes gave it the last); else ((), None)."""
        latest = next((d for d in reversed(self.reviews.by_cut.get(job.cut, ())) if d.kind in ("approve", "retake")),
                      None)
        if latest is None or latest.kind != "retake" or not latest.changes.candidates or job.camera is not None:
            return (), None
        picture = stored.record["image"]["sha256"] if stored.image_ok else None
        if not self.reviews.waits_for_retake(job.cut, picture, self.take_of(job.cut, stored) if picture else None):
            return (), None
        return tuple(range(job.seed - latest.changes.candidates + 1, job.seed)), latest.id

    def region_of(self, job: Job, inputs: dict | None = None) -> tuple[dict | None, str | None]:
        """The region retake the cut's picture is painted with (its input `region`: the decision, the picture
        it was drawn on, its rectangle, words and seed), or None; and why a region retake that holds is left
        out, or None. A region is painted on the take it was drawn on, so only while the cut's own inputs
        (`inputs`: _own_inputs) are that take's: a take no longer kept, a frame size changed, a layout redrawn,
        a prompt or a place changed since leave it out (the cut is painted as it is now, and says why)."""
        decision = latest_region(self.reviews, job.cut)
        if decision is None or job.camera is not None:
            return None, None
        x, y, w, h = decision.changes.region
        said = f"region retake {x},{y},{w},{h} of take {decision.take or '?'} left out"
        take = next((t for t in reversed(self._all_takes().get(job.cut, ())) if t.picture == decision.picture), None)
        if take is None:
            return None, f"{said}: the picture it was drawn on is no longer in takes/; draw it again"
        recorded = take.record.get("inputs") if isinstance(take.record.get("inputs"), dict) else {}
        made, size = patches.picture_size(recorded), self.picture_size(job)
        if made != size:
            return None, (f"{said}: it was drawn on a {made[0]}×{made[1]} picture, the frame is {size[0]}×{size[1]}"
                          if made else f"{said}: its picture's size is not recorded") + "; draw it again"
        recorded = {k: v for k, v in recorded.items() if k != "region"}  # a region retake's take: drawn on again
        inputs = self._own_inputs(job) if inputs is None else inputs
        if recorded != inputs:
            return None, f"{said}: since it was drawn, {'; '.join(stale_reasons(recorded, inputs))}; draw it again"
        seed = decision.changes.seed if decision.changes.seed is not None else job.seed + 1
        return {"decision": decision.id, "on": decision.picture, "rect": [x, y, w, h],
                "prompt": decision.changes.prompt, "seed": seed}, None

    def region_take(self, job: Job) -> takes.Take | None:
        """The take the cut's region retake was drawn on (region_of), or None."""
        region = self.region_of(job)[0]
        return None if region is None else next(
            t for t in reversed(self._all_takes()[job.cut]) if t.picture == region["on"])

    def region_patch(self, job: Job, stored: CutState) -> bool:
        """Whether the cut's picture is its region retake, painted, and the retake still holds (its inputs are
        the current ones): its sheet then holds the region as a patch, as it holds a retouch."""
        record = stored.record if stored.image_ok else None
        return bool(record and isinstance(record.get("region"), dict) and record.get("status") != "retouched"
                    and record["key"] == self._key_of(job.cut))

    def region_waits(self, job: Job, stored: CutState) -> bool:
        """Whether the next render paints the cut's region retake (Run.paint_regions), so that its sheet then
        takes it in: it holds, is not painted yet, and the cut's picture is not locked by an approval."""
        if self.region_of(job)[0] is None or self.region_patch(job, stored):
            return False
        return not (stored.image_ok and self.reviews.approval(job.cut, stored.record["image"]["sha256"],
                                                               self.take_of(job.cut, stored)))

    def patch_reasons(self, had: dict, wanted: dict) -> list[str]:
        """patches.sheet_reasons, a region retake's patch named as one."""
        regions_ = {c for c in wanted if wanted[c].startswith("region ")
                    or isinstance((self.store.read_state(c).record or {}).get("region"), dict)}
        return patches.sheet_reasons(had, wanted, regions_)

    def _patch_fits(self, job: Job, record: dict, sheet: sheets.Sheet) -> str | None:
        """Why the patch a cut's sidecar holds cannot go into its sheet, or None."""
        inputs = record.get("inputs") or {}
        if inputs.get("layout") != self._sha(job):
            return "redrawn"
        return patches.fit(inputs, self.picture_size(job), sheet.id)

    def picture_size(self, job: Job) -> tuple[int, int]:
        """The size of the cut's picture: its deliverable for a moving cut, else the frame."""
        delivery = self.delivery(job)
        return tuple(delivery.size) if delivery else (self.sl.width, self.sl.height)

    # ---------------------------------------------------------------------------------------- sheets
    def sheets_for(self, jobs) -> list[sheets.Sheet]:
        """The sheets these jobs are views of, or keep the colours of, in order of their first cut."""
        found: dict[str, sheets.Sheet] = {}
        for job in jobs:
            sheet = self.sheet_of(job) or self.colours_of(job)
            if sheet is not None:
                found.setdefault(sheet.base, sheets.base_of(sheet))  # a variant's painting is made from its base's
                found.setdefault(sheet.id, sheet)
        return list(found.values())

    def first_sheet(self, bg: str) -> sheets.Sheet | None:
        """The place's first sheet of more than one cut: the one whose colours its other paintings keep."""
        return next((s for s in self.place(bg).sheets if len(s.cuts) > 1), None)

    def place(self, bg: str) -> sheets.Registration:
        """A background's cuts registered into sheets: read from the cache when its layouts are unchanged."""
        if bg in self._places:
            return self._places[bg]
        jobs = self.chain_jobs(bg)
        hashes = [(j.cut, self._sha(j)) for j in jobs]
        settings = self.sheet_settings(bg)
        frame = (self.sl.width, self.sl.height)
        moves = {j.cut: j.camera.path_dict() for j in jobs if j.camera is not None}
        hints = self._hints(jobs)
        key = sheets.cache_key(bg, frame, hashes, settings, moves, hints)
        cache = self.sheet_store.dir / f"{self.sl.episode}_{bg}.registration.json"
        registration = _read_registration(cache, key)
        sizes = {j.cut: self.delivery(j).size for j in jobs if j.camera is not None}
        if registration is not None and not _describes(registration, bg, frame, [j.cut for j in jobs], settings,
                                                       sizes):
            registration = None  # a hand-edited cache under the right key: registered again, not trusted
        if registration is None:
            layouts = [(j.cut, self.layout_of(j)) for j in jobs]
            views = {j.cut: camera.views(j.camera, self.delivery(j), frame) for j in jobs if j.camera is not None}
            pairs_file = self.sheet_store.dir / f"{self.sl.episode}_{bg}.pairs.json"
            pairs = pairing.Cache.from_dict(_read_json(pairs_file))
            registration = sheets.register(bg, layouts, settings, frame, views, pairs, hints)
            # status fills the cache as render does: every command after it reads, none registers again
            try:
                own_folder(self.sheet_store.dir, "the sheets' registrations")
                write_text_atomic(pairs_file, json.dumps(pairs.to_dict(), sort_keys=True) + "\n")
                text = json.dumps({"key": key, "registration": registration.to_dict()}, sort_keys=True)
                write_text_atomic(cache, text + "\n")
            except (OSError, WriteError, UsageError):  # UsageError: something not a file holds its name (a FIFO)
                pass  # a cache: the next command registers again
        self._places[bg] = registration
        return registration

    def _hints(self, jobs: tuple[Job, ...]) -> tuple[sheets.Hint, ...]:
        """The shot list's hints among these cuts, each as a matrix between the two cuts' pictures (a fixed
        cut's layout at the frame's size, a moving cut's deliverable)."""
        by_cut = {j.cut: j for j in jobs}
        found = []
        for cut in self.sl.cuts:
            if cut.hint is None or cut.id not in by_cut or cut.hint.on not in by_cut:
                continue
            m = hints.picture_matrix(cut.hint, cut, self.sl.cut(cut.hint.on), self._layout_size(by_cut[cut.id]),
                                     self._layout_size(by_cut[cut.hint.on]), (self.sl.width, self.sl.height))
            found.append(sheets.Hint(cut.id, cut.hint.on, tuple(tuple(float(v) for v in row) for row in m)))
        return tuple(found)

    def _layout_size(self, job: Job) -> tuple[int, int]:
        """The cut's layout's size as drawn, W, H (a hint's pixels are its): from its header, checked by load."""
        header = _layout_header(job.layout)
        if not isinstance(header, tuple):
            raise UsageError(f"{job.layout}: {header.message}; {header.fix}")
        return header

    def sheet_settings(self, bg: str) -> sheets.Settings:
        c = self.sl.continuity_for(bg)
        return sheets.Settings(max_sheet_pixels=c.max_sheet_pixels, min_agreement=c.min_agreement)

    def sheet_key(self, sheet: sheets.Sheet) -> tuple[str, dict, str]:
        """The sheet's key, its inputs, and the first reason its painting will change ("" when it will not)."""
        if sheet.id not in self._sheet_keys and sheet.variant is not None:
            self._sheet_keys[sheet.id] = self._variant_key(sheet)
        if sheet.id not in self._sheet_keys:
            bg = sheet.id.split("/")[0]
            jobs = {j.cut: j for j in self.chain_jobs(bg)}
            params = place_params(self.sl, bg)
            inputs = {
                "cuts": [[cut, self._sha(jobs[cut])] for cut in sheet.cuts],
                "camera": {cut: _rows(sheet.matrix(cut)) for cut in sheet.cuts},
                **({"moves": {cut: jobs[cut].camera.path_dict() for cut in sheet.sizes}} if sheet.sizes else {}),
                "size": list(sheet.size),
                **self._painted_with(bg, params),
                "mosaic": sheets.SCHEMA,
            }
            first = self.first_sheet(bg)
            if first is not None and first.id != sheet.id:  # a later sheet keeps the first one's colours
                inputs["colours"] = {"id": first.id, "key": self.sheet_key(first)[0],
                                     "settings": self.sl.continuity_for(bg).as_dict()}
            self._sheet_keys[sheet.id] = self._judged_sheet(sheet, inputs)
        return self._sheet_keys[sheet.id]

    def _variant_key(self, sheet: sheets.Sheet) -> tuple[str, dict, str]:
        """A variant's sheet's key (sheet_key): its base sheet's key, the variant's own parameters, the backend.
        Editing a variant changes its key alone; a change of the base changes every variant's."""
        bg = sheet.id.split("/")[0]
        params = place_params(self.sl, bg, sheet.variant)
        inputs = {
            "base": {"id": sheet.base, "key": self.sheet_key(sheets.base_of(sheet))[0]},
            "variant": sheet.variant,
            "size": list(sheet.size),
            **self._painted_with(bg, params),
        }
        return self._judged_sheet(sheet, inputs)

    def _painted_with(self, bg: str, params: dict) -> dict:
        """The inputs of a sheet's key that say how it is painted: the place's parameters the backend reads
        (plan.place_params, a variant's with it), the backend, the request's settings, and the LoRAs' and
        the art board's contents when it reads them."""
        inputs = {
            "params": {name: params[name] for name in PARAMS if name in self.reads},
            "backend": self.identity,
            "request": sheet_extra(self.sl.continuity_for(bg)),
            "unseen": [sheets.UNSEEN, PADDING],
        }
        if params["loras"] and "loras" in self.reads:
            inputs["loras"] = models.lora_inputs(params["loras"])
        if params["art_board"] and "art_board" in self.reads:
            inputs["art_board"] = boards.key_inputs(params["art_board"])
        return inputs

    def _judged_sheet(self, sheet: sheets.Sheet, inputs: dict) -> tuple[str, dict, str]:
        """A sheet's key from its inputs, and the first reason its stored painting is not up to date ("")."""
        key = cache_key(inputs)
        stored = self.sheet_store.read_state(sheet_name(sheet))
        state, reasons = self._judge(stored, key)
        if state == "stale" and stored.record["key"] != key:
            reasons = tuple(stale_reasons(stored.record.get("inputs"), inputs))
        return key, inputs, reasons[0] if reasons and state not in SKIPPED else ""

    def variant_views(self, sheet: sheets.Sheet) -> dict:
        """A variant's sheet's own cuts as a base sheet's key names its cuts and cameras (for the report; not in
        its key, so a cut joining the variant does not repaint it)."""
        jobs = {j.cut: j for j in self.chain_jobs(sheet.id.split("/")[0])}
        mine = [cut for cut in sheet.cuts if jobs[cut].variant == sheet.variant]
        return {"cuts": [[cut, self._sha(jobs[cut])] for cut in mine],
                "camera": {cut: _rows(sheet.matrix(cut)) for cut in mine}}

    def mosaic(self, sheet: sheets.Sheet, painted: bool = False):
        """The sheet's layout (sheets.mosaic), from the layout bytes its key was made of; made once. A variant's
        sheet has its base's. `painted`: as its painting is asked for, continued where no cut sees
        (sheets.continued)."""
        sheet = sheets.base_of(sheet)
        if painted:
            if sheet.id not in self._continued:
                self.mosaic(sheet)
                self._continued[sheet.id] = sheets.continued(self._mosaics[sheet.id])
            return self._continued[sheet.id]
        if sheet.id not in self._mosaics:
            recorded = dict(tuple(c) for c in self.sheet_key(sheet)[1]["cuts"])
            jobs = {j.cut: j for j in self.chain_jobs(sheet.id.split("/")[0])}
            layouts = {}
            for cut in sheet.cuts:
                data = read_named_image(jobs[cut].layout)
                if sha256_bytes(data) != recorded[cut]:
                    raise BackendError(f"the layout of {cut} changed during the run; run it again")
                layouts[cut] = self.layout_of(jobs[cut], data)
            self._mosaics[sheet.id] = sheets.mosaic(sheet, layouts)
        return self._mosaics[sheet.id].image

    # ---------------------------------------------------------------------------------------- helpers
    def chain_jobs(self, bg: str) -> tuple[Job, ...]:
        """Every job of a chain, selected or not."""
        if self._chains is None:
            whole = self.plan if self.plan.cut_count == len(self.sl.cuts) else make_plan(self.sl)
            self._chains = {c.name: c.jobs for c in whole.chains}
        return self._chains.get(bg, ())

    def _key_of(self, cut: str) -> str:
        """The current key of a painted cut, worked out here when it was not asked for yet."""
        if cut not in self._keys:
            if self._jobs is None:
                self.chain_jobs("")
                self._jobs = {j.cut: j for jobs in self._chains.values() for j in jobs}
            self._keys[cut] = cache_key(self._inputs(self._jobs[cut]))
        return self._keys[cut]

    def _sha(self, job: Job) -> str:
        sha = self._layout_sha.get(str(job.layout))
        if sha is None:
            sha = self._layout_sha[str(job.layout)] = sha256_bytes(read_named_image(job.layout))
        return sha

    def _judge(self, stored: CutState, key: str, moving: bool = False) -> tuple[str, tuple[str, ...]]:
        record = stored.record
        if record is None:
            return "missing", (stored.warning,) if stored.warning else ()
        if record["status"] == "failed":
            return "failed", (record["error"],)
        if not stored.image_ok:
            return "missing", (stored.warning,) if stored.warning else ()
        if record["key"] != key:
            return "stale", ()
        # a moving cut's sidecar without its camera entry (edited) names no camera file to check: missing too
        if (moving or "camera" in record) and not self._camera_ok(record):
            return "missing", (f"{camera_name(record['image']['file'])} is missing or changed; rendering the cut "
                               "again",)
        changed = self._changed_sources(record)
        if changed:
            return "stale", tuple(changed)
        if record["status"] == "flagged":
            return "flagged", (record["continuity"]["reason"],)
        return "up to date", ()

    def _camera_ok(self, record: dict) -> bool:
        """Whether a moving cut's camera file is the one its sidecar names: a compositor needs both."""
        return self.store.read_camera(record) is not None

    def _changed_sources(self, record: dict) -> list[str]:
        """Why the cuts and sheets whose picture this render was made from now hold another, valid one: a
        retouch it did not take ("C003 retouched"), or in general words."""
        sources = dict(record.get("guided_by") or {})
        if record.get("reuse_of"):
            sources[record["reuse_of"]] = record["image"]["sha256"]
        changed = []
        for name, sha in sources.items():
            now = self.sheet_store.read_state(name.replace("/", "_")) if "/" in name else self.store.read_state(name)
            if now.image_ok and now.record["image"]["sha256"] != sha:
                taken, held = record.get("retouches") or {}, now.record.get("retouches") or {}
                changed += [r for r in self.patch_reasons(taken, held) if not r.endswith(" released")] or [
                    f"{name}'s picture changed since"]
        return changed


def place_painted_since(sheet_store: Store, record: dict) -> bool:
    """Whether a sheet a cut's picture was painted from (its sidecar's `guided_by`) holds another painting now."""
    for name, sha in (record.get("guided_by") or {}).items():
        now = sheet_store.read_state(name.replace("/", "_")) if "/" in name else None
        if now is not None and now.image_ok and now.record["image"]["sha256"] != sha:
            return True
    return False


def sheet_name(sheet: sheets.Sheet) -> str:
    """The sheet's name in the output folder's sheets/ store: park/1 -> park_1 (files ep01_park_1.png, .json)."""
    return sheet.id.replace("/", "_")


def sheet_extra(settings) -> dict:
    """What a sheet's request tells the backend beyond the parameters: that it is a sheet, which a diffusion
    backend paints in overlapping windows when it is larger than the model's (MultiDiffusion), and the
    windows asked for."""
    extra: dict = {"sheet": True}
    if settings.tile:
        extra["tile_window"] = settings.tile
    if settings.tile_overlap:
        extra["tile_overlap"] = settings.tile_overlap
    return extra


def _rows(m) -> list[list[float]]:
    return [[round(float(v), 6) for v in row] for row in m]


def _read_json(path: Path, limit: int = 64 << 20):
    """A cache file's JSON, or None (missing, damaged, not a regular file: a miss, never a crash)."""
    try:
        return json.loads(read_regular(path, limit))  # a FIFO planted there must not hang status
    except (OSError, ValueError, RecursionError):
        return None


def _read_registration(path: Path, key: str) -> sheets.Registration | None:
    """A cached registration under `key`, or None (missing, damaged, or for other layouts: a miss)."""
    record = _read_json(path, 16 << 20)
    if not isinstance(record, dict) or record.get("key") != key:
        return None
    try:
        return sheets.Registration.from_dict(record["registration"])
    except (ValueError, KeyError, RecursionError):
        return None


def _describes(registration: sheets.Registration, bg: str, frame: tuple[int, int], cuts: list[str],
               settings: sheets.Settings, sizes: dict[str, tuple[int, int]]) -> bool:
    """Whether a registration read back is one `sheets.register` could have made for these cuts: the key
    names the layouts, not the record, so an edited record must not put a cut in no sheet or two, give a
    sheet another background's id (its files), or a size past the cap (a painting of any size)."""
    found = [c for s in registration.sheets for c in s.cuts]
    return (registration.background == bg and registration.frame == frame and registration.settings == settings
            and sorted(found) == sorted(cuts)
            and [s.id for s in registration.sheets] == [f"{bg}/{n}" for n in range(1, len(registration.sheets) + 1)]
            and all(s.frame == frame and s.size[0] * s.size[1] <= settings.max_sheet_pixels
                    and s.sizes == {c: sizes[c] for c in s.cuts if c in sizes}
                    and all(s.cut_scale(c) > 0 for c in s.cuts) for s in registration.sheets))


@dataclass(frozen=True)
class CutStatus:
    cut: str
    chain: str
    state: str  # up to date | flagged | retouched | approved | stale | missing | failed
    reasons: tuple[str, ...] = ()
    kind: str = "cut"  # cut | sheet (`cut` is then the sheet's id, park/1)
    picture: str | None = None  # sha256 of its current picture, when its sidecar vouches for it (for review)
    alone: str | None = None  # why a cut of a place with other cuts is painted alone (State.alone)
    hint: str | None = None  # why the shot list's hint on a cut of a sheet was not followed (State.contradicted)
    take: int | None = None  # the take that picture is (review/takes.py), when it is one
    place_changed: bool = False  # approved, and its place painted again since (Verdict.place_changed)


def status(plan: Plan, backend, out_dir, settings: RunSettings | None = None) -> list[CutStatus]:
    """What `render` with the same backend and settings would do for each selected cut, and for the sheets
    they are views of, and why; renders nothing and loads no model."""
    state = State(plan, Store(out_dir, plan.shotlist.episode), backend.identity(), settings or RunSettings(),
                  getattr(backend, "reads", PARAMS))
    rows: list[CutStatus] = []
    for chain in plan.chains:
        for sheet in state.sheets_for(chain.jobs):
            v = state.sheet(sheet)
            rows.append(CutStatus(v.cut, v.chain, v.state, v.reasons, "sheet"))
        for job in chain.jobs:
            v = state.job(job)
            rows.append(CutStatus(v.cut, v.chain, v.state, v.reasons, picture=_picture(v), alone=state.alone(job),
                                  hint=state.contradicted(job), take=state.take_of(v.cut, v.stored),
                                  place_changed=v.place_changed))
        for link in chain.links:
            v = state.link(link, chain.name)
            rows.append(CutStatus(v.cut, v.chain, v.state, v.reasons, picture=_picture(v),
                                  take=state.take_of(v.cut, v.stored)))
    return rows


def _picture(v: Verdict) -> str | None:
    return v.stored.record["image"]["sha256"] if v.stored.image_ok else None


def plan_sheets(plan: Plan, out_dir, settings: RunSettings | None = None):
    """The sheets `render` will paint for a plan's cuts and how each cut is painted, for `plan`: the places are
    registered as render registers them (read from the output folder's cache when there, else worked out from
    the layouts and not written). Returns (sheets as plan.SheetInfo, cut -> plan.Placed)."""
    state = State(plan, Store(out_dir, plan.shotlist.episode), {}, settings or RunSettings())
    sl = plan.shotlist
    infos: list[SheetInfo] = []
    placed: dict[str, Placed] = {}
    for chain in plan.chains:
        variant = {j.cut: j.variant for j in state.chain_jobs(chain.name)}
        for sheet in state.sheets_for(chain.jobs):
            params = place_params(sl, chain.name, sheet.variant)
            infos.append(SheetInfo(sheet.id, tuple(c for c in sheet.cuts if variant[c] == sheet.variant), sheet.size,
                                   sheet.variant, params["strength"], params["seed"]))
        for job in chain.jobs:
            if not state.continuity_on(job):
                placed[job.cut] = Placed("off" if job.chain in sl.backgrounds else "alone", strength=job.strength)
                continue
            sheet = state.sheet_of(job)
            if sheet is None:
                colours = state.colours_of(job)
                placed[job.cut] = Placed("alone", strength=job.strength, colours=colours.id if colours else None)
            elif job.camera is not None:
                placed[job.cut] = Placed("view", sheet.id)
            else:
                placed[job.cut] = Placed("sheet", sheet.id, *refinement(job, sl.continuity_for(job.chain)))
    return tuple(infos), placed
