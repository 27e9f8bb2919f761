"""Cross-validated transfer benchmark: every labelled region scored out of fold, with block-bootstrap intervals.

For each fold of contiguous chromosome units (:mod:`chromseq.tl._crossval`), the pretrained body is
trained on the other folds only (validation units carved from them), then every run of
:func:`chromseq.tl.transfer_benchmark` is fitted on the other folds and scored on the fold. The
out-of-fold scores of all folds are pooled per cell type, fraction, seed and kind; the AUROC (regression:
Pearson r) of the pooled scores (mean over seeds) gets a 95% block-bootstrap interval, as do the paired
differences.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._intervals import auroc_replicates, block_weights, interval_table, pearson_replicates
from chromseq._settings import logger
from chromseq.store import BASELINE_GC, BASELINE_KMER, BASELINE_RIDGE

from ._crossval import assign_folds, fold_split, fold_units
from ._fit_glue import check_regions
from ._options import TrainingOptions
from ._pretrain import pretrain
from ._transfer_checks import check_scorable
from ._transfer_runs import Runs, _baseline_rows, _run_all, pretraining_plan

if TYPE_CHECKING:
    from anndata import AnnData

#: Paired differences reported with intervals: (name, kind, kinds it is compared with (best of)).
DIFFERENCES = (
    ("finetune-scratch", "finetune", ("scratch",)),
    ("finetune-best_baseline", "finetune", (BASELINE_GC, BASELINE_KMER)),
    ("scratch-best_baseline", "scratch", (BASELINE_GC, BASELINE_KMER)),
)
#: The same for regression runs, whose k-mer baseline is the ridge regression.
REGRESSION_DIFFERENCES = (
    ("finetune-scratch", "finetune", ("scratch",)),
    ("finetune-best_baseline", "finetune", (BASELINE_GC, BASELINE_RIDGE)),
    ("scratch-best_baseline", "scratch", (BASELINE_GC, BASELINE_RIDGE)),
)


def cross_validate(
    adata: AnnData,
    work: AnnData,
    runs: Runs,
    labels: np.ndarray,
    *,
    cv: int,
    block_size: int,
    base: str,
    pretrain_options: TrainingOptions,
    pretrain_celltypes: str,
    pretrain_how: dict,
    baselines: bool,
    ks: list[int],
    root: Path,
    n_boot: int,
    level: float,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Run the benchmark once per fold; return the per-fold table, the interval table and the layout.

    ``work`` is the light workspace AnnData of :func:`chromseq.tl._transfer._workspace`; its
    ``obs['split']`` is rewritten for every fold (``adata``'s is left alone). Each fold pretrains
    the bodies of :func:`chromseq.tl._transfer_runs.pretraining_plan` (``<base>_fold<k>``, or one
    per cell type with ``pretrain_celltypes='others'``), with ``pretrain_how`` (``task``/``layer`` of
    regression pre-training, or nothing).
    """
    celltypes, fractions, seeds = runs.celltypes, runs.fractions, runs.seeds
    units, unit_kind = fold_units(adata, cv, block_size)
    folds = assign_folds(units, cv, seeds[0])
    _check_folds(labels, celltypes, folds, cv, runs.task)
    scores: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    oof: dict[tuple, np.ndarray] = {}
    tables = []
    for fold in range(cv):
        work.obs[K.SPLIT] = fold_split(units, folds, fold, random_state=seeds[0])
        codes, rows = check_regions(work)
        name = f"{base}_fold{fold}"
        options = pretrain_options.replace(random_state=seeds[0])
        bases, extras = pretraining_plan(list(work.var_names), name, celltypes, pretrain_celltypes)
        logger.info(
            "transfer cv: fold %d/%d, %d scored regions; pretraining %s", fold + 1, cv, len(rows["test"]), list(extras)
        )
        for model_name, extra in extras.items():
            pretrain(
                work, preset=runs.network, options=options, save_dir=root, key_added=model_name,
                celltypes=extra or None, **pretrain_how,
            )  # fmt: skip
        scores.clear()
        fold_runs = dataclasses.replace(runs, folder=runs.folder / f"fold{fold}")  # run names repeat per fold
        parts = [_run_all(work, fold_runs, labels, codes, rows, "test", bases, scores)]
        if baselines:
            parts.append(_baseline_rows(work, runs, labels, rows, "test", ks, scores))
        table = pd.concat(parts, ignore_index=True)
        table["fold"] = fold
        tables.append(table)
        _collect(oof, scores, seeds, adata.n_obs)
    intervals = _intervals(oof, labels, celltypes, fractions, units, n_boot, level, seeds[0], runs.task)
    layout = {"cv": cv, "unit": unit_kind, "block_size": int(block_size), "n_units": int(len(np.unique(units)))}
    layout["fold_sizes"] = np.bincount(folds, minlength=cv).tolist()
    return pd.concat(tables, ignore_index=True), intervals, layout


def _check_folds(labels: np.ndarray, celltypes: list[str], folds: np.ndarray, cv: int, task: str) -> None:
    """Raise if a fold cannot score a cell type (no positive or no negative label; regression: constant values)."""
    for j, ct in enumerate(celltypes):
        for fold in range(cv):
            y = labels[folds == fold, j]
            check_scorable(
                y[~np.isnan(y)], ct, f"fold {fold}", task, "use fewer folds (cv=) or leave the cell type out."
            )


def _collect(oof: dict, scores: dict, seeds: list[int], n_obs: int) -> None:
    """Write one fold's scores into the out-of-fold arrays ``(n_seeds, n_obs)`` (NaN: not scored yet)."""
    for (ct, fraction, seed, kind), (rows, values) in scores.items():
        key = (ct, fraction, kind)
        if key not in oof:
            oof[key] = np.full((len(seeds), n_obs), np.nan)
        oof[key][seeds.index(seed), rows] = values


def _intervals(oof, labels, celltypes, fractions, units, n_boot, level, seed, task="classification") -> pd.DataFrame:
    """Interval table for every fraction: methods and :data:`DIFFERENCES`, per cell type and their mean.

    The metric is AUROC (classification) or Pearson r (regression, with :data:`REGRESSION_DIFFERENCES`).
    """
    weights = block_weights(units, n_boot, seed).astype(np.float32)
    kinds = list(dict.fromkeys(kind for _, _, kind in oof))
    regression = task == "regression"
    replicates = pearson_replicates if regression else auroc_replicates
    pairs = REGRESSION_DIFFERENCES if regression else DIFFERENCES
    differences = [d for d in pairs if d[1] in kinds and all(o in kinds for o in d[2])]
    out = []
    for fraction in fractions:
        estimates = {}
        for j, ct in enumerate(celltypes):
            rows = np.flatnonzero(~np.isnan(labels[:, j]))
            for kind in kinds:
                values = oof[ct, fraction, kind][:, rows]
                if np.isnan(values).any():
                    raise RuntimeError(f"{ct} {kind} f={fraction}: a labelled region was not scored out of fold.")
                estimates[ct, kind] = replicates(labels[rows, j], values, weights[:, rows])
        table = interval_table(estimates, differences, level=level)
        table.insert(1, "fraction", fraction)
        out.append(table)
    return pd.concat(out, ignore_index=True)
