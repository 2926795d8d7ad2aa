"""SIGINT and SIGTERM: one handler, so a stopped command ends the same way wherever the signal lands.

The handler raises Interrupted (exit code 130 for SIGINT, 143 for SIGTERM) where the work under way can
stop: `finally` blocks then remove temporaries and render() rebuilds the manifest. It also remembers the
first signal, because an exception alone does not carry it to the end:

- Libraries wrap or swallow it. diffusers' and transformers' lazy imports re-raise any Exception as
  RuntimeError, their loaders as OSError or ValueError. `interrupted_by()` finds the signal behind such an
  error, so a cancelled model load is a cancellation, not a bad model (exit 2).
- A finalizer swallows it. An exception raised while Python runs a `__del__` (a library's object
  collected during the model load) is "ignored" with a traceback on standard error; `_unraisable` drops
  that report and delivers the signal again, so it lands where the work can stop.
- A second signal must not break the first one's cleanup. While an interrupt or an exit is being handled
  (an `except` or `finally` on the way out) or inside `held()`, a signal is remembered, not raised, and the
  command still exits with the first signal's code.

Only the main thread may set handlers; elsewhere `catching()` leaves them as they are.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

from shotrender.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_first: int | None = None  # the first signal since the outermost catching() began
_depth = 0  # catching() blocks open, install() counting as one that never closes
_holds = 0  # held() blocks open


def received() -> int | None:
    """The first SIGINT or SIGTERM that arrived inside the outermost catching() block, if any."""
    return _first if _depth else None


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    """`error`, what it was raised from and what it was raised while handling, and theirs in turn."""
    todo, seen = [error], set()
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__]


def _signal_in_chain(error: BaseException | None) -> int | None:
    for e in _chain(error):
        if isinstance(e, Interrupted):
            return e.signum
        if isinstance(e, KeyboardInterrupt):
            return signal.SIGINT
    return None


def interrupted_by(error: BaseException) -> int | None:
    """The signal that `error` stands for: an Interrupted or KeyboardInterrupt in its chain (a library
    wrapped it), else a signal that arrived in this catching() block (a library swallowed the exception and
    failed some other way, or went on). None when `error` is a failure of its own."""
    found = _signal_in_chain(error)
    return found if found is not None else received()


def _handler(signum: int, frame: object) -> None:
    global _first
    if _first is None:
        _first = signum
    handling = sys.exc_info()[1]  # what the interrupted code is handling: it is in an `except` or `finally`
    if _holds or isinstance(handling, SystemExit) or _signal_in_chain(handling) is not None:
        return  # the first signal's way out (or the manifest's rebuild) is under way: let it finish
    raise Interrupted(_first)


def _unraisable(unraisable) -> None:
    """sys.unraisablehook: our Interrupted, raised inside a finalizer, was lost there. The signal is sent
    again from another thread, so that it arrives once the finalizer is over (raised here, in the hook, it
    would be lost the same way)."""
    if isinstance(unraisable.exc_value, Interrupted):
        threading.Thread(target=_send_again, args=(unraisable.exc_value.signum,), daemon=True).start()
        return
    sys.__unraisablehook__(unraisable)


def _send_again(signum: int) -> None:
    time.sleep(0.05)  # past the hook and the finalizer's end
    os.kill(os.getpid(), signum)


def _set(handler: Callable | int) -> dict:
    return {s: signal.signal(s, handler) for s in SIGNALS}


@contextlib.contextmanager
def catching() -> Iterator[None]:
    """SIGINT and SIGTERM go to the handler above inside the block, to the handlers before it after it.
    The outermost block starts with no signal remembered."""
    global _depth, _first
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if not _depth:
        _first = None
    previous, hook = _set(_handler), sys.unraisablehook
    sys.unraisablehook = _unraisable
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        sys.unraisablehook = hook
        for s, h in previous.items():
            signal.signal(s, h)


def install() -> None:
    """catching() for the rest of the process: the command line's first step, so that a signal while the
    libraries import or the shot list loads ends the command as one during a render does."""
    global _depth
    _set(_handler)
    sys.unraisablehook = _unraisable
    _depth += 1


def finish() -> int | None:
    """The command's last step: from here on SIGINT and SIGTERM are ignored. Returns the first one, if any
    arrived: it decides the exit code. Ignored, not remembered: as Python shuts down it puts back the
    default action of the handlers it knows, and a Ctrl-C then would kill the process (exit -2)."""
    _set(signal.SIG_IGN)
    return _first if _depth else None


class held:
    """A block that a signal does not break: one arriving inside it is remembered, and raised as Interrupted
    when the block ends (unless the block ends with an exception of its own). For steps that are short and
    must not stop half way, such as rebuilding the manifest."""

    def __enter__(self) -> None:
        global _holds
        _holds += 1

    def __exit__(self, kind, error, traceback) -> None:
        global _holds
        _holds -= 1
        if kind is None and received() is not None:
            raise Interrupted(received())
