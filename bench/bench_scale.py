"""Scale: validate + plan at 300, 3,000 and 30,000 cuts; a cached 300-cut re-run; render memory vs cut count.

    python bench/bench_scale.py [--sizes 300,3000,30000] [--repeat 3] [--no-render] [--render-size 512x288]

Every figure is a whole process, as a user or a farm runs it (`python -m shotrender ...`), with its
peak resident memory and CPU time read from the process itself. Episodes are generated: pans of 10
cuts per background, drawn as line art; the large shot lists reuse 30 layout files (reading layout
headers is per distinct file).

The scale goal is `validate` + `plan --json` of 30,000 cuts in 3 s together (the `total s` column).
With `--repeat N` each command runs N times and the fastest run is shown: other work on the machine
only ever adds time. CPU s (user + system, both commands) moves less with other load than wall time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

# Runs the CLI in-process, then reports its own peak RSS and whether torch was imported. The peak is
# VmHWM, the high-water mark of this program's memory: ru_maxrss would carry over the parent's (Linux
# keeps it across fork and exec), and this script holds a 30,000-cut episode by then.
PROBE = r"""
import resource, sys
from shotrender.cli import main
sys.argv = ["shotrender", *sys.argv[1:]]
try:
    main()
except SystemExit as e:
    if e.code:
        raise
usage = resource.getrusage(resource.RUSAGE_SELF)
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print("PROBE", peak_kb // 1024, "torch" in sys.modules, usage.ru_utime + usage.ru_stime, file=sys.stderr)
"""


def probe(*args: str, repeat: int = 1) -> tuple[float, int, bool, float]:
    """Wall seconds, peak MB, whether torch was imported and CPU seconds: of the fastest of `repeat` runs."""
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
        seconds = time.perf_counter() - t
        if out.returncode:
            raise SystemExit(out.stderr)
        line = next(x for x in out.stderr.splitlines() if x.startswith("PROBE"))
        _, rss, torch, cpu = line.split()
        runs.append((seconds, int(rss), torch == "True", float(cpu)))
    return min(runs)


def make_episode(folder: Path, cuts: int, width: int, height: int, distinct_layouts: int | None) -> Path:
    from helpers import pan_layouts, write_shotlist

    per_bg = 10
    layouts: list[str] = []
    chains = -(-cuts // per_bg)
    for b in range(min(chains, (distinct_layouts or cuts) // per_bg or 1)):
        for path in pan_layouts(folder / "layouts" / f"bg{b:04d}", per_bg, width, height, step=width // 10, seed=b):
            layouts.append(str(path.relative_to(folder)))
    entries = [{"id": f"C{n + 1:05d}", "layout": layouts[n % len(layouts)], "bg": f"bg{n // per_bg:04d}",
                "prompt": f"cut {n + 1}"} for n in range(cuts)]
    data = {"version": 1, "episode": "scale", "size": [width, height], "model": "draft", "seed": 1,
            "defaults": {"prompt": "anime background"},
            "backgrounds": {f"bg{b:04d}": {"prompt": f"place {b}"} for b in range(chains)}, "cuts": entries}
    return write_shotlist(folder, data, layouts=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300,3000,30000")
    parser.add_argument("--repeat", type=int, default=1, help="runs per command; the fastest is shown")
    parser.add_argument("--no-render", action="store_true", help="only validate and plan")
    parser.add_argument("--render-size", default="512x288")
    args = parser.parse_args()
    width, height = (int(v) for v in args.render_size.split("x"))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        print(f"{'cuts':>7} {'validate s':>11} {'plan --json s':>14} {'total s':>8} {'CPU s':>6} "
              f"{'peak MB validate / plan':>24}  torch")
        for n in (int(s) for s in args.sizes.split(",")):
            path = make_episode(scratch / f"plan{n}", n, 128, 72, distinct_layouts=30)
            validate_s, validate_rss, torch_v, validate_cpu = probe("validate", str(path), repeat=args.repeat)
            plan_s, rss, torch_p, plan_cpu = probe("plan", str(path), "--json", repeat=args.repeat)
            print(f"{n:>7} {validate_s:>11.2f} {plan_s:>14.2f} {validate_s + plan_s:>8.2f} "
                  f"{validate_cpu + plan_cpu:>6.2f} {f'{validate_rss} / {rss}':>24}  {torch_v or torch_p}")
        if args.no_render:
            return

        print(f"\nrenders at {width}x{height}, draft backend, continuity on")
        print(f"{'cuts':>7} {'first render s':>15} {'peak MB':>8} {'cached re-run s':>16} {'peak MB':>8}  torch")
        peaks = {}
        for n in (30, 300):
            path = make_episode(scratch / f"render{n}", n, width, height, distinct_layouts=None)
            first_s, first_rss, _, _ = probe("render", str(path), "--progress", "none")
            again_s, again_rss, torch, _ = probe("render", str(path), "--progress", "none")
            peaks[n] = first_rss
            print(f"{n:>7} {first_s:>15.2f} {first_rss:>8} {again_s:>16.2f} {again_rss:>8}  {torch}")
        print(f"render peak RSS, 300 cuts / 30 cuts: {peaks[300] / peaks[30]:.2f}")


if __name__ == "__main__":
    main()
