"""A cut's own differences from its sheet: a return to an earlier framing redrawn with two shapes left out
and one added (tests/redrawn.py), rendered with continuity and painted alone.

    python bench/bench_regions.py [--size 384x216] [--tiny] [--save FOLDER]

Prints, for the redrawn cut S004 with continuity against S004 painted alone (`--no-continuity`): the mean
gradient magnitude where the removed shapes were, off its own lines (a ghost of their fill raises it), and in
a ring 2-14 px around the added sign (a halo raises it); and the plain pans' paint error with continuity
against alone (with the true transforms). Then `shotrender check`'s score for S004. `--tiny` renders on the
tiny random-weight pipeline instead of the draft backend (its output is noise: the ratios say nothing there,
but the run shows that regions are painted). `--save` keeps the renders.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    import redrawn
    from shotrender.backends.draft import DraftBackend
    from shotrender.images import decode_png
    from shotrender.plan import make_plan
    from shotrender.render import RenderOptions, check, render
    from shotrender.shotlist import load
    from shotrender.state import RunSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="384x216")
    parser.add_argument("--tiny", action="store_true", help="the tiny random-weight pipeline, not the draft")
    parser.add_argument("--save", type=Path, help="copy the renders into this folder")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        if args.tiny:
            from shotrender.backends.diffusers import DiffusersBackend

            from tinymodel import build_tiny_pipeline

            model = str(build_tiny_pipeline(work / "tiny"))

            def backend():
                return DiffusersBackend(model, device="cpu")
        else:
            model, backend = "draft", DraftBackend
        plan = make_plan(load(redrawn.write_episode(work / "street", size, model)))
        renders = {}
        for name, continuity in (("on", True), ("off", False)):
            out = work / name
            render(plan, backend(), RenderOptions(out, RunSettings(model=model, continuity=continuity)))
            renders[name] = {c.id: decode_png((out / f"ep01_{c.id}.png").read_bytes()) for c in redrawn.CUTS}
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                for c in redrawn.CUTS:
                    shutil.copy(out / f"ep01_{c.id}.png", args.save / f"{c.id}.{name}.png")
        rows = check(plan, work / "on", RunSettings(model=model))
    r = redrawn.ratios(renders["on"], renders["off"], size)
    print(f"{'draft' if not args.tiny else 'tiny pipeline'} at {size[0]}x{size[1]}, with continuity / painted alone:")
    print(f"  S004 gradient where the removed shapes were: {r['removed']:.2f}x (goal <= 1.15)")
    print(f"  S004 gradient in a ring around the added sign: {r['ring']:.2f}x (goal <= 1.3)")
    print(f"  plain pans' paint error: {r['pans']:.3f}x (goal <= 0.3)")
    for row in rows:
        if row.cut == "S004" and row.mode == "sheet":
            print(f"  check S004 against its sheet: score {row.score:.4f} limit {row.limit:g} "
                  f"{'OVER' if row.over else 'ok'}")


if __name__ == "__main__":
    main()
