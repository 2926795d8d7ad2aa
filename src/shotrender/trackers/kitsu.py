"""Kitsu (CGWire's production tracker) through its Python client, gazu: the only module that imports it.

Kitsu's model: a project (a TV show has episodes), sequences of shots, one task per shot and task type
(here Background), and on a task a thread of comments, each with a status; a comment may carry a preview,
which is the task's next revision. shotrender's shots are found by the cut's id in the episode named by
the shot list's `episode`; made with --create in a sequence of the same name. A director's answer is a
comment with the status Retake (the note is its text) or Done.

    tracker = connect("https://kitsu.example.com/api", Credentials(token=...), settings)
    tracker.open("My Show", "ep01", "Background")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shotrender.trackers.base import CutFailed, Published, Reply, Revision, TrackerError

WAITING = "wfa"  # the status a published picture waits in (Waiting For Approval)
# seconds to connect, and to wait for each answer (a publication waits while Kitsu makes its thumbnails):
# gazu sets none, so a server that took the connection and never answered hung the command for good
TIMEOUT = (10, 300)


def connect(url: str, creds, settings) -> KitsuTracker:
    """A logged-in Kitsu client; TrackerError (exit 2) when it cannot be reached or refuses the credentials."""
    try:
        import gazu
    except ImportError:
        raise TrackerError("the Kitsu tracker needs gazu: pip install 'shotrender[kitsu]'") from None
    client = gazu.client.create_client(url)
    request = client.session.request
    client.session.request = lambda *args, **kwargs: request(*args, **{"timeout": TIMEOUT, **kwargs})
    try:
        if creds.token:
            gazu.set_token(creds.token, client=client)
            gazu.client.get_current_user(client=client)
        else:
            gazu.log_in(creds.email, creds.password, client=client)
    except (gazu.exception.AuthFailedException, gazu.exception.NotAuthenticatedException,
            gazu.exception.ValidationException):  # a token that is not a token at all: 422
        who = "the token in KITSU_TOKEN" if creds.token else f"the login of {creds.email} (KITSU_EMAIL, KITSU_PASSWORD)"
        raise TrackerError(f"Kitsu at {url} refused {who}; check them, or make a bot and use its token "
                           "(docs/tracker.md)") from None
    except gazu.exception.GazuException as e:
        raise TrackerError(creds.hide(f"Kitsu at {url} answered with an error ({type(e).__name__}: {e}); is {url} "
                                      "its API (a Kitsu site's API is at /api)?")) from None
    except Exception as e:  # requests' ConnectionError, Timeout, InvalidURL... all mean "not there"
        raise TrackerError(creds.hide(f"cannot reach Kitsu at {url} ({type(e).__name__}); check the URL "
                                      "(KITSU_HOST or the shot list's tracker: kitsu:) and the network")) from None
    return KitsuTracker(gazu, client, creds, tuple(a.lower() for a in settings.approved))


class KitsuTracker:
    name = "Kitsu"

    def __init__(self, gazu, client, creds, approved: tuple[str, ...]):
        self.gazu, self.client, self.creds, self.approved = gazu, client, creds, approved
        self.project = self.episode = self.task_type = None
        self.episode_name = ""
        self._statuses: dict | None = None  # Kitsu's task statuses by id, read once

    def _call(self, what: str, fn, *args, **kwargs):
        """One gazu call on a cut: any failure is CutFailed saying what was being done, secrets hidden."""
        try:
            return fn(*args, **kwargs, client=self.client)
        except Exception as e:
            raise CutFailed(self.creds.hide(f"Kitsu failed to {what} ({type(e).__name__}: {e})")) from None

    # --------------------------------------------------------------------------------------------- the place
    def open(self, project: str, episode: str, task_type: str) -> None:
        g = self.gazu
        found = self._setup("find the project", g.project.get_project_by_name, project)
        if found is None:
            names = [p["name"] for p in self._setup("list the projects", g.project.all_open_projects)]
            raise TrackerError(f"Kitsu has no open project {project!r}; open projects: {', '.join(names) or 'none'} "
                               "(a bot sees only the projects whose team it is in)")
        self.project = found
        shot_types = [t for t in self._setup("list the task types", g.task.all_task_types)
                      if t.get("for_entity") == "Shot"]
        self.task_type = next((t for t in shot_types if t["name"].lower() == task_type.lower()), None)
        if self.task_type is None:
            raise TrackerError(f"Kitsu has no task type {task_type!r} for shots; there are: "
                               f"{', '.join(t['name'] for t in shot_types) or 'none'} (give --task-type NAME)")
        self.episode_name = episode
        if found.get("production_type") == "tvshow":
            self.episode = self._setup("find the episode", g.shot.get_episode_by_name, found, episode)

    def _setup(self, what: str, fn, *args):
        try:
            return fn(*args, client=self.client)
        except Exception as e:
            raise TrackerError(self.creds.hide(f"Kitsu failed to {what} ({type(e).__name__}: {e})")) from None

    def _shots(self) -> dict[str, dict]:
        g = self.gazu
        if self.project.get("production_type") == "tvshow":
            if self.episode is None:
                return {}
            shots = self._setup("list the episode's shots", g.shot.all_shots_for_episode, self.episode)
        else:
            sequence = self._setup("find the sequence", g.shot.get_sequence_by_name, self.project, self.episode_name)
            shots = self._setup("list the sequence's shots", g.shot.all_shots_for_sequence, sequence) if sequence \
                else []
        return {s["name"]: s for s in shots}

    def tasks(self, cuts: list[str]) -> dict[str, Any | None]:
        shots = self._shots()
        out = {}
        for cut in cuts:
            shot = shots.get(cut)
            out[cut] = None if shot is None else self._setup(
                f"find {cut}'s task", self.gazu.task.get_task_by_entity, shot, self.task_type)
        return out

    def create(self, cut: str, frames: int | None) -> Any:
        g = self.gazu
        tvshow = self.project.get("production_type") == "tvshow"
        if tvshow and self.episode is None:
            self.episode = self._call("make the episode", g.shot.new_episode, self.project, self.episode_name)
        shot = self._shots().get(cut)
        if shot is None:
            sequence = self._call("find the sequence", g.shot.get_sequence_by_name, self.project, self.episode_name,
                                  self.episode if tvshow else None)
            if sequence is None:
                sequence = self._call("make the sequence", g.shot.new_sequence, self.project, self.episode_name,
                                      self.episode if tvshow else None)
            shot = self._call(f"make the shot {cut}", g.shot.new_shot, self.project, sequence, cut, nb_frames=frames)
        task = self._call(f"find {cut}'s task", g.task.get_task_by_entity, shot, self.task_type)
        if task is None:
            task = self._call(f"make {cut}'s {self.task_type['name']} task", g.task.new_task, shot, self.task_type)
        return task

    # --------------------------------------------------------------------------------------------- a task
    def revisions(self, task: Any) -> list[Revision]:
        out = []
        for c in reversed(self._call("read the task's comments", self.gazu.task.all_comments_for_task, task)):
            numbers = [p.get("revision") for p in c.get("previews") or () if isinstance(p, dict)]
            if numbers and numbers[0] is not None:
                out.append(Revision(int(numbers[0]), c.get("text") or ""))
        return out

    def publish(self, task: Any, picture: Path, text: str, movie: Path | None) -> Published:
        g = self.gazu
        status = self._call("find the status Waiting For Approval", g.task.get_task_status_by_short_name, WAITING)
        comment, preview = self._call("publish the picture", g.task.publish_preview, task, status, comment=text,
                                      preview_file_path=str(picture))
        movie_status = None
        if movie is not None:
            clip = self._call("add the preview movie", g.task.add_preview, task, comment, preview_file_path=str(movie),
                              revision=preview["revision"])
            movie_status = clip.get("status")
        return Published(int(preview["revision"]), movie_status)

    def reply(self, task: Any) -> Reply | None:
        comments = self._call("read the task's comments", self.gazu.task.all_comments_for_task, task)  # newest first
        if self._statuses is None:
            self._statuses = {s["id"]: s for s in self._call("list the statuses", self.gazu.task.all_task_statuses)}
        status_of = self._statuses
        for i, c in enumerate(comments):
            if c.get("previews"):
                return None  # the newest word is a published picture: nothing decided on it yet
            status = status_of.get(c.get("task_status_id")) or {}
            names = {str(status.get("name", "")).lower(), str(status.get("short_name", "")).lower()}
            kind = "retake" if status.get("is_retake") else "approve" if names & set(self.approved) else None
            if kind is None:
                continue  # a note with another status (WIP, a plain comment): look further back
            revision = next((p.get("revision") for older in comments[i + 1:] for p in older.get("previews") or ()
                             if isinstance(p, dict)), None)
            person = c.get("person") or {}
            author = person.get("full_name") or " ".join(filter(None, (person.get("first_name"),
                                                                       person.get("last_name")))) or "Kitsu"
            return Reply(status.get("name", ""), kind, (c.get("text") or "").strip(), author,
                         int(revision) if revision is not None else None)
        return None
