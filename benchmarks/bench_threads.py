"""Training speed of the CPU presets at 1, 2, ... torch threads: the measurement behind ``settings.threads``.

For each preset (``tiny``, ``fast`` by default; add ``chromtransfer`` for the GPU network) and
each thread count, times ``--steps`` training steps of the engine's own epoch loop (the demo's
CPU recipe: batch 32, no dropout, reverse-complement augmentation) on random 600-bp sequences,
after one warm-up step. The thread counts are run interleaved, ``--repeats`` rounds, and the best
round is kept, so a burst of load from other jobs hits every count alike; the ratios within one
run, not the absolute times, are what carry over. The load average before and after is printed.

Prints a table (sequences/s, seconds per step, time relative to the fastest count of the preset)
and one JSON line.

    python benchmarks/bench_threads.py                    # --presets tiny fast --threads 1 2 --steps 20
    python benchmarks/bench_threads.py --presets chromtransfer --steps 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from chromseq.data import SequenceDataset
from chromseq.models import PRESETS, ChromTransfer
from chromseq.train._acceleration import make_optimizer
from chromseq.train._batches import Batches
from chromseq.train._engine import _train_epoch
from chromseq.train._inference import resolve_precision
from chromseq.train._objective import make_objective
from chromseq.train._spec import TrainSpec

WIDTH = 600


def _data(n: int, seed: int = 0) -> SequenceDataset:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, WIDTH), dtype=np.uint8)
    return SequenceDataset(codes, (rng.random((n, 1)) < 0.5).astype(np.float32))


def runner(preset: str, batch_size: int):
    """Return ``run(n_steps) -> seconds``: that many steps of the engine's epoch loop for ``preset`` on the CPU."""
    device = torch.device("cpu")
    model = ChromTransfer(PRESETS[preset].replace(dropout=0.0))
    spec = TrainSpec(batch_size=batch_size, seed=0, learning_rate=3e-3)
    precision = resolve_precision(spec.precision, device)
    objective = make_objective(spec, _data(64).labels, device)
    opt = make_optimizer(model, spec, device)
    scaler = torch.amp.GradScaler("cpu", enabled=False)

    def run(n_steps: int) -> float:
        batches = Batches(model, _data(n_steps * batch_size), spec, device, cache=False, train=True)
        t0 = time.perf_counter()
        _train_epoch(model, batches, opt, scaler, objective, spec, precision, 0, "bench")
        return time.perf_counter() - t0

    return run


def measure(presets: list[str], threads: list[int], steps: int, repeats: int, batch_size: int) -> list[dict]:
    """Best-of-``repeats`` seconds per step for every (preset, threads), thread counts interleaved."""
    rows = []
    for preset in presets:
        run = runner(preset, batch_size)
        best = dict.fromkeys(threads, float("inf"))
        for _ in range(repeats):
            for n in threads:
                torch.set_num_threads(n)
                run(1)  # warm-up at this thread count
                best[n] = min(best[n], run(steps) / steps)
        fastest = min(best.values())
        for n in threads:
            rows.append(
                {
                    "preset": preset,
                    "threads": n,
                    "s_per_step": best[n],
                    "seq_per_s": batch_size / best[n],
                    "vs_fastest": best[n] / fastest,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "fast"], choices=sorted(PRESETS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--steps", type=int, default=20, help="training steps timed per round")
    parser.add_argument("--repeats", type=int, default=2, help="rounds; the best is kept")
    parser.add_argument("--batch-size", type=int, default=32, help="the demo's CPU recipe")
    args = parser.parse_args()
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rows = measure(args.presets, args.threads, args.steps, args.repeats, args.batch_size)
    load_after = os.getloadavg()
    print(f"CPU: {platform.machine()}, {os.cpu_count()} cores; load average (1, 5, 15 min)")
    print(f"  before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(f"  after  {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print(f"{'preset':<14}{'threads':>8}{'seq/s':>10}{'s/step':>10}{'vs fastest':>12}")
    for r in rows:
        print(
            f"{r['preset']:<14}{r['threads']:>8}{r['seq_per_s']:>10.1f}{r['s_per_step']:>10.3f}{r['vs_fastest']:>11.2f}x"
        )
    summary = {
        "benchmark": "threads",
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "load_before": list(load_before),
        "load_after": list(load_after),
        "steps": args.steps,
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "seconds": time.perf_counter() - t0,
        "rows": rows,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
