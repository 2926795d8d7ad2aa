"""Art boards (美術ボード) with the draft backend: a place's board sets its palette.

The measure is the issue's: over the example episode, the mean CIELAB distance from each region pixel
of a render (paper in the layout, not its lines) to the nearest colour of the board's palette, with the
board against without it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from shotrender.backends.draft.boards import board_palette, nearest, to_lab

from helpers import cut, episode, run_cli, write_shotlist

EXAMPLE = Path(__file__).resolve().parents[1] / "shots" / "example"
#: a board far from every draft palette: dusk violets, teal water, orange light
BOARD = ("#3d2a6e", "#7b4fa8", "#e39ac2", "#f6b26b", "#1f7a7a", "#2e4a3a")


def make_board(path: Path, colours=BOARD) -> Path:
    """A painted-looking board: bands of the colours with soft edges and some brush noise."""
    rng = np.random.default_rng(0)
    rgb = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in colours], np.float32)
    rows = np.repeat(rgb, 32, axis=0)[:, None, :].repeat(256, axis=1)
    board = cv2.GaussianBlur(rows, (0, 0), 4) + rng.normal(0, 4, rows.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(board, 0, 255).astype(np.uint8)).save(path)
    return path


def distance_to_board(render: np.ndarray, layout: np.ndarray, palette: np.ndarray) -> float:
    paper = cv2.cvtColor(layout, cv2.COLOR_RGB2GRAY) >= 200
    lab = to_lab(render[paper].astype(np.float32) / 255)
    return float(np.linalg.norm(lab - nearest(lab, palette), axis=1).mean())


@pytest.fixture(scope="module")
def example_with_boards(tmp_path_factory):
    """The example episode at 512x288, rendered without boards and with one board on every place."""
    root = tmp_path_factory.mktemp("boards")
    shutil.copytree(EXAMPLE, root / "example")
    path = root / "example" / "episode.yaml"
    data = yaml.safe_load(path.read_text())
    data["size"] = [512, 288]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert run_cli("render", str(path), "--out", str(root / "plain")).returncode == 0
    board = make_board(root / "example" / "boards" / "dusk.png")
    for bg in data["backgrounds"].values():
        bg["art_board"] = {"image": "boards/dusk.png", "strength": 1.0}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli("render", str(path), "--out", str(root / "boarded"))
    assert result.returncode == 0, result.stderr
    return root, board, data


def test_the_renders_take_the_boards_palette(example_with_boards):
    root, board, data = example_with_boards
    palette = board_palette(str(board), board.stat().st_mtime_ns)
    plain, boarded = [], []
    for c in data["cuts"]:
        if "layout" not in c:
            continue
        layout = np.asarray(Image.open(root / "example" / c["layout"]).convert("RGB").resize((512, 288)))
        for folder, out in (("plain", plain), ("boarded", boarded)):
            render = np.asarray(Image.open(root / folder / f"ep01_{c['id']}.png").convert("RGB"))
            out.append(distance_to_board(render, layout, palette))
    assert np.mean(boarded) <= 0.5 * np.mean(plain), (np.mean(boarded), np.mean(plain))


def test_the_board_is_in_the_key_and_the_sidecar(example_with_boards):
    root, board, _ = example_with_boards
    sidecar = json.loads((root / "boarded" / "ep01_C001.json").read_text())
    assert sidecar["inputs"]["art_board"]["strength"] == 1.0
    assert len(sidecar["inputs"]["art_board"]["sha256"]) == 64
    assert "art_board" not in json.loads((root / "plain" / "ep01_C001.json").read_text())["inputs"]


def test_strength_0_is_no_board_and_another_board_changes_the_picture(tmp_path):
    from shotrender.backends.draft import colour_key

    layout = np.asarray(Image.open(EXAMPLE / "layouts" / "C001.png").convert("RGB").resize((256, 144)))
    board = make_board(tmp_path / "b.png")
    other = make_board(tmp_path / "o.png", ("#ffffff", "#d0d0d0", "#a0a0a0", "#707070", "#404040", "#101010"))
    palette, grey = (board_palette(str(p), p.stat().st_mtime_ns) for p in (board, other))
    bare = colour_key(layout, "city park in spring", 5)
    assert np.array_equal(colour_key(layout, "city park in spring", 5, (palette, 0.0)), bare)
    assert not np.array_equal(colour_key(layout, "city park in spring", 5, (palette, 1.0)), bare)
    assert not np.array_equal(colour_key(layout, "city park in spring", 5, (palette, 1.0)),
                              colour_key(layout, "city park in spring", 5, (grey, 1.0)))


@pytest.mark.parametrize(("board", "message"), [
    ({"image": "boards/none.png"}, "art board 'boards/none.png' does not exist"),
    ({"image": "episode.yaml"}, "art board 'episode.yaml' is not an image"),
    ({"image": "b.png", "strength": 2}, "strength: must be between 0 and 1"),
    ({"picture": "b.png"}, "unknown key 'picture'"),
])
def test_bad_art_board_exits_2_and_writes_nothing(tmp_path, board, message):
    make_board(tmp_path / "b.png")
    data = episode([cut("C001")], output="out")
    data["backgrounds"]["park"]["art_board"] = board
    result = run_cli("render", str(write_shotlist(tmp_path, data)))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
