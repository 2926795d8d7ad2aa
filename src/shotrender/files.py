"""The one writer for every file shotrender creates, its errors, and the reader of the files it reads back.

A file is written to a temporary beside it, made by `tempfile` (O_CREAT|O_EXCL, a random name: nothing
planted at a guessable name is opened), fsynced, and renamed over the final name. A rename replaces a
symlink at the final name with the file; it never writes through it. Whatever stands at the final name
must be a regular file or a symlink: a device, a pipe or a folder there is refused, so `-o /dev/full`
is an error, not a replaced device.

A temporary's name carries this host and process (`NAME.tmp-HOST-PID-RANDOM`), so the output folder's
clean-up (`Store.prepare`) knows the ones a dead process of this host left behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from shotrender.errors import EXIT_RENDER_FAILED, ShotRenderError, UsageError

TMP_MARK = ".tmp-"
# `tempfile` makes its files 0600; a file shotrender writes gets the mode open() would give it (0666 less the
# umask), or renders, manifests and reports on a shared farm folder are unreadable to everyone but their
# writer. Read once: os.umask can only be read by setting it, and the report writes from several threads.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
DISK_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


class WriteError(ShotRenderError):
    """A file could not be written; what was written before it is kept."""

    exit_code = EXIT_RENDER_FAILED


def write_error(path: Path, e: OSError) -> WriteError:
    why = e.strerror or str(e)
    if e.errno in DISK_FULL:
        return WriteError(f"disk full or file too large while writing {path} ({why}); free space in {path.parent} "
                          "and run again: files already written are kept")
    return WriteError(f"cannot write {path} ({why}); make {path.parent} writable and run again: files already "
                      "written are kept")


def host() -> str:
    return socket.gethostname().replace(".", "_")


def temp_prefix(final: Path) -> str:
    return f"{final.name}{TMP_MARK}{host()}-{os.getpid()}-"


def check_target(final: Path) -> None:
    """Refuse a final name held by something that is not a file (a device, a pipe, a folder)."""
    try:
        mode = os.lstat(final).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise write_error(final, e) from e
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise UsageError(f"{final} is not a regular file; name a file to write")


def write_atomic(final: Path, data: bytes) -> None:
    """Put `data` at `final` whole or not at all; raises WriteError (or UsageError for a non-file target)."""
    final = Path(final)
    check_target(final)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=temp_prefix(final))
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        tmp = None
    except OSError as e:
        raise write_error(final, e) from e
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()


def write_text_atomic(final: Path, text: str) -> None:
    write_atomic(final, text.encode("utf-8"))


def open_lock(path: Path) -> int:
    """A lock file's descriptor, opened without following a symlink at its name.

    A symlink there was planted (shotrender makes the lock as a plain file): it is replaced by an empty file,
    renamed over it like any write, so the lock never opens or creates what the link points at. Refusing
    instead would leave the run without its manifest.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
    try:
        try:
            return os.open(path, flags, 0o644)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
        write_atomic(path, b"")
        return os.open(path, flags, 0o644)
    except OSError as e:
        raise write_error(path, e) from e


def open_regular(path: Path, follow_symlinks: bool = False) -> BinaryIO:
    """A file opened for reading, refusing anything but a regular file, and a symlink at its name unless
    `follow_symlinks` (the files a shot list names: the path rule in shotlist/files.py has decided where their
    links may lead). O_NONBLOCK: opening a FIFO planted there would wait for a writer forever, and a signal
    could not end the wait (the manifest's rebuild reads every cut, signals held)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return os.fdopen(fd, "rb")


def read_regular(path: Path, limit: int | None = None, follow_symlinks: bool = False) -> bytes:
    """A file's bytes, opened by `open_regular`; with `limit`, ValueError for a file larger than that."""
    with open_regular(path, follow_symlinks) as f:
        data = f.read() if limit is None else f.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise ValueError(f"larger than {limit >> 20} MB")
    return data


#: the largest image a shot list may name (a layout, an art board): a 16,384-px-wide PAN layout as a
#: 16-bit PNG stays far below it
MAX_IMAGE_BYTES = 256 << 20


def read_named_image(path: Path) -> bytes:
    """The bytes of an image a shot list names (a layout, an art board): the one reader for them, so every
    one is a regular file (a FIFO is refused, never waited on), at most MAX_IMAGE_BYTES, read through symlinks
    the shot list's path rule allowed. OSError or ValueError (too large) with the reason."""
    return read_regular(path, MAX_IMAGE_BYTES, follow_symlinks=True)


def own_folder(folder: Path, use: str) -> Path:
    """A folder under the output folder that shotrender writes into (thumbs/, takes/, retouch/), made if need
    be; UsageError when it is a symlink or not a folder, so nothing is ever written through one. `use` says
    what writes there, for the message."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if not os.path.lexists(folder):
            raise write_error(folder, e) from e
    if folder.is_symlink() or not folder.is_dir():
        raise UsageError(f"{folder} is a symlink or not a folder; remove it and run again: {use}")
    return folder


def readable_json(value, depth: int, sort_keys: bool = False, level: int = 0) -> str:
    """JSON indented for reading down to `depth`, each deeper value and each list of plain values on one line.

    `json.dumps(indent=...)` runs Python's slow encoder: for a 30,000-cut plan that was 0.75 s of 2.5 s, and
    most of a cached 300-cut re-run's manifest. Below `depth` the C encoder writes each value; the text
    parses to the same document.
    """
    if level >= depth or not isinstance(value, (dict, list)) or not value or (
            isinstance(value, list) and not isinstance(value[0], (dict, list))):
        return json.dumps(value, sort_keys=sort_keys)
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {readable_json(value[k], depth, sort_keys, level + 1)}"
                 for k in (sorted(value) if sort_keys else value)]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    return "[\n" + ",\n".join(f"{inner}{readable_json(v, depth, sort_keys, level + 1)}" for v in value) + f"\n{pad}]"
