"""The review server under a hostile client: every mistake a short 4xx answer, nothing a 500, no traceback in the
director's terminal; a decision that cannot be written (disk full) a clear 507 and one line in the terminal.
In-process (Starlette's TestClient): the routes as served, without a socket. The fuzz pass runs
SHOTRENDER_FUZZ_EXAMPLES cases (60 by default, 1,000 for the note in the issue)."""

from __future__ import annotations

import errno
import json
import os
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from shotrender.review import decisions
from shotrender.review.server import MAX_BODY, MAX_JSON_DEPTH, json_depth, make_app
from shotrender.shotlist import load

from helpers import cut, episode, run_cli, write_shotlist

TOKEN = "t0ken-for-tests_0123456789abcdef"
ANSWERS = {200, 201, 400, 403, 404, 405, 409, 413}  # what a client's request may be answered with


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app over a rendered two-cut episode, with the lines it would print in the director's terminal."""
    folder = tmp_path_factory.mktemp("server")
    shotlist = write_shotlist(folder, episode([cut("C001"), cut("C002")]))
    assert run_cli("render", str(shotlist)).returncode == 0
    lines: list[str] = []
    app = make_app(load(shotlist), folder / "renders" / "ep01", TOKEN, "ana", log=lines.append)
    with TestClient(app) as client:  # one event loop for all the module's requests
        summary = client.get(f"/api/episode?token={TOKEN}").json()
        yield client, lines, shotlist, summary["cuts"][0]["picture"]


def post(client, body: bytes | str, **headers):
    return client.post(f"/api/decisions?token={TOKEN}", content=body, headers=headers)


def test_a_clients_mistakes_are_4xx_with_a_reason_and_nothing_in_the_terminal(app):
    client, lines, shotlist, sha = app
    lines.clear()
    assert client.get("/?token=%E2%82%AC").status_code == 403  # a token value beyond Latin-1
    assert client.get("/?token=%FF%FE").status_code == 403  # not UTF-8 at all
    for number in ("%C2%B2", "9" * 5000, "%D9%A3", "1" * 7):  # '²', 5,000 digits, Arabic-Indic 3, a million+
        assert client.get(f"/take/C001/{number}?token={TOKEN}").status_code == 404, number
    nested = "[" * 20_000 + "]" * 20_000  # 40 kB, under the size limit, far over the depth one
    answer = post(client, nested)
    assert answer.status_code == 400 and "nests deeper" in answer.json()["error"]
    answer = post(client, json.dumps({"cut": "C001", "changes": {"seed": [[[[[[[[[1]]]]]]]]]}}))
    assert answer.status_code == 400
    answer = post(client, b"x" * (MAX_BODY + 1))
    assert answer.status_code == 413 and "larger than 64 KiB" in answer.json()["error"]
    answer = post(client, b"{}", **{"content-length": "99999999999999999999"})
    assert answer.status_code in (400, 413)
    assert post(client, b"\xff\xfe{").status_code == 400  # not UTF-8
    lone = json.dumps({"cut": "C001", "kind": "comment", "picture": sha, "reviewer": "ana", "note": "\ud800"})
    answer = post(client, lone)
    assert answer.status_code == 400 and "surrogate" in answer.json()["error"]
    assert not decisions.path_for(shotlist).exists()
    assert lines == []  # the director's terminal saw nothing: none of it was the server's fault


def test_a_decision_on_a_full_disk_is_507_and_one_line_in_the_terminal(app, monkeypatch):
    client, lines, shotlist, sha = app
    lines.clear()
    real_fsync = os.fsync

    def full(fd):  # the decisions file's write fails as a full disk makes it fail
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    answer = post(client, json.dumps({"cut": "C001", "kind": "approve", "picture": sha, "reviewer": "ana"}))
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert answer.status_code == 507 and "disk full" in answer.json()["error"], answer.text
    assert len(lines) == 1 and "C001" in lines[0] and "disk full" in lines[0] and "\n" not in lines[0]
    assert not decisions.path_for(shotlist).exists()  # nothing half-written
    assert not [p for p in shotlist.parent.iterdir() if ".tmp-" in p.name]


def test_json_depth_counts_brackets_outside_strings():
    assert json_depth(b'{"a": [1, {"b": "[[[[\\"[["}]}') == 3
    assert json_depth(b"1") == 0 and json_depth(b"[" * 9 + b"]" * 9) == 9 > MAX_JSON_DEPTH


SEGMENTS = st.sampled_from(["", "api", "episode", "decisions", "picture", "take", "static", "C001", "C002",
                            "render", "layout", "flow", "error", "1", "review.js", "..", "%2F", "%00", "²", "%FF"])
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                           max_leaves=12)


@st.composite
def requests(draw, sha: str):
    path = "/" + "/".join(draw(st.lists(SEGMENTS | TEXT.map(quote), min_size=0, max_size=4)))
    token = draw(st.sampled_from([TOKEN] * 8 + ["", TOKEN[:-1], "%E2%82%AC", "%FF", "x" * 300]))
    method = draw(st.sampled_from(["GET", "POST", "POST", "PUT", "HEAD"]))
    body = None
    if method == "POST":
        if draw(st.booleans()):
            path = "/api/decisions"
        decision = st.fixed_dictionaries({}, optional={
            "cut": st.sampled_from(["C001", "C002", "C999"]) | TEXT, "kind": st.sampled_from(decisions.KINDS) | TEXT,
            "picture": st.just(sha) | TEXT, "reviewer": st.just("ana") | TEXT | st.integers(),
            "note": st.just("warmer sky") | TEXT | JSON_VALUES,
            "changes": st.fixed_dictionaries({}, optional={"seed": JSON_VALUES, "prompt": JSON_VALUES,
                                                           "strength": JSON_VALUES}) | JSON_VALUES,
            "take": JSON_VALUES})
        near = st.fixed_dictionaries(  # a decision the page could post, its changes fuzzed: some are recorded
            {"cut": st.just("C001"), "kind": st.sampled_from(decisions.KINDS), "picture": st.just(sha),
             "reviewer": st.just("ana"), "note": st.just("warmer sky")}, optional={"changes": JSON_VALUES})
        body = draw((decision | near).map(lambda d: json.dumps(d).encode())
                    | JSON_VALUES.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64))
    return method, f"{path}?token={token}", body


FUZZ = settings(max_examples=int(os.environ.get("SHOTRENDER_FUZZ_EXAMPLES", "60")), deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


def test_fuzzed_requests_get_a_client_answer_never_a_500(app):
    client, lines, shotlist, sha = app
    lines.clear()
    seen: dict[int, int] = {}

    @FUZZ
    @given(requests(sha))
    def one(request):
        method, url, body = request
        status = client.request(method, "http://testserver" + url, content=body).status_code
        seen[status] = seen.get(status, 0) + 1
        assert status in ANSWERS, (method, url, body, status)
        assert lines == [], lines

    one()
    print(f"answers by status: {dict(sorted(seen.items()))}")
