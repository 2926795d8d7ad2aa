"""Small shot lists and layouts written into a test's tmp_path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image


def draw_layout(path: Path, width: int = 128, height: int = 72, seed: int = 0, shift: int = 0) -> Path:
    """Line art: dark lines on white paper, deterministic from `seed`; `shift` pans the view right."""
    import cv2

    rng = np.random.default_rng(seed)
    pano = np.full((height, width * 3, 3), 255, np.uint8)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, width * 3)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(-width // 2, width // 2)), y0 + int(rng.integers(-height // 2, height // 2))
        cv2.line(pano, (x0, y0), (x1, y1), (20, 20, 20), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pano[:, shift:shift + width]).save(path)
    return path


def write_shotlist(folder: Path, data: dict, name: str = "episode.yaml", layouts: bool = True,
                   width: int = 128, height: int = 72) -> Path:
    """Write `data` as YAML; draw every layout it names (distinct per cut) unless layouts=False."""
    folder.mkdir(parents=True, exist_ok=True)
    if layouts:
        for i, cut in enumerate(data.get("cuts", [])):
            if isinstance(cut, dict) and isinstance(cut.get("layout"), str):
                target = folder / cut["layout"]
                if not target.exists():
                    draw_layout(target, width, height, seed=i)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def episode(cuts: list[dict], **top) -> dict:
    data = {"version": 1, "episode": "ep01", "size": [128, 72], "model": "draft", "seed": 1000,
            "defaults": {"steps": 2, "strength": 0.6, "prompt": "anime background"},
            "backgrounds": {"park": {"prompt": "city park"}, "street": {"prompt": "street at dusk"}},
            "cuts": cuts}
    data.update(top)
    return data


def cut(cut_id: str, bg: str | None = "park", **params) -> dict:
    c = {"id": cut_id, "layout": f"layouts/{cut_id}.png"}
    if bg:
        c["bg"] = bg
    c.update(params)
    return c


def system_tool(name: str) -> str:
    """The path of a system program the tests need; a failure, never a skip, when it is missing: the README's
    test command installs it (scripts/install-test-deps.sh)."""
    import pytest

    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; run scripts/install-test-deps.sh, which installs what the tests need")
    return path


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m shotrender ARGS` in a fresh process, as a user or a farm would."""
    return subprocess.run([sys.executable, "-m", "shotrender", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_cli_watching_imports(*args: str) -> tuple[int, list[str], subprocess.CompletedProcess]:
    """Run the command in a fresh process; return its exit code and which heavy libraries it imported."""
    code = (
        "import sys\nfrom shotrender.cli import main\n"
        f"sys.argv = ['shotrender', *{list(args)!r}]\n"
        "try:\n    main()\n    code = 0\nexcept SystemExit as e:\n    code = e.code or 0\n"
        "print('result', code, ','.join(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    last = out.stdout.strip().splitlines()[-1].split(" ")
    assert last[0] == "result", out.stdout + out.stderr
    return int(last[1]), [m for m in ",".join(last[2:]).split(",") if m], out


def pan_layouts(folder: Path, count: int = 4, width: int = 256, height: int = 144, step: int = 40,
                seed: int = 3) -> list[Path]:
    """A camera pan: `count` layouts cropped from one line-art panorama, each `step` px right of the last."""
    import cv2

    rng = np.random.default_rng(seed)
    pano_w = width + step * (count - 1)
    pano = np.full((height, pano_w, 3), 255, np.uint8)
    cv2.line(pano, (0, height * 2 // 3), (pano_w, height * 2 // 3), (20, 20, 20), 2, cv2.LINE_AA)
    for _ in range(pano_w // 12):
        x, y = int(rng.integers(0, pano_w)), int(rng.integers(0, height))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.circle(pano, (x, y), int(rng.integers(4, 18)), (20, 20, 20), 2, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(pano, (x, y), (x + int(rng.integers(8, 40)), y + int(rng.integers(8, 30))),
                          (20, 20, 20), 2, cv2.LINE_AA)
        else:
            cv2.line(pano, (x, y), (x + int(rng.integers(-30, 30)), y + int(rng.integers(-30, 30))),
                     (20, 20, 20), 2, cv2.LINE_AA)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"P{i + 1:02d}.png"
        Image.fromarray(pano[:, i * step:i * step + width]).save(path)
        paths.append(path)
    return paths
