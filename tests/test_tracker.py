"""`shotrender tracker push|pull` against a real Kitsu server (zou, started once for the session by
tests/kitsu_server.py), with gazu playing the director's client."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import gazu
import pytest
import yaml
from click.testing import CliRunner

from shotrender.cli import cli
from shotrender.review import decisions
from shotrender.trackers import Credentials, Settings
from shotrender.trackers.base import CutFailed, Published, Reply, Revision
from shotrender.trackers.sync import published_picture, pull, push

from helpers import cut, episode, run_cli, write_shotlist
from kitsu_server import kitsu_server  # noqa: F401  (the session's server, a fixture)

NO_CREDENTIALS = {"KITSU_TOKEN": None, "KITSU_EMAIL": None, "KITSU_PASSWORD": None, "KITSU_HOST": None}


@dataclass
class Studio:
    """The server as a director's client sees it: logged in as its admin, with the Background task type."""

    url: str
    email: str
    password: str
    client: object
    task_type: dict

    def env(self, **more) -> dict:
        return {**NO_CREDENTIALS, "KITSU_HOST": self.url, "KITSU_EMAIL": self.email, "KITSU_PASSWORD": self.password,
                **more}

    def project(self, name: str) -> dict:
        return gazu.project.new_project(name, production_type="tvshow", production_style="2d",
                                        task_types=[self.task_type], client=self.client)

    def task(self, project: str, episode: str, cut_id: str) -> dict:
        p = gazu.project.get_project_by_name(project, client=self.client)
        ep = gazu.shot.get_episode_by_name(p, episode, client=self.client)
        shot = next(s for s in gazu.shot.all_shots_for_episode(ep, client=self.client) if s["name"] == cut_id)
        return gazu.task.get_task_by_entity(shot, self.task_type, client=self.client)

    def says(self, task: dict, status: str, text: str = "") -> None:
        gazu.task.add_comment(task, gazu.task.get_task_status_by_short_name(status, client=self.client), text,
                              client=self.client)

    def status(self, task: dict) -> str:
        fresh = gazu.task.get_task(task["id"], client=self.client)
        return gazu.task.get_task_status(fresh["task_status_id"], client=self.client)["short_name"]

    def previews(self, task: dict) -> list[dict]:
        return gazu.task.all_previews_for_task(task, client=self.client)

    def comments(self, task: dict) -> list[dict]:
        return gazu.task.all_comments_for_task(task, client=self.client)


@pytest.fixture(scope="module")
def studio(kitsu_server):  # noqa: F811
    client = gazu.client.create_client(kitsu_server.url)
    gazu.log_in(kitsu_server.email, kitsu_server.password, client=client)
    task_type = gazu.task.new_task_type("Background", for_entity="Shot", client=client)
    return Studio(kitsu_server.url, kitsu_server.email, kitsu_server.password, client, task_type)


def invoke(*args, env: dict):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """An episode of three small cuts, C003 reusing C001, painted by the draft backend."""
    sl = write_shotlist(tmp_path_factory.mktemp("tracker") / "show",
                        episode([cut("C001", frames=48), cut("C002"), {"id": "C003", "reuse": "C001"}]))
    result = invoke("render", sl, env={})
    assert result.exit_code == 0, result.output
    return sl


def test_push_pull_round_trip(studio, shots):
    """The issue's story on a real server: publish with --create, push again (nothing changes), the director's
    Retake and Done, pull, status, render --retakes, push (revision 2 waits; the approved cut keeps one)."""
    studio.project("Round trip")
    env = studio.env()
    push_args = ("tracker", "push", shots, "--project", "Round trip")

    first = invoke(*push_args, "--create", env=env)
    assert first.exit_code == 0, first.output
    assert "ep01: 3 published" in first.stdout
    assert "[2/3] C002: shot made; published as revision 1, waiting for approval" in first.stderr
    tasks = {c: studio.task("Round trip", "ep01", c) for c in ("C001", "C002", "C003")}
    sidecars = {c: json.loads((shots.parent / "renders/ep01" / f"ep01_{c}.json").read_text()) for c in tasks}
    for c, task in tasks.items():
        assert studio.status(task) == "wfa"
        assert [p["revision"] for p in studio.previews(task)] == [1]
        assert published_picture(studio.comments(task)[0]["text"]) == sidecars[c]["image"]["sha256"]
    shot = gazu.shot.get_shot(tasks["C001"]["entity_id"], client=studio.client)
    assert shot["nb_frames"] == 48  # the cut's frames
    recorded = json.loads((shots.parent / "renders/ep01/tracker.json").read_text())
    assert recorded["published"]["C002"][0]["picture"] == sidecars["C002"]["image"]["sha256"]

    before = {c: len(studio.comments(t)) for c, t in tasks.items()}
    (shots.parent / "renders/ep01/tracker.json").unlink()  # the hash in Kitsu's comments is what push trusts
    again = invoke(*push_args, env=env)
    assert again.exit_code == 0 and "ep01: 3 unchanged" in again.stdout, again.output
    assert {c: len(studio.comments(t)) for c, t in tasks.items()} == before
    recorded = json.loads((shots.parent / "renders/ep01/tracker.json").read_text())["published"]
    assert [(e["project"], e["revision"]) for e in recorded["C002"]] == [("Round trip", 1)]

    studio.says(tasks["C002"], "retake", "warmer sky, fewer clouds")
    studio.says(tasks["C001"], "done")
    pulled = invoke("tracker", "pull", shots, "--project", "Round trip", env=env)
    assert pulled.exit_code == 0, pulled.output
    assert "ep01: 2 recorded, 1 unchanged" in pulled.stdout
    made = decisions.read(decisions.path_for(shots))
    assert [(d.cut, d.kind, d.note, d.picture, d.reviewer) for d in made] == [
        ("C001", "approve", "", sidecars["C001"]["image"]["sha256"], "Super Admin"),
        ("C002", "retake", "warmer sky, fewer clouds", sidecars["C002"]["image"]["sha256"], "Super Admin")]
    assert invoke("tracker", "pull", shots, "--project", "Round trip", env=env).exit_code == 0
    assert len(decisions.read(decisions.path_for(shots))) == 2  # pulling again records nothing twice

    status = invoke("status", shots, "--json", env={})
    review = {row["cut"]: row.get("review") for row in json.loads(status.stdout)}
    assert review["C001"] == "approved" and review["C002"] == "retake"
    retaken = invoke("render", shots, "--retakes", env={})
    assert retaken.exit_code == 0 and "1 rendered" in retaken.stdout, retaken.output

    last = invoke(*push_args, env=env)
    assert last.exit_code == 0 and "ep01: 1 published, 2 unchanged" in last.stdout, last.output
    assert [p["revision"] for p in studio.previews(tasks["C002"])] == [2, 1]
    recorded = json.loads((shots.parent / "renders/ep01/tracker.json").read_text())["published"]
    assert [e["revision"] for e in recorded["C002"]] == [1, 2] and len(recorded["C001"]) == 1
    assert studio.status(tasks["C002"]) == "wfa"
    assert (studio.status(tasks["C001"]), len(studio.previews(tasks["C001"]))) == ("done", 1)


def test_a_bot_token_publishes_and_a_wrong_one_exits_2(studio, shots):
    project = studio.project("Bot")
    bot = gazu.person.new_bot("shotrender", "shotrender-bot@example.com", role="manager", client=studio.client)
    gazu.project.add_person_to_team(project, bot, client=studio.client)  # a bot sees its projects only
    env = {**NO_CREDENTIALS, "KITSU_HOST": studio.url, "KITSU_TOKEN": bot["access_token"]}
    result = invoke("tracker", "push", shots, "--project", "Bot", "--create", env=env)
    assert result.exit_code == 0 and "ep01: 3 published" in result.stdout, result.output
    wrong = invoke("tracker", "push", shots, "--project", "Bot", env={**env, "KITSU_TOKEN": "not-a-token"})
    assert wrong.exit_code == 2 and "refused the token in KITSU_TOKEN" in wrong.output
    assert "not-a-token" not in wrong.output

    # the studio's own approved status, the project and URL from the shot list's tracker: block
    data = yaml.safe_load(shots.read_text())
    data["tracker"] = {"kitsu": studio.url, "project": "Bot", "approved": ["Approved"]}
    own = shots.with_name("studio.yaml")
    own.write_text(yaml.safe_dump(data))
    studio.says(studio.task("Bot", "ep01", "C002"), "approved", "lovely")
    pulled = invoke("tracker", "pull", own, env={**env, "KITSU_HOST": None})
    assert pulled.exit_code == 0 and "ep01: 1 recorded" in pulled.stdout, pulled.output
    assert [(d.cut, d.kind, d.reviewer) for d in decisions.read(decisions.path_for(own))] == [
        ("C002", "approve", "Super Admin")]


def test_wrong_password_exits_2_at_once_and_shows_it_nowhere(studio, shots):
    secret = "pw-" + "9f3a" * 6
    out = run_cli("tracker", "push", str(shots), "--project", "Round trip",
                  env={**_plain_env(), "KITSU_HOST": studio.url, "KITSU_EMAIL": studio.email, "KITSU_PASSWORD": secret})
    assert out.returncode == 2
    assert "refused the login of admin@example.com" in out.stderr
    assert "Traceback" not in out.stderr and secret not in out.stdout + out.stderr
    unreachable = run_cli("tracker", "pull", str(shots), "--project", "x",
                          env={**_plain_env(), "KITSU_HOST": f"http://127.0.0.1:1/{secret}", "KITSU_EMAIL": "a@b.c",
                               "KITSU_PASSWORD": secret})
    assert unreachable.returncode == 2 and "cannot reach Kitsu" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr and secret not in unreachable.stdout + unreachable.stderr


def _plain_env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("KITSU_")}


def test_missing_shots_project_and_task_type_exit_2_naming_what_exists(studio, shots):
    studio.project("Empty")
    env = studio.env()
    missing = invoke("tracker", "push", shots, "--project", "Empty", env=env)
    assert missing.exit_code == 2
    assert "3 cut(s) have no shot with a Background task in Kitsu's Empty / ep01: C001, C002, C003" in missing.output
    assert "give --create" in missing.output
    no_project = invoke("tracker", "push", shots, "--project", "Nowhere", env=env)
    assert no_project.exit_code == 2 and "no open project 'Nowhere'" in no_project.output
    assert "Empty" in no_project.output
    no_type = invoke("tracker", "pull", shots, "--project", "Empty", "--task-type", "Paint", env=env)
    assert no_type.exit_code == 2 and "no task type 'Paint' for shots; there are: " in no_type.output
    assert "Background" in no_type.output
    empty = gazu.project.get_project_by_name("Empty", client=studio.client)
    assert gazu.shot.all_shots_for_project(empty, client=studio.client) == []  # nothing made without --create


# ------------------------------------------------------------------------------------------------ no server
class FakeTracker:
    """The protocol in memory, for what a real server will not do on demand (fail on one cut)."""

    name = "Fake"

    def __init__(self, failing: str = "", reply: Reply | None = None):
        self.failing, self.given_reply = failing, reply
        self.published: dict[str, list[Revision]] = {}

    def open(self, project, episode, task_type):
        pass

    def tasks(self, cuts):
        return {c: c for c in cuts}

    def create(self, cut, frames):
        return cut

    def revisions(self, task):
        return self.published.get(task, [])

    def publish(self, task, picture, text, movie):
        if task == self.failing:
            raise CutFailed("Kitsu failed to publish the picture (ServerErrorException: 500)")
        revisions = self.published.setdefault(task, [])
        revisions.append(Revision(len(revisions) + 1, text))
        return Published(len(revisions))

    def reply(self, task):
        return self.given_reply


_Settings = Settings(url="http://fake", project="P")


def _copy(shots: Path, tmp_path: Path):
    """The rendered episode in a folder of its own, without the decisions and publications the server's tests
    made (and the fake's must not mix with them)."""
    import shutil

    from shotrender.shotlist import load

    shutil.copytree(shots.parent, tmp_path / "show", ignore=shutil.ignore_patterns("*.decisions.json", "tracker.json"))
    return load(tmp_path / "show" / shots.name)


def test_a_server_error_on_one_cut_fails_it_and_the_others_go_on(shots, tmp_path):
    sl = _copy(shots, tmp_path)
    tracker, lines = FakeTracker(failing="C002"), []
    outcome = push(sl, sl.output_dir, tracker, _Settings, True, lines.append)
    assert outcome.by_cut["C002"][0] == "failed" and outcome.count("done") == 2
    assert "[2/3] C002: failed: Kitsu failed to publish" in lines[1]


def test_a_decision_on_an_older_revision_is_reported_not_applied(shots, tmp_path):
    sl = _copy(shots, tmp_path)
    tracker = FakeTracker(reply=Reply("Retake", "retake", "bluer", "Ana", 1))
    tracker.published["C001"] = [Revision(1, "picture sha256:" + "0" * 64)]  # not C001's current picture
    lines = []
    outcome = pull(sl, sl.output_dir, tracker, _Settings, lines.append)
    assert outcome.by_cut["C001"][0] == "skipped" and "not C001's current picture: not applied" in lines[0]
    assert all(d.picture != "0" * 64 for d in decisions.read(decisions.path_for(sl.source)))


def test_gazu_is_imported_only_by_the_tracker_commands(shots):
    code = ("import sys\nfrom shotrender.cli import cli\nimport shotrender.trackers.sync, shotrender.shotlist\n"
            f"shotrender.shotlist.load({str(shots)!r})\nprint('gazu' in sys.modules)")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_credentials_hide_every_secret():
    creds = Credentials(token="tok-123", email="a@b.c", password="pw-456")
    assert creds.hide("sent tok-123 and pw-456 for a@b.c") == "sent *** and *** for a@b.c"


def test_the_shot_lists_tracker_block_is_checked_with_its_line(tmp_path):
    sl = write_shotlist(tmp_path, episode([cut("C001")], tracker={"kitsu": "http://k/api", "projet": "X",
                                                                   "approved": "Done"}))
    result = invoke("validate", sl, env={})
    assert result.exit_code == 2
    assert "tracker.projet: unknown key 'projet'; did you mean 'project'?" in result.output
    assert "tracker.approved: must be a list of status names" in result.output


def test_a_retake_without_a_note_or_on_a_reused_picture_is_reported_not_applied(shots, tmp_path):
    sl = _copy(shots, tmp_path)
    current = {cut: sha for cut, (sha, _) in decisions.current_pictures(sl, sl.output_dir).items()}
    lines = []
    tracker = FakeTracker(reply=Reply("Retake", "retake", "", "Ana", 1))
    tracker.published = {c: [Revision(1, f"picture sha256:{current[c]}")] for c in ("C001", "C002", "C003")}
    pull(sl, sl.output_dir, tracker, _Settings, lines.append)
    assert "[1/3] C001: Retake by Ana without a note: not applied" in lines[0]
    tracker.given_reply = Reply("Retake", "retake", "bluer", "Ana", 1)
    outcome = pull(sl, sl.output_dir, tracker, _Settings, lines.append)
    assert "C003 reuses C001's picture; decide on C001" in outcome.by_cut["C003"][1]
    assert [(d.cut, d.kind) for d in decisions.read(decisions.path_for(sl.source))] == [("C001", "retake"),
                                                                                       ("C002", "retake")]


def test_a_server_that_never_answers_is_an_error_not_a_hang(monkeypatch):
    import socket

    from shotrender.trackers import connect, kitsu
    from shotrender.trackers.base import TrackerError

    monkeypatch.setattr(kitsu, "TIMEOUT", (1, 1))
    with socket.socket() as mute:  # takes connections (the kernel's backlog) and never answers
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        url = f"http://127.0.0.1:{mute.getsockname()[1]}"
        with pytest.raises(TrackerError, match=r"cannot reach Kitsu at .* \(ReadTimeout\)"):
            connect(Settings(url=url, project="P"), Credentials(email="a@b.c", password="pw"))
