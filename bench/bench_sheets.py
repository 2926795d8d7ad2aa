"""Sheets: the diffusion work of the example with sheets against per-cut painting; the farm critical path.

    python bench/bench_sheets.py [--size 128x72] [--steps 4] [--no-diffusion] [--no-farm]

Diffusion work: the example episode (shots/example) at `--size` and `--steps`, rendered in-process on the
tiny random-weight pipeline (tests/tinymodel.py) twice into fresh folders: with continuity (each place's
sheets painted once, each cut its view refined at `continuity.refine`) and with `--no-continuity` (each cut
painted alone from its own layout). Every call to the backend is counted from its `last_work`: UNet
evaluations (a guided step counts two) and their latent pixels, summed, so "work" is UNet evaluations ×
latent pixels. "first attempts" leaves out the retries the continuity check asks for (a cut's second and
later requests): on random weights the check retries most cuts, which a trained model would not.

Farm critical path: a 300-cut draft episode with locations of 60, 40 and 30 cuts and 34 of 5 cuts (each
a pan drawn as line art, consecutive cuts overlapping), planned and registered into sheets as render
does. In unit-times (a sheet's painting is 1, a cut's is 1): today a farm unit is a chain, which paints
its sheets and then its cuts one after another, so the critical path is the longest chain's sheets plus
cuts; with sheet units (a background's sheets) and cut units, where a cut depends only on its sheet, it
is the most sheets of one background plus one cut (a cut that registers with nothing paints alone: one
unit-time). Counted from the plan and its sheets, not read from `units --json`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

EXAMPLE = ROOT / "shots" / "example"
LOCATIONS = (60, 40, 30) + (5,) * 34  # 300 cuts


def small_example(folder: Path, size: tuple[int, int], steps: int) -> Path:
    """The example episode copied with its layouts, at `size` and `steps`."""
    shutil.copytree(EXAMPLE / "layouts", folder / "layouts")
    text = (EXAMPLE / "episode.yaml").read_text(encoding="utf-8")
    text, sized = re.subn(r"^size: \[1024, 576\]", f"size: [{size[0]}, {size[1]}]", text, flags=re.M)
    text, stepped = re.subn(r"^  steps: 30\b", f"  steps: {steps}", text, flags=re.M)
    if sized != 1 or stepped != 1:
        raise SystemExit("shots/example/episode.yaml no longer has `size: [1024, 576]` and `steps: 30`")
    path = folder / "episode.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class Counted:
    """Every backend call of a render with its work, read from `last_work` after the call."""

    def __init__(self, backend):
        self.backend = backend
        self.calls: list[dict] = []
        inner = backend.render_batch

        def render_batch(requests):
            images = inner(requests)
            work = backend.last_work  # one record per call: render() is a batch of one
            self.calls.append({"cut": ",".join(r.cut for r in requests), "sheet": bool(requests[0].extra.get("sheet")),
                               "size": (requests[0].width, requests[0].height), "windows": work["windows"],
                               "evaluations": work["unet_evaluations"], "work": work["latent_pixels"]})
            return images

        backend.render_batch = render_batch

    def row(self) -> dict:
        seen: set[str] = set()
        row = {"sheets": 0, "cuts": 0, "retries": 0, "evaluations": 0, "work": 0, "sheet work": 0, "cut work": 0,
               "retry work": 0}
        for call in self.calls:
            kind = "retries" if call["cut"] in seen else "sheets" if call["sheet"] else "cuts"
            seen.add(call["cut"])
            row[kind] += 1
            row["evaluations"] += call["evaluations"]
            row["work"] += call["work"]
            row[{"retries": "retry work", "sheets": "sheet work", "cuts": "cut work"}[kind]] += call["work"]
        return row

    def sheets(self) -> str:
        return ", ".join(f"{c['cut']} {c['size'][0]}x{c['size'][1]} in {c['windows']} "
                         f"window{'s' if c['windows'] > 1 else ''}" for c in self.calls if c["sheet"])


def diffusion_work(size: tuple[int, int], steps: int) -> None:
    from shotrender.backends.diffusers import DiffusersBackend
    from shotrender.plan import make_plan
    from shotrender.render import RenderOptions, render
    from shotrender.shotlist import load
    from shotrender.state import RunSettings

    from tinymodel import build_tiny_pipeline

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        model = build_tiny_pipeline(work / "tiny")
        episode = small_example(work / "example", size, steps)
        whole = episode.with_name("one_window.yaml")
        # continuity.tile at least as large as any sheet: every sheet painted in one window, no overlap
        whole.write_text(episode.read_text(encoding="utf-8") + "\ncontinuity:\n  tile: 4096\n", encoding="utf-8")
        runs = {}
        for name, path, continuity in (("sheets", episode, True), ("sheets, 1 window", whole, True),
                                       ("--no-continuity", episode, False)):
            plan = make_plan(load(path))
            counted = Counted(DiffusersBackend(str(model), device="cpu"))
            t0 = time.perf_counter()
            render(plan, counted.backend, RenderOptions(work / f"out{len(runs)}",
                                                        RunSettings(model=str(model), continuity=continuity)))
            runs[name] = (counted, time.perf_counter() - t0)
    window = counted.backend._pipe.unet.config.sample_size * counted.backend._pipe.vae_scale_factor
    print(f"example episode at {size[0]}x{size[1]}, {steps} steps, tiny random-weight pipeline on the CPU "
          f"(window {window} px): {plan.cut_count} cuts, {len(plan.jobs)} painted")
    print("work = UNet evaluations x their latent pixels, summed over every backend call of the render")
    print(f"{'run':<17} {'sheets':>6} {'cuts':>4} {'retries':>7} {'UNet evals':>10} {'work':>8} {'sheets':>8} "
          f"{'cuts':>7} {'retries':>7} {'s':>6}")
    for name, (counted, seconds) in runs.items():
        r = counted.row()
        print(f"{name:<17} {r['sheets']:>6} {r['cuts']:>4} {r['retries']:>7} {r['evaluations']:>10} {r['work']:>8} "
              f"{r['sheet work']:>8} {r['cut work']:>7} {r['retry work']:>7} {seconds:>6.1f}")
    alone = runs["--no-continuity"][0].row()["work"]
    for name in ("sheets", "sheets, 1 window"):
        r = runs[name][0].row()
        print(f"  {name} / --no-continuity: {r['work'] / alone:.3f} in all, "
              f"{(r['work'] - r['retry work']) / alone:.3f} without retries; "
              f"sheets {r['sheet work'] / alone:.3f} + cuts' refines {r['cut work'] / alone:.3f}")
        print(f"    {runs[name][0].sheets()}")


def farm_episode(folder: Path, width: int, height: int) -> Path:
    from helpers import pan_layouts, write_shotlist

    cuts, backgrounds = [], {}
    for b, count in enumerate(LOCATIONS):
        bg = f"loc{b:02d}"
        backgrounds[bg] = {"prompt": f"place {b}"}
        for path in pan_layouts(folder / "layouts" / bg, count, width, height, step=width // 10, seed=b):
            cuts.append({"id": f"C{len(cuts) + 1:04d}", "layout": str(path.relative_to(folder)), "bg": bg})
    data = {"version": 1, "episode": "farm", "size": [width, height], "model": "draft", "seed": 1,
            "defaults": {"prompt": "anime background"}, "backgrounds": backgrounds, "cuts": cuts}
    return write_shotlist(folder, data, layouts=False)


def critical_path(width: int, height: int) -> None:
    from shotrender.plan import make_plan
    from shotrender.shotlist import load
    from shotrender.state import RunSettings, State
    from shotrender.store import Store

    with tempfile.TemporaryDirectory() as scratch:
        plan = make_plan(load(farm_episode(Path(scratch), width, height)))
        state = State(plan, Store(Path(scratch) / "out", plan.shotlist.episode), {"backend": "draft"}, RunSettings())
        t0 = time.perf_counter()
        places = {c.name: (c, state.sheets_for(c.jobs)) for c in plan.chains}
        seconds = time.perf_counter() - t0
    # today: a chain is one unit, its sheets then its cuts in sequence
    chain_path = max(len(found) + len(chain.jobs) for chain, found in places.values())
    total = sum(len(found) + len(chain.jobs) for chain, found in places.values())
    # sheet units and cut units: a cut waits for its sheet only; a cut painted alone waits for nothing
    alone = sum(1 for chain, found in places.values() for job in chain.jobs if state.sheet_of(job) is None)
    sheet_count = sum(len(found) for _, found in places.values())
    # a sheet unit paints its background's sheets (one here per location), then each cut unit one cut
    unit_path = max(len(found) for _, found in places.values()) + 1 if sheet_count else 1
    largest = max(len(s.cuts) for _, found in places.values() for s in found)
    print(f"300-cut draft episode at {width}x{height}: locations of {', '.join(map(str, LOCATIONS[:3]))} and "
          f"{len(LOCATIONS) - 3} of {LOCATIONS[3]} cuts; registered into sheets as render does ({seconds:.1f} s)")
    print(f"  {sheet_count} sheets (largest {largest} cuts), {alone} cuts painted alone; "
          f"{total} unit-times of work in all")
    print(f"  critical path, chain units (sheets then cuts in sequence): {chain_path} unit-times")
    print(f"  critical path, sheet units + cut units (a cut depends only on its sheet): {unit_path} unit-times")
    print(f"  ratio: {chain_path / unit_path:.1f}x shorter")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="128x72", help="the example's size for the diffusion work")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--farm-size", default="128x72", help="the layouts' size for the critical path")
    parser.add_argument("--no-diffusion", action="store_true")
    parser.add_argument("--no-farm", action="store_true")
    args = parser.parse_args()
    if not args.no_diffusion:
        diffusion_work(tuple(int(v) for v in args.size.split("x")), args.steps)
    if not args.no_farm:
        if not args.no_diffusion:
            print()
        critical_path(*(int(v) for v in args.farm_size.split("x")))


if __name__ == "__main__":
    main()
