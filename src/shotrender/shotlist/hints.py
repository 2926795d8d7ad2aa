"""A cut's hints to registration (docs/shotlist.md#hints): `framing: {like: C001}` for a return to another
cut's framing, `on: {cut: C001, x: 300, y: 40, scale: 2}` for a cut lying at a given place on another's layout.

Registration finds most cuts of a place by itself; a hint is for the ones it cannot (a street of identical
houses, a close-up past its reach). It is read here, checked against the other cuts, and turned into a
matrix that `sheets.register` refines: the drawings decide, and a hint they contradict is reported.
"""

from __future__ import annotations

import difflib
import math

from shotrender.errors import Problem
from shotrender.shotlist.schema import LIKE_KEYS, MAX_HINT_SCALE, ON_KEYS, Cut, Hint, ShotList

ON_EXAMPLE = "on: {cut: C001, x: 300, y: 40, scale: 2}"


def read(ck, cut_data: dict, path: tuple, cut: str | None) -> Hint | None:
    """The cut's `framing:` or `on:`, checked on its own; None when it has neither or a problem (reported)."""
    if "framing" in cut_data and "on" in cut_data:
        ck.add((*path, "on"), "a cut takes one hint: framing: or on:, not both", "keep the one that is right", cut)
        return None
    if isinstance(cut_data.get("framing"), str) or isinstance(cut_data.get("on"), str):
        key = "framing" if isinstance(cut_data.get("framing"), str) else "on"
        other = cut_data[key]
        example = f"framing: {{like: {other}}}" if key == "framing" else ON_EXAMPLE.replace("C001", other)
        ck.add((*path, key), f"a hint names its cut inside a mapping, got {other!r}", f"write {example}", cut)
        return None
    if cut_data.get("framing") is not None:
        where = (*path, "framing")
        data = ck.mapping(cut_data["framing"], where, "framing")
        if not data:
            if data == {}:
                ck.add(where, "is empty", "write framing: {like: C001} for a return to C001's framing", cut)
            return None
        ck.unknown_keys(data, where, LIKE_KEYS, cut)
        like = ck.ident(data, where, "like", "hinted cut", cut)
        return Hint(like, key="framing", line=ck.line((*where, "like"))) if like else None
    if cut_data.get("on") is None:
        return None
    where = (*path, "on")
    data = ck.mapping(cut_data["on"], where, "on")
    if not data:
        if data == {}:
            ck.add(where, "is empty", f"write {ON_EXAMPLE}", cut)
        return None
    ck.unknown_keys(data, where, ON_KEYS, cut)
    other = ck.ident(data, where, "cut", "hinted cut", cut)
    values = {}
    for key in ("x", "y", "scale"):
        if key != "scale" and data.get(key) is None:
            ck.add(where, f"'{key}' is missing", f"give where the cut's top-left corner lies on the other's layout, "
                   f"in its pixels: {ON_EXAMPLE}", cut)
            continue
        value = ck.number(data, where, key, cut)
        if value is not None and not math.isfinite(value):
            ck.add((*where, key), f"must be a finite number, got {value}", f"e.g. {ON_EXAMPLE}", cut)
            value = None
        values[key] = value
    scale = 1.0 if data.get("scale") is None else values["scale"]
    if scale is not None and not 1 / MAX_HINT_SCALE <= scale <= MAX_HINT_SCALE:
        ck.add((*where, "scale"), f"must be between {1 / MAX_HINT_SCALE:.2f} and {MAX_HINT_SCALE:g}, got {scale:g}",
               "how many times closer this cut is than the other: 2 for a 2x close-up, 0.5 for a cut twice as wide",
               cut)
        return None
    if other is None or scale is None or values.get("x") is None or values.get("y") is None:
        return None
    return Hint(other, values["x"], values["y"], scale, "on", ck.line((*where, "cut")))


def check(ck, shotlist: ShotList) -> None:
    """Every hint against the other cuts: a cut of the shot list with a layout, of the same background, not
    the cut itself, no loop of hints (where it lies against the other's layout: `file_problems`)."""
    by_id = {c.id: c for c in shotlist.cuts}
    for c in shotlist.cuts:
        hint = c.hint
        if hint is None:
            continue
        where = ("cuts", c.index, hint.key, "like" if hint.key == "framing" else "cut")
        other = by_id.get(hint.on)
        problem = _against(c, other, hint, by_id, shotlist)
        if problem:
            ck.add(where, *problem, c.id)
            continue
        if not shotlist.continuity_for(c.bg).enabled:
            ck.add(where, f"continuity is off for {c.bg}: its cuts are not registered, and the hint has no effect",
                   "remove the hint, or turn continuity on", c.id, warning=True)
    for loop in _loops(shotlist.cuts):
        first = by_id[loop[0]]
        ck.add(("cuts", first.index, first.hint.key), "hints loop: " + " -> ".join([*loop, loop[0]]),
               "a pair of cuts needs one hint, on one of them: remove the others", first.id)


def _against(c: Cut, other: Cut | None, hint: Hint, by_id: dict[str, Cut], shotlist: ShotList
             ) -> tuple[str, str] | None:
    """(what, how to fix) is wrong with the cut's hint given the cut it names; None when nothing is."""
    if other is None:
        close = difflib.get_close_matches(hint.on, [k for k, o in by_id.items() if o.bg == c.bg and k != c.id], n=1)
        return f"names unknown cut '{hint.on}'", f"did you mean '{close[0]}'?" if close else "name a cut of its place"
    if other.id == c.id:
        return "a cut cannot be hinted on itself", "name another cut of its place"
    if other.reuse is not None:
        return (f"{other.id} reuses {other.reuse} and has no layout of its own to register against",
                f"name the cut it reuses, or another cut of {c.bg or 'its place'}")
    if c.bg is None:
        return "a hint places the cut on another of its place, and it has no bg:", f"give it bg: {other.bg or 'park'}"
    if other.bg != c.bg:
        return (f"{other.id} is of background '{other.bg}', {c.id} of '{c.bg}': a hint relates two cuts of one place",
                f"name a cut of {c.bg}, or correct bg:")
    if hint.key == "framing" and (c.camera is not None or other.camera is not None):
        moving = c.id if c.camera is not None else other.id
        return (f"framing: {{like: ...}} is for two fixed cuts, and {moving} moves (its layout is not a frame)",
                f"place it with {ON_EXAMPLE.replace('C001', other.id)}")
    return None


def _loops(cuts: tuple[Cut, ...]) -> list[list[str]]:
    """Each loop of hints (a cut hinted on one hinted, in the end, on it), once, from its first cut."""
    by_id = {c.id: c for c in cuts}
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for c in cuts:
        trail = [c.id]
        step = c
        while step.hint is not None and step.hint.on in by_id:
            if step.hint.on in trail:
                loop = trail[trail.index(step.hint.on):]
                if frozenset(loop) not in seen:
                    seen.add(frozenset(loop))
                    found.append(loop)
                break
            trail.append(step.hint.on)
            step = by_id[step.hint.on]
    return found


def file_problems(shotlist: ShotList, sizes: dict[str, tuple[int, int]]) -> list[Problem]:
    """An `on:` that puts the cut's layout wholly outside the other's, given the layouts' sizes (W, H) by cut id:
    nothing of it to register there."""
    by_id = {c.id: c for c in shotlist.cuts}
    problems = []
    for c in shotlist.cuts:
        hint = c.hint
        if hint is None or hint.key != "on" or c.id not in sizes or hint.on not in sizes or hint.on not in by_id:
            continue
        (w, h), other = sizes[hint.on], by_id[hint.on]
        k = _zoom(hint, c, other, sizes[c.id], sizes[hint.on])
        width, height = sizes[c.id][0] * k, sizes[c.id][1] * k
        if not (hint.x < w and hint.x + width > 0 and hint.y < h and hint.y + height > 0):
            problems.append(Problem(
                shotlist.source, hint.line, f"cuts[{c.index}].on", f"x: {hint.x:g}, y: {hint.y:g} at scale "
                f"{hint.scale:g} puts {c.id}'s layout outside {other.id}'s ({w}x{h}): nothing of it to register there",
                f"give the top-left corner of {c.id} on {other.id}'s layout, in its pixels: from {-width:g} to {w} "
                f"across and {-height:g} to {h} down", c.id))
    return problems


def _frame_width(cut: Cut, layout: tuple[int, int]) -> float:
    """The width of the cut's (tightest) frame in its layout's pixels: the layout, or a moving cut's framing."""
    return cut.camera.tightest.width if cut.camera is not None else layout[0]


def _zoom(hint: Hint, cut: Cut, other: Cut, own: tuple[int, int], onto: tuple[int, int]) -> float:
    """The other's layout px per the hinted cut's layout px: its frame `scale` times closer than the other's."""
    return _frame_width(other, onto) / (hint.scale * _frame_width(cut, own))


def picture_matrix(hint: Hint, cut: Cut, other: Cut, own: tuple[int, int], onto: tuple[int, int],
                   frame: tuple[int, int]):
    """3×3 (numpy) taking the hinted cut's picture px to the other's (pixel centres at integers), from the
    layouts' sizes (W, H) and the episode's frame: the hint is in layout pixels, the pictures are a fixed
    cut's layout at the frame's size or a moving cut's deliverable (camera.py)."""
    import numpy as np  # not at import: the shot list is read without numpy

    from shotrender.camera import deliver

    def to_picture(c: Cut, layout: tuple[int, int]):
        if c.camera is not None:
            return deliver(c.camera, frame).layout_matrix()
        fx, fy = frame[0] / layout[0], frame[1] / layout[1]
        return np.array([[fx, 0, (fx - 1) / 2], [0, fy, (fy - 1) / 2], [0, 0, 1]])

    k = _zoom(hint, cut, other, own, onto)
    layouts = np.array([[k, 0, hint.x + k / 2 - 0.5], [0, k, hint.y + k / 2 - 0.5], [0, 0, 1]])
    return to_picture(other, onto) @ layouts @ np.linalg.inv(to_picture(cut, own))
