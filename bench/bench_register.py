"""Registration of a background's layouts onto sheets: time per cut and the transforms' error.

    python bench/bench_register.py [--repeat 5] [--sizes 1024x576,1920x1080]

The layouts are tests/location.py's park, drawn at each size: six cuts (a pan over three, the last
turned 2°, a 1.4x track-in, a cut at another angle, a hand-redrawn return to the first framing), so
every camera is known. "register" is `sheets.register` on all six: every pair tried (15), refined and
judged. The error is the largest displacement of a cut's frame corners taken across by the estimate
and back by the truth, in that cut's pixels, over every pair of cuts on one sheet (through the sheet's
plane) and over every accepted pair (directly). The acceptance margin is the weakest agreement accepted
against the strongest rejected. "mosaic" and "view" are the sheet's layout and all its cuts' views.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_flow import timed  # noqa: E402

import location as L  # noqa: E402
from shotrender import sheets  # noqa: E402


def corner_error(estimate: np.ndarray, truth: np.ndarray, size: tuple[int, int]) -> float:
    w, h = size
    corners = np.float64([[[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]])
    there = cv2.perspectiveTransform(corners, np.linalg.inv(truth) @ estimate)[0]
    back = cv2.perspectiveTransform(corners, truth @ np.linalg.inv(estimate))[0]
    return float(max(np.abs(there - corners[0]).max(), np.abs(back - corners[0]).max()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="1024x576,1920x1080")
    args = parser.parse_args()
    settings = sheets.Settings()
    print(f"opencv {cv2.__version__}, {cv2.getNumThreads()} threads; detect width {settings.detect_width}, "
          f"work width {settings.work_width}; {len(L.CUTS)} cuts, {len(L.CUTS) * (len(L.CUTS) - 1) // 2} pairs")
    print(f"{'size':>10} {'register ms':>12} {'ms/cut':>7} {'sheet err px':>13} {'pair err px':>12} "
          f"{'accepted':>9} {'margin':>13} {'mosaic ms':>10} {'view ms/cut':>12}  sheets")
    for text in args.sizes.split(","):
        size = tuple(int(v) for v in text.split("x"))
        layouts = L.layouts(size)
        ms, reg = timed(lambda layouts=layouts: sheets.register("park", layouts), args.repeat)
        sheet_err = max(corner_error(np.linalg.inv(s.matrix(a)) @ s.matrix(b), L.true_transform(a, b, size), size)
                        for s in reg.sheets for a, b in itertools.combinations(s.cuts, 2))
        accepted = [p for p in reg.pairs if p.accepted]
        pair_err = max(corner_error(np.array(p.matrix), L.true_transform(p.a, p.b, size), size) for p in accepted)
        weakest = min(p.agreement for p in accepted)
        strongest_rejected = max((p.agreement for p in reg.pairs if not p.accepted), default=0.0)
        sheet = reg.sheet_of("C001")
        drawn_ms, drawn = timed(lambda sheet=sheet, layouts=layouts: sheets.mosaic(sheet, dict(layouts)),
                                args.repeat)
        view_ms, _ = timed(lambda sheet=sheet, drawn=drawn: [sheets.view(drawn.image, sheet, c) for c in sheet.cuts],
                           args.repeat)
        shape = " ".join(f"{s.id}:{'+'.join(s.cuts)}@{s.size[0]}x{s.size[1]}" for s in reg.sheets)
        print(f"{text:>10} {ms:>12.0f} {ms / len(layouts):>7.0f} {sheet_err:>13.2f} {pair_err:>12.2f} "
              f"{len(accepted):>4}/{len(reg.pairs):<4} {weakest:>5.3f}/{strongest_rejected:<5.3f} "
              f"{drawn_ms:>10.0f} {view_ms / len(sheet.cuts):>12.1f}  {shape}")


if __name__ == "__main__":
    main()
