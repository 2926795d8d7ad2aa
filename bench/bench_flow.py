"""Flow work per pair of layouts: shotrender's continuity step against OpenCV DIS MEDIUM at full resolution.

    python bench/bench_flow.py [--repeat 20]

Layouts are a line-art panorama cropped at two positions (a pan of 15 % of the frame), at 1024×576 and
1920×1080. "pair_flow" is all the flow work continuity does per pair: global pan/zoom, flow B->A at the
working width, the backward flow and the forward-backward mask at half that, scaling back to full size.
The reference is one direction of DIS MEDIUM at full resolution, started from nothing. Accuracy is the
median end-point error against the known shift, over the pixels each method would trust.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from shotrender import flow  # noqa: E402
from shotrender.images import read_layout  # noqa: E402
from shotrender.shotlist import Continuity  # noqa: E402

from helpers import pan_layouts  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, object]:
    result = fn()  # warm-up: first calls allocate
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    settings = Continuity()
    print(f"opencv {cv2.__version__}, {cv2.getNumThreads()} threads; continuity defaults: "
          f"preset {settings.flow_preset}, work width {settings.work_width}")
    print(f"{'size':>10} {'preset':>9} {'pair_flow ms':>13} {'EPE px':>7} {'DIS MEDIUM ms':>14} {'EPE px':>7} "
          f"{'speed-up':>9}")
    with tempfile.TemporaryDirectory() as folder:
        for width, height in ((1024, 576), (1920, 1080)):
            step = int(width * 0.15)
            a_path, b_path = pan_layouts(Path(folder) / str(width), 2, width, height, step=step)
            a, b = read_layout(a_path, width, height), read_layout(b_path, width, height)
            ours = {}
            for preset in ("fast", "ultrafast"):
                ms, pf = timed(lambda a=a, b=b, preset=preset: flow.pair_flow(
                    a, b, preset=preset, work_width=settings.work_width), args.repeat)
                ours[preset] = ms, float(np.median(np.hypot(pf.flow[..., 0] - step, pf.flow[..., 1])[pf.mask]))
            gray_a, gray_b = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
            medium = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
            ref_ms, ref = timed(lambda ga=gray_a, gb=gray_b, m=medium: m.calc(gb, ga, None), max(3, args.repeat // 4))
            seen = np.zeros((height, width), bool)
            seen[:, : width - step] = True  # the truly overlapping part, generous to the reference
            ref_epe = float(np.median(np.hypot(ref[..., 0] - step, ref[..., 1])[seen]))
            for preset, (ms, epe) in ours.items():
                print(f"{width}x{height:<5} {preset:>9} {ms:>13.1f} {epe:>7.2f} {ref_ms:>14.1f} {ref_epe:>7.2f} "
                      f"{ref_ms / ms:>8.1f}x")


if __name__ == "__main__":
    main()
