"""What a tracker adapter is: the few calls push and pull make, and the plain data they exchange.

An adapter (trackers/kitsu.py) is a module with one function, `connect(url, credentials, settings)`, that
returns an object with the methods of `Tracker`; it alone imports its tracker's client library. A task is
whatever handle the adapter gives (Kitsu's task dict); push and pull only pass it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from shotrender.errors import EXIT_RENDER_FAILED, ShotRenderError, UsageError


class TrackerError(UsageError):
    """The tracker cannot be used as asked (credentials refused, server unreachable, no such project or task
    type, shots missing): exit 2, before anything is published or recorded."""


class CutFailed(ShotRenderError):
    """The tracker failed on one cut (a server error); the other cuts go on, and the command exits 1."""

    exit_code = EXIT_RENDER_FAILED


@dataclass(frozen=True)
class Revision:
    """A picture published to a cut's task: its revision number and the comment that came with it."""

    number: int
    text: str


@dataclass(frozen=True)
class Reply:
    """A cut task's newest decision, as a person set it: its status's name, `kind` approve or retake, the
    comment's text, its author, and the newest revision published before it (None: none was)."""

    status: str
    kind: str
    note: str
    author: str
    revision: int | None


@dataclass(frozen=True)
class Published:
    revision: int
    movie: str | None = None  # the preview movie's status on the server when one was sent ("ready", "broken"...)


class Tracker(Protocol):
    name: str  # as messages say it: "Kitsu"

    def open(self, project: str, episode: str, task_type: str) -> None:
        """Find the project, the episode and the task type; TrackerError naming what exists if one is not there."""

    def tasks(self, cuts: list[str]) -> dict[str, Any | None]:
        """Each cut's task (None: its shot or its task is not there)."""

    def create(self, cut: str, frames: int | None) -> Any:
        """Make the cut's shot (and the episode) if missing, and its task; returns the task."""

    def revisions(self, task: Any) -> list[Revision]:
        """The pictures published to the task, oldest first."""

    def publish(self, task: Any, picture: Path, text: str, movie: Path | None) -> Published:
        """Publish a picture as the task's next revision, status waiting for approval, with `text` as the comment."""

    def reply(self, task: Any) -> Reply | None:
        """The task's newest Retake or approval, unless a picture was published after it (then None)."""
