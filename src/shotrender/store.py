"""The output folder: cache keys, atomic writes, per-cut sidecars and the episode manifest.

Per cut there are two files, `<episode>_<cut>.png` and its sidecar `<episode>_<cut>.json`. The sidecar
records the cache key and the image's sha256, and it is the truth: the manifest is rebuilt from the
sidecars, so shard processes writing into one folder never lose each other's entries.

Writes go to a temporary name in the same folder and are renamed into place. A cut is replaced in this
order: remove the old sidecar, rename its new pictures (flow, error) in, then the new PNG, then the new
sidecar. At every instant a sidecar that exists describes the PNG and the pictures beside it; a PNG
without a sidecar is never trusted.

A write that fails (disk full, quota, file-size limit, permissions) removes its temporary and raises
WriteError, one line that names the file and the way out; a cut whose sidecar could not follow its PNG
loses that PNG too, so a failed write leaves the cut missing, never half there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shotrender.files import TMP_MARK, host, open_lock, read_regular, readable_json, write_atomic, write_error
from shotrender.plan import Plan

SIDECAR_SCHEMA = "shotrender.cut/1"
MANIFEST_SCHEMA = "shotrender.manifest/1"
KEY_SCHEMA = 1
STALE_TMP_SECONDS = 3600


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(record: dict) -> str:
    """sha256 of a canonical JSON record of everything that decides a cut's pixels."""
    canonical = json.dumps({"key_schema": KEY_SCHEMA, **record}, sort_keys=True, separators=(",", ":"))
    return sha256_bytes(canonical.encode())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class CutState:
    """What the store knows of one cut: its sidecar (None = missing or unreadable) and whether the image
    matches the hash the sidecar records."""

    record: dict | None
    image_ok: bool
    warning: str | None = None


class Store:
    def __init__(self, out_dir: Path, episode: str):
        self.dir = Path(out_dir)
        self.episode = episode
        self._verified: dict[str, tuple[tuple, CutState]] = {}  # cut -> stamp of its two files, verified state
        # Files this store replaced or removed: what a reader remembers of the folder holds while it is unchanged
        # (state.State.retouches asks of every cut of a sheet for each of its cuts).
        self.writes = 0

    # -------------------------------------------------------------------------------- names
    def png_path(self, cut: str) -> Path:
        return self.dir / f"{self.episode}_{cut}.png"

    def sidecar_path(self, cut: str) -> Path:
        return self.dir / f"{self.episode}_{cut}.json"

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    # -------------------------------------------------------------------------------- writing
    def prepare(self) -> list[Path]:
        """Create the folder and remove temporaries that dead processes left behind. Returns what went."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error(self.dir, e) from e
        removed = []
        here = host()
        for path in self.dir.glob(f"*{TMP_MARK}*"):
            parts = path.name.split(TMP_MARK, 1)[1].split("-")
            try:
                owner_host, pid = "-".join(parts[:-2]), int(parts[-2])
            except (IndexError, ValueError):
                owner_host, pid = "", -1
            mine_and_dead = owner_host == here and not _pid_alive(pid)
            try:
                old = time.time() - path.stat().st_mtime > STALE_TMP_SECONDS
            except FileNotFoundError:
                continue
            if mine_and_dead or old:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
        return removed

    def _write_atomic(self, final: Path, data: bytes) -> None:
        self.writes += 1
        write_atomic(final, data)

    def write_cut(self, cut: str, png: bytes, record: dict) -> dict:
        """Put one cut's image and sidecar in place; returns the sidecar record as written."""
        record = {
            "schema": SIDECAR_SCHEMA,
            **record,
            "cut": cut,
            "episode": self.episode,
            "image": {"file": self.png_path(cut).name, "sha256": sha256_bytes(png)},
        }
        data = json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"
        self._drop_sidecar(cut)
        self._write_atomic(self.png_path(cut), png)
        try:
            self._write_atomic(self.sidecar_path(cut), data)
        except BaseException:  # disk full, or a signal: the PNG must not stay without its sidecar
            with contextlib.suppress(OSError):
                self.png_path(cut).unlink()
            raise
        return record

    def write_picture(self, cut: str, name: str, png: bytes) -> str:
        """A picture that belongs to a cut (flow, error heatmap), beside it; returns its file name."""
        return self.write_beside(cut, f"{name}.png", png)

    def beside_path(self, cut: str, suffix: str) -> Path:
        return self.dir / f"{self.episode}_{cut}.{suffix}"

    def write_beside(self, cut: str, suffix: str, data: bytes) -> str:
        """A file that belongs to a cut's render (a picture, a moving cut's camera file and preview),
        `<episode>_<cut>.<suffix>` beside it; returns its file name.

        The cut's old sidecar goes first: it names this file, which no longer belongs to its render."""
        path = self.beside_path(cut, suffix)
        self._drop_sidecar(cut)
        self._write_atomic(path, data)
        return path.name

    def read_camera(self, record: dict) -> bytes | None:
        """The bytes of the camera file a moving cut's sidecar `record` names, when they are the ones it
        records (by hash); None when it names none, or the file is gone, changed or not a file."""
        if "camera" not in record:
            return None
        try:
            data = read_regular(self.dir / record["pictures"]["camera"], MAX_CAMERA_BYTES)
        except (OSError, ValueError):
            return None
        return data if sha256_bytes(data) == record["camera"]["sha256"] else None

    def drop_move_files(self, cut: str, keep: set[str]) -> None:
        """A moving cut's camera file and preview files beside `cut` that its new render does not have (`keep`:
        the names it wrote): a cut that no longer moves, or a shorter move's preview frames. Left there, a
        compositor would find a camera for a picture it does not belong to. Only files and links go."""
        pattern = re.compile(rf"{re.escape(self.episode)}_{re.escape(cut)}\."
                             r"(camera\.json|preview\.mp4|preview\.\d{4,}\.png)")
        with os.scandir(self.dir) as entries:
            stale = [e.path for e in entries if pattern.fullmatch(e.name) and e.name not in keep
                     and (e.is_symlink() or e.is_file(follow_symlinks=False))]
        for path in stale:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _drop_sidecar(self, cut: str) -> None:
        self.writes += 1
        path = self.sidecar_path(cut)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise write_error(path, e) from e

    def write_failure(self, cut: str, record: dict) -> dict:
        """Record a failed cut. Its sidecar goes first, so an old PNG left beside it is no longer trusted."""
        record = {"schema": SIDECAR_SCHEMA, **record, "cut": cut, "episode": self.episode, "status": "failed"}
        data = json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"
        self._write_atomic(self.sidecar_path(cut), data)
        return record

    def write_link(self, cut: str, source: str, record: dict) -> dict:
        """A reused cut: a copy of its source's PNG (links break on many file servers) and its own sidecar."""
        png = read_regular(self.png_path(source))  # as read_state read it: not through a symlink planted since
        return self.write_cut(cut, png, {**record, "reuse_of": source})

    # -------------------------------------------------------------------------------- reading
    def read_state(self, cut: str) -> CutState:
        """Read a cut's sidecar and verify its image. A corrupt file is a warning and a miss, never a crash.

        A verified cut is remembered with the stamp of its two files (inode, size, modification and change
        times). Asked again while they are unchanged, as each job asks of the cut before it and of its
        chain's head and the manifest of every cut, its PNG is not read and hashed again: a cached re-run
        used to read each render two or three times, and a chain's head once for every cut of the chain.
        Every write here replaces a file, so its inode changes.
        """
        stamp = self._stamp(cut)
        known = self._verified.get(cut)
        if known is not None and stamp is not None and known[0] == stamp:
            return known[1]
        state = self._read(cut)[0]
        if state.image_ok and stamp is not None:  # taken before the read: a file changed since is read again
            self._verified[cut] = (stamp, state)
        return state

    def _stamp(self, cut: str) -> tuple | None:
        base = os.path.join(self.dir, f"{self.episode}_{cut}")  # a string: a cached re-run stamps each cut often
        try:
            return tuple((s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)
                         for s in (os.stat(base + ".json"), os.stat(base + ".png")))
        except OSError:
            return None

    def read_image(self, cut: str):
        """A cut's render, decoded, when its sidecar vouches for it; otherwise None."""
        picture = self.read_picture(cut)
        return picture[0] if picture else None

    def read_picture(self, cut: str):
        """(the render decoded, its sha256) when the cut's sidecar vouches for it; otherwise None.

        The bytes decoded are the bytes whose hash was checked: the PNG is read once.
        """
        from shotrender.images import decode_png

        state, png = self._read(cut)
        if not state.image_ok:
            return None
        image = decode_png(png)
        return (image, state.record["image"]["sha256"]) if image is not None else None

    def _read(self, cut: str) -> tuple[CutState, bytes | None]:
        """The cut's state and, when there is one, the PNG's bytes as read for the hash check."""
        path = self.sidecar_path(cut)
        try:
            record = json.loads(read_regular(path, MAX_SIDECAR_BYTES))
            problem = sidecar_problem(record, cut, self.png_path(cut).name)
            if problem:
                raise ValueError(problem)
        except FileNotFoundError:
            return CutState(None, False), None
        except (OSError, ValueError, RecursionError) as e:
            return CutState(None, False, f"{path.name} is unreadable ({e}); the cut will be rendered again"), None
        if record["status"] == "failed":
            return CutState(record, False), None
        try:
            png = read_regular(self.png_path(cut))
        except FileNotFoundError:
            return CutState(record, False, f"{self.png_path(cut).name} is missing; rendering it again"), None
        except OSError as e:
            return CutState(record, False, f"{self.png_path(cut).name} is unreadable ({e}); rendering it again"), None
        if sha256_bytes(png) != record["image"]["sha256"]:
            return CutState(record, False,
                            f"{self.png_path(cut).name} does not match its sidecar; rendering it again"), None
        return CutState(record, True), png

    # -------------------------------------------------------------------------------- manifest
    def write_manifest(self, plan: Plan, run: dict) -> dict:
        """Rebuild manifest.json from every sidecar of the episode, under a lock so that concurrent shard
        processes do not lose each other's entries (each writes its sidecars before rebuilding)."""
        chain_of = {cut: c.name for c in plan.chains for cut in c.cuts}
        with self._lock():
            cuts = []
            for cut in plan.shotlist.cuts:
                state = self.read_state(cut.id)
                if state.record is None:  # in its chain, so that the report shows it in its place
                    chain = chain_of.get(cut.id)
                    cuts.append({"cut": cut.id, "status": "missing", **({"chain": chain} if chain else {})})
                    continue
                entry = {k: v for k, v in state.record.items() if k not in ("schema", "episode")}
                if not state.image_ok and entry.get("status") != "failed":
                    entry["status"] = "missing"
                cuts.append(entry)
            manifest = {
                "schema": MANIFEST_SCHEMA,
                "sheets": self._sheet_entries(),
                "episode": plan.shotlist.episode,
                "shotlist": str(Path(plan.shotlist.source).resolve()),
                "size": [plan.shotlist.width, plan.shotlist.height],
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "last_run": run,
                "counts": _count(cuts),
                "cuts": cuts,
            }
            # each cut's entry on one line (the C encoder's): indenting it all was most of a cached re-run's write
            self._write_atomic(self.manifest_path, (readable_json(manifest, 2, sort_keys=True) + "\n").encode())
        return manifest

    def _sheet_entries(self) -> list[dict]:
        """The sheets' paintings in `sheets/`, as their sidecars vouch for them, in name order."""
        folder = self.dir / SHEETS_FOLDER
        sheets = Store(folder, self.episode)
        entries = []
        prefix = f"{self.episode}_"
        for path in sorted(folder.glob(f"{prefix}*.json")) if folder.is_dir() else ():
            name = path.name[len(prefix):-len(".json")]
            if name.endswith((".registration", ".pairs")):  # registration's caches, not paintings
                continue
            state = sheets.read_state(name)
            if state.record is not None and isinstance(state.record.get("sheet"), str):
                entry = {k: v for k, v in state.record.items() if k not in ("schema", "episode", "inputs")}
                inputs = state.record.get("inputs") or {}
                if isinstance(inputs.get("base"), dict):  # a variant's sheet: its cuts and cameras, not in its key
                    inputs = {**inputs, **(state.record.get("views") or {})}
                cuts = inputs.get("cuts")  # a sidecar edited by hand: the report checks what it is shown
                entry.update(folder=SHEETS_FOLDER, size=inputs.get("size"), camera=inputs.get("camera"),
                             cuts=[c[0] for c in cuts if isinstance(c, list) and c] if isinstance(cuts, list) else [])
                if not state.image_ok and entry["status"] != "failed":
                    entry["status"] = "missing"
                entries.append(entry)
        return entries

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        import fcntl

        fd = open_lock(self.dir / ".manifest.lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


SHEETS_FOLDER = "sheets"  # the sheets' paintings and registrations, under the output folder
MAX_SIDECAR_BYTES = 4 << 20  # a real sidecar is a few kB
MAX_CAMERA_BYTES = 64 << 20  # a camera file of the longest move (14,400 frames) is about 3 MB
STATUSES = ("rendered", "flagged", "reused", "retouched", "failed")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_PLAIN_NAME = re.compile(r"[^/\\\0]+")


def sidecar_problem(record, cut: str, png_name: str) -> str | None:
    """Why a parsed sidecar is not one this version of shotrender wrote for `cut`, or None when it is.

    Every field a command reads is checked for its type here, once, so that no reader further on can crash
    on a damaged or hand-edited file: anything else is a corrupt entry, a warning and a miss.
    """
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    if record.get("schema") != SIDECAR_SCHEMA:
        return f"schema is not {SIDECAR_SCHEMA}"
    if record.get("cut") != cut:
        return f"it is not the sidecar of {cut}"
    status = record.get("status")
    if status not in STATUSES:
        return f"status {_short(status)} is not one of {', '.join(STATUSES)}"
    if not isinstance(record.get("key"), str):
        return "it has no cache key"
    if status == "failed":
        if not isinstance(record.get("error"), str):
            return "a failed cut without its error"
    else:
        image = record.get("image")
        if not isinstance(image, dict) or image.get("file") != png_name or not isinstance(image.get("sha256"), str) \
                or not _HEX64.fullmatch(image["sha256"]):
            return f"image must name {png_name} and its sha256"
    for name, kind in (("inputs", dict), ("continuity", dict), ("pictures", dict), ("timings", dict), ("camera", dict),
                       ("device", dict), ("guided_by", dict), ("upstream", str), ("reuse_of", str), ("chain", str),
                       ("layout", str), ("model", str)):
        value = record.get(name)
        if value is not None and not isinstance(value, kind):
            return f"{name} is a {type(value).__name__}, not a{'n' if kind is dict else ''} {kind.__name__}"
    inputs = record.get("inputs") or {}
    if "params" in inputs and not isinstance(inputs["params"], dict):
        return "inputs.params is not an object"
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (record.get("timings") or {}).values()):
        return "timings are not numbers"
    if not all(isinstance(k, str) and isinstance(v, str) and _PLAIN_NAME.fullmatch(v) and v not in (".", "..")
               for k, v in (record.get("pictures") or {}).items()):
        return "pictures must map names to plain file names"
    if not all(isinstance(v, str) and _HEX64.fullmatch(v) for v in (record.get("guided_by") or {}).values()):
        return "guided_by must map cuts to sha256 hashes"
    if "camera" in record and not (isinstance(record["camera"].get("sha256"), str)
                                   and _HEX64.fullmatch(record["camera"]["sha256"])
                                   and (record.get("pictures") or {}).get("camera") == camera_name(png_name)):
        return f"a moving cut's camera must give the sha256 of {camera_name(png_name)}, named in pictures"
    if status == "flagged" and not isinstance((record.get("continuity") or {}).get("reason"), str):
        return "a flagged cut without its reason"
    retouch = record.get("retouch")
    if status == "retouched" and not (isinstance(retouch, dict) and isinstance(retouch.get("file"), str)
                                      and isinstance(retouch.get("sha256"), str)
                                      and _HEX64.fullmatch(retouch["sha256"])):
        return "a retouched cut must name its retouch file and its sha256"
    retouches = record.get("retouches") or {}
    if not isinstance(retouches, dict) or not all(isinstance(v, str) and _HEX64.fullmatch(v)
                                                  for v in retouches.values()):
        return "retouches must map cuts to sha256 hashes"
    return None


def camera_name(png_name: str) -> str:
    """The camera file beside a moving cut's render: ep01_C010.png -> ep01_C010.camera.json."""
    return png_name[:-len(".png")] + ".camera.json"


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _count(cuts: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in cuts:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    return dict(sorted(counts.items()))
