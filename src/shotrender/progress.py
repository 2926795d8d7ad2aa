"""How a render reports itself: a tqdm bar at a terminal, plain lines in a log."""

from __future__ import annotations

import sys
from typing import TextIO

from shotrender.render import CutResult
from shotrender.words import counted

_MARK = {"rendered": "done", "cached": "up to date", "reused": "reused", "failed": "FAILED",
         "blocked": "BLOCKED"}


def _line(result: CutResult, detail: str) -> str:
    text = f"{result.cut} [{result.chain}] {_MARK.get(result.status, result.status)}"
    if detail:
        text += f": {detail}"
    if result.error:
        text += f": {result.error}"
    return text


class BarProgress:
    """A tqdm bar per episode showing the current cut; per-cut lines printed above it."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = True):
        self.stream = stream or sys.stderr
        self.verbose = verbose
        self.bar = None

    def start(self, episode: str, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=episode, unit="cut", file=self.stream, dynamic_ncols=True)

    def cut_started(self, cut: str) -> None:
        self.bar.set_postfix_str(cut)

    def cut_finished(self, result: CutResult, detail: str) -> None:
        if self.verbose and (result.status != "cached" or result.error):
            self.bar.write(_line(result, detail), file=self.stream)
        self.bar.update(1)

    def message(self, text: str) -> None:
        if self.bar is None:
            print(text, file=self.stream)
        else:
            self.bar.write(text, file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class PlainProgress:
    """One line per cut with a running count, no carriage returns: for logs and pipes."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.total = 0
        self.done = 0

    def start(self, episode: str, total: int) -> None:
        self.total = total
        self.write(f"{episode}: {total} cut{'s' if total != 1 else ''}")

    def cut_started(self, cut: str) -> None:
        pass

    def cut_finished(self, result: CutResult, detail: str) -> None:
        self.done += 1
        self.write(f"[{self.done}/{self.total}] {_line(result, detail)}")

    def message(self, text: str) -> None:
        self.write(text)

    def close(self) -> None:
        pass

    def write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class FarmProgress:
    """Progress lines a render farm's log parser reads, on standard output, one flushed line each.

    openjd: `openjd_progress: N`, `openjd_status: ...` and, when cuts failed, `openjd_fail: ...` (Open Job
    Description: the farm shows that message with the failed task); deadline: `Progress: N%` (Deadline's
    command-line plugin); tractor: `TR_PROGRESS N%`. Per-cut details go to standard error as plain lines,
    so the farm's log keeps them without mistaking them for progress.
    """

    FORMATS = {
        "openjd": ("openjd_progress: {percent}", "openjd_status: {text}", "openjd_fail: {text}"),
        "deadline": ("Progress: {percent}%", "{text}", None),
        "tractor": ("TR_PROGRESS {percent}%", "{text}", None),
    }
    SHOWN_FAILURES = 3  # a farm shows the message on one line

    def __init__(self, fmt: str, out: TextIO | None = None, err: TextIO | None = None):
        self.progress_line, self.status_line, self.fail_line = self.FORMATS[fmt]
        self.out = out or sys.stdout
        self.details = PlainProgress(err)
        self.total = 0
        self.done = 0

    def start(self, episode: str, total: int) -> None:
        self.total = total
        self.details.start(episode, total)
        self.emit(self.status_line.format(text=f"{episode}: {total} cut{'s' if total != 1 else ''}"))
        self.emit(self.progress_line.format(percent=0))

    def cut_started(self, cut: str) -> None:
        self.emit(self.status_line.format(text=f"cut {cut}"))

    def cut_finished(self, result: CutResult, detail: str) -> None:
        self.done += 1
        self.details.cut_finished(result, detail)
        self.emit(self.progress_line.format(percent=int(100 * self.done / self.total) if self.total else 100))

    def message(self, text: str) -> None:
        self.details.message(text)

    def ended(self, summary: str, failures: list[CutResult]) -> None:
        """The render's summary as the task's last status and, for a farm that takes one, why it failed."""
        self.emit(self.status_line.format(text=summary))
        if failures and self.fail_line:
            shown = "; ".join(f"{r.cut} {r.status}: {r.error}" for r in failures[:self.SHOWN_FAILURES])
            more = len(failures) - self.SHOWN_FAILURES
            text = (f"{len(failures)} of {counted(self.total, 'cut')} not painted: {shown}"
                    + (f"; {more} more" if more > 0 else ""))
            self.emit(self.fail_line.format(text=" ".join(text.split())))  # one line, whatever the errors hold

    def close(self) -> None:
        pass

    def emit(self, line: str) -> None:
        print(line, file=self.out, flush=True)
