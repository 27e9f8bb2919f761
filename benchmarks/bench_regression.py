"""Regression (quantitative targets, issue 22): training speed vs classification, and accuracy vs composition.

(a) **Speed.** The same network (one preset, one head per cell type) and the same sequences are trained
through the engine's own epoch loop (``_train_epoch``: codes -> RC augmentation -> one-hot -> forward
-> loss -> Adam step) with each loss: ``bce`` on 0/1 labels (classification) and ``mse``,
``mse_cosine`` and ``poisson`` on the planted dosage (regression). Timed steps are interleaved over
``--repeats`` rounds so that the load of a shared machine drifts alike; the best round of each loss is
kept. Sequences/s (wall clock and CPU time) and the ratio to classification (also of the median rounds'
CPU time).

(b) **Accuracy.** Planted-motif data whose target is each cell type's motif *dosage*
(``chromseq.datasets.synthetic(target='dosage')``: the summed strength of the planted sites, plus
noise). A body is pretrained on open/closed (``obs['open']``, classification, as in the paper), then
fine-tuned into regression heads (``tl.finetune(task='regression')``, one multi-head model per loss);
the same network is trained from scratch (``tl.train``, MSE) with the same options. They are scored on
the test split (chromosome ``synth10``) beside the composition baselines of ``tl.evaluate``:
``baseline_gc`` (the GC fraction as the prediction; only its correlations mean anything) and
``baseline_ridge`` (ridge regression on k-mer frequencies fitted on the same training rows, penalty
chosen on val). Per cell type: test Pearson r of each, and paired bootstrap 95 % intervals of the
differences fine-tuned - ridge and fine-tuned - scratch (``chromseq._intervals``; the synthetic
regions are independent draws, so each region is its own bootstrap block). Specificity: the mean over
test regions of the Pearson r across cell types of predicted with observed values.

Prints a table and one JSON line; ``--out`` also gets the JSON.

    python benchmarks/bench_regression.py                   # tiny preset, 1 thread, ~5 CPU-minutes
    python benchmarks/bench_regression.py --preset fast     # ~3 CPU-minutes
    python benchmarks/bench_regression.py --skip-accuracy   # the speed part only (seconds)
    python benchmarks/bench_regression.py --preset chromtransfer --device cuda --width 600 --n 20000
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq._intervals import block_weights, pearson_replicates
from chromseq._metrics_regression import specificity_metrics
from chromseq.data import SequenceDataset
from chromseq.models import PRESETS, build
from chromseq.train._acceleration import make_optimizer, training_step
from chromseq.train._batches import Batches
from chromseq.train._engine import _train_epoch
from chromseq.train._inference import resolve_precision
from chromseq.train._objective import make_objective
from chromseq.train._spec import TrainSpec

LOSSES = ("mse", "mse_cosine", "poisson")
CELLTYPES = ("K562", "HepG2", "GM12878")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--preset", default="tiny", help="network preset of every model (default tiny: more accurate than fast here)"
    )
    p.add_argument("--n", type=int, default=1500, help="regions of the planted dosage data")
    p.add_argument("--width", type=int, default=200, help="window width (bp)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and of training")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: leave torch's count)")
    # speed
    p.add_argument("--steps", type=int, default=12, help="timed training steps per round and loss")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the best is kept")
    p.add_argument("--speed-batch-size", type=int, default=64)
    # accuracy
    p.add_argument("--pretrain-epochs", type=int, default=8)
    p.add_argument("--head-epochs", type=int, default=4, help="fine-tuning: frozen-body epochs")
    p.add_argument("--max-epochs", type=int, default=14, help="fine-tuning (both stages) and scratch budget")
    p.add_argument("--losses", nargs="+", default=list(LOSSES), choices=LOSSES, help="fine-tuning losses")
    p.add_argument("--no-scratch", action="store_true", help="skip the from-scratch regression model")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap replicates of the intervals")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-accuracy", action="store_true")
    p.add_argument("--out", type=Path, default=None, help="write the JSON result into this folder")
    return p.parse_args(argv)


def planted(args: argparse.Namespace):
    """Planted-motif dosage data (AnnData) with ``obs['open']`` for classification pretraining."""
    return cs.datasets.synthetic(
        args.n,
        width=args.width,
        celltypes=list(CELLTYPES),
        n_sites=(1, 4),
        sharpen=4.0,
        target="dosage",
        noise=0.1,
        random_state=args.seed,
    )


# -- (a) speed ----------------------------------------------------------------------------------------
def speed_runner(args, loss: str, codes: np.ndarray, labels: np.ndarray) -> Callable[[], tuple[float, float]]:
    """A function timing ``args.steps`` steps of the engine's epoch loop trained with ``loss``: (wall, CPU) seconds."""
    device = torch.device(args.device)
    config = PRESETS[args.preset].replace(
        seq_len=codes.shape[1], head="finetune", outputs=tuple(f"o{i}" for i in range(labels.shape[1]))
    )
    torch.manual_seed(args.seed)
    model = build(config).to(device)
    spec = TrainSpec(batch_size=args.speed_batch_size, seed=args.seed, loss=loss)
    precision = resolve_precision(spec.precision, device)
    objective = make_objective(spec, labels, device)
    opt = make_optimizer(model, spec, device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == torch.float16)
    net = training_step(model, device, False)
    n = args.steps * args.speed_batch_size
    rows = np.resize(np.arange(len(codes)), n)  # the same rows for every loss
    data = SequenceDataset(codes[rows], labels[rows])

    def run() -> tuple[float, float]:
        batches = Batches(model, data, spec, device, cache=False, train=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0, c0 = time.perf_counter(), time.process_time()
        _train_epoch(model, batches, opt, scaler, objective, spec, precision, 0, "bench", net=net)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0, time.process_time() - c0

    return run


def measure_speed(args, adata) -> dict:
    """Sequences/s of each loss on the same network and sequences; classification (bce) is the reference."""
    codes = adata.obsm[K.SEQUENCE]
    dosage = np.asarray(adata.X, dtype=np.float32)
    binary = (adata.uns[K.UNS][K.UNS_SYNTHETIC]["dosage"] > 0).astype(np.float32)  # open where a site counts
    targets = {"bce": binary, **dict.fromkeys(LOSSES, dosage)}
    runs = {loss: speed_runner(args, loss, codes, y) for loss, y in targets.items()}
    for run in runs.values():
        run()  # warm-up
    seconds: dict[str, list[float]] = {loss: [] for loss in runs}
    cpu: dict[str, list[float]] = {loss: [] for loss in runs}
    for _ in range(args.repeats):  # interleaved: load drifts alike
        for loss, run in runs.items():
            wall, used = run()
            seconds[loss].append(wall)
            cpu[loss].append(used)
    n = args.steps * args.speed_batch_size
    rate = {loss: n / min(s) for loss, s in seconds.items()}
    rate_cpu = {loss: n / min(s) for loss, s in cpu.items()}
    median_cpu = {loss: float(np.median(s)) for loss, s in cpu.items()}
    rows = [
        {
            "loss": loss,
            "task": "classification" if loss == "bce" else "regression",
            "seq_per_s": rate[loss],
            "vs_classification": rate[loss] / rate["bce"],
            "seq_per_cpu_s": rate_cpu[loss],
            "vs_classification_cpu": rate_cpu[loss] / rate_cpu["bce"],
            "vs_classification_cpu_median": median_cpu["bce"] / median_cpu[loss],
            "seconds": seconds[loss],
            "cpu_seconds": cpu[loss],
        }
        for loss in runs
    ]
    return {"preset": args.preset, "batch_size": args.speed_batch_size, "steps": args.steps, "rows": rows}


# -- (b) accuracy ---------------------------------------------------------------------------------------
def train_models(args, adata, save_dir: Path) -> dict[str, float]:
    """Pretrain on open/closed, fine-tune one regression model per loss, train one from scratch; seconds each."""
    seconds = {}
    t0 = time.perf_counter()
    cs.tl.pretrain(
        adata, preset=args.preset, task="classification", max_epochs=args.pretrain_epochs,
        learning_rate=1e-2, batch_size=32, save_dir=save_dir,
    )  # fmt: skip
    seconds["pretrain"] = time.perf_counter() - t0
    options = cs.tl.TrainingOptions(
        max_epochs=args.max_epochs, stage1_epochs=args.head_epochs, stage2_learning_rate=1e-3,
        batch_size=32, learning_rate=1e-2, patience=4,
    )  # fmt: skip
    for loss in args.losses:
        t0 = time.perf_counter()
        cs.tl.finetune(
            adata, multihead=True, task="regression", options=options.replace(loss=loss),
            key_added=f"finetuned_{loss}", save_dir=save_dir,
        )  # fmt: skip
        seconds[f"finetuned_{loss}"] = time.perf_counter() - t0
    if not args.no_scratch:
        t0 = time.perf_counter()
        cs.tl.train(
            adata, multihead=True, preset=args.preset, task="regression", options=options,
            key_added="scratch", save_dir=save_dir,
        )  # fmt: skip
        seconds["scratch"] = time.perf_counter() - t0
    return seconds


def predictions(adata, args) -> dict[str, np.ndarray]:
    """``{name: (n_obs, n_celltypes)}`` predictions of every model and baseline, columns in ``CELLTYPES`` order."""
    models = [f"finetuned_{loss}" for loss in args.losses] + ([] if args.no_scratch else ["scratch"])
    cs.tl.predict(adata, models)
    cs.tl.composition_baseline(adata, list(CELLTYPES), task="regression")
    pred = adata.obsm[K.PRED]
    base = adata.obsm[K.BASELINE]
    out = {m: np.column_stack([pred[f"{m}_{ct}"].to_numpy() for ct in CELLTYPES]) for m in models}
    out["baseline_ridge"] = np.column_stack([base[f"baseline_ridge_{ct}"].to_numpy() for ct in CELLTYPES])
    out["baseline_gc"] = np.repeat(adata.obs[K.GC].to_numpy(dtype=float)[:, None], len(CELLTYPES), axis=1)
    return out


def interval(point: float, boot: np.ndarray) -> dict[str, float]:
    lower, upper = np.nanpercentile(boot, [2.5, 97.5])
    return {"estimate": point, "lower": float(lower), "upper": float(upper)}


def measure_accuracy(args, adata) -> dict:
    """Test Pearson per cell type and model, paired bootstrap intervals of the differences, specificity."""
    with tempfile.TemporaryDirectory() as tmp:
        seconds = train_models(args, adata, Path(tmp))
        preds = predictions(adata, args)
    test = (adata.obs[K.SPLIT] == "test").to_numpy()
    y = np.asarray(adata.X, dtype=np.float64)[test]
    weights = block_weights(np.arange(int(test.sum())), args.n_boot, random_state=args.seed)
    main = f"finetuned_{args.losses[0]}"
    rows, diffs = [], []
    for j, ct in enumerate(CELLTYPES):
        point, boot = {}, {}
        for name, p in preds.items():
            point[name], boot[name] = pearson_replicates(y[:, j], p[test, j], weights)
            rows.append({"celltype": ct, "model": name, "pearson": point[name], **interval(point[name], boot[name])})
        for other in [o for o in ("baseline_ridge", "scratch") if o in preds]:
            diff = interval(point[main] - point[other], boot[main] - boot[other])
            diffs.append({"celltype": ct, "difference": f"{main} - {other}", **diff})
    specificity = {
        name: specificity_metrics(y, p[test].astype(np.float64))["pearson"]
        for name, p in preds.items()
        if name != "baseline_gc"
    }
    return {
        "n_test": int(test.sum()),
        "n_train": int((adata.obs[K.SPLIT] == "train").sum()),
        "train_seconds": seconds,
        "pearson": rows,
        "differences": diffs,
        "specificity_pearson_mean": specificity,
    }


# -- report -----------------------------------------------------------------------------------------------
def report(result: dict) -> None:
    if "speed" in result:
        s = result["speed"]
        print(f"(a) training speed, {s['preset']}, batch {s['batch_size']}, {s['steps']} steps, best of rounds")
        print(f"{'loss':<12}{'task':<16}{'seq/s':>9}{'vs bce':>8}{'seq/CPU-s':>11}{'vs bce':>8}{'median':>8}")
        for r in s["rows"]:
            print(
                f"{r['loss']:<12}{r['task']:<16}{r['seq_per_s']:>9.1f}{r['vs_classification']:>8.2f}"
                f"{r['seq_per_cpu_s']:>11.1f}{r['vs_classification_cpu']:>8.2f}"
                f"{r['vs_classification_cpu_median']:>8.2f}"
            )
    if "accuracy" in result:
        a = result["accuracy"]
        print(f"\n(b) test Pearson r (95 % bootstrap interval), {a['n_test']} test regions, {a['n_train']} train")
        models = list(dict.fromkeys(r["model"] for r in a["pearson"]))
        print(f"{'model':<22}" + "".join(f"{ct:>22}" for ct in CELLTYPES) + f"{'specificity':>13}")
        for m in models:
            cells = [next(r for r in a["pearson"] if r["model"] == m and r["celltype"] == ct) for ct in CELLTYPES]
            spec = a["specificity_pearson_mean"].get(m)
            print(
                f"{m:<22}"
                + "".join(f"{c['pearson']:>8.3f} [{c['lower']:.3f}, {c['upper']:.3f}]" for c in cells)
                + (f"{spec:>13.3f}" if spec is not None else f"{'-':>13}")
            )
        print("\npaired differences of Pearson r (95 % bootstrap interval)")
        for d in a["differences"]:
            print(f"{d['celltype']:<10}{d['difference']:<36}{d['estimate']:>8.3f} [{d['lower']:.3f}, {d['upper']:.3f}]")
        print("training seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in a["train_seconds"].items()))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        cs.settings.threads = args.threads
    cs.settings.seed = args.seed
    cs.settings.device = args.device
    t0 = time.perf_counter()
    adata = planted(args)
    result: dict = {"benchmark": "bench_regression", "n": args.n, "width": args.width, "seed": args.seed}
    if not args.skip_speed:
        result["speed"] = measure_speed(args, adata)
    if not args.skip_accuracy:
        result["accuracy"] = measure_accuracy(args, adata)
    result["device"] = args.device if args.device != "cpu" else f"CPU ({platform.machine()}, {args.threads} threads)"
    result["wall_seconds"] = time.perf_counter() - t0
    report(result)
    line = json.dumps(result)
    print(line)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_regression.json").write_text(line + "\n")


if __name__ == "__main__":
    main()
