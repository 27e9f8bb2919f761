"""The paper's claim on real data: fine-tuned vs. from-scratch models as training data shrinks.

For each cell line of ``chromseq.datasets.chromtransfer_chr20()`` (GRCh37 chr20, split by
contiguous 1-Mb blocks), a cell-type agnostic model is pretrained on all training regions
(open chromatin vs. GC-matched background), then, at each fraction of that cell line's labelled
training regions (stratified, seeded; validation and test regions unchanged), fine-tuned from the
pretrained body and trained from scratch with the same network, rows, epoch budget and early
stopping, and both are scored on the held-out test blocks beside the composition baselines (GC
fraction; k-mer logistic regression fitted on the same subsampled regions). The core loop is
``chromseq.tl.transfer_benchmark``.

Writes ``transfer.csv`` (one row per cell type x fraction x seed x kind) and ``transfer.png``
(``chromseq.pl.transfer_curve``) into ``--out``; prints a table and one JSON line. With ``--cv K``
the split is replaced by K-fold cross-validation over 1-Mb blocks (one pretraining per fold, every
region scored out of fold) and the table gives 95 % block-bootstrap intervals (``transfer_cv*.csv``,
``transfer_cv.json``, ``transfer_cv.png`` from ``chromseq.pl.transfer_intervals``).

    python benchmarks/transfer.py                                   # fast preset on a CPU (chromtransfer on a GPU)
    python benchmarks/transfer.py --preset chromtransfer --device cuda
    python benchmarks/transfer.py --celltypes K562 HepG2 --fractions 1 0.1 --max-epochs 4
    python benchmarks/transfer.py --dataset synthetic                # positive control (planted motifs)
    python benchmarks/transfer.py --cv 5 --seeds 3 --preset fast --width 200 --fractions 1 0.2   # CPU, ~1-2 h
    python benchmarks/transfer.py --cv 3 --preset fast --width 200 --config '{"stem_init": "jaspar"}'
    python benchmarks/transfer.py --cv 3 --seeds 1 --preset dilated_fast --width 200 --fractions 1 0.2  # a family
    python benchmarks/transfer.py --cv 3 --width 200 --pretrain-celltypes others  # multi-task pretraining
    python benchmarks/transfer.py --cv 3 --width 200 --options '{"monitor": "val_auroc"}'
    python benchmarks/transfer.py --cv 3 --width 200 --background-per-open 3 \\
        --genome ../shared/data/genome_grch37_chr20/20.fa.gz        # 3 drawn closed windows per open region
    python benchmarks/transfer.py --dataset synthetic --task regression  # planted-motif dosage in X, Pearson r
    python benchmarks/transfer.py --preset chromtransfer --device cuda --dataset genomewide \\
        --genome hg38.fa --labels ../shared/data/chromtransfer_grch38_labels   # the paper's data
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq.models import get_config
from chromseq.tl._transfer import DEFAULT_FRACTIONS, transfer_benchmark

#: Settings per preset. ``tiny`` is tuned to show the effect on 2 CPU cores in minutes (see
#: benchmarks/README.md): no dropout (2x faster on CPU, and the narrow body underfits anyway), small
#: batches (more updates per epoch at the same cost), a longer pretraining than any one run, and a
#: fine-tuning budget spent on the frozen-body stage (cheap: the body's embeddings are cached).
#: ``fast`` is the same recipe for the ``fast`` preset (``tiny`` with max pooling after the stem).
#: ``pretrain`` and ``runs`` are ``chromseq.tl.TrainingOptions`` fields (every fine-tuned and scratch
#: run shares ``runs``).
RECIPES = {
    "tiny": {
        "config": {"dropout": 0.0},
        "pretrain": {"max_epochs": 30, "batch_size": 32, "patience": 10, "learning_rate": 3e-3},
        "runs": {"max_epochs": 10, "batch_size": 32, "stage1_epochs": 10, "patience": 4},
    },
    # the cross-validated CPU recipe of benchmarks/README.md: twice these budgets changed nothing
    "fast": {
        "config": {},
        "pretrain": {"max_epochs": 8, "batch_size": 32, "patience": 3, "learning_rate": 3e-3},
        "runs": {"max_epochs": 6, "batch_size": 32, "stage1_epochs": 6, "patience": 3},
    },
    "chromtransfer": {
        "config": {},
        "pretrain": {"max_epochs": 60, "batch_size": 128, "patience": 10},
        "runs": {"max_epochs": 60, "batch_size": 128, "patience": 10},
    },
}
#: The other families run on the recipe of their size: CPU presets on ``fast``'s (the same folds, seeds and
#: budgets, so their rows compare with ``fast``'s), full-size ones on ``chromtransfer``'s.
RECIPES |= {
    "dilated_fast": RECIPES["fast"],
    "topic_fast": RECIPES["fast"],
    "dilated": RECIPES["chromtransfer"],
    "topic": RECIPES["chromtransfer"],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--preset",
        default="auto",
        choices=["auto", *sorted(RECIPES)],
        help="network preset and its settings; auto: chromtransfer on a GPU, fast (the CPU recipe) otherwise",
    )
    p.add_argument("--fractions", nargs="+", type=float, default=list(DEFAULT_FRACTIONS))
    p.add_argument("--celltypes", nargs="+", default=None, help="default: all six cell lines")
    p.add_argument("--max-epochs", type=int, default=None, help="epoch budget of every run (default: the recipe's)")
    p.add_argument("--pretrain-epochs", type=int, default=None, help="pretraining epochs (default: the recipe's)")
    p.add_argument("--seed", nargs="+", type=int, default=[0], help="seed(s); several give replicate rows")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (0 .. N-1); overrides --seed")
    p.add_argument(
        "--cv",
        type=int,
        default=None,
        help="k-fold cross-validation over 1-Mb blocks (chr20) or chromosomes: every region scored out of "
        "fold, one pretraining per fold, block-bootstrap 95%% intervals (default: the dataset's test split)",
    )
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates of the intervals (with --cv)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="output folder")
    p.add_argument("--device", default=None, help="torch device (default: chromseq.settings.device)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (0: torch's default); 1 is fastest on a loaded machine: small batches",
    )
    p.add_argument("--config", default=None, help="JSON changes to the preset, e.g. '{\"dropout\": 0.1}'")
    p.add_argument(
        "--options",
        default=None,
        help="JSON changes to the recipe's TrainingOptions of every run, e.g. '{\"patience\": 6}'",
    )
    p.add_argument(
        "--pretrain-options",
        default=None,
        help="JSON changes to the recipe's TrainingOptions of pretraining, e.g. '{\"patience\": 6}'",
    )
    p.add_argument(
        "--dataset",
        default="chr20",
        choices=["chr20", "synthetic", "genomewide"],
        help="chr20: the bundled real regions; synthetic: planted JASPAR motifs (a positive control); "
        "genomewide: the paper's 518k GRCh38 regions (datasets.chromtransfer; needs --genome)",
    )
    p.add_argument(
        "--genome",
        default=None,
        help="genome (FASTA or genomepy name): GRCh38 for --dataset genomewide (default hg38); GRCh37 (or its "
        "chr20, e.g. ../shared/data/genome_grch37_chr20/20.fa.gz) for --dataset chr20 --background-per-open",
    )
    p.add_argument("--labels", default=None, help="folder with train/ and test/ label CSVs (default: download)")
    p.add_argument("--n-synthetic", type=int, default=6000, help="regions of the synthetic dataset")
    p.add_argument("--task", default=None, choices=["classification", "regression"], help="default: detected")
    p.add_argument("--layer", default=None, help="layer of the regression targets (default: X); scored by Pearson r")
    p.add_argument(
        "--pretrain-task",
        default="classification",
        choices=["classification", "regression"],
        help="what the body learns: obs['open'] (the paper) or the pooled signal (mean over cell types of --layer or X)",
    )
    p.add_argument("--width", type=int, default=600, help="window width in bp for --dataset chr20 (centred)")
    p.add_argument(
        "--background-per-open",
        type=int,
        default=None,
        help="--dataset chr20: draw K GC-matched closed windows per open region from --genome (pp.add_background, "
        "seeded with the first seed) instead of the 6,000 bundled ones (default)",
    )
    p.add_argument(
        "--pretrain-celltypes",
        default="none",
        choices=["none", "all", "others"],
        help="with --cv: what pretraining learns beside 'open': nothing (the paper), every cell line as an extra "
        "output, or every cell line but the one fine-tuned (one body per cell line and fold)",
    )
    args = p.parse_args(argv)
    if args.preset == "auto":
        args.preset = "chromtransfer" if cs.settings.resolve_device(args.device).type == "cuda" else "fast"
    if args.pretrain_celltypes != "none" and not args.cv:
        p.error("--pretrain-celltypes needs --cv")
    if args.seeds is not None:
        args.seed = list(range(args.seeds))
    if args.background_per_open is not None and (
        args.dataset != "chr20" or args.background_per_open < 1 or args.genome is None
    ):
        p.error("--background-per-open needs --dataset chr20, a value >= 1 and --genome (GRCh37)")
    return args


def plan(args: argparse.Namespace) -> dict:
    """The preset's recipe with the command-line overrides applied (``pretrain``/``runs``: TrainingOptions fields)."""
    recipe = RECIPES[args.preset]
    runs = dict(recipe["runs"])
    if args.max_epochs is not None:
        runs["max_epochs"] = args.max_epochs
        if "stage1_epochs" in runs:
            runs["stage1_epochs"] = min(runs["stage1_epochs"], args.max_epochs)
    pretrain = dict(recipe["pretrain"])
    if args.pretrain_epochs is not None:
        pretrain["max_epochs"] = args.pretrain_epochs
    return {
        "config_changes": recipe["config"] if args.config is None else json.loads(args.config),
        "pretrain": pretrain | json.loads(args.pretrain_options or "{}"),
        "runs": runs | json.loads(args.options or "{}"),
    }


def run(args: argparse.Namespace) -> tuple[pd.DataFrame, dict]:
    """Pretrain, then run the transfer benchmark (models in a temporary folder); return the table and timings."""
    if args.dataset == "chr20":
        adata = chr20(args)
    elif args.dataset == "synthetic":
        target = "dosage" if args.task == "regression" else "binary"  # planted-motif dosage: a quantity per cell type
        adata = cs.datasets.synthetic(args.n_synthetic, target=target, random_state=args.seed[0])
    else:
        adata = cs.datasets.chromtransfer(args.genome or "hg38", labels=args.labels, random_state=args.seed[0])
    steps = plan(args)
    if args.cv:
        return run_cv(adata, args, steps)
    with tempfile.TemporaryDirectory(prefix="chromseq_transfer_") as models:
        t0 = time.perf_counter()
        cs.tl.pretrain(
            adata,
            preset=get_config(args.preset, **steps["config_changes"]),
            options=_options(steps["pretrain"], args, random_state=args.seed[0]),
            save_dir=models,
            **({"task": "regression", "layer": args.layer} if args.pretrain_task == "regression" else {}),
        )
        t1 = time.perf_counter()
        transfer_benchmark(adata, args.celltypes, **_shared_kwargs(args, steps, models))
        t2 = time.perf_counter()
    history = adata.uns[K.UNS][K.UNS_MODELS]["pretrained"]["history"]
    watched = "val_pearson" if args.pretrain_task == "regression" else "val_auroc"
    info = {
        "pretrain_seconds": round(t1 - t0, 1),
        "runs_seconds": round(t2 - t1, 1),
        "total_seconds": round(t2 - t0, 1),
        "pretrain_epochs": len(history["epoch"]),
        f"pretrain_best_{watched}": round(float(history[watched][int(np.argmin(history["val_loss"]))]), 4),
        **steps,
    }
    return adata.uns[K.UNS][K.UNS_TRANSFER], info


def _options(fields: dict, args: argparse.Namespace, **more) -> cs.tl.TrainingOptions:
    return cs.tl.TrainingOptions(**fields, device=args.device, **more)


def chr20(args: argparse.Namespace):
    """The bundled chr20 dataset; with ``--background-per-open K``, K drawn background windows per open region.

    The windows are drawn as the bundled ones were (``scripts/build_chr20_bundle.py``): 600 bp, away from the
    600-bp regions, GC-matched to the open ones; then every row is centred to ``--width`` and read from the
    genome, and the split is set afterwards, as ``chromtransfer_chr20`` does.
    """
    if args.background_per_open is None:
        return cs.datasets.chromtransfer_chr20(width=args.width)
    adata = cs.datasets.chromtransfer_chr20(background=False, split=False)
    genome = cs.Genome(args.genome)
    n = args.background_per_open * int(adata.obs[K.OPEN].sum())
    cs.pp.add_background(adata, genome, n=n, gc_match=True, random_state=args.seed[0])
    start = (adata.obs[K.START].to_numpy() + adata.obs[K.END].to_numpy()) // 2 - args.width // 2
    adata.obs[K.START], adata.obs[K.END] = start, start + args.width
    adata.obs_names = [f"{c}:{s}-{s + args.width}" for c, s in zip(adata.obs[K.CHROM], start, strict=True)]
    cs.pp.add_sequences(adata, genome, too_many_n="keep")
    cs.pp.split_by_chromosome(adata)
    return adata


def _shared_kwargs(args: argparse.Namespace, steps: dict, models: str) -> dict:
    """Arguments of ``transfer_benchmark`` shared by the fixed-split and the cross-validated layouts."""
    return {
        "fractions": args.fractions,
        "seeds": args.seed,
        "options": _options(steps["runs"], args),
        "save_dir": models,
        "task": args.task,
        "layer": args.layer,
    }


def run_cv(adata, args: argparse.Namespace, steps: dict) -> tuple[pd.DataFrame, dict]:
    """Cross-validated benchmark (one pretraining per fold, inside ``transfer_benchmark``)."""
    with tempfile.TemporaryDirectory(prefix="chromseq_transfer_") as models:
        t0 = time.perf_counter()
        transfer_benchmark(
            adata,
            args.celltypes,
            preset=get_config(args.preset, **steps["config_changes"]),
            pretrain_options=_options(steps["pretrain"], args),
            pretrain_celltypes=args.pretrain_celltypes,
            pretrain_task=args.pretrain_task,
            cv=args.cv,
            n_boot=args.n_boot,
            **_shared_kwargs(args, steps, models),
        )
        seconds = time.perf_counter() - t0
    layout = {k: adata.uns[K.UNS][K.UNS_PARAMS][K.UNS_TRANSFER][k] for k in ("cv", "unit", "n_units", "fold_sizes")}
    info = {"total_seconds": round(seconds, 1), **layout, **steps}
    info["intervals"] = adata.uns[K.UNS][f"{K.UNS_TRANSFER}_intervals"]
    return adata.uns[K.UNS][K.UNS_TRANSFER], info


def interval_summary(intervals: pd.DataFrame) -> pd.DataFrame:
    """Wide table: rows celltype x fraction, one column per method/difference, ``estimate [lower, upper]``."""
    cell = intervals.assign(
        text=[f"{e:.3f} [{lo:.3f}, {hi:.3f}]" for e, lo, hi in intervals[["estimate", "lower", "upper"]].to_numpy()]
    )
    wide = cell.pivot_table(index=["celltype", "fraction"], columns="kind", values="text", aggfunc="first", sort=False)
    order = [k for k in intervals["kind"].unique() if k in wide.columns]
    return wide[order].sort_index(level="fraction", ascending=False, sort_remaining=False)


def interval_json(intervals: pd.DataFrame) -> dict:
    """Mean over cell types of every method and difference: ``{kind: {fraction: [estimate, lower, upper]}}``."""
    mean = intervals[intervals["celltype"] == "mean"]
    return {
        kind: {
            f"{f:g}": [round(float(v), 4) for v in row]
            for f, row in part.set_index("fraction")[["estimate", "lower", "upper"]].iterrows()
        }
        for kind, part in mean.groupby("kind", sort=False)
    }


def metric_of(table: pd.DataFrame) -> str:
    """The headline metric of a transfer table: Pearson r for regression runs, else AUROC."""
    return "pearson" if "pearson" in table.columns else "auroc"


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """Test AUROC or Pearson r (mean over seeds): rows celltype x fraction, one column per kind, fine-tune minus scratch."""
    wide = table.pivot_table(index=["celltype", "fraction"], columns="kind", values=metric_of(table), sort=False)
    kinds = ("finetune", "scratch", "baseline_gc", "baseline_kmer", "baseline_ridge")
    wide = wide.reindex(columns=[k for k in kinds if k in wide])
    wide["ft-sc"] = wide["finetune"] - wide["scratch"]
    wide["ft-best_base"] = wide["finetune"] - wide[[c for c in wide if c.startswith("baseline")]].max(axis=1)
    return wide.sort_index(level=["celltype", "fraction"], ascending=[True, False])


def summary_json(table: pd.DataFrame, wide: pd.DataFrame, info: dict, args: argparse.Namespace) -> dict:
    """One-line JSON summary: mean AUROC per kind and fraction, fine-tune wins, timings."""
    by_fraction = wide.groupby(level="fraction").mean()
    wins = (wide["ft-sc"] > 0).groupby(level="fraction").sum()
    beats = (wide["ft-best_base"] > 0).groupby(level="fraction").sum()
    n_ct = wide.index.get_level_values("celltype").nunique()
    return {
        "benchmark": "transfer",
        "dataset": args.dataset,
        "background_per_open": args.background_per_open,
        "preset": args.preset,
        "device": str(cs.settings.resolve_device(args.device)),
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "celltypes": n_ct,
        "fractions": sorted(table["fraction"].unique().tolist(), reverse=True),
        "seeds": args.seed,
        f"mean_test_{metric_of(table)}": {
            kind: {f"{f:g}": round(float(v), 4) for f, v in by_fraction[kind].items()}
            for kind in by_fraction
            if not kind.startswith("ft-")
        },
        "finetune_minus_scratch": {f"{f:g}": round(float(v), 4) for f, v in by_fraction["ft-sc"].items()},
        "finetune_beats_scratch": {f"{f:g}": f"{int(v)}/{n_ct}" for f, v in wins.items()},
        "finetune_beats_both_baselines": {f"{f:g}": f"{int(v)}/{n_ct}" for f, v in beats.items()},
        **info,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, write the CSV and the plot, print the table and the JSON line."""
    args = parse_args(argv)
    cs.settings.verbosity = 2  # progress of the folds and runs in the log
    logging.basicConfig(format="%(asctime)s %(name)s %(message)s", level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    table, info = run(args)
    if args.cv:
        return report_cv(table, info, args)
    table.to_csv(args.out / "transfer.csv", index=False)
    import matplotlib

    matplotlib.use("Agg")
    metric = metric_of(table)
    cs.pl.transfer_curve(table, metric, show=False, save=args.out / "transfer.png")
    wide = summary_table(table)
    with pd.option_context("display.width", 200, "display.max_rows", 200, "display.float_format", "{:.3f}".format):
        print(f"test {metric} ({args.preset} preset; mean over seeds {args.seed}); ft-sc = fine-tune minus scratch")
        print(wide.to_string())
    print(json.dumps(summary_json(table, wide, info, args)))


def report_cv(table: pd.DataFrame, info: dict, args: argparse.Namespace) -> None:
    """Write ``transfer_cv.csv``, ``transfer_cv_intervals.csv``, ``transfer_cv.json`` and the plot; print them."""
    import matplotlib

    matplotlib.use("Agg")
    intervals = info.pop("intervals")
    table.to_csv(args.out / "transfer_cv.csv", index=False)
    intervals.to_csv(args.out / "transfer_cv_intervals.csv", index=False)
    cs.pl.transfer_intervals(intervals, show=False, save=args.out / "transfer_cv.png")
    line = {
        "benchmark": "transfer_cv",
        "dataset": args.dataset,
        "width": args.width,
        "background_per_open": args.background_per_open,
        "preset": args.preset,
        "seeds": args.seed,
        "celltypes": sorted(table["celltype"].unique().tolist()),
        "threads": torch.get_num_threads(),
        f"mean_{metric_of(table)}_ci95": interval_json(intervals),
        **info,
    }
    with pd.option_context("display.width", 250, "display.max_rows", 400, "display.max_columns", 20):
        print(
            f"cross-validated {metric_of(table)} ({args.cv} folds of {info['unit']}s, seeds {args.seed}, {args.preset}); "
            "estimate [95% block-bootstrap interval]"
        )
        print(interval_summary(intervals).to_string())
    text = json.dumps(line)
    (args.out / "transfer_cv.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
