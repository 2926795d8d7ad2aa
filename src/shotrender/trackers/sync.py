"""Push each cut's current picture to the tracker, and pull the director's answers into the decisions file.

push: a cut whose current picture is not the newest one published to its task is published as the task's
next revision, waiting for approval, with a comment naming its take, seed, model and checks and the
picture's sha256. The hash in the comment is what makes pushing again change nothing, on any machine; the
output folder's `tracker.json` records each publication too (cut, revision, picture, when).

pull: each cut's task's newest Retake or approved status becomes a decision in the decisions file, made
and appended by review/decisions.py as the review page's are, bound to the picture that revision
published (its hash in the comment). A decision on a revision that is not the cut's current picture is
reported, not applied; one already in the file is not recorded twice.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shotrender.files import read_regular, write_text_atomic
from shotrender.review import decisions, takes
from shotrender.store import Store, sha256_bytes
from shotrender.trackers.base import CutFailed, Tracker, TrackerError

RECORD = "tracker.json"
RECORD_SCHEMA = "shotrender.tracker/1"
_PICTURE = re.compile(r"picture sha256:([0-9a-f]{64})")

Echo = Callable[[str], None]


KINDS = ("done", "same", "skipped", "failed")


@dataclass
class Outcome:
    """What a push or pull did, cut by cut: (kind, what) with kind `done` (published or recorded), `same`
    (nothing to do), `skipped` (with why) or `failed` (with the tracker's error)."""

    by_cut: dict[str, tuple[str, str]] = field(default_factory=dict)

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.by_cut.values() if k == kind)

    def note(self, cut: str, kind: str, text: str, echo: Echo, where: str) -> None:
        self.by_cut[cut] = (kind, text)
        echo(f"{where}: {'failed: ' if kind == 'failed' else ''}{text}")


def published_picture(text: str) -> str | None:
    """The sha256 a publication's comment names (the last one in it), or None."""
    found = _PICTURE.findall(text)
    return found[-1] if found else None


def comment(cut, record: dict, take: int | None) -> str:
    """The comment published with a cut's picture: what it is, in a director's words first, then the hash."""
    seen = [f"take {take}"] if take else []
    if record.get("reuse_of"):
        seen.append(f"reuses {record['reuse_of']}'s background")
    if record.get("seed_used") is not None:
        seen.append(f"seed {record['seed_used']}")
    if record.get("model"):
        seen.append(f"model {record['model']}")
    checks = record.get("continuity") or {}
    if checks.get("mode"):
        chosen = (checks.get("attempts") or [{}])[checks.get("chosen") or 0]
        score = chosen.get("score")
        verdict = "flagged for review" if checks.get("flagged") else "passed"
        seen.append(f"checks: {checks['mode']} {verdict}" + (f" (score {score:.4f}, limit {checks['limit']:g})"
                                                             if score is not None and checks.get("limit") else ""))
    if record.get("status") == "retouched":
        seen.append("retouched by an artist")
    if record.get("camera"):
        seen.append(f"camera move over {record['camera'].get('frames')} frames: this is the whole background")
    return f"shotrender {cut.id}: " + ", ".join(seen) + f"\n\npicture sha256:{record['image']['sha256']}"


def _record_path(out: Path) -> Path:
    return Path(out) / RECORD


def _read_record(out: Path) -> dict:
    try:
        data = json.loads(read_regular(_record_path(out), 16 << 20))
    except (OSError, ValueError, RecursionError):
        return {"schema": RECORD_SCHEMA, "published": {}}
    if not isinstance(data, dict) or data.get("schema") != RECORD_SCHEMA or not isinstance(data.get("published"), dict):
        return {"schema": RECORD_SCHEMA, "published": {}}
    return data


def _remember(out: Path, record: dict, cut: str, entry: dict) -> None:
    """Add a publication (tracker, project, revision, picture, when) to <out>/tracker.json unless it is there,
    written whole (a crash leaves the previous file)."""
    same = ("tracker", "project", "revision", "picture")
    entries = record["published"].setdefault(cut, [])
    if not any(all(e.get(k) == entry[k] for k in same) for e in entries):
        entries.append(entry)
        write_text_atomic(_record_path(out), json.dumps(record, indent=1) + "\n")


def push(sl, out: Path, tracker: Tracker, settings, create: bool, echo: Echo) -> Outcome:
    """Publish every cut's current picture not yet published to its task (see the module's docstring)."""
    store = Store(out, sl.episode)
    cuts = list(sl.cuts)
    tracker.open(settings.project, sl.episode, settings.task_type)
    tasks = tracker.tasks([c.id for c in cuts])
    missing = [c.id for c in cuts if tasks[c.id] is None]
    if missing and not create:
        raise TrackerError(f"{len(missing)} cut(s) have no shot with a {settings.task_type} task in {tracker.name}'s "
                           f"{settings.project} / {sl.episode}: {', '.join(missing)}; give --create to make them")
    record = _read_record(out)
    outcome = Outcome()
    for i, cut in enumerate(cuts, 1):
        where = f"[{i}/{len(cuts)}] {cut.id}"
        try:
            kind, text = _push_cut(store, cut, tasks[cut.id], tracker, out, record,
                                   {"tracker": settings.kind, "project": settings.project})
        except CutFailed as e:
            kind, text = "failed", str(e)
        outcome.note(cut.id, kind, text, echo, where)
    return outcome


def _push_cut(store: Store, cut, task, tracker: Tracker, out: Path, record: dict, place: dict) -> tuple[str, str]:
    state = store.read_state(cut.id)
    if not state.image_ok:
        return "skipped", "not rendered, nothing to publish"
    sha = state.record["image"]["sha256"]
    made = ""
    if task is None:
        task = tracker.create(cut.id, cut.frames or (cut.camera.frames if cut.camera else None))
        made = "shot made; "
    revisions = tracker.revisions(task)
    if revisions and published_picture(revisions[-1].text) == sha:
        _remember(out, record, cut.id, {**place, "revision": revisions[-1].number, "picture": sha,
                                        "time": _now()})
        return "same", f"revision {revisions[-1].number} is this picture already"
    try:
        png = read_regular(store.png_path(cut.id))
    except OSError as e:
        return "skipped", f"cannot read its picture ({e})"
    if sha256_bytes(png) != sha:
        return "skipped", "its picture changed while publishing; push again"
    take = next((t.number for t in takes.list_takes(store, [cut.id]).get(cut.id, ()) if t.picture == sha), None)
    movie = _movie(store, state.record)
    with tempfile.TemporaryDirectory(prefix="shotrender-push-") as tmp:
        picture = Path(tmp) / store.png_path(cut.id).name  # the bytes hashed, whatever happens to the file now
        picture.write_bytes(png)
        published = tracker.publish(task, picture, comment(cut, state.record, take), movie)
    _remember(out, record, cut.id, {**place, "revision": published.revision, "picture": sha, "time": _now()})
    text = f"{made}published as revision {published.revision}, waiting for approval"
    if published.movie is not None and published.movie != "ready":
        text += f" (its preview movie is {published.movie} on the server: can it make movies (ffmpeg)?)"
    return "done", text


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _movie(store: Store, record: dict) -> Path | None:
    """A moving cut's preview movie beside its picture, when it has one (not the frames-as-pictures fallback)."""
    name = (record.get("camera") or {}).get("preview")
    if isinstance(name, str) and name.endswith(".mp4") and "/" not in name:
        path = store.dir / name
        return path if path.is_file() else None
    return None


def pull(sl, out: Path, tracker: Tracker, settings, echo: Echo) -> Outcome:
    """Turn each cut task's newest Retake or approval into a decision (see the module's docstring)."""
    store = Store(out, sl.episode)
    cuts = list(sl.cuts)
    tracker.open(settings.project, sl.episode, settings.task_type)
    tasks = tracker.tasks([c.id for c in cuts])
    reviews = decisions.Reviews(decisions.read(decisions.path_for(sl.source)))
    current = decisions.current_pictures(sl, out)  # cut: (sha256, take) of its current picture
    outcome = Outcome()
    for i, cut in enumerate(cuts, 1):
        where = f"[{i}/{len(cuts)}] {cut.id}"
        try:
            kind, text = _pull_cut(sl, store, cut, tasks[cut.id], tracker, reviews, *current[cut.id])
        except (CutFailed, decisions.DecisionError) as e:
            kind, text = "failed", str(e)
        outcome.note(cut.id, kind, text, echo, where)
    return outcome


def _pull_cut(sl, store: Store, cut, task, tracker: Tracker, reviews, current: str | None, take: int | None
              ) -> tuple[str, str]:
    """One cut's reply, recorded by decisions.decide (the page's and `shotrender decide`'s one rule) when it
    is new and on the cut's current picture; (kind, what was done) for the progress line."""
    if task is None:
        return "skipped", f"no shot or task in {tracker.name}"
    reply = tracker.reply(task)
    if reply is None:
        return "same", "no decision yet"
    said = f"{reply.status} by {reply.author}" + (f": {reply.note!r}" if reply.note else "")
    if reply.revision is None:
        return "skipped", f"{said}, on no published picture"
    revision = next((r for r in tracker.revisions(task) if r.number == reply.revision), None)
    picture = published_picture(revision.text) if revision else None
    if picture is None:
        return "skipped", f"{said}, on revision {reply.revision}, which shotrender did not publish"
    # a decision already in the file for that picture as the cut's current take
    decided = reviews.state(cut.id, picture, take if picture == current else None)[1]
    if decided is not None and decided.kind == reply.kind and (reply.kind != "retake" or decided.note == reply.note):
        again = "" if picture == current else f"; {cut.id} has a newer picture since: push it for review"
        return "same", f"{said}: recorded already{again}"
    if picture != current:
        return "skipped", (f"{said}, on revision {reply.revision}, which is not {cut.id}'s current picture: "
                           "not applied (push the current one for review)")
    if reply.kind == "retake" and not reply.note:
        return "skipped", f"{said} without a note: not applied; a retake says what to change (edit the comment)"
    if cut.reuse:
        return "skipped", f"{said}: {cut.id} reuses {cut.reuse}'s picture; decide on {cut.reuse}"
    decisions.decide(sl, store, cut.id, reply.kind, reply.author, reply.note, picture=picture)
    return "done", (f"{said}: recorded as {'an approval' if reply.kind == 'approve' else 'a retake'} of revision "
                    f"{reply.revision}")
