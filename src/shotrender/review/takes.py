"""Every picture a cut has had, kept: `<out>/takes/<episode>_<cut>.v001.png` with its sidecar `.v001.json`.

render calls `keep` before it replaces a cut's picture (a render made before takes existed becomes take 1)
and after it wrote the new one, so a retake never loses the picture it replaces. A take is written once,
PNG then sidecar, each atomically; its sidecar is the cut's sidecar as written, with the take's number and
file. A take whose picture is already the latest take is not written again. takes/ must not be a symlink
(nothing is written through one; the output checks refuse it too).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from shotrender.files import own_folder, read_regular, write_atomic
from shotrender.store import MAX_SIDECAR_BYTES, Store, sha256_bytes

TAKES_FOLDER = "takes"
TAKE_SCHEMA = "shotrender.take/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Take:
    number: int
    picture: str  # sha256 as its sidecar records it
    png: Path
    record: dict


def folder(out_dir: Path) -> Path:
    return Path(out_dir) / TAKES_FOLDER


def take_name(episode: str, cut: str, number: int) -> str:
    return f"{episode}_{cut}.v{number:03d}"


def list_takes(store: Store, cuts: list[str] | None = None) -> dict[str, list[Take]]:
    """The takes in the folder by cut, in take order, as their sidecars describe them (the picture's bytes
    are checked against the hash when served, `picture`). A damaged sidecar is skipped, never a crash."""
    where = folder(store.dir)
    try:
        names = os.listdir(where) if not where.is_symlink() else []
    except (FileNotFoundError, NotADirectoryError):
        names = []
    pattern = re.compile(rf"{re.escape(store.episode)}_(.+)\.v(\d{{3,}})\.json")
    wanted = None if cuts is None else set(cuts)
    found: dict[str, list[Take]] = {}
    for name in names:
        m = pattern.fullmatch(name)
        if not m or (wanted is not None and m.group(1) not in wanted):
            continue
        cut, number = m.group(1), int(m.group(2))
        png = where / f"{take_name(store.episode, cut, number)}.png"
        try:
            record = json.loads(read_regular(where / name, MAX_SIDECAR_BYTES))
        except (OSError, ValueError, RecursionError):
            continue
        image = record.get("image") if isinstance(record, dict) else None
        if not (isinstance(image, dict) and record.get("schema") == TAKE_SCHEMA and record.get("cut") == cut
                and record.get("take") == number and image.get("file") == png.name
                and isinstance(image.get("sha256"), str) and _HEX64.fullmatch(image["sha256"])):
            continue
        found.setdefault(cut, []).append(Take(number, image["sha256"], png, record))
    for takes in found.values():
        takes.sort(key=lambda t: t.number)
    return found


def current(takes: list[Take], picture: str) -> int | None:
    """The take a cut's current picture (its sha256) is: the latest take holding those bytes, or None. A
    picture painted again to an earlier take's bytes (a retake back to that take's seed) is a new take."""
    return next((t.number for t in reversed(takes) if t.picture == picture), None)


def picture(take: Take) -> bytes | None:
    """A take's PNG when it is still the picture its sidecar records; otherwise None."""
    try:
        data = read_regular(take.png)
    except OSError:
        return None
    return data if sha256_bytes(data) == take.picture else None


def keep(store: Store, cut: str) -> Take | None:
    """Keep the cut's current picture (as its sidecar vouches for it) as its next take, unless it is
    already its latest take. Returns the take written, or None."""
    state = store.read_state(cut)
    if not state.image_ok:
        return None
    sha = state.record["image"]["sha256"]
    takes = list_takes(store, [cut]).get(cut, [])
    if takes and takes[-1].picture == sha:
        return None
    try:
        png = read_regular(store.png_path(cut))
    except OSError:
        return None  # replaced meanwhile: the new one is kept by the next call
    if sha256_bytes(png) != sha:
        return None
    return add(store, cut, png, state.record, takes)


def add(store: Store, cut: str, png: bytes, record: dict, takes: list[Take] | None = None) -> Take:
    """Write `png` with `record` (a cut's sidecar, as written or as it would be) as the cut's next take: the
    current picture (`keep`), or a candidate that is not (render.Run.paint_candidates). `takes`: the cut's
    takes, when listed already."""
    takes = list_takes(store, [cut]).get(cut, []) if takes is None else takes
    where = made(store.dir)
    number = takes[-1].number + 1 if takes else 1
    name = take_name(store.episode, cut, number)
    sha = sha256_bytes(png)
    record = {k: v for k, v in record.items() if k != "pictures"}  # flow/error pictures stay the cut's
    record.update(schema=TAKE_SCHEMA, cut=cut, episode=store.episode, take=number,
                  image={"file": f"{name}.png", "sha256": sha})
    write_atomic(where / f"{name}.png", png)
    write_atomic(where / f"{name}.json", json.dumps(record, indent=2, sort_keys=True).encode() + b"\n")
    return Take(number, sha, where / f"{name}.png", record)


def made(out_dir: Path) -> Path:
    """<out>/takes, made if need be; refused when it is a symlink or not a folder. The first time in a process,
    temporaries that dead processes left there are removed, as Store.prepare does for the output folder."""
    where = own_folder(folder(out_dir), "render keeps every take of a cut there")
    if where not in _tidied:
        Store(where, "").prepare()
        _tidied.add(where)
    return where


_tidied: set[Path] = set()  # takes folders this process has cleared of dead processes' temporaries
