"""The review loop: the decisions file, the server's routes and token, the page in Debian's Chromium
(Playwright), and render honouring approvals and retakes, every take kept."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from shotrender.plan import make_plan
from shotrender.review import decisions
from shotrender.review.decisions import DecisionError, Reviews, with_retakes
from shotrender.shotlist import load

from helpers import cut, episode, run_cli, system_tool, write_shotlist

SHA = "ab" * 32


def rendered_episode(folder: Path) -> Path:
    """Four cuts, three in the park, rendered with the draft backend."""
    shotlist = write_shotlist(folder, episode([cut("C001"), cut("C002"), cut("C003"), cut("C004", "street")]))
    done = run_cli("render", str(shotlist))
    assert done.returncode == 0, done.stderr
    return shotlist


@contextmanager
def review_server(shotlist: Path, *args: str):
    """`shotrender review --port 0` in its own process; yields (host, port, token)."""
    proc = subprocess.Popen([sys.executable, "-m", "shotrender", "review", str(shotlist), "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "review page at http://" in line, line + proc.stderr.read()
        url = urlsplit(line.split(" at ", 1)[1].strip())
        yield url.hostname, url.port, url.query.split("token=", 1)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def raw(host: str, port: int, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    """One request with the path sent exactly as written (no client normalises `..` away)."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"} if body is not None else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_for_pictures(page, timeout: float = 30.0) -> None:
    """Until every picture on the page has loaded. Polled from here: Playwright's wait_for_function evaluates
    its predicate with eval, which the page's Content-Security-Policy forbids, as it should."""
    end = time.monotonic() + timeout
    while not page.evaluate("Array.from(document.images).every(i => i.complete)"):
        assert time.monotonic() < end, "pictures still loading"
        time.sleep(0.01)


# ------------------------------------------------------------------------------------------- the file
def test_decisions_append_read_and_refuse_damage(tmp_path):
    path = tmp_path / "episode.decisions.json"
    assert decisions.read(path) == []
    first = decisions.make("C001", "approve", SHA, "ana")
    second = decisions.make("C003", "retake", SHA, "bo", "warmer sky", 1,
                            {"seed": 7, "prompt": "dusk", "strength": 0.4})
    decisions.append(path, "ep01", [first])
    decisions.append(path, "ep01", [second])
    record = json.loads(path.read_text())
    assert record["schema"] == "shotrender.decisions/2" and record["episode"] == "ep01"
    assert decisions.read(path) == [first, second]
    assert record["decisions"][1]["changes"] == {"seed": 7, "prompt": "dusk", "strength": 0.4}

    for args, words in [(("C001", "like", SHA, "ana"), "kind 'like'"), (("C001", "approve", "x", "ana"), "sha256"),
                        (("C001", "approve", SHA, " "), "reviewer"), (("C001", "retake", SHA, "ana"), "needs a note"),
                        (("C001", "approve", SHA, "ana", "", None, {"seed": 1}), "only a retake"),
                        (("C001", "retake", SHA, "ana", "n", None, {"seed": -1}), "seed"),
                        (("C001", "retake", SHA, "ana", "n", None, {"strength": 2}), "strength"),
                        (("C001", "retake", SHA, "ana", "n", None, {"colour": "red"}),
                         "candidates, prompt, region, scope, seed, strength only"),
                        (("C001", "retake", SHA, "ana", "n", None, {"scope": "all"}), "scope must be one of")]:
        with pytest.raises(DecisionError, match=words):
            decisions.make(*args)

    path.write_text('{"schema": "shotrender.decisions/1", "decisions": [{"cut": "C001"}]}')
    with pytest.raises(DecisionError, match=r"decisions\[0\] lacks id.*restore"):
        decisions.read(path)
    (tmp_path / "cut.decisions.json").write_text("{")
    with pytest.raises(DecisionError, match="not valid JSON"):
        decisions.read(tmp_path / "cut.decisions.json")
    # a damaged record is never written over: the decision is refused and the file stays as it was
    damaged = path.read_text()
    with pytest.raises(DecisionError):
        decisions.append(path, "ep01", [first])
    assert path.read_text() == damaged


def test_review_state_follows_the_current_picture():
    other = "cd" * 32
    reviews = Reviews([decisions.make("C001", "retake", SHA, "ana", "warmer"),
                       decisions.make("C001", "comment", SHA, "bo", "nice bench"),
                       decisions.make("C001", "approve", SHA, "bo")])
    assert reviews.state("C001", SHA)[0] == "approved"  # the latest verdict on that picture
    assert reviews.state("C001", other)[0] == "waiting for review"  # another picture: reviewed again
    assert reviews.state("C001", None)[0] == "not rendered"
    assert reviews.approval("C001", SHA).reviewer == "bo" and reviews.approval("C001", other) is None
    assert not reviews.waits_for_retake("C001", SHA) and not reviews.waits_for_retake("C001", None)
    sent_back = Reviews([decisions.make("C002", "retake", SHA, "ana", "warmer")])
    assert sent_back.waits_for_retake("C002", SHA) and not sent_back.waits_for_retake("C002", other)
    assert sent_back.waits_for_retake("C002", None)  # its retake's render failed: still to be painted


def test_retakes_become_the_cuts_parameters(tmp_path):
    sl = load(write_shotlist(tmp_path, episode([cut("C001"), cut("C002", prompt="bench")])))
    seed = {j.cut: j.seed for j in make_plan(sl).jobs}["C002"]
    reviews = Reviews([decisions.make("C002", "retake", SHA, "ana", "another"),
                       decisions.make("C002", "retake", SHA, "ana", "warmer", changes={"prompt": "warm sky"}),
                       decisions.make("C002", "retake", SHA, "ana", "softer", changes={"strength": 0.3}),
                       decisions.make("C001", "comment", SHA, "ana", "fine")])
    changed = with_retakes(sl, reviews)
    params = changed.cut("C002").params
    # no seed named: the next seed, each time
    assert (params.seed, params.prompt, params.strength) == (seed + 3, "bench, warm sky", 0.3)
    assert changed.cut("C001") == sl.cut("C001")  # a comment changes nothing
    later = Reviews([*reviews.by_cut["C002"],
                     decisions.make("C002", "retake", SHA, "ana", "take 1's", changes={"seed": 5})])
    assert with_retakes(sl, later).cut("C002").params.seed == 5


# ------------------------------------------------------------------------------------------- the server
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    shotlist = rendered_episode(tmp_path_factory.mktemp("served"))
    with review_server(shotlist) as (host, port, token):
        yield shotlist, host, port, token


def test_without_the_token_every_route_is_403(served):
    shotlist, host, port, token = served
    assert host == "127.0.0.1"  # loopback unless told otherwise
    paths = ["/", "/static/review.js", "/static/review.css", "/api/episode", "/picture/C001/render",
             "/picture/C001/layout", "/take/C001/1", "/no/such/route", "/picture/../manifest.json"]
    for path in paths:
        for query in ("", "?token=", "?token=" + token[:-1], "?tok=" + token):
            status, _ = raw(host, port, "GET", path + query)
            assert status == 403, (path, query, status)
    assert raw(host, port, "POST", "/api/decisions", {"cut": "C001", "kind": "approve"})[0] == 403
    assert not decisions.path_for(shotlist).exists()
    for path in paths[:7]:
        assert raw(host, port, "GET", f"{path}?token={token}")[0] == 200, path


def test_pictures_are_named_by_cut_never_by_path(served):
    shotlist, host, port, token = served
    out = shotlist.parent / "renders" / "ep01"
    status, body = raw(host, port, "GET", f"/picture/C001/render?token={token}")
    assert status == 200 and body == (out / "ep01_C001.png").read_bytes()
    for path in ["/picture/../manifest.json", "/picture/..%2Fmanifest.json/render",
                 "/picture/C001/..%2F..%2Fepisode.yaml", "/picture/%2Fetc%2Fpasswd/render", "//etc/passwd",
                 "/picture//etc/passwd", "/take/C001/..%2Fx",
                 "/take/C001/-1", "/take/C001/9", "/picture/C001/../../episode.yaml", "/static/..%2F..%2Fcli.py",
                 "/static/review.html", f"/picture/{out / 'ep01_C001.png'}", "/picture/C001/manifest.json"]:
        assert raw(host, port, "GET", f"{path}?token={token}")[0] == 404, path


def test_a_bad_decision_is_refused_and_nothing_written(served):
    shotlist, host, port, token = served
    summary = json.loads(raw(host, port, "GET", f"/api/episode?token={token}")[1])
    sha = summary["cuts"][0]["picture"]
    for body, code in [({"cut": "C999", "kind": "approve", "picture": sha, "reviewer": "ana"}, 404),
                       ({"cut": "C001", "kind": "approve", "picture": "cd" * 32, "reviewer": "ana"}, 409),
                       ({"cut": "C001", "kind": "retake", "picture": sha, "reviewer": "ana"}, 400),
                       ({"cut": "C001", "kind": "drop", "picture": sha, "reviewer": "ana"}, 400)]:
        status, answer = raw(host, port, "POST", f"/api/decisions?token={token}", body)
        assert status == code and json.loads(answer)["error"], (body, answer)
    assert not decisions.path_for(shotlist).exists()


@pytest.mark.slow
def test_two_clients_post_200_decisions_at_once_and_none_is_lost(tmp_path):
    """Two reviewers, each with a server of their own on the one shot list, 100 decisions each at once."""
    shotlist = rendered_episode(tmp_path)
    with review_server(shotlist) as first, review_server(shotlist) as second:
        host, port, token = first
        cuts = json.loads(raw(host, port, "GET", f"/api/episode?token={token}")[1])["cuts"]
        made: dict[str, list[str]] = {"ana": [], "bo": []}
        start = threading.Barrier(2)

        def post(server, reviewer):
            host, port, token = server
            conn = http.client.HTTPConnection(host, port, timeout=60)
            start.wait()
            for i in range(100):
                c = cuts[i % len(cuts)]
                conn.request("POST", f"/api/decisions?token={token}", headers={"Content-Type": "application/json"},
                             body=json.dumps({"cut": c["id"], "kind": "comment", "picture": c["picture"],
                                              "reviewer": reviewer, "note": f"{reviewer} {i}"}))
                response = conn.getresponse()
                assert response.status == 201
                made[reviewer].append(json.loads(response.read())["id"])
            conn.close()

        threads = [threading.Thread(target=post, args=(s, r)) for s, r in ((first, "ana"), (second, "bo"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    record = json.loads(decisions.path_for(shotlist).read_text())  # valid JSON, whole
    kept = decisions.read(decisions.path_for(shotlist))
    assert len(made["ana"]) == len(made["bo"]) == 100
    assert sorted(d.id for d in kept) == sorted(made["ana"] + made["bo"]) and len(record["decisions"]) == 200
    assert [d.note for d in kept if d.reviewer == "ana"] == [f"ana {i}" for i in range(100)]


# ------------------------------------------------------------------------------------------- render and status
def test_render_keeps_approved_pictures_and_paints_retakes_as_new_takes(tmp_path):
    shotlist = rendered_episode(tmp_path)
    out = tmp_path / "renders" / "ep01"
    sha = {c: json.loads((out / f"ep01_{c}.json").read_text())["image"]["sha256"] for c in ("C001", "C002", "C003")}
    assert "review" not in run_cli("status", str(shotlist)).stdout  # not under review yet: as before
    assert "review" not in run_cli("status", str(shotlist), "--json").stdout
    decisions.append(decisions.path_for(shotlist), "ep01", [
        decisions.make("C001", "approve", sha["C001"], "ana"),
        decisions.make("C002", "retake", sha["C002"], "ana", "warmer sky", changes={"prompt": "sunset"})])
    status = json.loads(run_cli("status", str(shotlist), "--json").stdout)
    by_cut = {r["cut"]: r for r in status}
    assert by_cut["C001"]["state"] == "approved" and by_cut["C001"]["review"] == "approved"
    assert by_cut["C002"]["state"] == "stale" and by_cut["C002"]["review"] == "retake"
    assert {"prompt changed", "seed changed"} <= set(by_cut["C002"]["reasons"])
    assert by_cut["C003"]["review"] == "waiting for review"

    before = {p.name: p.read_bytes() for p in out.glob("ep01_C001.*")}
    done = run_cli("render", str(shotlist), "--retakes", "--force")  # only C002 waits; C001 locked even so
    assert done.returncode == 0 and "1 rendered" in done.stdout, done.stdout + done.stderr
    assert {p.name: p.read_bytes() for p in out.glob("ep01_C001.*")} == before
    takes = sorted(p.name for p in (out / "takes").iterdir())
    assert "ep01_C002.v002.png" in takes and "ep01_C003.v002.png" not in takes
    assert (out / "takes" / "ep01_C002.v001.png").read_bytes() != (out / "ep01_C002.png").read_bytes()
    assert (out / "takes" / "ep01_C002.v002.png").read_bytes() == (out / "ep01_C002.png").read_bytes()
    assert "no selected cut waits for a retake" in run_cli("render", str(shotlist), "--retakes").stdout

    # a change to every cut's inputs: all repainted but the approved one, which says what it would be
    text = shotlist.read_text().replace("anime background", "anime background, rain")
    shotlist.write_text(text)
    status = {r["cut"]: r for r in json.loads(run_cli("status", str(shotlist), "--json").stdout)}
    assert status["C001"]["reasons"][1] == "otherwise stale: prompt changed"
    assert status["C002"]["review"] == "waiting for review"  # its picture changed since the retake
    done = run_cli("render", str(shotlist), "--force")
    assert done.returncode == 0 and "3 rendered" in done.stdout, done.stdout
    assert {p.name: p.read_bytes() for p in out.glob("ep01_C001.*")} == before
    assert all(r["state"] in ("up to date", "approved") for r in json.loads(run_cli("status", str(shotlist),
                                                                                    "--json").stdout))
    report = run_cli("report", str(shotlist))
    assert report.returncode == 0, report.stderr
    html = (out / "report.html").read_text()
    assert html.count("review: approved") == 1 and html.count("review: waiting for review") == 3


def test_serving_beyond_loopback_warns(tmp_path):
    shotlist = write_shotlist(tmp_path, episode([cut("C001")]))
    proc = subprocess.Popen([sys.executable, "-m", "shotrender", "review", str(shotlist), "--host", "0.0.0.0",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "review page at http://0.0.0.0:" in proc.stdout.readline()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "warning: serving on 0.0.0.0, not loopback" in err


def test_a_damaged_decisions_file_stops_status_and_render(tmp_path):
    shotlist = rendered_episode(tmp_path)
    path = decisions.path_for(shotlist)
    path.write_text('{"schema": "shotrender.decisions/1", "decisions": [{"cut": 3}]}')
    for command in ("status", "render", "report"):
        done = run_cli(command, str(shotlist))
        assert done.returncode == 2 and f"{path}: decisions[0] lacks id" in done.stderr, (command, done.stderr)
    assert "Traceback" not in done.stderr


def test_a_dead_processs_temporary_in_takes_is_removed(tmp_path):
    shotlist = rendered_episode(tmp_path)
    takes = tmp_path / "renders" / "ep01" / "takes"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from shotrender.files import TMP_MARK, host

    left = takes / f"ep01_C001.v002.png{TMP_MARK}{host()}-{dead.stdout.strip()}-abc123"
    left.write_bytes(b"half a png")
    shotlist.write_text(shotlist.read_text().replace("anime background", "anime background, rain"))
    assert run_cli("render", str(shotlist)).returncode == 0
    assert not left.exists() and (takes / "ep01_C001.v002.png").exists()


def test_a_symlinked_takes_folder_is_refused(tmp_path):
    shotlist = rendered_episode(tmp_path)
    out = tmp_path / "renders" / "ep01"
    shutil.rmtree(out / "takes")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "takes").symlink_to(elsewhere)
    done = run_cli("render", str(shotlist), "--force")
    assert done.returncode == 2 and "takes is a symlink" in done.stderr, done.stderr
    assert list(elsewhere.iterdir()) == []


# ------------------------------------------------------------------------------------------- the page
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=system_tool("chromium"),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


def test_the_director_approves_asks_for_a_retake_and_sees_both_takes(tmp_path, browser):
    shotlist = rendered_episode(tmp_path)
    out = tmp_path / "renders" / "ep01"
    c001 = {p.name: p.read_bytes() for p in out.glob("ep01_C001.*")}
    hostile = "warmer sky <script>window.pwned = 1</script><img src=x onerror=window.pwned=2>"
    with review_server(shotlist, "--reviewer", "ana") as (host, port, token):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(f"http://{host}:{port}/") else problems.append(r.url))
        page.goto(f"http://{host}:{port}/?token={token}")
        page.wait_for_selector("body[data-ready='1']")
        assert page.inner_text("#cut-title") == "C001"
        page.keyboard.press("a")  # approve, by keyboard
        page.wait_for_selector("#cut-list [data-cut=C001][data-state=approved]")
        page.click("#cut-list [data-cut=C003]")  # the retake, by clicking
        page.click("#retake")
        page.fill("#note", hostile)
        page.fill("#words", "sunset")
        page.click("#send")
        page.wait_for_selector("#cut-list [data-cut=C003][data-state=retake]")

        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert page.inner_text("#cut-title") == "C003"  # the cut in the address survives the reload
        assert page.get_attribute("#cut-list [data-cut=C001]", "data-state") == "approved"
        assert page.get_attribute("#cut-list [data-cut=C003]", "data-state") == "retake"
        assert page.inner_text("#history .text") == hostile  # shown as text, never run
        assert page.evaluate("window.pwned") is None and page.locator("#history script, #history img").count() == 0

        record = json.loads(decisions.path_for(shotlist).read_text())["decisions"]
        sidecar = {c: json.loads((out / f"ep01_{c}.json").read_text()) for c in ("C001", "C003")}
        assert [(d["cut"], d["kind"], d["picture"], d["reviewer"], d["take"]) for d in record] == [
            ("C001", "approve", sidecar["C001"]["image"]["sha256"], "ana", 1),
            ("C003", "retake", sidecar["C003"]["image"]["sha256"], "ana", 1)]
        assert record[1]["note"] == hostile and record[1]["changes"] == {"prompt": "sunset"}

        done = run_cli("render", str(shotlist))
        assert done.returncode == 0 and "1 rendered" in done.stdout, done.stdout + done.stderr
        assert {p.name: p.read_bytes() for p in out.glob("ep01_C001.*")} == c001
        take1, take2 = (out / "takes" / f"ep01_C003.v00{n}.png" for n in (1, 2))
        assert take1.read_bytes() != take2.read_bytes() == (out / "ep01_C003.png").read_bytes()

        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert page.get_attribute("#cut-list [data-cut=C003]", "data-state") == "waiting"  # a new picture
        figures = page.locator("#takes figure")
        assert figures.count() == 2
        wait_for_pictures(page)
        sizes = page.evaluate("Array.from(document.querySelectorAll('#takes img.render'))"
                              ".map(i => [i.naturalWidth, i.getBoundingClientRect().top])")
        assert [s[0] for s in sizes] == [128, 128] and sizes[0][1] == sizes[1][1]  # side by side
        assert "current" in figures.nth(1).get_attribute("class")
        page.keyboard.press("o")
        assert page.locator("img.layout").first.is_visible()  # the layout overlay
        page.screenshot(path=str(tmp_path / "review.png"), full_page=True)  # an artefact, not an assertion
        page.close()
    assert problems == []
