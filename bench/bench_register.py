"""Registration of a background's layouts onto sheets: time per cut, the transforms' error, and scale.

    python bench/bench_register.py [--repeat 5] [--sizes 1024x576,1920x1080] [--places 40,80,160]
                                   [--place-size 384x216] [--status 160]

Scale (`--places`): one place of N cuts (tests/location.py's street: vector shapes, so every camera is
known; shuffled order, a third tracked in, one in eight a redrawn return). "first s" registers it with an
empty pair cache (CPU seconds of this process, which move less than wall time with other load; OpenCV
on one thread), "ratio" is that over N = 40's (every pair tried would be 4x at 80 and 16x at 160). "edit s"
registers again after one layout is redrawn, from the pair cache the first filled; "edit/first" is the
goal's ratio. The error is the largest corner displacement, through the sheet, over every pair of cuts
whose frames overlap by a fifth or more in truth; "no redraw" is the same over the pairs of which neither cut
is a hand-redrawn return (every control point moved by up to 1 px), "> 1 px" how many pairs exceed 1 px.
`--status N` writes the N cuts as a shot list (draft model) and times, in wall and CPU seconds of the whole
process: `shotrender render` (registers, fills the cache, paints), then `shotrender status` after it (reads
the cache and the renders), then one layout redrawn and `render` again.

Accuracy (`--sizes`):
the layouts are tests/location.py's park, drawn at each size: six cuts (a pan over three, the last
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
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_flow import timed  # noqa: E402

import location as L  # noqa: E402
from shotrender import pairing, sheets  # noqa: E402


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
    parser.add_argument("--places", default="40,80,160", help="cut counts of the scale run; empty: none")
    parser.add_argument("--place-size", default="384x216")
    parser.add_argument("--status", type=int, default=160, help="cuts of the status run; 0: none")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.place_size.split("x"))
    if args.places:
        scale([int(n) for n in args.places.split(",")], size)
    if args.status:
        status(args.status, size)
    if args.sizes:
        accuracy(args)


def place_error(reg: sheets.Registration, cuts, size: tuple[int, int]) -> tuple[float, float, int, int]:
    """Corner errors through the sheets over the pairs of cuts that overlap in truth: (the largest, the largest
    over pairs of which neither cut is a redrawn return, how many pairs are over 1 px, how many pairs)."""
    truth = {c.id: c.camera.world_to_cut(size) for c in cuts}
    redrawn = {c.id for c in cuts if c.jitter}
    errors = []
    for s in reg.sheets:
        for a, b in itertools.combinations(s.cuts, 2):
            true = truth[a] @ np.linalg.inv(truth[b])
            if sheets._overlap(true, size[::-1], size[::-1]) >= 0.2:
                errors.append((corner_error(np.linalg.inv(s.matrix(a)) @ s.matrix(b), true, size),
                               not {a, b} & redrawn))
    return (max(e for e, _ in errors), max((e for e, drawn_once in errors if drawn_once), default=0.0),
            sum(e > 1 for e, _ in errors), len(errors))


def cpu(fn):
    t = time.process_time()
    result = fn()
    return time.process_time() - t, result


def scale(counts: list[int], size: tuple[int, int]) -> None:
    cv2.setNumThreads(1)
    print(f"one place at {size[0]}x{size[1]}, opencv {cv2.__version__} on one thread")
    print(f"{'cuts':>5} {'first s':>8} {'ratio':>6} {'pairs':>6} {'all pairs':>9} {'sheets':>7} {'err px':>7} "
          f"{'no redraw':>9} {'> 1 px':>9} {'edit s':>7} {'edit/first':>10} {'edit pairs':>10}")
    base = None
    for n in counts:
        cuts = L.street(n)
        layouts = [(c.id, c.draw(size)) for c in cuts]
        cache = pairing.Cache()
        first, reg = cpu(lambda layouts=layouts, cache=cache: sheets.register("street", layouts, cache=cache))
        base = base or first
        edited = list(layouts)
        k = n // 2  # a hand redraws one layout: every control point moved a little
        edited[k] = (cuts[k].id, L.draw(cuts[k].camera, size, L.line_width(size), cuts[k].shapes, 1.0, 99))
        again = pairing.Cache.from_dict(cache.to_dict())
        edit, reg2 = cpu(lambda edited=edited, again=again: sheets.register("street", edited, cache=again))
        sizes = sorted((len(s.cuts) for s in reg2.sheets), reverse=True)
        worst, clean, over, sampled = place_error(reg, cuts, size)
        print(f"{n:>5} {first:>8.1f} {first / base:>6.2f} {len(reg.pairs):>6} {n * (n - 1) // 2:>9} "
              f"{'+'.join(map(str, sorted((len(s.cuts) for s in reg.sheets), reverse=True))):>7} "
              f"{worst:>7.2f} {clean:>9.2f} {f'{over}/{sampled}':>9} {edit:>7.2f} {edit / first:>10.3f} "
              f"{again.misses:>10}"
              + ("" if sizes == [n] else f"  after the edit: {'+'.join(map(str, sizes))}"))


def status(n: int, size: tuple[int, int]) -> None:
    from helpers import write_shotlist

    cuts = L.street(n)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "layouts").mkdir()
        for c in cuts:
            cv2.imwrite(str(folder / "layouts" / f"{c.id}.png"), c.draw(size)[..., ::-1])
        data = {"version": 1, "episode": "bench", "size": list(size), "model": "draft", "seed": 1,
                "backgrounds": {"street": {"prompt": "a street"}},
                "cuts": [{"id": c.id, "layout": f"layouts/{c.id}.png", "bg": "street"} for c in cuts]}
        path = write_shotlist(folder, data, layouts=False)
        print(f"\n{n} cuts of one place at {size[0]}x{size[1]}, draft model (whole process: wall s, CPU s)")
        for what, command in (("render (registers, fills the cache, paints)", "render"),
                              ("status after it", "status"), ("status again", "status"),
                              ("one layout redrawn: render", "render")):
            if what.startswith("one layout"):
                k = n // 2
                image = L.draw(cuts[k].camera, size, L.line_width(size), cuts[k].shapes, 1.0, 99)
                cv2.imwrite(str(folder / "layouts" / f"{cuts[k].id}.png"), image[..., ::-1])
            t, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-m", "shotrender", command, str(path), *(
                ("--progress", "none") if command == "render" else ())], capture_output=True, check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            print(f"  {what}: {time.perf_counter() - t:.2f} wall, {used:.2f} CPU")


def accuracy(args) -> None:
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
