"""Training speed against the peer toolkit on its own topic CNN: CREsted's ``deeptopic_cnn`` vs chromseq's ``topic``.

CREsted (scverse, Keras 3) is an OPTIONAL benchmark dependency that chromseq does not need. Run this
script in a separate environment that has it, with Keras on its torch backend, e.g.::

    python -m venv /path/venv-crested --system-site-packages   # plus a .pth to chromseq's environment
    /path/venv-crested/bin/pip install crested                  # pulls keras, wandb, pybigtools; no tensorflow
    KERAS_BACKEND=torch PYTHONPATH=src /path/venv-crested/bin/python benchmarks/bench_peer_topic.py --threads 1

The two networks have the same size: CREsted's ``deeptopic_cnn(seq_len, 1, filters=F, dense_out=D)``
(conv blocks of F, F/2, F/2, F/2, F/2 channels, kernels 17, 11, 11, 5, 2, max pooling 4, 4, 4, 4, none,
flatten, dense D, sigmoid output) and chromseq's :class:`~chromseq.models.TopicConfig` with the same
blocks, dense size and dropout (one linear output head). What differs is small and noted in the table:
CREsted's first block uses GELU, its last two blocks add a residual connection, its convolutions have
no bias; chromseq's blocks are all ReLU without residuals. Parameters and forward FLOPs of both are
printed.

Timed: training sequences per second, one torch thread (both run on torch), the same batch size,
``--steps`` steps per timing, ``--repeats`` interleaved repetitions (best of each kept), after a
warm-up. CREsted is run as its ``Crested.fit`` runs a model: ``model.compile`` with
``crested.tl.default_configs('topic_classification')`` (Adam 1e-3, binary cross-entropy, AUROC/AUPR/
accuracy metrics) and ``model.fit`` -- here on one-hot arrays already in memory (its own loaders read
a genome; leaving them out favours CREsted). A second CREsted row compiles without its metrics.
chromseq is timed through its training engine's epoch loop (uint8 codes, one-hot and
reverse-complement augmentation on the device, Adam, class weights), as ``tl.pretrain`` trains.

Prints a table (sequences/s of the best and of the median timing; chromseq's speed-up as the ratio of
the best timings and as the median over repetitions of the ratio within one repetition, which the
machine's load affects least) and one JSON line (``--out`` also writes it to a file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from chromseq.data import SequenceDataset
from chromseq.models import TopicConfig, build, count_flops, count_parameters
from chromseq.train._acceleration import make_optimizer, training_step
from chromseq.train._batches import Batches
from chromseq.train._engine import _train_epoch
from chromseq.train._inference import resolve_precision
from chromseq.train._objective import make_objective
from chromseq.train._spec import TrainSpec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--width", type=int, default=500, help="input width in bp (CREsted's topic models: 500)")
    p.add_argument("--filters", type=int, default=128, help="F: channels of the first block (CREsted default 1024)")
    p.add_argument("--dense", type=int, default=128, help="D: dense embedding size (CREsted default 1024)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=8, help="training steps per timing")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; the best of each is kept")
    p.add_argument("--threads", type=int, default=1, help="torch threads (both toolkits run on torch)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON line to this file")
    return p.parse_args(argv)


def chromseq_config(args: argparse.Namespace) -> TopicConfig:
    """chromseq's topic CNN with CREsted ``deeptopic_cnn``'s blocks, dense size and dropout."""
    f, half = args.filters, args.filters // 2
    return TopicConfig(
        preset="custom",
        seq_len=args.width,
        conv_filters=(f, half, half, half, half),
        conv_kernels=(17, 11, 11, 5, 2),
        pool_sizes=(4, 4, 4, 4, 1),
        dense_dim=args.dense,
        dropout=0.15,
        pretrain_hidden=(),
    )


def data(args: argparse.Namespace, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 codes (n, width) and 0/1 labels (n, 1)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, args.width), dtype=np.uint8)
    return codes, (rng.random((n, 1)) < 0.5).astype(np.float32)


def chromseq_runner(args: argparse.Namespace) -> tuple[Callable[[int], float], dict]:
    """A function timing ``n`` training steps (seconds) through chromseq's engine, and the network's size."""
    config, device = chromseq_config(args), torch.device("cpu")
    model = build(config, generator=torch.Generator().manual_seed(0)).to(device)
    spec = TrainSpec(batch_size=args.batch_size, seed=0, learning_rate=1e-3)
    precision = resolve_precision(spec.precision, device)
    objective = make_objective(spec, data(args, 64)[1], device)  # class-balanced BCE, as tl.pretrain
    opt, net = make_optimizer(model, spec, device), training_step(model, device, False)
    scaler = torch.amp.GradScaler("cpu", enabled=False)

    def run(n_steps: int) -> float:
        codes, labels = data(args, n_steps * args.batch_size)
        batches = Batches(model, SequenceDataset(codes, labels), spec, device, cache=False, train=True)
        t0 = time.perf_counter()
        _train_epoch(model, batches, opt, scaler, objective, spec, precision, 0, "bench", net=net)
        return time.perf_counter() - t0

    size = {"params": count_parameters(model), "mflop_fwd": count_flops(config, seq_len=args.width) / 1e6}
    return run, size


def crested_runner(args: argparse.Namespace, metrics: bool) -> tuple[Callable[[int], float], dict]:
    """A function timing ``n`` training steps (seconds) of CREsted's ``deeptopic_cnn`` under ``model.fit``."""
    import crested
    import keras

    keras.utils.set_random_seed(0)
    model = crested.tl.zoo.deeptopic_cnn(args.width, 1, filters=args.filters, dense_out=args.dense)
    task = crested.tl.default_configs("topic_classification")
    model.compile(optimizer=task.optimizer, loss=task.loss, metrics=task.metrics if metrics else None)
    eye = np.eye(4, dtype=np.float32)

    def run(n_steps: int) -> float:
        codes, labels = data(args, n_steps * args.batch_size)
        x = eye[codes]  # (n, width, 4): CREsted's layout, built before the clock starts
        t0 = time.perf_counter()
        model.fit(x, labels, batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
        return time.perf_counter() - t0

    return run, {"params": int(model.count_params()), "mflop_fwd": keras_flops(model, args.width) / 1e6}


def keras_flops(model, width: int) -> float:
    """Forward FLOPs per sequence of a Keras (torch backend) model, counted by torch on its layers."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(2, width, 4), training=False)
    return counter.get_total_flops() / 2


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if os.environ.get("KERAS_BACKEND") != "torch":
        raise SystemExit("set KERAS_BACKEND=torch: both toolkits must train on torch, one thread, for a fair timing.")
    torch.set_num_threads(args.threads)
    names = ["chromseq topic (engine)", "CREsted deeptopic_cnn (fit)", "CREsted deeptopic_cnn (fit, no metrics)"]
    built = [chromseq_runner(args), crested_runner(args, True), crested_runner(args, False)]
    runs, sizes = [b[0] for b in built], [b[1] for b in built]
    for run in runs:
        run(2)  # warm-up
    seconds: list[list[float]] = [[] for _ in runs]
    for rep in range(args.repeats):  # interleaved, order alternating: load drifts alike
        order = range(len(runs)) if rep % 2 == 0 else reversed(range(len(runs)))
        for i in order:
            seconds[i].append(runs[i](args.steps))
    n = args.steps * args.batch_size
    rows = [
        {"name": name, **size, "train_seq_s": n / min(s), "train_seq_s_median": n / float(np.median(s)), "seconds": s}
        for name, size, s in zip(names, sizes, seconds, strict=True)
    ]
    for r in rows:
        r["chromseq_vs_this"] = rows[0]["train_seq_s"] / r["train_seq_s"]
        r["chromseq_vs_this_median"] = rows[0]["train_seq_s_median"] / r["train_seq_s_median"]
        paired = np.asarray(r["seconds"]) / np.asarray(rows[0]["seconds"])  # same repetition: same load
        r["chromseq_vs_this_paired_median"] = float(np.median(paired))
    import crested
    import keras

    device = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s))"
    print(f"{device}; width {args.width} bp, F = {args.filters}, D = {args.dense}, batch {args.batch_size}")
    print(f"{'network':<42}{'params':>10}{'MFLOP fwd':>11}{'train seq/s best; median':>26}  chromseq x (best; paired)")
    for r in rows:
        print(
            f"{r['name']:<42}{r['params']:>10,}{r['mflop_fwd']:>11.1f}{r['train_seq_s']:>16.1f}; "
            f"{r['train_seq_s_median']:>8.1f}{r['chromseq_vs_this']:>8.2f}; {r['chromseq_vs_this_paired_median']:.2f}"
        )
    result = {
        "benchmark": "bench_peer_topic",
        "device": device,
        "versions": {"crested": crested.__version__, "keras": keras.__version__, "torch": torch.__version__},
        **{k: v for k, v in vars(args).items() if k != "out"},
        "rows": rows,
    }
    line = json.dumps(result)
    print(line)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(line + "\n")


if __name__ == "__main__":
    main()
