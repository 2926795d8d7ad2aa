"""Overhead per model family: the diffusers backend's render against the family's raw img2img pipeline loop.

    python bench/bench_families.py [--size 128] [--steps 8] [--cuts 6] [--rounds 7]

For each family's tiny random-weight pipeline (tests/tinyfamilies.py) one process loads the backend once, then
paints the same cuts (same init image, prompt, strength, guidance and seeds) both ways: through
`DiffusersBackend.render` (resizing, padding to the family's cell, its guidance arguments, the work counter,
LoRA switching, the broken-image check, the conversion to uint8) and as a plain loop of `pipe(...)` calls on
the same loaded pipeline. The rounds interleave the two sides (raw then backend, backend then raw, ...), so a
busy machine's slow moment lands on both; each round gives a ratio, the backend's time over the loop's, and the
median of the rounds' ratios is the overhead, their lowest and highest its spread. One torch thread. The load
average before and after is printed: a figure taken at a load above the core count is the machine's noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def measure(backend, requests, image, rounds: int) -> dict[str, list[float]]:
    """Seconds of the raw pipeline loop and of the backend over `requests`, per round, the two interleaved and
    their order alternated, after a warm-up of each."""
    import torch

    from shotrender.backends.diffusers.pipeline import GUIDANCE

    pipe, family = backend._pipe, backend.family

    def raw():
        for r in requests:
            kwargs = {"prompt": r.prompt, "negative_prompt": r.negative, "guidance_scale": r.guidance}
            kwargs.update(GUIDANCE[family.guidance](r.guidance, [r.negative]))  # what guidance means for it
            pipe(image=image, strength=r.strength, num_inference_steps=r.steps, width=r.width, height=r.height,
                 output_type="np", generator=torch.Generator().manual_seed(r.seed), **kwargs)

    def ours():
        for r in requests:
            backend.render(r)

    sides = {"raw": raw, "ours": ours}
    times: dict[str, list[float]] = {"raw": [], "ours": []}
    for run in sides.values():
        run()  # warm: first calls allocate
    for i in range(rounds):
        for side in ("raw", "ours") if i % 2 == 0 else ("ours", "raw"):
            t = time.perf_counter()
            sides[side]()
            times[side].append(time.perf_counter() - t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--cuts", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from PIL import Image

    from shotrender.backends.diffusers import DiffusersBackend
    from test_diffusers_backend import layout, request
    from tinyfamilies import FAMILIES, build_tiny_family

    torch.set_num_threads(1)
    art = layout(width=args.size, height=args.size)
    requests = [request(init_image=art, layout=art, width=args.size, height=args.size, steps=args.steps,
                        strength=0.5, guidance=3.5, seed=seed) for seed in range(args.cuts)]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.cuts} cuts {args.size}x{args.size}, "
          f"{args.steps} steps, strength 0.5, {args.rounds} interleaved rounds")
    print(f"{'family':>11} {'raw loop s':>11} {'backend s':>10} {'ratio':>7} {'spread':>13}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in FAMILIES:
            backend = DiffusersBackend(str(build_tiny_family(name, Path(scratch) / name)), device="cpu")
            backend.load()
            times = measure(backend, requests, Image.fromarray(art), args.rounds)
            ratios = [ours / raw for ours, raw in zip(times["ours"], times["raw"], strict=True)]
            print(f"{name:>11} {statistics.median(times['raw']):>11.2f} {statistics.median(times['ours']):>10.2f} "
                  f"{statistics.median(ratios):>7.3f} {min(ratios):>6.3f}-{max(ratios):.3f}")
    print(f"load average {os.getloadavg()[0]:.2f} after")

if __name__ == "__main__":
    main()
