"""The decisions file: what the director said about each cut's picture, kept beside the shot list.

`<shot list stem>.decisions.json` holds every decision ever made, in the order made, under a versioned
schema. A decision is tied to the exact picture it was made on (its sha256), with reviewer, time, note and
kind: `approve`, `retake` (with optional changes: another seed, words added to the prompt, a strength) or
`comment`. Decisions are only ever appended, under a lock and written atomically, so two reviewers posting
at once never lose each other's; the file is the record, and everything else is worked out from it:

- a cut's review state, from the decisions on its *current* picture: the latest approve or retake wins;
  none (or only decisions on earlier pictures) is "waiting for review", so a picture that changes goes
  back to waiting;
- an approved picture is locked: `render` does not paint the cut again while it is the current picture
  (state.py asks `Reviews.approval`), not even with --force; a retake is how a director unlocks it;
- a retake's changes are the cut's parameters from then on (`with_retakes`), so they are part of the cut's
  inputs and `status` and `render` agree: seeds and strengths replace, prompt words add up, and a retake
  that names no seed takes the next seed, so that every retake is another picture.

>>> reviews = Reviews.of(shotlist)
>>> reviews.state("C003", "9f2c…")
('retake', Decision(cut='C003', kind='retake', note='warmer sky', ...))
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from shotrender.errors import UsageError
from shotrender.files import open_lock, read_regular, write_text_atomic

SCHEMA = "shotrender.decisions/2"  # /2: a retake's scope; a /1 file reads as it is
READS = ("shotrender.decisions/1", SCHEMA)
KINDS = ("approve", "retake", "comment")
# what a cut's picture is waiting for, worked out from the decisions on it
APPROVED, RETAKE, WAITING, NOT_RENDERED = "approved", "retake", "waiting for review", "not rendered"
MAX_FILE_BYTES = 64 << 20  # some 150,000 decisions
MAX_NOTE = 4000
MAX_REVIEWER = 80
MAX_WORDS = 400
MAX_CANDIDATES = 8
_HEX64 = re.compile(r"[0-9a-f]{64}")


class DecisionError(UsageError):
    """A decision that cannot be recorded (bad field), or a decisions file that cannot be read: exit code 2."""


class NoSuchCut(DecisionError):
    """A decision on a cut the shot list does not have."""


class PictureChanged(DecisionError):
    """A decision on a picture that is no longer the cut's current one (the page showed an older one)."""


SCOPES = ("cut", "place", "region")


@dataclass(frozen=True)
class Changes:
    """What a retake asks to change; None: as before (scope None: `cut`). A `region` retake names its
    rectangle in the picture's pixels: x, y (its top left corner), width, height."""

    seed: int | None = None
    prompt: str | None = None  # words added to the prompt
    strength: float | None = None
    scope: str | None = None  # cut | place | region
    region: tuple[int, int, int, int] | None = None
    candidates: int | None = None  # a cut retake painted N times, seeds one after another, to pick one

    def as_dict(self) -> dict:
        return {k: list(v) if k == "region" else v for k, v in asdict(self).items() if v is not None}

    @property
    def where(self) -> str:
        return self.scope or "cut"


@dataclass(frozen=True)
class Decision:
    id: str
    cut: str
    kind: str  # approve | retake | comment
    picture: str  # sha256 of the picture it was made on
    reviewer: str
    time: str  # ISO 8601, UTC
    note: str = ""
    take: int | None = None  # the take that picture is (takes/<ep>_<cut>.vNNN.png), when it is one
    changes: Changes = field(default_factory=Changes)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["changes"] = self.changes.as_dict()
        return out


def path_for(shotlist_source: str | Path) -> Path:
    """The decisions file of a shot list: episode.yaml -> episode.decisions.json beside it."""
    source = Path(shotlist_source)
    return source.with_name(f"{source.stem}.decisions.json")


def make(cut: str, kind: str, picture: str, reviewer: str, note: str = "", take: int | None = None,
         changes: dict | None = None) -> Decision:
    """A new decision, its fields checked; raises DecisionError naming the field and what it takes."""
    if kind not in KINDS:
        raise DecisionError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if not isinstance(picture, str) or not _HEX64.fullmatch(picture):
        raise DecisionError("picture must be the sha256 of the picture decided on (64 hex digits)")
    reviewer = reviewer.strip() if isinstance(reviewer, str) else ""
    if not reviewer or len(reviewer) > MAX_REVIEWER:
        raise DecisionError(f"reviewer must be a name of 1 to {MAX_REVIEWER} characters")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise DecisionError(f"note must be text of at most {MAX_NOTE} characters")
    if kind in ("retake", "comment") and not note.strip():
        raise DecisionError(f"a {kind} needs a note saying what to change or what was seen")
    if changes and kind != "retake":
        raise DecisionError("only a retake has changes (seed, prompt, strength, scope, region)")
    if not all(_utf8(text) for text in (cut, reviewer, note)):  # JSON's "\ud800" is no character to write down
        raise DecisionError("cut, reviewer and note must be text (a lone surrogate such as \\ud800 is none)")
    return Decision(uuid.uuid4().hex, cut, kind, picture, reviewer, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    note.strip(), take, _changes(changes or {}, "changes"))


def decide(shotlist, store, cut: str, kind: str, reviewer: str, note: str = "", changes: dict | None = None,
           picture: str | None = None, take: int | None = None) -> Decision:
    """Record one decision on the cut's current picture, as the review page and `shotrender decide` do, and
    return it. `picture`: the sha256 the decision was made looking at (the page's); None: the current one.
    `take`: the take decided on; one that is not the current picture is a candidate picked (`pick`).

    Refused (DecisionError, nothing written): a cut with no picture; a reused cut, whose picture is its
    source's (decide on the source, and the reuse follows it); a retake of an artist's retouch, which render
    never paints over (the artist is asked, or the retouch released first)."""
    from shotrender.retouch import current_retouch
    from shotrender.review import takes

    cuts = {c.id: c for c in shotlist.cuts}
    if not isinstance(cut, str) or cut not in cuts:
        raise NoSuchCut(f"no cut {cut!r} in {shotlist.source}")
    if cuts[cut].reuse:
        source = cuts[cut].reuse
        raise DecisionError(f"{cut} reuses {source}: its picture is {source}'s, and follows it; decide on {source}")
    stored = store.read_state(cut)
    if not stored.image_ok:
        raise DecisionError(f"{cut} has no picture to decide on yet; render it first")
    current = stored.record["image"]["sha256"]
    kept = takes.list_takes(store, [cut]).get(cut, [])
    if take is not None:
        chosen = (next((t for t in kept if t.number == take), None)
                  if isinstance(take, int) and not isinstance(take, bool) else None)
        if chosen is None:
            raise DecisionError(f"{cut} has no take {take!r}" + (f"; its takes are 1 to {kept[-1].number}" if kept
                                                                   else ""))
        if chosen.picture != current:
            return pick(shotlist, store, cut, kind, reviewer, note, changes, picture, chosen)
    if picture is not None and picture != current:
        raise PictureChanged(f"{cut}'s picture changed since the page showed it; look again")
    if kind == "retake" and current_retouch(stored.record):
        raise DecisionError(f"{cut}'s picture is a retouch ({stored.record['retouch'].get('file')}), which "
                            "render never paints over: ask the artist for another, or "
                            f"give the cut back first with `shotrender retouch release {shotlist.source} {cut}`")
    take = takes.current(kept, current)
    decision = make(cut, kind, current, reviewer, note, take, changes)
    if decision.changes.region is not None:
        _region_fits(cuts[cut], decision.changes.region, stored.record)
    append(path_for(shotlist.source), shotlist.episode, [decision])
    return decision


def pick(shotlist, store, cut: str, kind: str, reviewer: str, note: str, changes: dict | None, picture: str | None,
         chosen) -> Decision:
    """Approve a candidate (a take painted with the cut's current picture for a retake that asked for
    candidates) that is not the current picture: the approval carries the candidate's seed, so that it is
    the cut's seed from then on (with_retakes), and the take becomes the cut's current picture, as render
    would paint it with that seed. Refused for anything but an approval of a candidate of the current round."""
    from shotrender.review import takes

    stored = store.read_state(cut)
    round_ = (stored.record.get("candidate") or {}).get("of")
    if kind != "approve" or changes:
        raise DecisionError(f"take {chosen.number} is not {cut}'s current picture: a candidate is picked by "
                            "approving it, with nothing else")
    if round_ is None or (chosen.record.get("candidate") or {}).get("of") != round_:
        raise DecisionError(f"take {chosen.number} of {cut} is not a candidate painted with its current picture: only "
                            "those can be picked; to go back to an older take, retake the cut with its seed")
    if picture is not None and picture != chosen.picture:
        raise PictureChanged(f"{cut}'s take {chosen.number} is not the picture the page showed; look again")
    data = takes.picture(chosen)
    seed = ((chosen.record.get("inputs") or {}).get("params") or {}).get("seed")
    if data is None or not isinstance(seed, int):
        raise DecisionError(f"take {chosen.number} of {cut} ({chosen.png.name}) is not the picture its sidecar "
                            "records: it cannot be picked")
    decision = replace(make(cut, "approve", chosen.picture, reviewer, note, chosen.number), changes=Changes(seed=seed))
    append(path_for(shotlist.source), shotlist.episode, [decision])
    store.write_cut(cut, data, {k: v for k, v in chosen.record.items()
                                if k not in ("schema", "take", "image", "cut", "episode")})
    return decision


def _region_fits(cut, region: tuple[int, int, int, int], record: dict) -> None:
    """Refuse a region that is not inside the cut's picture, or a cut whose picture a region retake cannot
    paint (a camera move's: its preview and camera file are made from the whole picture)."""
    from shotrender.patches import picture_size

    if cut.camera is not None:
        raise DecisionError(f"{cut.id} is a camera move: a region retake paints a frame's picture only; retake the "
                            "whole cut (--scope cut) or its place")
    if cut.layout is None:
        raise DecisionError(f"{cut.id} has no layout to paint a region from")
    width, height = picture_size(record.get("inputs")) or (0, 0)
    x, y, w, h = region
    if x + w > width or y + h > height:
        raise DecisionError(f"region {x},{y},{w},{h} reaches past {cut.id}'s picture, {width}×{height}: x + width "
                            f"must be at most {width} and y + height at most {height} (pixels from the top left)")


def _changes(value, where: str) -> Changes:
    known = {"seed", "prompt", "strength", "scope", "region", "candidates"}
    if not isinstance(value, dict) or set(value) - known:
        raise DecisionError(f"{where} must be an object with {', '.join(sorted(known))} only")
    seed, words, strength = value.get("seed"), value.get("prompt"), value.get("strength")
    scope = value.get("scope")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise DecisionError(f"{where}.seed must be a whole number from 0 to 2^63-1, got {seed!r}")
    if words is not None and (not isinstance(words, str) or len(words) > MAX_WORDS or not _utf8(words)):
        raise DecisionError(f"{where}.prompt must be the words to add, at most {MAX_WORDS} characters")
    if strength is not None and (isinstance(strength, bool) or not isinstance(strength, (int, float))
                                 or not math.isfinite(strength) or not 0 < strength <= 1):
        raise DecisionError(f"{where}.strength must be a number in (0, 1], got {strength!r}")
    if scope is not None and scope not in SCOPES:
        raise DecisionError(f"{where}.scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    region = value.get("region")
    if region is not None and not (isinstance(region, (list, tuple)) and len(region) == 4
                                   and all(isinstance(n, int) and not isinstance(n, bool) for n in region)
                                   and min(region[:2]) >= 0 and min(region[2:]) > 0):
        raise DecisionError(f"{where}.region must be x, y, width, height: four whole numbers of the picture's "
                            f"pixels, x and y from 0, width and height from 1; got {region!r}")
    if (region is None) != (scope != "region"):
        raise DecisionError(f"{where}: a region retake names its region (x, y, width, height) and only a region "
                            "retake has one")
    if region is not None and strength is not None:
        raise DecisionError(f"{where}: a region is painted again whole (at strength 1); give it no strength")
    candidates = value.get("candidates")
    if candidates is not None and (isinstance(candidates, bool) or not isinstance(candidates, int)
                                   or not 2 <= candidates <= MAX_CANDIDATES):
        raise DecisionError(f"{where}.candidates must be a whole number from 2 to {MAX_CANDIDATES}, got {candidates!r}")
    if candidates is not None and scope not in (None, "cut"):
        raise DecisionError(f"{where}: candidates are painted for a retake of the cut (scope cut), not of its {scope}")
    words = words.strip() if words is not None else ""
    return Changes(seed, words or None, float(strength) if strength is not None else None,
                   None if scope == "cut" else scope, tuple(region) if region is not None else None, candidates)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ------------------------------------------------------------------------------------------- the file
def parse(text: str, where: str) -> list[Decision]:
    """The decisions of a file's text; raises DecisionError saying what is wrong where."""
    fix = f"restore {where} from a backup, or move it away to start a new record"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise DecisionError(f"{where} is not valid JSON ({e}); {fix}") from None
    if not isinstance(data, dict) or data.get("schema") not in READS or not isinstance(data.get("decisions"), list):
        raise DecisionError(f"{where} is not a decisions file (schema {SCHEMA} with a decisions list); {fix}")
    out = []
    for i, d in enumerate(data["decisions"]):
        at = f"{where}: decisions[{i}]"
        if not _well_formed(d):
            raise DecisionError(f"{at} lacks id, cut, kind ({'|'.join(KINDS)}), picture, reviewer or time, or its "
                                f"note or take is not text or a number; {fix}")
        try:
            changes = _changes(d.get("changes") or {}, f"{at}.changes")
        except DecisionError as e:
            raise DecisionError(f"{e}; {fix}") from None
        out.append(Decision(d["id"], d["cut"], d["kind"], d["picture"], d["reviewer"], d["time"], d.get("note", ""),
                            d.get("take"), changes))
    return out


def _well_formed(d) -> bool:
    take = d.get("take") if isinstance(d, dict) else None
    return (isinstance(d, dict) and all(isinstance(d.get(k), str) for k in ("id", "cut", "kind", "picture", "reviewer",
                                                                           "time"))
            and d["kind"] in KINDS and isinstance(d.get("note", ""), str)
            and (take is None or (isinstance(take, int) and not isinstance(take, bool))))


def read(path: Path) -> list[Decision]:
    """Every decision in the file, in the order made; none when there is no file yet."""
    try:
        data = read_regular(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        raise DecisionError(f"cannot read {path} ({e}); make it a readable file of its own") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DecisionError(f"{path} is not UTF-8 text; restore it from a backup") from None
    return parse(text, str(path))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    fd = open_lock(path.with_name(f".{path.name}.lock"))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def append(path: Path, episode: str, new: list[Decision]) -> list[Decision]:
    """Add decisions to the file: read, append and replace under the lock, so that another process's
    decisions written meanwhile are kept. Returns the whole record as written."""
    with _locked(path):
        decisions = read(path) + list(new)
        record = {"schema": SCHEMA, "episode": episode, "decisions": [d.to_dict() for d in decisions]}
        write_text_atomic(path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return decisions


# ------------------------------------------------------------------------------------------- what follows
class Reviews:
    """The decisions of one shot list, by cut, and what follows from them."""

    def __init__(self, decisions: list[Decision]):
        self.decisions = list(decisions)  # in the order made
        self.by_cut: dict[str, list[Decision]] = {}
        for d in decisions:
            self.by_cut.setdefault(d.cut, []).append(d)

    @classmethod
    def of(cls, shotlist) -> Reviews:
        return cls(read(path_for(shotlist.source)))

    def state(self, cut: str, picture: str | None, take: int | None = None) -> tuple[str, Decision | None]:
        """The review state of a cut whose current picture has this sha256 (None: no picture) and is this take
        (None: not one of its takes), and the decision it comes from. A decision is bound to the take it was
        made on: a later take with the same bytes (painted again with an earlier take's seed) waits for review."""
        if picture is None:
            return NOT_RENDERED, None
        verdict = next((d for d in reversed(self.by_cut.get(cut, ())) if d.picture == picture
                        and (d.take is None or take is None or d.take == take)
                        and d.kind in ("approve", "retake")), None)
        if verdict is None:
            return WAITING, None
        return (APPROVED if verdict.kind == "approve" else RETAKE), verdict

    def approval(self, cut: str, picture: str, take: int | None = None) -> Decision | None:
        """The approval that locks this picture (and take) of the cut, or None."""
        state, decision = self.state(cut, picture, take)
        return decision if state == APPROVED else None

    def waits_for_retake(self, cut: str, picture: str | None, take: int | None = None) -> bool:
        """Whether `render --retakes` paints the cut: its current picture was sent back, or its latest verdict
        is a retake and it has no picture now (the retake's render failed, or the picture was lost)."""
        if picture is not None:
            return self.state(cut, picture, take)[0] == RETAKE
        latest = next((d for d in reversed(self.by_cut.get(cut, ())) if d.kind in ("approve", "retake")), None)
        return latest is not None and latest.kind == "retake"

    def retakes(self, cut: str) -> list[Decision]:
        return [d for d in self.by_cut.get(cut, ()) if d.kind == "retake"]


def with_retakes(shotlist, reviews: Reviews):
    """The shot list with every retake's changes made, in the order asked. A `cut` retake changes its cut's
    parameters: a seed given replaces (none given: the next seed), a strength replaces (none given: the
    cut's own strength, so that a cut of a sheet is painted again, not only refined from its view), prompt
    words are added. A `place` retake changes its place's the same way: its background's (or its cut's
    variant's) seed, words and strength, which paint its sheet. A `region` retake changes no parameter
    (`latest_region`). A retake with N candidates takes N seeds one after another, the last the cut's; a
    candidate picked (an approval carrying its seed, `pick`) makes its seed the cut's."""
    from shotrender.plan import make_plan, place_params

    # a candidate picked (an approval with a seed) sets the seed as a retake does
    retakes = [d for d in reviews.decisions
               if d.kind == "retake" or (d.kind == "approve" and d.changes.seed is not None)]
    cuts = {c.id: c for c in shotlist.cuts if c.layout is not None}
    # a region retake changes no parameter: it paints a region of the picture it was made on (latest_region)
    retakes = [d for d in retakes if d.cut in cuts and (d.changes.where == "cut" or (d.changes.where == "place"
                                                                                     and cuts[d.cut].bg))]
    if not retakes:
        return shotlist
    jobs = {j.cut: j for chain in make_plan(shotlist).chains for j in chain.jobs}
    changed: dict[str, list] = {}  # cut or (background, variant) -> [seed, words, strength]
    for d in retakes:
        cut = cuts[d.cut]
        if d.changes.where == "place":
            at = (cut.bg, cut.variant)
            if at not in changed:
                params = place_params(shotlist, cut.bg, cut.variant)
                changed[at] = [params["seed"], [], None]
        else:
            at = d.cut
            if at not in changed:
                changed[at] = [jobs[d.cut].seed, [cut.params.prompt] if cut.params.prompt else [],
                               jobs[d.cut].strength]
        seed, words, strength = changed[at]
        if d.kind == "approve":
            changed[at][0] = d.changes.seed
            continue
        # candidates: seeds one after another, the last the cut's own (render paints the others as takes)
        changed[at] = [(d.changes.seed if d.changes.seed is not None else seed + 1) + (d.changes.candidates or 1) - 1,
                       words + ([d.changes.prompt] if d.changes.prompt else []),
                       d.changes.strength if d.changes.strength is not None else strength]
    out = []
    for cut in shotlist.cuts:
        if cut.id in changed:
            seed, words, strength = changed[cut.id]
            cut = replace(cut, params=replace(cut.params, seed=seed, prompt=", ".join(words) or None,
                                              strength=strength))
        out.append(cut)
    backgrounds = dict(shotlist.backgrounds)
    for (bg, variant), (seed, words, strength) in ((k, v) for k, v in changed.items() if isinstance(k, tuple)):
        own = backgrounds[bg] if variant is None else backgrounds[bg].variants[variant]
        params = replace(own.params, seed=seed, prompt=", ".join([own.params.prompt] * bool(own.params.prompt)
                                                                   + words) or None,
                         strength=strength if strength is not None else own.params.strength)
        if variant is None:
            backgrounds[bg] = replace(own, params=params)
        else:
            backgrounds[bg] = replace(backgrounds[bg], variants={**backgrounds[bg].variants,
                                                                 variant: replace(own, params=params)})
    return replace(shotlist, cuts=tuple(out), backgrounds=backgrounds)


def reviewing(shotlist) -> bool:
    """Whether the episode is under review: its decisions file exists (`status` and the report then show
    each cut's review state)."""
    return os.path.lexists(path_for(shotlist.source))


def current_pictures(shotlist, out_dir: Path) -> dict[str, tuple[str | None, int | None]]:
    """Every cut's current picture in the output folder, as its sidecar vouches for it: (sha256, the take it
    is); (None, None) when it has none."""
    from shotrender.review import takes
    from shotrender.store import Store

    store = Store(out_dir, shotlist.episode)
    kept = takes.list_takes(store)
    out = {}
    for cut in shotlist.cuts:
        stored = store.read_state(cut.id)
        sha = stored.record["image"]["sha256"] if stored.image_ok else None
        out[cut.id] = (sha, takes.current(kept.get(cut.id, []), sha) if sha else None)
    return out


def review_states(shotlist, out_dir: Path) -> dict[str, str]:
    """Every cut's review state, from its current picture in the output folder."""
    reviews = Reviews.of(shotlist)
    return {cut: reviews.state(cut, *now)[0] for cut, now in current_pictures(shotlist, out_dir).items()}


def only_retakes(plan, out_dir: Path):
    """The plan narrowed to the cuts waiting for a retake (`render --retakes`, Reviews.waits_for_retake)."""
    reviews = Reviews.of(plan.shotlist)
    pictures = current_pictures(plan.shotlist, out_dir)
    waiting = {cut for cut, now in pictures.items() if reviews.waits_for_retake(cut, *now)}
    # a place retake paints its place again, a region retake goes into its sheet: every cut of the place
    # follows (render keeps the approved and retouched ones, and paints only those whose sheet changed)
    # follows too when a retaken cut's picture is its region retake: the retake takes that patch out of the sheet
    from shotrender.store import Store

    store = Store(out_dir, plan.shotlist.episode)
    places = {c.name for c in plan.chains for j in c.jobs if j.cut in waiting
              and (_latest_retake(reviews, j.cut).changes.where in ("place", "region")
                   or isinstance((store.read_state(j.cut).record or {}).get("region"), dict))}
    chains = []
    for c in plan.chains:
        jobs = tuple(j for j in c.jobs if j.cut in waiting or c.name in places)
        # a reuse shows its source's picture: it follows a source painted here (the others stay as they are)
        painted = {j.cut for j in jobs}
        chains.append(replace(c, jobs=jobs, links=tuple(link for link in c.links if link.source in painted)))
    return replace(plan, chains=tuple(c for c in chains if c.jobs))


def _latest_retake(reviews: Reviews, cut: str) -> Decision:
    return next(d for d in reversed(reviews.by_cut[cut]) if d.kind == "retake")


def latest_region(reviews: Reviews, cut: str) -> Decision | None:
    """The cut's region retake that holds: its latest retake, when that one is of scope `region` and the
    picture it was asked on was not approved after it. A later retake of the cut (its cut or its place) ends
    it: the cut is then painted as that retake says."""
    decided = reviews.by_cut.get(cut, ())
    latest = next((d for d in reversed(decided) if d.kind == "retake"), None)
    if latest is None or latest.changes.where != "region":
        return None
    # approved on the very picture it was asked on, afterwards: the director took the retake back
    after = decided[decided.index(latest) + 1:]
    return None if any(d.kind == "approve" and d.picture == latest.picture for d in after) else latest
