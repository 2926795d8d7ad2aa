"""Remake docs/images/variants.png: the example's park in two variants, the base and `night` (draft backend).

    python docs/make_variant_figure.py

The example episode with a `night` variant on the park, taken by C002 and C008: the base sheet, the
night sheet painted from it, and the four cuts of the park, each a view of its variant's sheet.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import yaml

from make_figures import EPISODE, OUT, PARK, TILE, grid, sheet_with_frames, tile

NIGHT = ("C002", "C008")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        shutil.copytree(EPISODE.parent / "layouts", folder / "layouts")
        data = yaml.safe_load(EPISODE.read_text())
        data["backgrounds"]["park"]["variants"] = {"night": {"prompt": "at night, street lamps lit"}}
        for cut in data["cuts"]:
            if cut["id"] in NIGHT:
                cut["variant"] = "night"
        shotlist = folder / "episode.yaml"
        shotlist.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        out = folder / "out"
        subprocess.run([sys.executable, "-m", "shotrender", "render", str(shotlist), "--out", str(out), "--chain",
                        "park", "--progress", "none"], check=True)
        width = 4 * TILE + 18
        figure = grid([
            [sheet_with_frames(out, "park_1", width)],
            [sheet_with_frames(out, "park_1@night", width)],
            [tile(out / f"ep01_{c}.png", f"{c}: {'night' if c in NIGHT else 'base'}") for c in PARK],
        ])
    cv2.imwrite(str(OUT / "variants.png"), figure, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {OUT / 'variants.png'}")


if __name__ == "__main__":
    main()
