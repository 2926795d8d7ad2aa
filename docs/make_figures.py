"""Remake the pictures in docs/images/ from the example episode (draft backend, no GPU needed).

    python docs/make_figures.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EPISODE = ROOT / "shots" / "example" / "episode.yaml"
OUT = ROOT / "docs" / "images"
TILE = 480


def tile(path: Path, label: str) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    h, w = image.shape[:2]
    image = cv2.resize(image, (TILE, round(h * TILE / w)), interpolation=cv2.INTER_AREA)
    cv2.rectangle(image, (0, 0), (TILE, 22), (30, 30, 30), -1)
    cv2.putText(image, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def grid(rows: list[list[np.ndarray]]) -> np.ndarray:
    gap = 6
    height = max(t.shape[0] for row in rows for t in row)
    lines = []
    for row in rows:
        padded = [np.pad(t, ((0, height - t.shape[0]), (0, gap), (0, 0)), constant_values=255) for t in row]
        lines.append(np.pad(np.hstack(padded), ((0, gap), (0, 0), (0, 0)), constant_values=255))
    width = max(line.shape[1] for line in lines)
    return np.vstack([np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)), constant_values=255)
                      for line in lines])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        on, off = Path(folder) / "on", Path(folder) / "off"
        for out, extra in ((on, []), (off, ["--no-continuity"])):
            subprocess.run([sys.executable, "-m", "shotrender", "render", str(EPISODE), "--out", str(out),
                            "--progress", "none", *extra], check=True)
        layouts = EPISODE.parent / "layouts"
        figure = grid([
            [tile(layouts / "C001.png", "layout C001"), tile(layouts / "C002.png", "layout C002 (pan right)")],
            [tile(on / "ep01_C001.png", "render C001"),
             tile(off / "ep01_C002.png", "C002 without continuity")],
            [tile(on / "ep01_C002.png", "C002 with continuity"),
             tile(on / "ep01_C002.flow.png", "flow C002 -> C001 (grey: not seen in C001)")],
            [tile(on / "ep01_C002.error.png", "error with continuity"),
             tile(_error_without(off), "error without continuity")],
        ])
        cv2.imwrite(str(OUT / "continuity_pair.png"), figure, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {OUT / 'continuity_pair.png'}")


def _error_without(off: Path) -> Path:
    """The error heatmap of the unguided pair, computed the way render's check computes it."""
    from shotrender import continuity
    from shotrender.images import decode_png, read_layout
    from shotrender.shotlist import load

    sl = load(EPISODE)
    layouts = EPISODE.parent / "layouts"
    a = read_layout(layouts / "C001.png", sl.width, sl.height)
    b = read_layout(layouts / "C002.png", sl.width, sl.height)
    p = continuity.pair(a, b, sl.continuity_for("park"))
    ra = decode_png((off / "ep01_C001.png").read_bytes())
    rb = decode_png((off / "ep01_C002.png").read_bytes())
    path = off / "error_without.png"
    cv2.imwrite(str(path), cv2.cvtColor(continuity.error_picture(rb, p.warp(ra), p), cv2.COLOR_RGB2BGR))
    return path


if __name__ == "__main__":
    main()
