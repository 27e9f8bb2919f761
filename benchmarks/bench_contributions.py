"""Speed of ``tl.contributions`` per method and preset, against a direct tangermeme call in the same run.

For each preset (``tiny``, ``chromtransfer``) and method (DeepLIFT/SHAP, ISM, gradient x input) at
L = 600 bp, times ``chromseq.tl.contributions`` on an AnnData (codes -> one-hot, model call,
write-back to ``uns``) and the tangermeme function it wraps on the same one-hot tensor,
model and parameters. Calls alternate and the best of ``--repeats`` is kept. Prints a table and one
JSON line: ``overhead`` is wrapper time / direct time - 1 (two separate calls, so on a shared
machine it carries the noise between them); ``own_overhead`` is the time the wrapper spends outside
its tangermeme call, divided by the time inside it, measured within the same call.

    python benchmarks/bench_contributions.py                       # CPU (or --device cuda)
    python benchmarks/bench_contributions.py --presets tiny --n-regions 64
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings

import numpy as np
import torch

import chromseq as cs
from chromseq._codes import one_hot
from chromseq.models import PRESETS, ChromTransfer
from chromseq.tl import _contributions

#: Regions per (preset, method) by default: enough for a few seconds each on 2 CPU cores.
DEFAULT_N = {
    ("tiny", "deep_lift_shap"): 32,
    ("tiny", "ism"): 4,
    ("tiny", "grad_x_input"): 256,
    ("chromtransfer", "deep_lift_shap"): 4,
    ("chromtransfer", "ism"): 1,
    ("chromtransfer", "grad_x_input"): 64,
}


def direct(model, X, method, *, n_shuffles, batch_size, device, seed):
    """The tangermeme call tl.contributions makes, on a prepared one-hot tensor."""
    if method == "deep_lift_shap":
        from tangermeme.deep_lift_shap import deep_lift_shap

        return deep_lift_shap(model, X, n_shuffles=n_shuffles, batch_size=batch_size, hypothetical=True,
                              device=device, random_state=seed)  # fmt: skip
    if method == "ism":
        from tangermeme.saturation_mutagenesis import saturation_mutagenesis

        fast = torch.device(device).type != "cpu"  # as tl.contributions does
        return saturation_mutagenesis(
            model, X, target=0, batch_size=batch_size, hypothetical=True, device=device, fast=fast
        )
    from tangermeme.saliency import saliency

    return saliency(model, X, batch_size=batch_size, hypothetical=True, device=device)


class _Timed:
    """Wraps ``chromseq.tl._contributions._run`` (the tangermeme call) to time it inside the wrapper."""

    def __init__(self) -> None:
        self.inner, self.seconds = _contributions._run, 0.0

    def __call__(self, *a, **kw):
        t = time.perf_counter()
        try:
            return self.inner(*a, **kw)
        finally:
            self.seconds += time.perf_counter() - t


def bench_one(preset, method, n, args):
    model = ChromTransfer(PRESETS[preset], generator=torch.Generator().manual_seed(0)).eval()
    adata = cs.datasets.synthetic(n, width=600, random_state=0)
    X = one_hot(adata.obsm["sequence"])
    kw = {"n_shuffles": args.n_shuffles, "batch_size": args.batch_size, "device": args.device}
    best_w, best_d, own = np.inf, np.inf, np.inf
    for _ in range(args.repeats):
        t = time.perf_counter()
        direct(model, X, method, seed=0, **kw)
        best_d = min(best_d, time.perf_counter() - t)
        timed = _contributions._run = _Timed()
        try:
            t = time.perf_counter()
            cs.tl.contributions(adata, model=model, method=method, random_state=0, **kw)
            total = time.perf_counter() - t
        finally:
            _contributions._run = timed.inner
        best_w, own = min(best_w, total), min(own, (total - timed.seconds) / timed.seconds)
    return {
        "preset": preset,
        "method": method,
        "n_regions": n,
        "wrapper_s": round(best_w, 3),
        "direct_s": round(best_d, 3),
        "wrapper_regions_per_s": round(n / best_w, 3),
        "direct_regions_per_s": round(n / best_d, 3),
        "overhead": round(best_w / best_d - 1, 4),
        "own_overhead": round(own, 4),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=["tiny", "chromtransfer"])
    p.add_argument("--methods", nargs="+", default=["deep_lift_shap", "ism", "grad_x_input"])
    p.add_argument("--n-regions", type=int, default=None, help="regions per run (default: per preset and method)")
    p.add_argument("--n-shuffles", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    warnings.filterwarnings("ignore", message="Using padding='same' with even kernel")  # torch, chromtransfer preset

    # warm up numba/torch kernels so the first timed call does not pay compilation
    bench_one("tiny", "deep_lift_shap", 2, argparse.Namespace(**{**vars(args), "repeats": 1}))
    rows = []
    for preset in args.presets:
        for method in args.methods:
            n = args.n_regions or DEFAULT_N[(preset, method)]
            rows.append(bench_one(preset, method, n, args))
            r = rows[-1]
            print(f"{preset:14s} {method:15s} n={n:4d}  chromseq {r['wrapper_regions_per_s']:9.3f} regions/s   "
                  f"tangermeme {r['direct_regions_per_s']:9.3f} regions/s   overhead {100 * r['overhead']:+6.1f}%  "
                  f"(own {100 * r['own_overhead']:.2f}%)",
                  flush=True)  # fmt: skip
    print(json.dumps({
        "benchmark": "contributions",
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "width": 600,
        "n_shuffles": args.n_shuffles,
        "batch_size": args.batch_size,
        "results": rows,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
