"""Reading ChromTransfer Keras .h5 models: time and parity with Keras, at the published widths and at ~2M parameters.

Usage::

    KERAS_BACKEND=torch python benchmarks/bench_keras.py [--repeats 5] [--n 256]

Builds with Keras 3 (torch backend, tests/_keras_build.py) the pretraining network at the published
widths (F = 64, 652,513 parameters), the fine-tuning network (body nested, as in the authors'
transfer-learning example) and a 2.2M-parameter pretraining network (F = 128, 128-channel stem and
tail), saves each as a Keras 3 ``.h5`` and a TF1-style copy, and reports per file

* ``read_keras`` time (best of ``--repeats``) against two baselines in the same run:
  ``chromseq.models.load_model`` of the same network from a chromseq folder (safetensors), and
  Keras' own ``keras.saving.load_model`` of the same ``.h5``;
* the maximum absolute difference of the sigmoid outputs (chromseq, float32, eval mode vs Keras,
  inference mode) on ``--n`` random and ``--n`` bundled chr20 sequences, and of chromseq in float64
  vs float32 (the float32 rounding floor of the same network).

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import torch

import chromseq as cs
from chromseq._codes import one_hot
from chromseq.models import count_parameters, load_model, read_keras, save_model

_spec = importlib.util.spec_from_file_location("_keras_build", Path(__file__).parents[1] / "tests" / "_keras_build.py")
kb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kb)

NETWORKS = {
    "pretrain F=64": ("pretrain", {"stem": 64, "inner": 64, "tail": 64}),
    "finetune F=64 (nested)": ("finetune", {"stem": 64, "inner": 64, "tail": 64}),
    "pretrain F=128": ("pretrain", {"stem": 128, "inner": 128, "tail": 128}),
}


def sigmoid_in_chunks(net: torch.nn.Module, x: torch.Tensor, chunk: int = 64) -> np.ndarray:
    """Sigmoid outputs of ``net`` on one-hot ``x`` (N, 4, L), ``chunk`` sequences at a time."""
    with torch.no_grad():
        return np.concatenate([torch.sigmoid(net(c)).numpy() for c in torch.split(x, chunk)])


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n", type=int, default=256, help="random and chr20 sequences each, for parity")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import keras

    rng = np.random.default_rng(0)
    chr20 = np.asarray(cs.datasets.chromtransfer_chr20(celltypes=["K562"]).obsm["sequence"])
    codes = np.concatenate([rng.integers(0, 4, (args.n, 600), dtype=np.uint8), chr20[rng.choice(len(chr20), args.n)]])
    x = one_hot(codes)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (kind, widths) in NETWORKS.items():
            model = kb.build(kind, seed=0, **widths)
            folder = Path(tmp) / label.replace(" ", "_")
            folder.mkdir()
            k3 = kb.save(model, folder / "model_compiled.h5")
            tf1 = kb.tf1_style(k3, folder / "model_tf1.h5")
            want = np.concatenate(
                [kb._numpy(model(c, training=False)) for c in np.split(x.numpy().transpose(0, 2, 1), len(x) // 64)]
            )
            for style, path in (("keras3", k3), ("tf1", tf1)):
                net = read_keras(path)
                got = sigmoid_in_chunks(net, x)
                got64 = sigmoid_in_chunks(net.double(), x.double())
                save_model(read_keras(path), folder / f"chromseq_{style}")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t_keras = best_of(lambda p=path: keras.saving.load_model(str(p), compile=False), args.repeats)
                t_read = best_of(lambda p=path: read_keras(p), args.repeats)
                t_folder = best_of(lambda s=style, f=folder: load_model(f / f"chromseq_{s}"), args.repeats)
                n = args.n
                rows.append(
                    {
                        "network": label,
                        "names": style,
                        "parameters": count_parameters(net),
                        "read_keras_s": round(t_read, 4),
                        "load_model_folder_s": round(t_folder, 4),
                        "keras_load_model_s": round(t_keras, 4),
                        "max_abs_diff_random": float(np.abs(got[:n] - want[:n]).max()),
                        "max_abs_diff_chr20": float(np.abs(got[n:] - want[n:]).max()),
                        "float32_vs_float64": float(np.abs(got - got64).max()),
                        "output_std": float(want.std()),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    print(
        "| network | names | parameters | read_keras (s) | load_model folder (s) | keras load_model (s) | max diff random | max diff chr20 | fp32 vs fp64 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['network']} | {r['names']} | {r['parameters']:,} | {r['read_keras_s']:.3f} | {r['load_model_folder_s']:.3f} "
            f"| {r['keras_load_model_s']:.3f} | {r['max_abs_diff_random']:.1e} | {r['max_abs_diff_chr20']:.1e} "
            f"| {r['float32_vs_float64']:.1e} |"
        )
    print(json.dumps({"benchmark": "keras", "machine": platform.machine(), "threads": 1, "rows": rows}))


if __name__ == "__main__":
    main()
