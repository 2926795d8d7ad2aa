"""Remake docs/images/review.png and review_takes.png: the review page after one round of review.

A copy of the example episode is rendered (draft backend), its review page opened in Debian's Chromium
with Playwright, C001 approved with the keyboard, C003 (a view of the park's sheet) and C006 (the room,
painted alone) sent back for retakes by clicking, the retakes rendered (`render --retakes`), and the page
photographed on C003 with the layout overlay on, and on C006 with its two takes.

    python docs/make_review_figure.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "shots" / "example"
OUT = ROOT / "docs" / "images" / "review.png"
TAKES = ROOT / "docs" / "images" / "review_takes.png"


def shotrender(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "shotrender", *args], check=True, capture_output=True, text=True)


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        episode = Path(folder) / "example" / "episode.yaml"
        shutil.copytree(EXAMPLE, episode.parent)
        shotrender("render", str(episode))
        server = subprocess.Popen([sys.executable, "-m", "shotrender", "review", str(episode), "--port", "0",
                                   "--reviewer", "ana"], stdout=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().split(" at ", 1)[1].strip()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                page.goto(url)
                page.wait_for_selector("body[data-ready='1']")
                page.keyboard.press("a")
                page.wait_for_selector("#cut-list [data-cut=C001][data-state=approved]")
                page.click("#cut-list [data-cut=C003]")
                page.click("#retake")
                page.fill("#note", "warmer sky, the bench is too red")
                page.fill("#words", "sunset glow")
                page.click("#send")
                page.wait_for_selector("#cut-list [data-cut=C003][data-state=retake]")
                page.click("#cut-list [data-cut=C006]")  # the room: painted alone, not from a sheet
                page.click("#retake")
                page.fill("#note", "too cold for an evening: warmer light")
                page.fill("#words", "autumn evening")
                page.click("#send")
                page.wait_for_selector("#cut-list [data-cut=C006][data-state=retake]")
                shotrender("render", str(episode), "--retakes")
                for cut, path, overlay in (("C003", OUT, True), ("C006", TAKES, False)):
                    page.goto(f"{url}#{cut}")
                    page.reload()
                    page.wait_for_selector("#takes figure:nth-child(2)")
                    if overlay:
                        page.keyboard.press("o")
                    while not page.evaluate("Array.from(document.images).every(i => i.complete)"):
                        time.sleep(0.05)  # polled from here: wait_for_function's eval is refused by the page's CSP
                    page.screenshot(path=str(path), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait()
    print(f"wrote {OUT} and {TAKES}")


if __name__ == "__main__":
    main()
