"""The review report: escaping, files written, and the page as a real headless Chromium shows it."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from PIL import Image

from shotrender.report import Thumb, report_html

from helpers import run_cli, run_cli_watching_imports

EXAMPLE = Path(__file__).resolve().parents[1] / "shots" / "example"
CHROMIUM = shutil.which("chromium")
HOSTILE = "<script>alert('x')</script> & \"quotes\""


def manifest_with(prompt: str, status: str = "flagged") -> dict:
    return {
        "schema": "shotrender.manifest/1", "episode": "ep01", "size": [1024, 576], "counts": {status: 1},
        "last_run": {"backend": {"backend": "draft", "device": "cpu"}, "seconds": 1.0},
        "cuts": [{"cut": "C002", "chain": "park", "position": 1, "status": status, "model": "draft",
                  "inputs": {"params": {"prompt": prompt, "negative": "<b>", "seed": 5, "steps": 2}},
                  "continuity": {"mode": "flow", "upstream": "C001", "overlap": 0.6, "limit": 0.0,
                                 "attempts": [{"seed": 5, "strength": 0.5, "score": 0.01, "seconds": 0.1}],
                                 "chosen": 0, "flagged": True, "reason": "flow score over <limit>"},
                  "timings": {"total": 0.2}}],
    }


def test_every_shot_list_text_is_escaped():
    manifest = manifest_with(HOSTILE)
    manifest["cuts"][0]["inputs"]["params"]["steps"] = "<steps>"
    html = report_html(manifest, {("C002", "render"): Thumb("thumbs/a.jpg", 4, 3, "a.png")})
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "&lt;b&gt;" in html and "over &lt;limit&gt;" in html and "&lt;steps&gt;" in html
    assert html.count("<script>") == 1  # the page's own


def test_draft_badge_and_counts():
    html = report_html(manifest_with("park"), {})
    assert "DRAFT" in html and 'data-status="flagged"' in html and "0.01 / limit 0 — over the limit" in html


def example_copy(tmp_path: Path) -> Path:
    """The example episode with every guided cut flagged and a hostile prompt on C003."""
    folder = tmp_path / "ep"
    shutil.copytree(EXAMPLE / "layouts", folder / "layouts")
    data = yaml.safe_load((EXAMPLE / "episode.yaml").read_text())
    data["continuity"] = {"limit": 0.0, "max_attempts": 1, "fusion": 0.0}
    next(c for c in data["cuts"] if c["id"] == "C003")["prompt"] = HOSTILE
    path = folder / "episode.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    shotlist, out = example_copy(tmp), tmp / "out"
    rendered = run_cli("render", str(shotlist), "--out", str(out), "--progress", "none")
    assert rendered.returncode == 0, rendered.stderr
    code, heavy, result = run_cli_watching_imports("report", str(shotlist), "--out", str(out))
    assert code == 0, result.stderr
    assert heavy == [], f"report imported {heavy}"
    assert "\r" not in result.stderr  # not a terminal: no bar
    return out


def test_thumbnails_have_a_bar_when_asked(reported, capsys):
    from shotrender.report import write_report

    write_report(reported, bar=False)
    assert capsys.readouterr().err == ""
    shutil.rmtree(reported / "thumbs")  # made again from nothing, as on a first report
    write_report(reported, bar=True)
    bar = re.match(r"\rthumbnails: +0%\|.*\| 0/(\d+) ", capsys.readouterr().err)
    assert bar and int(bar.group(1)) == len(list((reported / "thumbs").iterdir()))


def test_report_files_are_written_and_self_contained(reported):
    html = (reported / "report.html").read_text()
    for src in re.findall(r'(?:data-src|href)="([^"]+)"', html):
        assert not re.match(r"[a-z]+:|/", src), f"not relative: {src}"
        assert (reported / src).is_file(), src
    assert len(re.findall(r'data-status="flagged"', html)) == 3  # C002, C003, C005: the flow-checked cuts
    sheet = Image.open(reported / "ep01_contact.png")
    assert sheet.width > 600 and sheet.height > 300


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", *args],
        capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_in_headless_chromium(reported, tmp_path):
    url = (reported / "report.html").as_uri() + "?check"
    dom = chromium("--dump-dom", url, profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    assert 'data-broken-images="0"' in body and 'data-pending-images="0"' in body, body
    assert int(re.search(r'data-images="(\d+)"', body).group(1)) >= 20  # layouts, renders, flow, error
    assert re.search(r'id="cut-C003" data-status="flagged"', dom.stdout)
    assert "&lt;script&gt;alert" in dom.stdout and dom.stdout.count("<script>") == 1
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console

    shot = Path("/tmp/shotrender-report.png")
    taken = chromium("--window-size=1400,2000", f"--screenshot={shot}", url, profile=tmp_path / "profile")
    assert taken.returncode == 0 and shot.stat().st_size > 50_000, taken.stderr
    assert [line for line in taken.stderr.splitlines() if ":CONSOLE" in line] == []


# A page beside the report drives it as a reader would: keys go to the report's document, and the page
# records which cut is current and how many cuts show. --allow-file-access-from-files lets it reach in.
KEYS_PAGE = """<!doctype html><body><iframe id="f" src="report.html" width="1200" height="900"></iframe><script>
document.getElementById("f").addEventListener("load", function () {
  var doc = this.contentDocument, out = [];
  function key(k) { doc.dispatchEvent(new KeyboardEvent("keydown", {key: k, bubbles: true})); }
  function current() { var c = doc.querySelector(".cut.current"); return c ? c.id : "none"; }
  function shown() {
    return Array.prototype.filter.call(doc.querySelectorAll(".cut"), function (c) { return c.offsetParent; }).length;
  }
  key("j"); out.push(current()); key("ArrowDown"); out.push(current()); key("k"); out.push(current());
  key("f"); out.push(shown()); key("j"); out.push(current()); key("a"); out.push(shown());
  document.body.setAttribute("data-keys", out.join(","));
});
</script></body>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_keyboard_navigation_and_flagged_filter(reported, tmp_path):
    page = reported / "keys.html"
    page.write_text(KEYS_PAGE)
    dom = chromium("--allow-file-access-from-files", "--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    keys = re.search(r'data-keys="([^"]*)"', dom.stdout)
    assert keys, dom.stdout + dom.stderr
    # j, down, k: C001, C002, C001; f: the 3 flagged cuts; j: the first of them; a: all 8 again
    assert keys.group(1) == "cut-C001,cut-C002,cut-C001,3,cut-C002,8"


def test_open_flag_opens_the_page_in_a_browser(reported, monkeypatch):
    from click.testing import CliRunner

    from shotrender.cli import cli

    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    shotlist = reported.parent / "ep" / "episode.yaml"
    result = CliRunner().invoke(cli, ["report", str(shotlist), "--out", str(reported), "--open"])
    assert result.exit_code == 0, result.output
    assert opened == [(reported / "report.html").as_uri()]


def test_report_without_a_manifest_exits_2(tmp_path):
    shotlist = example_copy(tmp_path)
    out = run_cli("report", str(shotlist), "--out", str(tmp_path / "empty"))
    assert out.returncode == 2 and "render the episode first" in out.stderr and "Traceback" not in out.stderr


def test_failed_missing_and_reused_cuts_are_shown():
    manifest = manifest_with("park", status="rendered")
    manifest["cuts"] += [
        {"cut": "C003", "chain": "park", "position": 2, "status": "failed", "error": "CUDA out of memory"},
        {"cut": "C004", "status": "missing"},
        {"cut": "C005", "chain": "park", "status": "reused", "reuse_of": "C002"},
    ]
    manifest["counts"] = {"rendered": 1, "failed": 1, "missing": 1, "reused": 1}
    html = report_html(manifest, {})
    order = [html.index(f'id="cut-{c}"') for c in ("C002", "C003", "C005", "C004")]
    assert order == sorted(order)  # chain order, reused after, missing at the end
    assert "CUDA out of memory" in html and "reuses C002" in html and "not rendered yet" in html
    assert 'data-filter="failed"' in html and 'data-filter="missing"' in html
