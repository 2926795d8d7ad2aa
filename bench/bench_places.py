"""`shotrender init --places`: grouping an episode's layouts into places, against registering them.

    python bench/bench_places.py [--per 20] [--count 3] [--size 384x216]

The layouts are tests/location.py's `places`: `count` places of `per` cuts (each a street of parks sharing no
drawing with the others; a third of its cuts tracked in 1.2-2x, one in eight a redrawn return), shuffled
together into one folder, so every cut's place is known. "init s" is `init --places` in this process
(reading the layouts, registering them all together, writing the shot list); "register s" registers each
true place on its own, as render does once the cuts have their `bg:`. Both are CPU seconds of this process
(they move less than wall time under other load), OpenCV on one thread. "ratio" is init over register.
"grouped" is the share of cuts in their own place's largest group; "merged" counts groups holding cuts of
two places (the goal: grouped >= 95 %, merged 0).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import location as L  # noqa: E402
from shotrender import sheets  # noqa: E402
from shotrender.editorial import make_scaffold  # noqa: E402


def cpu(fn):
    t = time.process_time()
    result = fn()
    return time.process_time() - t, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per", type=int, default=20, help="cuts of each place")
    parser.add_argument("--count", type=int, default=3, help="places")
    parser.add_argument("--size", default="384x216")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    cv2.setNumThreads(1)
    fixture = L.places(args.per, args.count)
    truth = {cut_id: place for cut_id, place, _ in fixture}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "layouts"
        folder.mkdir()
        drawn = {}
        for cut_id, _, cut in fixture:
            drawn[cut_id] = cut.draw(size)
            cv2.imwrite(str(folder / f"{cut_id}.png"), drawn[cut_id][..., ::-1])
        init_s, (text, _) = cpu(lambda: make_scaffold(layouts=folder, size=f"{size[0]},{size[1]}", places=True,
                                                      base_dir=Path(tmp)))
    register_s, _ = cpu(lambda: [sheets.register(f"place{p}", [(c, drawn[c]) for c in truth if truth[c] == p],
                                                 frame=size) for p in range(args.count)])
    groups: dict[str, list[str]] = {}
    for c in yaml.safe_load(text)["cuts"]:
        groups.setdefault(c["bg"], []).append(c["id"])
    merged = sum(len({truth[c] for c in members}) > 1 for members in groups.values())
    largest: dict[int, list[str]] = {}
    for members in groups.values():
        if len({truth[c] for c in members}) == 1:
            place = truth[members[0]]
            largest[place] = max(largest.get(place, []), members, key=len)
    grouped = sum(map(len, largest.values())) / len(truth)
    print(f"{len(truth)} cuts of {args.count} places at {size[0]}x{size[1]}, opencv {cv2.__version__} on one thread")
    print(f"{'init s':>7} {'register s':>10} {'ratio':>6} {'groups':>6} {'grouped':>8} {'merged':>6}")
    print(f"{init_s:7.1f} {register_s:10.1f} {init_s / register_s:6.2f} {len(groups):6d} {grouped:8.1%} {merged:6d}")


if __name__ == "__main__":
    main()
