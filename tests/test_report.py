"""The review report: escaping, files written, and the page as a real headless Chromium shows it."""

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from PIL import Image

from shotrender.errors import UsageError
from shotrender.report import Thumb, report_html

from helpers import cut, episode, run_cli, run_cli_watching_imports, system_tool, write_shotlist

EXAMPLE = Path(__file__).resolve().parents[1] / "shots" / "example"
HOSTILE = "<script>alert('x')</script> & \"quotes\""


def manifest_with(prompt: str, status: str = "flagged") -> dict:
    return {
        "schema": "shotrender.manifest/1", "episode": "ep01", "size": [1024, 576], "counts": {status: 1},
        "last_run": {"backend": {"backend": "draft", "device": "cpu"}, "seconds": 1.0},
        "cuts": [{"cut": "C002", "chain": "park", "position": 1, "status": status, "model": "draft",
                  "inputs": {"params": {"prompt": prompt, "negative": "<b>", "seed": 5, "steps": 2}},
                  "continuity": {"mode": "sheet", "sheet": "park/1", "overlap": 0.6, "limit": 0.0,
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


def shot_list_layouts(shotlist: Path) -> dict[str, Path]:
    from shotrender.shotlist import load

    sl = load(shotlist)
    return {c.id: sl.layout_path(c) for c in sl.cuts if c.layout is not None}


def test_thumbnails_have_a_bar_when_asked(reported, capsys):
    from shotrender.report import write_report

    layouts = shot_list_layouts(reported.parent / "ep" / "episode.yaml")
    write_report(reported, layouts, bar=False)
    assert capsys.readouterr().err == ""
    shutil.rmtree(reported / "thumbs")  # made again from nothing, as on a first report
    write_report(reported, layouts, bar=True)
    bar = re.match(r"\rthumbnails: +0%\|.*\| 0/(\d+) ", capsys.readouterr().err)
    assert bar and int(bar.group(1)) == len(list((reported / "thumbs").iterdir()))


def test_report_files_are_written_and_self_contained(reported):
    html = (reported / "report.html").read_text()
    for src in re.findall(r'(?:data-src|href)="([^"]+)"', html):
        assert not re.match(r"[a-z]+:|/", src), f"not relative: {src}"
        assert (reported / src).is_file(), src
    # every cut of a sheet: C001, C002, C003, C008 (park/1) and C004, C005 (street/1)
    assert len(re.findall(r'data-status="flagged"', html)) == 6
    # each sheet drawn with the frames of its cuts on it
    assert re.findall(r'aria-label="sheet ([^"]+)"', html) == ["park/1", "street/1"]
    assert html.count("<polygon ") == 6
    # each cut's render beside its neighbour's, at thumbnail size: C001 → C002 → C003 → C008, C004 → C005
    assert re.findall(r"<figcaption>(C\d+) → (C\d+)</figcaption>", html) == [
        ("C001", "C002"), ("C002", "C003"), ("C003", "C008"), ("C004", "C005")]
    sheet = Image.open(reported / "ep01_contact.png")
    assert sheet.width > 600 and sheet.height > 300


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [system_tool("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", *args],
        capture_output=True, text=True, timeout=120)


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


def test_keyboard_navigation_and_flagged_filter(reported, tmp_path):
    page = reported / "keys.html"
    page.write_text(KEYS_PAGE)
    dom = chromium("--allow-file-access-from-files", "--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    keys = re.search(r'data-keys="([^"]*)"', dom.stdout)
    assert keys, dom.stdout + dom.stderr
    # j, down, k: C001, C002, C001; f: the 6 flagged cuts; j: the next of them; a: all 8 again
    assert keys.group(1) == "cut-C001,cut-C002,cut-C001,6,cut-C002,8"


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


# ------------------------------------------------------------------------------------------------ hostile folders

def snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Every file under `root` but outside `skip`, symlinks not followed: its content's hash or its target."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder, d) != skip]
        for name in files:
            path = Path(folder, name)
            found[str(path)] = "-> " + os.readlink(path) if path.is_symlink() else \
                hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def episode_with_manifest(tmp_path: Path, manifest: dict) -> tuple[Path, Path]:
    """A one-cut shot list and its default output folder holding `manifest` as manifest.json."""
    shotlist = write_shotlist(tmp_path / "ep", episode([cut("C001")], backgrounds={"park": {"prompt": "park"}}))
    out = tmp_path / "ep" / "renders" / "ep01"
    out.mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return shotlist, out


def report_in_process(shotlist: Path):
    from click.testing import CliRunner

    from shotrender.cli import cli

    result = CliRunner().invoke(cli, ["report", str(shotlist)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


HOSTILE_ENTRIES = [
    {"status": "rendered"}, {"cut": ["C001"]}, {"cut": "../../escape", "status": "rendered"}, "C001", None,
    {"cut": "C010", "timings": [1, 2]}, {"cut": "C011", "device": ["cpu"]}, {"cut": "C012", "continuity": ["flow"]},
    {"cut": "C013", "continuity": {"upstream": "C012", "attempts": "many", "chosen": "first", "limit": "high"}},
    {"cut": "C014", "continuity": {"upstream": "C013", "attempts": [{"score": "x"}, 5], "chosen": 1e300}},
    {"cut": "C015", "timings": {"total": "slow"}, "position": "3", "chain": ["park"], "status": 7},
    {"cut": "C016", "timings": {"total": float("nan")}, "inputs": ["x"], "image": "ep01_C016.png"},
    {"cut": "C017", "inputs": {"params": ["x"], "backend": "draft"}, "pictures": ["flow"], "status": "rendered"},
    {"cut": "C018", "timings": {"total": 10 ** 400}, "model": 5, "shotrender": {"v": 1},
     "pictures": {"../x": "a.png", "flow": 5}, "image": {"file": ["a"]}},
    {"cut": "C019", "chain": "park", "continuity": {"upstream": "C018", "attempts": [{"score": 0.1}], "chosen": 5,
                                                    "limit": 0}},
    {"cut": "C020", "chain": "park", "position": 10 ** 30, "continuity": {"upstream": "C019", "attempts": [{}],
                                                                           "chosen": True, "limit": float("inf")}},
    {"cut": "C010", "status": "rendered"},  # the same id again
]


@pytest.mark.parametrize("top", [{"cuts": HOSTILE_ENTRIES}, {"size": [1, 10 ** 9]}, {"size": "big"},
                                 {"size": [0, 0]}, {"last_run": ["x"]},
                                 {"last_run": {"backend": "draft", "seconds": "1"}},
                                 {"last_run": {"backend": {"backend": 5, "../x": 1}}}, {"counts": ["x"]},
                                 {"episode": "../../x"}, {"cuts": {"C001": {}}}, {"cuts": "C001"}],
                         ids=lambda top: "entries" if top.get("cuts") is HOSTILE_ENTRIES else ",".join(top))
def test_a_malformed_manifest_is_reported_without_a_traceback(tmp_path, top):
    manifest = {"schema": "shotrender.manifest/1", "episode": "ep01", "size": [128, 72],
                "cuts": [{"cut": "C001", "status": "missing"}], **top}
    shotlist, out = episode_with_manifest(tmp_path, manifest)
    before = snapshot(tmp_path, out)
    result = report_in_process(shotlist)
    assert result.exit_code == 0, result.stderr
    assert snapshot(tmp_path, out) == before  # the id "../../escape" or the episode "../../x" made no file
    assert (out / "report.html").is_file()
    if "counts" not in top:  # counts are made again from the entries, never read
        assert re.search(r"^warning: .*(not as shotrender writes them|skipped|not a list)", result.stderr, re.M)
    if top.get("cuts") is HOSTILE_ENTRIES:
        assert "warning: manifest cuts[0] has no valid cut id; skipped" in result.stderr
        assert "warning: cut C010.timings not as shotrender writes them; not shown" in result.stderr
        html = (out / "report.html").read_text()
        assert all(f'id="cut-{c}"' in html for c in ("C010", "C013", "C017", "C020"))
        assert html.count('id="cut-C010"') == 1 and "escape" not in html


def write_png(path: Path, width: int, colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", (width, width * 9 // 16), colour).save(path)
    return path


def test_only_the_output_folders_own_pictures_are_copied(tmp_path):
    secret = write_png(tmp_path / "secret.png", 480, (250, 0, 250))
    manifest = {"schema": "shotrender.manifest/1", "episode": "ep01", "size": [480, 270], "cuts": [
        {"cut": "C001", "chain": "park", "status": "flagged", "image": {"file": "ep01_C001.png"},
         "continuity": {"upstream": "C000", "mode": "flow", "limit": 0.1,
                        "attempts": [{"score": 0.2}], "chosen": 0},
         "pictures": {"flow": str(secret), "error": "../../../secret.png"}},
        {"cut": "C002", "chain": "park", "status": "flagged", "image": {"file": "ep01_C002.png"},
         "continuity": {"upstream": "C001", "mode": "flow", "limit": 0.1, "attempts": [{"score": 0.2}], "chosen": 0},
         "pictures": {"flow": "ep01_C002.flow.png", "error": "ep01_C002.error.png"}},
    ]}
    shotlist, out = episode_with_manifest(tmp_path, manifest)
    for cid in ("C001", "C002"):
        write_png(out / f"ep01_{cid}.png", 480, (0, 200, 0))
    write_png(out / "ep01_C002.flow.png", 480, (0, 0, 200))
    (out / "ep01_C002.error.png").symlink_to(secret)  # a symlink out, under a name of the folder's own
    result = report_in_process(shotlist)
    assert result.exit_code == 0, result.stderr
    made = sorted(p.name for p in (out / "thumbs").iterdir())
    assert made == ["ep01_C001.layout.jpg", "ep01_C001.render.jpg", "ep01_C002.flow.jpg", "ep01_C002.render.jpg"]
    html = (out / "report.html").read_text()
    assert "secret" not in html
    for kind, name in (("flow", str(secret)), ("error", "../../../secret.png"), ("error", "ep01_C002.error.png")):
        assert f"{kind} picture {name!r} is not a file of {out}; not shown" in result.stderr


def test_a_thumbs_symlink_planted_after_the_check_is_refused(tmp_path):
    from shotrender.report import write_report

    shotlist, out = episode_with_manifest(tmp_path, manifest_with("park"))
    layouts = shot_list_layouts(shotlist)  # the shot list checked; then the link appears
    (tmp_path / "elsewhere").mkdir()
    (out / "thumbs").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(UsageError, match="thumbs is a symlink or not a folder"):
        write_report(out, layouts)
    assert not any((tmp_path / "elsewhere").iterdir()) and not (out / "report.html").exists()


def test_report_in_an_unwritable_folder_is_a_message(tmp_path, monkeypatch):
    shotlist, out = episode_with_manifest(tmp_path, manifest_with("park"))

    def refuse(*args):  # as a read-only folder answers (the tests may run as root, whom chmod does not stop)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    result = report_in_process(shotlist)
    assert result.exit_code == 1
    assert re.search(r"shotrender: cannot write \S+ \(Permission denied\); make \S+ writable", result.stderr)


def test_cards_follow_episode_order_reused_and_missing_cuts_in_their_place():
    # the cards followed render order: a reused cut after its chain's painted ones, a cut not rendered yet
    # at the end of the page
    manifest = manifest_with("park", status="rendered")
    manifest["cuts"] = [{"cut": "C001", "chain": "park", "position": 0, "status": "rendered"},
                        {"cut": "C005", "chain": "park", "status": "reused", "reuse_of": "C001"},
                        {"cut": "C002", "chain": "park", "status": "missing"},
                        {"cut": "C003", "chain": "park", "position": 2, "status": "rendered"}]
    html = report_html(manifest, {})
    order = [html.index(f'id="cut-{c}"') for c in ("C001", "C005", "C002", "C003")]
    assert order == sorted(order) and "not rendered yet" not in html


def test_a_full_page_capture_and_a_print_show_every_card(reported, tmp_path):
    # content-visibility: auto left the cards below the fold blank in a full-page capture and in print,
    # and their pictures waited for a scroll that never came
    import io

    import numpy as np
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=system_tool("chromium"),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 500})
            page.goto((reported / "report.html").as_uri())
            page.wait_for_load_state("networkidle")
            for media in ("screen", "print"):
                page.emulate_media(media=media)
                shot = np.asarray(Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("L"), np.float64)
                last = page.locator(".cut").last.locator("figure img").last.bounding_box()
                assert last["y"] > 1500  # far below the fold
                x, y, w, h = (int(last[k]) for k in ("x", "y", "width", "height"))
                picture = shot[y + 2:y + h - 2, x + 2:x + w - 2]
                assert picture.size and picture.std() > 10, (media, picture.std())  # painted, not a blank box
        finally:
            browser.close()
