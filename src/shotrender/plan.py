"""Planning: places, seeds, resolved parameters, reuse links and selection. Pure: no torch, no file reads.

A chain is the cuts of one background in shot-list order (a cut without `bg` is a chain of its own): one
work unit, whose sheets (sheets.py) are painted first and whose cuts are then views of them, each
independent of the others. `upstream` is only the cut before it in its place, which `check` compares it with.

>>> plan = make_plan(load("shots/ep01.yaml"))
>>> part = select(plan, shard="2/3")
"""

from __future__ import annotations

import difflib
import hashlib
import heapq
import re
from dataclasses import dataclass, replace
from pathlib import Path

from shotrender import art_board as boards
from shotrender import model_settings as models
from shotrender.camera import Move
from shotrender.errors import UsageError
from shotrender.shotlist import PARAM_DEFAULTS, VARIANT_STRENGTH, Cut, ShotList, frozen_instance, gc_paused
from shotrender.words import counted

PLAN_SCHEMA = "shotrender.plan/1"


@dataclass(frozen=True)
class Job:
    """One cut to render, with every parameter resolved."""

    cut: str
    chain: str
    position: int  # within the full chain, 0-based
    layout: Path
    prompt: str
    negative: str
    seed: int
    steps: int
    strength: float
    guidance: float
    upstream: str | None  # the cut before this one in its place: what `check` compares it with
    upstream_layout: Path | None = None
    chain_head: str | None = None  # the chain's first cut, whose render sets the colours for the chain
    camera: Move | None = None  # a moving cut's camera path on its layout (camera.py)
    loras: tuple[tuple[str, float], ...] = ()  # (absolute path, scale), merged: see model_settings.merge_loras
    art_board: tuple[str, float] | None = None  # its background's board: (absolute path, strength)
    variant: str | None = None  # its background's variant it is painted in (docs/shotlist.md#variants)
    refine: float | None = None  # the cut's own strength: its refinement's, as a view of a sheet


@dataclass(frozen=True)
class Link:
    """A reused cut (兼用): its picture is its source's render, linked, not rendered again."""

    cut: str
    source: str  # the rendered cut at the end of the reuse trail


@dataclass(frozen=True)
class Chain:
    name: str
    index: int  # position among all chains of the episode, 0-based; the chain is farm unit index + 1
    jobs: tuple[Job, ...]
    links: tuple[Link, ...] = ()

    @property
    def cuts(self) -> tuple[str, ...]:
        return tuple(j.cut for j in self.jobs) + tuple(link.cut for link in self.links)

    @property
    def unit(self) -> int:
        """The chain's farm work-unit number, 1-based like frame numbers (`--units 1-10`)."""
        return self.index + 1


@dataclass(frozen=True)
class Plan:
    shotlist: ShotList
    chains: tuple[Chain, ...]

    @property
    def jobs(self) -> tuple[Job, ...]:
        return tuple(j for c in self.chains for j in c.jobs)

    @property
    def links(self) -> tuple[Link, ...]:
        return tuple(link for c in self.chains for link in c.links)

    @property
    def cut_count(self) -> int:
        return sum(len(c.jobs) + len(c.links) for c in self.chains)


def derive_seed(episode_seed: int, name: str) -> int:
    """A 32-bit seed from the episode seed and a background (or cut) id; stable across runs and machines."""
    digest = hashlib.sha256(f"shotrender-seed/{episode_seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _join(*parts: str | None) -> str:
    return ", ".join(p.strip() for p in parts if p and p.strip())


def _join_onto(base: str, part: str | None) -> str:
    """`_join(base, part)` for a `base` that is itself a `_join` result (stripped): once per cut, so cheaper."""
    part = part.strip() if part else ""
    if not part:
        return base
    return f"{base}, {part}" if base else part


class _Resolver:
    """Resolves cut parameters: cut, then background, then defaults; prompts join all three.

    What a background contributes (its seed included) is worked out once per background, not once per
    cut, and each layout path once per file.
    """

    def __init__(self, shotlist: ShotList):
        self.shotlist = shotlist
        self.base_dir = shotlist.base_dir
        self.bases: dict[str | None, dict] = {}
        self.layouts: dict[str, Path] = {}

    def base(self, bg_id: str | None, variant: str | None = None) -> dict:
        """What a background (or one of its variants) gives its cuts and paints its sheets with. A variant's
        words, LoRAs and board come after its background's; its `strength` is its repaint's, not its cuts'."""
        if (bg_id, variant) not in self.bases:
            levels = [self.shotlist.defaults]
            if bg_id is not None:
                levels.append(self.shotlist.backgrounds[bg_id].params)
            values = dict(PARAM_DEFAULTS, seed=None)
            for level in levels:
                for name in ("seed", "steps", "strength", "guidance"):
                    if getattr(level, name) is not None:
                        values[name] = getattr(level, name)
            if values["seed"] is None and bg_id is not None:
                values["seed"] = derive_seed(self.shotlist.seed, f"bg:{bg_id}")
            board = self.shotlist.backgrounds[bg_id].art_board if bg_id is not None else None
            if variant is not None:
                own = self.shotlist.backgrounds[bg_id].variants[variant]
                levels.append(own.params)
                values["seed"] = own.params.seed if own.params.seed is not None else values["seed"]
                values["strength"] = own.params.strength if own.params.strength is not None else VARIANT_STRENGTH
                board = own.art_board or board
            values["prompt"] = _join(*(level.prompt for level in levels))
            values["negative"] = _join(*(level.negative for level in levels))
            values["loras"] = models.merge_loras([models.resolved(level.loras, self.base_dir) for level in levels])
            values["art_board"] = boards.resolved(board, self.base_dir)
            self.bases[bg_id, variant] = values
        return self.bases[bg_id, variant]

    def job(self, cut: Cut, position: int, upstream: Job | None, head: Cut) -> Job:
        base, p = self.base(cut.bg, cut.variant), cut.params
        if cut.variant is not None:  # the variant's strength is its sheet's repaint; its cuts take the place's
            base = {**base, "strength": self.base(cut.bg)["strength"]}
        seed = p.seed if p.seed is not None else base["seed"]
        if seed is None:  # only a cut without bg gets here: a background's seed is in its base
            seed = derive_seed(self.shotlist.seed, f"cut:{cut.id}")
        layout = self.layouts.get(cut.layout)
        if layout is None:
            layout = self.layouts[cut.layout] = self.base_dir / cut.layout
        return frozen_instance(Job, {
            "cut": cut.id,
            "chain": _chain_of(cut),
            "position": position,
            "layout": layout,
            "prompt": _join_onto(base["prompt"], p.prompt),
            "negative": _join_onto(base["negative"], p.negative),
            "seed": seed,
            "steps": p.steps if p.steps is not None else base["steps"],
            "strength": p.strength if p.strength is not None else base["strength"],
            "guidance": p.guidance if p.guidance is not None else base["guidance"],
            "upstream": upstream.cut if upstream else None,
            "upstream_layout": upstream.layout if upstream else None,
            "chain_head": head.id,
            "camera": cut.camera,
            "loras": base["loras"] if p.loras is None else models.merge_loras(
                [base["loras"], models.resolved(p.loras, self.base_dir)]),
            "art_board": base["art_board"],
            "variant": cut.variant,
            "refine": p.strength,
        })


def place_params(shotlist: ShotList, bg_id: str, variant: str | None = None) -> dict:
    """A background's own parameters (defaults, then the background, then the variant's; no cut's): what
    paints its sheets, or its variant's sheets (whose `strength` is the repaint's from the base painting).

    >>> place_params(sl, "park")["prompt"]
    'anime background art, city park in spring'
    >>> place_params(sl, "park", "night")["prompt"]
    'anime background art, city park in spring, at night, street lamps lit'
    """
    return dict(_Resolver(shotlist).base(bg_id, variant))


def _chain_of(cut: Cut) -> str:
    """The chain a painted cut belongs to: its background's, or its own when it has none."""
    return cut.bg or cut.id


def count_chains(shotlist: ShotList) -> int:
    """How many chains `make_plan` would make, without making it (`validate` needs only the number)."""
    return len({_chain_of(cut) for cut in shotlist.cuts if cut.reuse is None})


@gc_paused()  # a job per cut, all kept: see shotlist.gc_paused
def make_plan(shotlist: ShotList) -> Plan:
    """Group a valid shot list's cuts into chains, in order of each chain's first cut."""
    members: dict[str, list[Cut]] = {}
    for cut in shotlist.cuts:
        if cut.reuse is None:
            members.setdefault(_chain_of(cut), []).append(cut)
    chain_of: dict[str, str] = {}
    jobs: dict[str, list[Job]] = {}
    resolver = _Resolver(shotlist)
    for name, cuts in members.items():
        jobs[name] = []
        for position, cut in enumerate(cuts):
            upstream = jobs[name][-1] if position else None
            jobs[name].append(resolver.job(cut, position, upstream, cuts[0]))
            chain_of[cut.id] = name
    by_id = {c.id: c for c in shotlist.cuts}
    links: dict[str, list[Link]] = {name: [] for name in members}
    for cut in shotlist.cuts:
        if cut.reuse is not None:
            source = cut.reuse
            while by_id[source].reuse is not None:
                source = by_id[source].reuse
            links[chain_of[source]].append(Link(cut.id, source))
    chains = tuple(
        Chain(name, i, tuple(jobs[name]), tuple(links[name])) for i, name in enumerate(members)
    )
    return Plan(shotlist, chains)


# ----------------------------------------------------------------------------------------- selection


def parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d{1,9})\s*/\s*(\d{1,9})\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise UsageError(f"--shard {text!r}: expected i/n with 1 <= i <= n, e.g. --shard 2/3")
    return int(m.group(1)), int(m.group(2))


def shard_of_chains(chains: tuple[Chain, ...], count: int) -> dict[str, int]:
    """Assign whole chains to `count` shards (1-based), balanced by cut count; the same on every machine.

    Largest chains first, each to the least-loaded shard (lowest number on a tie): a fixed, greedy split.
    Shards beyond the number of chains stay empty, so only that many are kept in the heap.
    """
    heap = [(0, s) for s in range(min(count, len(chains)))]  # (cuts so far, shard), already a heap
    assignment: dict[str, int] = {}
    for chain in sorted(chains, key=lambda c: (-(len(c.jobs) + len(c.links)), c.index)):
        load, shard = heapq.heappop(heap)
        assignment[chain.name] = shard + 1
        heapq.heappush(heap, (load + len(chain.jobs) + len(chain.links), shard))
    return assignment


def parse_units(text: str, count: int) -> set[int]:
    """An OpenJD-style range expression of unit numbers: `3`, `1-10`, `1-10:2`, `10-15,1-5`, `9-1:-2`.

    Units are numbered 1..count. The expression is a set: order and repeats do not matter.
    """
    usage = "write unit numbers and ranges like 3, 1-10, 1-10:2 or 10-15,1-5"
    units: set[int] = set()
    for item in text.split(","):
        m = re.fullmatch(r"\s*(\d{1,9})\s*(?:-\s*(\d{1,9})\s*(?::\s*(-?\d{1,9})\s*)?)?", item)
        if not m:
            raise UsageError(f"--units {text!r}: cannot read {item.strip()!r}; {usage}")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        step = int(m.group(3)) if m.group(3) else (1 if hi >= lo else 0)
        if step == 0 or (hi - lo) * step < 0:
            raise UsageError(f"--units {text!r}: the range {item.strip()!r} has no step that goes from {lo} "
                             f"to {hi}; {usage} (a falling range needs a negative step: 10-1:-1)")
        for number in (lo, hi):
            if not 1 <= number <= count:
                numbers = "its only unit is 1" if count == 1 else f"its units are 1-{count}"
                raise UsageError(f"--units {text!r}: there is no unit {number}; {numbers} (shotrender units "
                                 "SHOTLIST lists them)")
        units.update(range(lo, hi + (1 if step > 0 else -1), step))
    return units


_RANGE_RE = re.compile(r"^(.*?)(\d{1,18})([A-Za-z_]*)$")


# What each selector looks like, for the message about an empty one
_EXAMPLES = {"--cuts": "C001,C010-C020", "--force-cuts": "C001,C010-C020", "--chain": "park,street",
             "--units": "1-10", "--shard": "2/3"}


def _refuse_empty(option: str, text: str, separators: str = ",") -> None:
    """An empty selector, or one of separators only, is a usage error, not a selection of nothing: it is
    what a farm script passes when the variable it meant to use is unset."""
    if text.strip(separators + " \t\n") == "":
        what = "is empty" if not text.strip() else "is empty: nothing but separators"
        raise UsageError(f"{option} {text!r}: the value {what}; give it like {option} {_EXAMPLES[option]}, or "
                         "leave the option out (a farm script's unset variable gives an empty value)")


def cut_ids(plan: Plan, text: str, option: str = "--cuts") -> set[str]:
    """The ids a cut selector names: `C001,C010-C020`, ids and ranges of ids with the same prefix by their
    number (C012A included). UsageError for an empty selector or a part that names no cut."""
    _refuse_empty(option, text)
    known = [cut for chain in plan.chains for cut in chain.cuts]
    order = {c.id: c.index for c in plan.shotlist.cuts}
    wanted: set[str] = set()
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if token in order:
            wanted.add(token)
            continue
        lo_hi = token.split("-")
        ranges = []
        for k in range(1, len(lo_hi)):
            a, b = "-".join(lo_hi[:k]), "-".join(lo_hi[k:])
            ma, mb = _RANGE_RE.match(a), _RANGE_RE.match(b)
            if ma and mb and ma.group(1) == mb.group(1):
                ranges.append((ma.group(1), int(ma.group(2)), int(mb.group(2))))
        if not ranges:
            close = difflib.get_close_matches(token, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; cuts are {_span(known)}"
            raise UsageError(f"{option}: no cut '{token}'{hint}")
        prefix, lo, hi = ranges[0]
        found = {
            cid for cid in known
            if (m := _RANGE_RE.match(cid)) and m.group(1) == prefix and lo <= int(m.group(2)) <= hi
        }
        if not found:
            raise UsageError(f"{option}: the range '{token}' matches no cut; cuts are {_span(known)}")
        wanted |= found
    return wanted


def _span(ids: list[str]) -> str:
    return ", ".join(ids) if len(ids) <= 6 else f"{ids[0]} ... {ids[-1]} ({len(ids)} cuts)"


def select(plan: Plan, *, cuts: str | None = None, chain: str | None = None, shard: str | None = None,
           units: str | None = None) -> Plan:
    """Narrow a plan; selectors combine as an intersection. Raises UsageError for a selector that matches
    nothing known, and for one that is empty (`--cuts ""`): None is what selects everything."""
    chains = plan.chains
    if units is not None:
        _refuse_empty("--units", units)
        numbers = parse_units(units, len(plan.chains))
        chains = tuple(c for c in chains if c.unit in numbers)
    if chain is not None:
        _refuse_empty("--chain", chain)
        names = [n.strip() for n in chain.split(",") if n.strip()]
        by_name = {c.name: c for c in chains}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise UsageError(f"--chain: no chain {', '.join(missing)}; chains are {_span(list(by_name))}")
        chains = tuple(c for c in chains if c.name in names)
    if shard is not None:
        _refuse_empty("--shard", shard, "/")
        i, n = parse_shard(shard)
        assignment = shard_of_chains(plan.chains, n)
        chains = tuple(c for c in chains if assignment[c.name] == i)
    if cuts is not None:
        wanted = cut_ids(plan, cuts)
        chains = tuple(
            replace(c, jobs=tuple(j for j in c.jobs if j.cut in wanted),
                    links=tuple(k for k in c.links if k.cut in wanted))
            for c in chains
        )
        chains = tuple(c for c in chains if c.jobs or c.links)
    return Plan(plan.shotlist, chains)


# ------------------------------------------------------------------------------------------- output


def refinement(job: Job, settings) -> tuple[float, float]:
    """(strength, fusion) of a cut's refinement as a view of its sheet (`settings`: its place's Continuity):
    its own `strength` if it sets one, else `continuity.refine`; the fusion back toward its view is
    `continuity.fusion` up to `refine`, and above it in proportion to what the cut keeps of its view,
    (1 − strength)/(1 − refine), so a cut asked to repaint more of itself is not fused back into its view.

    >>> refinement(job_with_strength_0_95, Continuity())
    (0.95, 0.0731)
    """
    strength = settings.refine if job.refine is None else job.refine
    if strength <= settings.refine:
        return strength, settings.fusion
    return strength, round(settings.fusion * (1 - strength) / (1 - settings.refine), 4)


def move_words(move: Move | None) -> str:
    """A camera move in a few words: `fixed`, `PAN 48 fr`, `T.U. 24 fr slow-in-out` (in), `T.B.` (out)."""
    if move is None:
        return "fixed"
    kind = "PAN" if move.start.width == move.end.width else "T.U." if move.end.width < move.start.width else "T.B."
    return f"{kind} {move.frames} fr" + ("" if move.easing == "linear" else f" {move.easing}")


@dataclass(frozen=True)
class SheetInfo:
    """What `plan` shows of a sheet (state.plan_sheets works it out from the registration)."""

    id: str
    cuts: tuple[str, ...]
    size: tuple[int, int]
    variant: str | None
    strength: float  # its painting's: the place's strength, or a variant's repaint from its base
    seed: int


@dataclass(frozen=True)
class Placed:
    """How one painted cut is painted: `sheet` (a view of its sheet, refined), `view` (a moving cut seen on its
    sheet: nothing painted), `alone` (no sheet: from its layout, at its strength) or `off` (continuity off)."""

    mode: str
    sheet: str | None = None
    strength: float | None = None  # the strength it is painted with (its refinement's, as a view of a sheet)
    fusion: float | None = None  # how much of its view is fused back, as a view of a sheet
    colours: str | None = None  # a cut painted alone in a place with sheets: the sheet whose colours it keeps


def placed_without_sheets(plan: Plan) -> dict[str, Placed]:
    """Each job painted from its layout alone, as without continuity."""
    return {j.cut: Placed("alone", strength=j.strength) for j in plan.jobs}


@gc_paused()  # a dict per job, all kept
def plan_to_dict(plan: Plan, sheets: tuple[tuple[SheetInfo, ...], dict[str, Placed]] | None = None) -> dict:
    """The documented, stable JSON form of a plan (docs/commands.md#plan) for farm scripts. `sheets`: the
    sheets (state.plan_sheets) and how each cut is painted; without it, each cut alone.

    Paths are absolute: `load` anchors the shot list's folder once, and every layout path derives from it.
    """
    sl = plan.shotlist
    infos, placed = sheets or ((), placed_without_sheets(plan))
    return {
        "schema": PLAN_SCHEMA,
        "episode": sl.episode,
        "shotlist": str(Path(sl.source).resolve()),
        "size": [sl.width, sl.height],
        "model": sl.model,
        "output": str(sl.output_dir.resolve()),
        "cut_count": plan.cut_count,
        "chains": [
            {
                "name": c.name,
                "index": c.index,
                "unit": c.unit,
                "cuts": list(c.cuts),
                "sheets": [{"id": s.id, "cuts": list(s.cuts), "size": list(s.size), "variant": s.variant,
                            "strength": s.strength, "seed": s.seed}
                           for s in infos if s.id.split("/")[0] == c.name],
                "jobs": [
                    {
                        "cut": j.cut,
                        "position": j.position,
                        "layout": str(j.layout),
                        "upstream": j.upstream,
                        "variant": j.variant,
                        "sheet": placed[j.cut].sheet,
                        "mode": placed[j.cut].mode,
                        "camera": None if j.camera is None else j.camera.to_dict(),
                        "seed": j.seed,
                        "steps": j.steps,
                        "strength": j.strength,
                        "strength_used": placed[j.cut].strength,
                        "fusion": placed[j.cut].fusion,
                        "guidance": j.guidance,
                        "prompt": j.prompt,
                        "negative": j.negative,
                    }
                    for j in c.jobs
                ],
                "links": [{"cut": k.cut, "source": k.source} for k in c.links],
            }
            for c in plan.chains
        ],
    }


def plan_to_text(plan: Plan, sheets: tuple[tuple[SheetInfo, ...], dict[str, Placed]] | None = None) -> str:
    """The plan for a person: each place with its sheets and variants, then each cut with how it is painted
    (its sheet, or alone), the strengths it is painted with, its camera move, seed and words."""
    sl = plan.shotlist
    infos, placed = sheets or ((), placed_without_sheets(plan))
    count = len(infos)
    lines = [f"{sl.episode}: {counted(plan.cut_count, 'cut')} in {counted(len(plan.chains), 'place')}, "
             f"{counted(count, 'sheet')}, {sl.width}x{sl.height}, model {sl.model}"]
    for c in plan.chains:
        lines.append(f"{c.name} (unit {c.unit}: {len(c.jobs)} painted, {len(c.links)} reused)")
        for s in infos:
            if s.id.split("/")[0] != c.name:
                continue
            made = (f"variant {s.variant}: {s.id.partition('@')[0]} repainted at strength {s.strength:g}"
                    if s.variant else f"painted at strength {s.strength:g}")
            lines.append(f"  sheet {s.id:<14} {s.size[0]}x{s.size[1]}, {' '.join(s.cuts)}; {made}, seed {s.seed}")
        hows = [_how(j, placed[j.cut]) for j in c.jobs]
        width = max((len(h) for h in hows), default=0)
        for j, how in zip(c.jobs, hows, strict=True):
            lines.append(f"  {j.cut:<8} {how:<{width}} {move_words(j.camera):<10} seed {j.seed:<10} {j.prompt!r}")
        for k in c.links:
            lines.append(f"  {k.cut:<8} reuses {k.source}")
    return "\n".join(lines)


def _how(j: Job, p: Placed) -> str:
    """How a cut is painted, in words: its sheet and strengths, or alone."""
    if p.mode == "sheet":
        return (f"view of {p.sheet}, refined at {p.strength:g}" + (" (its own)" if j.refine is not None else "")
                + f", fusion {p.fusion:g}")
    if p.mode == "view":
        return f"seen on {p.sheet} (nothing painted)"
    return f"alone at {p.strength:g}" + (f", colours of {p.colours}" if p.colours else "")

