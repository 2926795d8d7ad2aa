"""Overhead per model family: the diffusers backend's render against the family's raw img2img pipeline loop.

    python bench/bench_families.py [--size 128] [--steps 8] [--cuts 6]

For each family's tiny random-weight pipeline (tests/tinyfamilies.py) one process loads the backend once, then
paints the same cuts (same init image, prompt, strength, guidance and seeds) twice over: through
`DiffusersBackend.render` (resizing, padding to the family's cell, its guidance arguments, the work counter,
LoRA switching, the broken-image check, the conversion to uint8) and as a plain loop of `pipe(...)` calls on
the same loaded pipeline. The ratio is the backend's time over the loop's: orchestration overhead. One torch
thread; the best of five rounds of each is kept, so a busy machine's pauses do not land on one side.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def measure(backend, requests, image) -> dict[str, float]:
    """The best of five rounds of the raw pipeline loop and of the backend over `requests`, after a warm-up."""
    import numpy as np
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

    times = {}
    for side, run in (("raw", raw), ("ours", ours)):
        run()  # warm: first calls allocate
        best = np.inf
        for _ in range(5):
            t = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - t)
        times[side] = best
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--cuts", type=int, default=6)
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
    print(f"{'family':>11} {'raw loop s':>11} {'backend s':>10} {'ratio':>7}  "
          f"({args.cuts} cuts {args.size}x{args.size}, {args.steps} steps, strength 0.5)")
    with tempfile.TemporaryDirectory() as scratch:
        for name in FAMILIES:
            backend = DiffusersBackend(str(build_tiny_family(name, Path(scratch) / name)), device="cpu")
            backend.load()
            times = measure(backend, requests, Image.fromarray(art))
            print(f"{name:>11} {times['raw']:>11.2f} {times['ours']:>10.2f} {times['ours'] / times['raw']:>7.3f}")


if __name__ == "__main__":
    main()
