"""The review page on a long episode: how long it takes to open in headless Chromium.

    python bench/bench_review.py [--cuts 300] [--chain-length 10] [--size 256x144] [--loads 5]

Builds a draft episode of N cuts (chains of camera pans, as bench_report.py does), renders it, gives every
third cut a decision (so the page has decisions and second takes to show: every tenth cut is sent back
and rendered again), starts `shotrender review`, and opens the page in Debian's Chromium with Playwright
several times: for each load, the time from navigation until the page has drawn the episode
(`data-ready`) and until every picture on it has loaded, and the size of /api/episode. Then the time to
step through 50 cuts with the arrow key, each until its pictures have loaded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_report import build_episode  # noqa: E402


def wait_for_pictures(page, timeout: float = 30.0) -> None:
    """Until every picture on the page has loaded. Polled from here: Playwright's wait_for_function evaluates
    its predicate with eval, which the page's Content-Security-Policy forbids, as it should."""
    end = time.monotonic() + timeout
    while not page.evaluate("Array.from(document.images).every(i => i.complete)"):
        if time.monotonic() > end:
            raise TimeoutError("pictures still loading")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cuts", type=int, default=300)
    parser.add_argument("--chain-length", type=int, default=10)
    parser.add_argument("--size", default="256x144")
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))

    from playwright.sync_api import sync_playwright

    from shotrender.review import decisions
    from shotrender.shotlist import load

    with tempfile.TemporaryDirectory() as folder:
        shotlist = build_episode(Path(folder), args.cuts, args.chain_length, width, height)
        run = [sys.executable, "-m", "shotrender"]
        t = time.perf_counter()
        subprocess.run([*run, "render", str(shotlist)], check=True, capture_output=True)
        print(f"episode of {args.cuts} cuts, {width}x{height}, rendered in {time.perf_counter() - t:.1f} s")
        sl = load(shotlist)
        out = sl.output_dir
        made = []
        for i, c in enumerate(sl.cuts):
            sha = json.loads((out / f"{sl.episode}_{c.id}.json").read_text())["image"]["sha256"]
            if i % 10 == 0:
                made.append(decisions.make(c.id, "retake", sha, "bench", f"retake {i}", changes={"prompt": "dusk"}))
            elif i % 3 == 0:
                made.append(decisions.make(c.id, "approve", sha, "bench"))
        decisions.append(decisions.path_for(shotlist), sl.episode, made)
        subprocess.run([*run, "render", str(shotlist), "--retakes"], check=True, capture_output=True)

        server = subprocess.Popen([*run, "review", str(shotlist), "--port", "0"], stdout=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().split(" at ", 1)[1].strip()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                ready, loaded = [], []
                for _ in range(args.loads):
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    t = time.perf_counter()
                    with page.expect_response(lambda r: "/api/episode" in r.url) as answer:
                        page.goto(url)
                    page.wait_for_selector("body[data-ready='1']")
                    ready.append(time.perf_counter() - t)
                    wait_for_pictures(page)
                    loaded.append(time.perf_counter() - t)
                    size = len(answer.value.body())
                    page.close()
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url)
                page.wait_for_selector("body[data-ready='1']")
                t = time.perf_counter()
                for _ in range(50):
                    page.keyboard.press("ArrowRight")
                    wait_for_pictures(page)
                step = (time.perf_counter() - t) / 50
                browser.close()
        finally:
            server.terminate()
            server.wait()
    print(f"/api/episode: {size / 1024:.0f} kB for {args.cuts} cuts, {len(made)} decisions")
    print(f"page drawn: median {statistics.median(ready) * 1000:.0f} ms, min {min(ready) * 1000:.0f} ms "
          f"over {args.loads} loads (first {ready[0] * 1000:.0f} ms)")
    print(f"every picture loaded: median {statistics.median(loaded) * 1000:.0f} ms")
    print(f"next cut, pictures loaded: {step * 1000:.1f} ms a cut (50 steps)")


if __name__ == "__main__":
    main()
