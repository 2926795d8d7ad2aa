"""Content hashes of weight files and folders, cached by path, size and mtime, for cache keys."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from shotrender.files import open_regular

log = logging.getLogger(__name__)

HASHED_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".json", ".txt", ".model", ".yaml")


def hash_cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "shotrender" / "hashes.json"


def content_hash(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's weight and config files (relative path + hash each).

    Each file's hash is kept in hash_cache_file() under its path, size and mtime, so a multi-gigabyte
    model is read once, not on every run. A cache that cannot be read is ignored and rewritten; two
    processes writing at once lose entries, never corrupt the file, and a lost entry is only recomputed.
    """
    path = Path(path).resolve()
    cache_file = hash_cache_file()
    entries = _read_hash_cache(cache_file)
    before = dict(entries)

    def file_hash(file: Path) -> str:
        stat = file.stat()
        entry = entries.get(str(file))
        if (
            isinstance(entry, dict)
            and entry.get("size") == stat.st_size
            and entry.get("mtime_ns") == stat.st_mtime_ns
            and isinstance(entry.get("sha256"), str)
        ):
            return entry["sha256"]
        digest = hashlib.sha256()
        with open_regular(file, follow_symlinks=True) as f:  # a FIFO planted there is refused, not waited on
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        entries[str(file)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest.hexdigest()}
        return digest.hexdigest()

    if path.is_file():
        result = file_hash(path)
    else:
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in HASHED_SUFFIXES
            # skip .cache/ and the like: `hf download --local-dir` keeps its own bookkeeping there
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        lines = "".join(f"{p.relative_to(path).as_posix()} {file_hash(p)}\n" for p in files)
        result = hashlib.sha256(lines.encode("utf-8")).hexdigest()
    if entries != before:
        _write_atomically(cache_file, json.dumps({"version": 1, "files": entries}, indent=0))
    return result


def _read_hash_cache(cache_file: Path) -> dict:
    try:
        cache = json.loads(cache_file.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    files = cache.get("files") if isinstance(cache, dict) and cache.get("version") == 1 else None
    return files if isinstance(files, dict) else {}


def _write_atomically(target: Path, text: str) -> None:
    """Write to a temporary name in the same folder, then rename: readers see the old file or the new."""
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except OSError as e:
        # the cache only saves time; a read-only home must not stop a render
        log.warning("could not write the hash cache %s: %s", target, e)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
