"""Production trackers: publish each cut's picture to the studio's tracker, take the director's decisions back.

One small protocol (base.py), one adapter module per tracker (kitsu.py: the only module that imports
gazu, and only when a tracker command runs), and the two things done with them (sync.py: push and pull).
OpenTimelineIO's adapters are the model: `ADAPTERS` names the modules, `connect` loads the one asked for.

The shot list may say where the tracker is (docs/tracker.md):

    tracker: {kitsu: https://kitsu.example.com/api, project: My Show, task_type: Background}

Credentials come from the environment only, and are never written or printed: `KITSU_TOKEN` (a bot's),
or `KITSU_EMAIL` and `KITSU_PASSWORD`; `KITSU_HOST` overrides the shot list's URL.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

from shotrender.trackers.base import Tracker, TrackerError

ADAPTERS = {"kitsu": "shotrender.trackers.kitsu"}
KEYS = (*ADAPTERS, "project", "task_type", "approved")
DEFAULT_TASK_TYPE = "Background"
DEFAULT_APPROVED = ("Done",)


@dataclass(frozen=True)
class Settings:
    """Where and what to publish: the tracker (an `ADAPTERS` name) at `url`, a project, a task type, and the
    statuses that mean approved (names or short names, any case)."""

    kind: str = "kitsu"
    url: str | None = None
    project: str | None = None
    task_type: str = DEFAULT_TASK_TYPE
    approved: tuple[str, ...] = DEFAULT_APPROVED


@dataclass(frozen=True)
class Credentials:
    """A bot's token, or a person's email and password; `secrets` are what no message may show."""

    token: str | None = None
    email: str | None = None
    password: str | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.token, self.password) if s)

    def hide(self, text: str) -> str:
        """`text` with every secret in it replaced by ***."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def read(ck, data: dict) -> Settings | None:
    """The shot list's `tracker:` block (`ck` is the shot list's checker), checked; None when there is none."""
    block = data.get("tracker")
    if block is None:
        return None
    path = ("tracker",)
    block = ck.mapping(block, path, "tracker")
    if block is None:
        return None
    ck.unknown_keys(block, path, KEYS)
    kinds = [k for k in ADAPTERS if k in block]
    if len(kinds) != 1:
        ck.add(path, "must name one tracker and its URL", "e.g. tracker: {kitsu: https://kitsu.example.com/api, "
               f"project: My Show}} (trackers: {', '.join(ADAPTERS)})")
        return None
    url = ck.text(block, path, kinds[0])
    approved = block.get("approved", list(DEFAULT_APPROVED))
    if not (isinstance(approved, list) and approved and all(isinstance(a, str) and a.strip() for a in approved)):
        ck.add((*path, "approved"), "must be a list of status names", "e.g. approved: [Done, Approved]")
        approved = list(DEFAULT_APPROVED)
    return Settings(kinds[0], url or None, ck.text(block, path, "project"),
                    ck.text(block, path, "task_type") or DEFAULT_TASK_TYPE, tuple(a.strip() for a in approved))


def settings_for(sl, project: str | None, task_type: str | None) -> Settings:
    """The shot list's tracker settings with the command line's and KITSU_HOST's overrides; TrackerError when
    the tracker's URL or the project is given nowhere."""
    base = sl.tracker or Settings()
    url = os.environ.get(f"{base.kind.upper()}_HOST") or base.url
    project = project or base.project
    if not url:
        raise TrackerError(f"no {base.kind} server: set {base.kind.upper()}_HOST, or tracker: {{{base.kind}: URL}} "
                           f"in {sl.source}")
    if not project:
        raise TrackerError(f"no project: give --project NAME, or tracker: {{project: NAME}} in {sl.source}")
    return Settings(base.kind, url, project, task_type or base.task_type, base.approved)


def credentials(kind: str) -> Credentials:
    """The credentials in the environment: `<KIND>_TOKEN`, or `<KIND>_EMAIL` and `<KIND>_PASSWORD`."""
    env = kind.upper()
    token, email, password = (os.environ.get(f"{env}_{k}") or None for k in ("TOKEN", "EMAIL", "PASSWORD"))
    if token is None and not (email and password):
        raise TrackerError(f"no {kind} credentials: set {env}_TOKEN (a bot's token), or {env}_EMAIL and "
                           f"{env}_PASSWORD, in the environment")
    return Credentials(token, email, password)


def connect(settings: Settings, creds: Credentials) -> Tracker:
    """Log in to the tracker with its adapter; TrackerError when it refuses or cannot be reached."""
    module = importlib.import_module(ADAPTERS[settings.kind])
    return module.connect(settings.url, creds, settings)
