"""The review report on a long episode: how long `shotrender report` takes, and how long the page takes to open.

    python bench/bench_report.py [--cuts 300] [--chain-length 10] [--size 256x144] [--keep DIR]

Builds a draft episode of N cuts in a temporary folder (chains of camera pans, 256×144 layouts unless
--size says otherwise; renders above 400 px wide need a thumbnail each), renders it
with `shotrender render`, then times `shotrender report` as a user runs it (a fresh process, thumbnails
made from nothing), again with its thumbnails already made, and `report_html` alone. With chromium
installed it also opens the page in headless Chromium and prints the page's own DOMContentLoaded and load
times; pictures below the first screens load only as they are scrolled to.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from shotrender.report import make_thumbs, read_manifest, report_html  # noqa: E402

from helpers import cut, episode, pan_layouts, write_shotlist  # noqa: E402


def build_episode(folder: Path, cuts: int, chain_length: int, width: int = 256, height: int = 144) -> Path:
    entries, backgrounds = [], {}
    for c in range(-(-cuts // chain_length)):
        bg = f"bg{c:03d}"
        backgrounds[bg] = {"prompt": ("city park in spring", "street at dusk", "room interior")[c % 3]}
        count = min(chain_length, cuts - c * chain_length)
        for i, path in enumerate(pan_layouts(folder / "layouts" / bg, count=count, width=width, height=height,
                                             step=width * 3 // 32, seed=c)):
            entries.append(cut(f"C{c * chain_length + i + 1:04d}", bg, layout=str(path.relative_to(folder))))
    return write_shotlist(folder, episode(entries, size=[width, height], backgrounds=backgrounds), layouts=False)


def timed(*args: str) -> float:
    t = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, text=True)
    return time.perf_counter() - t


def chromium_open(url: str, profile: Path) -> tuple[float, int, int]:
    """Wall time of a headless Chromium run, and the page's own DOMContentLoaded and load times (ms)."""
    t = time.perf_counter()
    dom = subprocess.run([shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={profile}", "--window-size=1400,2000", "--dump-dom", url],
                         check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t
    ready, load = (re.search(rf'data-{name}-ms="(\d+)"', dom) for name in ("ready", "load"))
    return wall, int(ready.group(1)) if ready else -1, int(load.group(1)) if load else -1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cuts", type=int, default=300)
    ap.add_argument("--chain-length", type=int, default=10)
    ap.add_argument("--size", default="256x144", help="Layout and render size, WxH.")
    ap.add_argument("--keep", type=Path, help="Build in this folder and keep it, instead of a temporary one.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        width, height = (int(v) for v in args.size.split("x"))
        shotlist = build_episode(folder, args.cuts, args.chain_length, width, height)
        out = folder / "out"
        shotrender = (sys.executable, "-m", "shotrender")
        render_s = timed(*shotrender, "render", str(shotlist), "--out", str(out), "--progress", "none")
        cold = timed(*shotrender, "report", str(shotlist), "--out", str(out))
        warm = timed(*shotrender, "report", str(shotlist), "--out", str(out))
        manifest = read_manifest(out)
        thumbs = make_thumbs(manifest, out, {})
        t = time.perf_counter()
        html = report_html(manifest, thumbs)
        html_s = time.perf_counter() - t
        size_kb = sum(p.stat().st_size for p in (out / "thumbs").iterdir()) / 1024
        print(f"episode: {args.cuts} cuts in chains of {args.chain_length}, {width}x{height}, draft; "
              f"rendered in {render_s:.1f} s")
        print(f"shotrender report, thumbnails made:      {cold:.2f} s  ({len(thumbs)} pictures, "
              f"{size_kb:.0f} KiB of thumbnails)")
        print(f"shotrender report, thumbnails up to date: {warm:.2f} s")
        print(f"report_html alone:                       {html_s * 1000:.0f} ms  ({len(html) / 1024:.0f} KiB of HTML)")
        if shutil.which("chromium"):
            profile = folder / "chromium-profile"
            url = (out / "report.html").as_uri()
            chromium_open(url, profile)  # the first start creates the profile
            runs = [chromium_open(url, profile) for _ in range(3)]
            wall, ready, load = min(runs, key=lambda r: r[0])
            print(f"headless chromium, best of 3:             DOMContentLoaded {ready} ms, load {load} ms "
                  f"({wall:.2f} s with the browser's start)")
        else:
            print("chromium is not installed: page open time not measured")


if __name__ == "__main__":
    main()
