"""Throughput of ``tl.design`` (in-silico evolution) against a plain batched ISM loop in tangermeme.

Usage::

    python benchmarks/bench_design.py [--n 8] [--steps 3] [--width 200] [--preset tiny] [--device cpu]

One network (``--preset``, random weights, three outputs, eval mode) is saved as a model folder and
recorded in an AnnData. Both sides run greedy evolution of ``--n`` random sequences for ``--steps``
steps under the same objective (raise output 0, forward and reverse-complement probabilities
averaged, the logit of the mean), every step scoring all ``3 L`` single-base substitutions:

* ``chromseq``: ``cs.tl.design(adata, "K562", start=n, steps=..., min_gain=-inf)`` (every step taken);
  mutants built on the device from an index, in batches of ``--batch-size``;
* ``tangermeme``: per step, ``tangermeme.saturation_mutagenesis(model, X, raw_outputs=True,
  fast=False)`` on the sequences and on their reverse complements (the predictions of every edit, as a
  user would get them), the reverse-complement predictions mapped back to the forward edits, the best
  edit of each sequence applied with NumPy;
* ``tangermeme fast``: the same with ``fast=True`` (fastISM: only the positions an edit changes are
  recomputed; tangermeme falls back to ``fast=False`` itself when the model cannot be captured).

Figures are sequences x steps per second (best of ``--repeats``), and the fraction of designs both
sides agree on base for base. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq.models import ChromTransfer, get_config, save_model
from chromseq.store import ModelRecord

OUTPUTS = ("K562", "HepG2", "GM12878")


def recorded_model(preset: str, width: int, folder: Path):
    """An AnnData with one recorded model (random weights) and the network itself."""
    import anndata as ad

    config = get_config(preset, seq_len=width, head="finetune", outputs=OUTPUTS)
    model = ChromTransfer(config, generator=torch.Generator().manual_seed(0)).eval()
    path = save_model(model, folder / "bench")
    card = cs.models.read_model_card(path)
    record = ModelRecord.for_network(config, name="bench", kind="scratch", path=str(path))
    record = record.replace(weights_sha256=str(card.get("weights_sha256", "")))
    adata = ad.AnnData(np.zeros((1, len(OUTPUTS)), np.float32))
    adata.var_names = list(OUTPUTS)
    adata.uns[K.UNS] = {K.UNS_MODELS: {"bench": record.to_dict()}}
    return adata, model


def tangermeme_evolve(model, codes: np.ndarray, steps: int, batch_size: int, device: str, fast: bool) -> np.ndarray:
    """Greedy evolution with tangermeme's saturation mutagenesis, one call per strand and step."""
    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    codes = codes.copy()
    n, length = codes.shape
    for _ in range(steps):
        x = torch.from_numpy(np.eye(4, dtype=np.float32)[codes]).transpose(1, 2).contiguous()
        kw = {"raw_outputs": True, "fast": fast, "batch_size": batch_size, "device": device}
        fwd = saturation_mutagenesis(model, x, **kw).y_hat[..., 0].double()  # (n, 4, L)
        rev = saturation_mutagenesis(model, x.flip(1, 2), **kw).y_hat[..., 0].double().flip(1, 2)
        f, r = torch.nn.functional.logsigmoid, torch.nn.functional.logsigmoid
        score = torch.logaddexp(f(fwd), r(rev)) - torch.logaddexp(f(-fwd), r(-rev))
        score[torch.arange(n)[:, None], torch.from_numpy(codes).long(), torch.arange(length)] = -np.inf
        best = score.reshape(n, -1).argmax(1).numpy()
        codes[np.arange(n), best % length] = best // length
    return codes


def interleaved(funcs: dict, repeats: int) -> tuple[dict, dict]:
    """Best wall time and last result of each function, the sides run in turn (a busy machine slows all alike)."""
    best, out = dict.fromkeys(funcs, np.inf), {}
    for _ in range(repeats):
        for label, func in funcs.items():
            t = time.perf_counter()
            out[label] = func()
            best[label] = min(best[label], time.perf_counter() - t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=8, help="sequences")
    parser.add_argument("--steps", type=int, default=3, help="evolution steps")
    parser.add_argument("--width", type=int, default=200, help="sequence width (bp)")
    parser.add_argument("--preset", default="tiny", help="network preset")
    parser.add_argument(
        "--batch-size", type=int, default=512, help="rows per forward pass (both sides; a reverse complement is a row)"
    )
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side; the best counts")
    parser.add_argument("--no-fast", action="store_true", help="skip tangermeme's fast=True")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cs.settings.verbosity = 0
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tangermeme's notes on falling back from fast=True
        adata, model = recorded_model(args.preset, args.width, Path(tmp))
        kw = {"start": args.n, "steps": args.steps, "min_gain": float("-inf"), "batch_size": args.batch_size}
        start = cs.tl.design(adata, "K562", gc=0.42, device=args.device, **{**kw, "steps": 1}).obsm[
            K.DESIGN_START_SEQUENCE
        ]
        funcs = {
            "chromseq tl.design": lambda: cs.tl.design(adata, "K562", gc=0.42, device=args.device, **kw).obsm[
                K.SEQUENCE
            ]
        }
        for label, fast in [("tangermeme ISM loop", False), ("tangermeme ISM loop, fast=True", True)][
            : 1 if args.no_fast else 2
        ]:
            funcs[label] = lambda f=fast: tangermeme_evolve(model, start, args.steps, args.batch_size, args.device, f)
        times, outs = interleaved(funcs, args.repeats)
    t_cs, ours = times["chromseq tl.design"], outs["chromseq tl.design"]
    rows = [(label, times[label], float((outs[label] == ours).all(axis=1).mean())) for label in funcs]
    work = args.n * args.steps
    print(f"{'method':34s} {'seconds':>8s} {'seq x steps/s':>14s} {'agree':>6s}")
    for label, t, agree in rows:
        print(f"{label:34s} {t:8.2f} {work / t:14.2f} {agree:6.2f}")
    result = {
        "bench": "design",
        "n": args.n,
        "steps": args.steps,
        "width": args.width,
        "preset": args.preset,
        "device": args.device,
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.machine(),
        **{f"{label.split()[0]}{'_fast' if 'fast' in label else ''}_per_s": round(work / t, 3) for label, t, _ in rows},
        **{f"ratio_vs_{'fast' if 'fast' in label else 'plain'}": round(t / t_cs, 3) for label, t, _ in rows[1:]},
        "agree_plain": rows[1][2],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
