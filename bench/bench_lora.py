"""LoRA switching: the cost of changing LoRAs between cuts against painting the same cuts without switching.

    python bench/bench_lora.py [--cuts 12] [--size 64] [--steps 4] [--repeat 3]

On the tiny random-weight pipeline (tests/tinymodel.py) with two tiny LoRAs (peft on the UNet and the text
encoder), on the CPU, one thread: `--cuts` requests, each with one of four LoRA sets (A; A+B at 0.7;
none; B), painted in one process after a warm-up that loads both files, so loading is not measured:

- switching: the sets alternate, A, A+B, none, B, A, ...: a switch before every cut;
- grouped: the same cuts ordered by set: four switches in all;
- none: every cut without LoRAs (the bare pipeline, for scale: what active adapter layers cost).

switching / grouped is the cost of switching per cut, the same pictures painted; the best of `--repeat`
runs of each is taken. The switch itself (`Adapters.use`, walking every adapter layer to set its scales
and flags) is also timed alone, over 200 switches. A tiny model's cut takes a fraction of a second, so
the switch weighs more here than beside a real model's seconds per cut: an upper bound.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", type=int, default=12)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from shotrender.backends.diffusers import DiffusersBackend, adapters
    from shotrender.model_settings import BackendOptions
    from test_diffusers_backend import request

    from tinymodel import build_tiny_lora, build_tiny_pipeline

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        model = build_tiny_pipeline(work / "tiny")
        a, b = (str(build_tiny_lora(work / f"lora{seed}", model, seed)) for seed in (1, 2))
        backend = DiffusersBackend(str(model), device="cpu", options=BackendOptions(loras=(a, b)))
        sets = [((a, 1.0),), ((a, 1.0), (b, 0.7)), (), ((b, 1.0),)]
        switching = [(i, sets[i % 4]) for i in range(args.cuts)]
        plans = {
            "switching": switching,
            "grouped": sorted(switching, key=lambda cut: sets.index(cut[1])),
            "none": [(i, ()) for i in range(args.cuts)],
        }

        def run(loras_per_cut) -> float:
            t0 = time.perf_counter()
            for i, loras in loras_per_cut:
                backend.render(request(cut=f"C{i:03d}", seed=i, width=args.size, height=args.size, steps=args.steps,
                                       extra={"loras": loras}))
            return time.perf_counter() - t0

        run(plans["switching"][:4])  # loads the model and both files
        loads = adapters.LOADS
        best = {name: min(run(plan) for _ in range(args.repeat)) for name, plan in plans.items()}
        t0 = time.perf_counter()
        for i in range(200):
            backend._adapters.use(sets[i % 4])
        switch = (time.perf_counter() - t0) / 200
        assert adapters.LOADS == loads, "a switch loaded a file again"
    print(f"{args.cuts} cuts of {args.size}x{args.size}, {args.steps} steps, tiny pipeline, CPU, 1 thread; "
          f"best of {args.repeat}")
    for name, seconds in best.items():
        print(f"  {name:<10} {seconds:7.3f} s  {seconds / args.cuts * 1000:7.1f} ms/cut")
    print(f"one switch alone: {switch * 1000:.2f} ms, {switch / (best['grouped'] / args.cuts):.3f} of a grouped cut")
    print(f"switching / grouped: {best['switching'] / best['grouped']:.3f}; "
          f"grouped / none: {best['grouped'] / best['none']:.3f}")


if __name__ == "__main__":
    main()
