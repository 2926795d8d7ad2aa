"""Remake the pictures in docs/images/ from the example episodes (draft backend, no GPU needed).

    python docs/make_figures.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EPISODE = ROOT / "shots" / "example" / "episode.yaml"
CAMERA = ROOT / "shots" / "camera" / "episode.yaml"
OUT = ROOT / "docs" / "images"
TILE = 360
PARK = ("C001", "C002", "C003", "C008")


def label(image: np.ndarray, text: str) -> np.ndarray:
    image = image.copy()
    cv2.rectangle(image, (0, 0), (image.shape[1], 22), (30, 30, 30), -1)
    cv2.putText(image, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def tile(path: Path, text: str, width: int = TILE) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    h, w = image.shape[:2]
    return label(cv2.resize(image, (width, round(h * width / w)), interpolation=cv2.INTER_AREA), text)


def sheet_with_frames(folder: Path, name: str, width: int) -> np.ndarray:
    """The sheet's painting with every cut's frame drawn on it, as the report shows it."""
    record = json.loads((folder / "sheets" / f"ep01_{name}.json").read_text())
    image = cv2.imread(str(folder / "sheets" / record["image"]["file"]), cv2.IMREAD_COLOR)
    frame = json.loads((folder / "manifest.json").read_text())["size"]
    base = record["inputs"].get("base")  # a variant's sheet has its base sheet's cameras
    inputs = json.loads((folder / "sheets" / f"ep01_{base['id'].replace('/', '_')}.json").read_text())["inputs"] \
        if base else record["inputs"]
    for cut, matrix in inputs["camera"].items():
        corners = np.float32([[0, 0], [frame[0], 0], [frame[0], frame[1]], [0, frame[1]]]).reshape(-1, 1, 2)
        points = cv2.perspectiveTransform(corners, np.float32(matrix)).astype(np.int32)
        cv2.polylines(image, [points], True, (60, 210, 255), 4, cv2.LINE_AA)
        x, y = points[0, 0]
        cv2.putText(image, cut, (int(x) + 12, int(y) + 80), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (60, 210, 255), 3,
                    cv2.LINE_AA)
    h, w = image.shape[:2]
    image = cv2.resize(image, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    return label(image, f"sheet {record['sheet']}: {w}x{h}, the frames of its cuts drawn on it")


def with_move(folder: Path, cut: str, width: int) -> np.ndarray:
    """A moving cut's deliverable with its first (green) and last (red) framings and the path between them."""
    record = json.loads((folder / f"ep01_{cut}.camera.json").read_text())
    image = cv2.imread(str(folder / f"ep01_{cut}.png"), cv2.IMREAD_COLOR)
    scale = width / image.shape[1]
    image = cv2.resize(image, (width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    centres = []
    for f, colour in ((record["framings"][0], (100, 217, 76)), (record["framings"][-1], (90, 90, 255))):
        x0, y0 = round(f["x"] * scale), round(f["y"] * scale)
        x1, y1 = round((f["x"] + f["width"]) * scale) - 1, round((f["y"] + f["height"]) * scale) - 1
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, 3, cv2.LINE_AA)
        centres.append((round(f["centre"][0] * scale), round(f["centre"][1] * scale)))
    for f in record["framings"][1:-1]:
        cv2.circle(image, (round(f["centre"][0] * scale), round(f["centre"][1] * scale)), 2, (60, 210, 255), -1)
    size = "x".join(map(str, record["size"]))
    return label(image, f"{cut}: the {size} deliverable, its first and last framings, {record['frames']} frames")


def grid(rows: list[list[np.ndarray]]) -> np.ndarray:
    gap = 6
    lines = []
    for row in rows:
        height = max(t.shape[0] for t in row)
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
            [sheet_with_frames(on, "park_1", 4 * TILE + 18)],
            [tile(layouts / f"{c}.png", f"layout {c}") for c in PARK],
            [tile(on / f"ep01_{c}.png", f"{c}: a view of the sheet") for c in PARK],
            [tile(off / f"ep01_{c}.png", f"{c} painted alone (--no-continuity)") for c in PARK],
        ])
        cv2.imwrite(str(OUT / "continuity_sheet.png"), figure, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        moving = Path(folder) / "camera"
        subprocess.run([sys.executable, "-m", "shotrender", "render", str(CAMERA), "--out", str(moving),
                        "--progress", "none"], check=True)
        frames = json.loads((moving / "ep01_P01.camera.json").read_text())["framings"]
        layouts = CAMERA.parent / "layouts"
        figure = grid([
            [tile(layouts / "P01.png", "P01 layout: the stretch the camera travels over", 3 * TILE + 12)],
            [with_move(moving, "P01", 3 * TILE + 12)],
            [label(preview_frame(moving, "P01", frames[n - 1]), f"frame {n}") for n in (1, 24, 48)],
            [with_move(moving, "T01", TILE), tile(moving / "ep01_C001.png", "C001 (fixed): a view of the sheet"),
             tile(moving / "ep01_C004.png", "C004 (fixed): a view of the sheet")],
        ])
        cv2.imwrite(str(OUT / "camera_pan.png"), figure, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {OUT / 'continuity_sheet.png'} and {OUT / 'camera_pan.png'}")


def preview_frame(folder: Path, cut: str, framing: dict) -> np.ndarray:
    """One frame of the move, as the camera file tells a compositor to make it (docs/camera.md)."""
    from shotrender.camera import Framing, frame_image

    image = cv2.imread(str(folder / f"ep01_{cut}.png"), cv2.IMREAD_COLOR)
    f = Framing(framing["x"], framing["y"], framing["width"], framing["height"])
    picture = frame_image(image, f, (round(framing["width"] * framing["scale"]),
                                     round(framing["height"] * framing["scale"])))
    return cv2.resize(picture, (TILE, round(picture.shape[0] * TILE / picture.shape[1])), interpolation=cv2.INTER_AREA)


if __name__ == "__main__":
    main()
