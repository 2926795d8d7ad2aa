"""Remake docs/images/review.png: the review page after one round of review of the example episode.

A copy of the example episode is rendered (draft backend), its review page opened in Debian's Chromium
with Playwright, C001 approved with the keyboard, C003 sent back for a retake by clicking, the retake
rendered, and the page photographed on C003 with its two takes and the layout overlay on.

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
                shotrender("render", str(episode))
                page.reload()
                page.wait_for_selector("#takes figure:nth-child(2)")
                page.keyboard.press("o")
                while not page.evaluate("Array.from(document.images).every(i => i.complete)"):
                    time.sleep(0.05)  # polled from here: wait_for_function's eval is refused by the page's CSP
                page.screenshot(path=str(OUT), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
