"""Overhead: `shotrender render` (continuity on) against a plain loop over the same diffusers pipeline.

    python bench/bench_overhead.py [--sizes 128,256] [--steps 4] [--layouts pans|apart] [--repeat 3]

Both sides paint the same 12 cuts with the tiny random-weight pipeline that the tests build, from the same
layouts, with the same steps, strength, guidance and seeds, and write one PNG per cut. Both load the model
once and both times include the load. The shot list sets `continuity.limit: 1.0`, so every cut is painted
exactly once on both sides (on random weights the check would otherwise retry every guided cut).

`--layouts pans` (the default): three backgrounds, a four-cut pan each. Each pan registers into one
sheet, which shotrender paints before its cuts: three paintings more than the raw loop's twelve, part of
what continuity is, in shotrender's time. `--layouts apart`: two backgrounds of six cuts whose layouts do
not register (each drawn from a panorama of its own): every cut is painted alone, once, as the raw loop
paints it, so the ratio is shotrender's own work (registration's failed attempts, state, the manifest,
imports). Each side runs in its own fresh process, one torch thread. With `--repeat N` the two sides
alternate N times (raw, shotrender, raw, ...) so that other load on the machine falls on both; the ratios of
each round (wall, and CPU seconds: user + system, which move less with other load) are printed with their
median and spread, and the load average (`os.getloadavg`) before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

RAW = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, torch
from PIL import Image
from diffusers import AutoPipelineForImage2Image
torch.set_num_threads(1)
jobs = json.loads(sys.argv[1])
pipe = AutoPipelineForImage2Image.from_pretrained(jobs["model"], local_files_only=True)
pipe.set_progress_bar_config(disable=True)
for job in jobs["jobs"]:
    init = Image.open(job["layout"]).convert("RGB").resize((jobs["width"], jobs["height"]))
    out = pipe(prompt=job["prompt"], negative_prompt=job["negative"] or None, image=init,
               num_inference_steps=job["steps"], strength=job["strength"], guidance_scale=job["guidance"],
               generator=torch.Generator().manual_seed(job["seed"])).images[0]
    out.save(f"{jobs['out']}/{job['cut']}.png")
print(time.perf_counter() - t0)
"""


def episode(folder: Path, model: Path, size: int, steps: int, layouts: str = "pans") -> Path:
    from helpers import pan_layouts, write_shotlist

    cuts = []
    if layouts == "pans":
        places = {"park": 1, "street": 2, "room": 3}
        for bg, seed in places.items():
            for i, path in enumerate(pan_layouts(folder / "layouts" / bg, 4, size, size, step=size // 8, seed=seed)):
                cuts.append({"id": f"{bg[0].upper()}{i + 1:02d}", "layout": str(path.relative_to(folder)), "bg": bg})
    else:  # each cut a panorama of its own: nothing registers
        places = {"park": 1, "street": 2}
        for bg, seed in places.items():
            for i in range(6):
                path, = pan_layouts(folder / "layouts" / f"{bg}{i}", 1, size, size, seed=seed * 100 + i)
                cuts.append({"id": f"{bg[0].upper()}{i + 1:02d}", "layout": str(path.relative_to(folder)), "bg": bg})
    data = {"version": 1, "episode": "bench", "size": [size, size], "model": str(model), "seed": 7,
            "defaults": {"steps": steps, "strength": 0.6, "guidance": 7.5, "prompt": "background"},
            "backgrounds": {bg: {} for bg in places}, "continuity": {"limit": 1.0}, "cuts": cuts}
    return write_shotlist(folder, data, layouts=False)


def timed_process(args: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one process."""
    t, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(out.stderr)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - t, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--layouts", choices=("pans", "apart"), default="pans")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the two sides, alternating")
    args = parser.parse_args()
    # transformers' notices (no torchvision: a slower image processor nobody here uses) and its save bar
    # would land in the middle of the table
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from tinymodel import build_tiny_pipeline

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    print(f"{'size':>9} {'raw loop s':>11} {'shotrender s':>13} {'ratio':>7} {'raw CPU s':>10} "
          f"{'shotrender CPU s':>17} {'CPU ratio':>10}  (12 cuts, {args.steps} steps, "
          f"layouts: {args.layouts}; load average {os.getloadavg()[0]:.2f})")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        model = build_tiny_pipeline(scratch / "tiny")
        for size in (int(s) for s in args.sizes.split(",")):
            folder = scratch / str(size)
            path = episode(folder, model, size, args.steps, args.layouts)
            from shotrender.plan import make_plan
            from shotrender.shotlist import load

            plan = make_plan(load(path))
            jobs = {"model": str(model), "width": size, "height": size, "out": str(folder / "raw"),
                    "jobs": [{"cut": j.cut, "layout": str(j.layout), "prompt": j.prompt, "negative": j.negative,
                              "steps": j.steps, "strength": j.strength, "guidance": j.guidance, "seed": j.seed}
                             for j in plan.jobs]}
            (folder / "raw").mkdir()
            ratios: dict[str, list[float]] = {"wall": [], "CPU": []}
            for n in range(args.repeat):
                raw, raw_cpu = timed_process([sys.executable, "-c", RAW, json.dumps(jobs)], env)
                ours, ours_cpu = timed_process([sys.executable, "-m", "shotrender", "render", str(path), "--out",
                                                str(folder / f"ours{n}"), "--progress", "none"], env)
                ratios["wall"].append(ours / raw)
                ratios["CPU"].append(ours_cpu / raw_cpu)
                print(f"{size}x{size:<5} {raw:>11.2f} {ours:>13.2f} {ours / raw:>7.3f} {raw_cpu:>10.2f} "
                      f"{ours_cpu:>17.2f} {ours_cpu / raw_cpu:>10.3f}")
            if args.repeat > 1:
                for what, values in ratios.items():
                    print(f"{size}x{size}: {what} ratio median {statistics.median(values):.3f}, from "
                          f"{min(values):.3f} to {max(values):.3f} over {len(values)} rounds")
                print(f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
