"""One exception root, one subclass per cause, one exit code per subclass.

Exit codes (documented in the README; farms rely on them):
0 done · 1 a render failed · 2 bad input or usage, retrying will not help · 130/143 interrupted/terminated.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_RENDER_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class ShotRenderError(Exception):
    """Root of every error shotrender raises on purpose."""

    exit_code = EXIT_RENDER_FAILED


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a shot list: where it is, what it is, how to fix it."""

    file: str
    line: int | None
    field: str  # the field path, e.g. "cuts[3].strength"
    message: str
    fix: str = ""
    cut: str | None = None
    warning: bool = False

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:" if self.line else f"{self.file}:"
        if self.field:
            text += f" {self.field}"
        if self.cut:
            text += f" (cut {self.cut})"
        text += f": {self.message}" if self.field or self.cut else f" {self.message}"
        if self.fix:
            text += f"; {self.fix}"
        return ("warning: " if self.warning else "") + text


class ShotListError(ShotRenderError):
    """The shot list (or a file it names) is wrong. Carries every problem found, not just the first."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, problems: list[Problem]):
        problems = sorted(problems, key=lambda p: (p.file, p.line or 0))
        self.problems = [p for p in problems if not p.warning]
        self.warnings = [p for p in problems if p.warning]
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the shot list"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class UsageError(ShotRenderError):
    """A command-line argument is wrong (a selector that matches nothing, a bad shard)."""

    exit_code = EXIT_BAD_INPUT


class ModelError(ShotRenderError):
    """The model cannot be found or loaded; retrying will not help until the user points elsewhere."""

    exit_code = EXIT_BAD_INPUT


class BackendError(ShotRenderError):
    """A backend failed to render a cut."""

    exit_code = EXIT_RENDER_FAILED


class RenderFailed(ShotRenderError):
    """One or more cuts failed; the others were written."""

    exit_code = EXIT_RENDER_FAILED


class Interrupted(ShotRenderError):
    """SIGINT or SIGTERM arrived; temporaries were removed and the manifest written."""

    def __init__(self, signum: int):
        import signal

        self.signum = signum
        self.exit_code = EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
