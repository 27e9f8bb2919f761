"""Checks and targets of ``tl.transfer_benchmark``, all run before any training.

The benchmark's targets are the cell types' labels in ``X`` (classification, scored by AUROC) or
their quantities in ``X`` or a layer (regression, scored by Pearson r).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from chromseq import _keys as K
from chromseq._tasks import check_targets, detect_task, resolve_loss
from chromseq._validate import check_name
from chromseq.data import read_columns

from ._options import DEFAULT_REGRESSION_LOSS, TrainingOptions

if TYPE_CHECKING:
    from anndata import AnnData

#: Metric columns of the transfer table for regression runs (classification: ``METRIC_COLUMNS``).
REGRESSION_TABLE_METRICS = ("n", "n_pos", "pearson", "spearman", "mse")
#: Metric of the cross-validated intervals, per task.
INTERVAL_METRIC = {"classification": "auroc", "regression": "pearson"}


def benchmark_targets(
    adata: AnnData,
    celltypes: list[str],
    task: str | None,
    layer: str,
    loss: str,
    rows: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, str]:
    """Return the ``(n_obs, n_celltypes)`` float32 targets and the task (explicit, or detected from the values).

    The values are checked as the training verbs check them (:func:`chromseq._tasks.check_targets`,
    with the runs' ``loss``; the ``'train'`` and ``'val'`` ``rows`` when given), so that a bad value
    fails before the body is pretrained.

    Raises
    ------
    KeyError
        A missing layer.
    ValueError
        An unknown task; classification targets other than 0/1/NaN; regression targets with
        infinity, without variance, or negative for a count loss.
    """
    if layer and layer not in adata.layers:
        raise KeyError(
            f"adata.layers[{layer!r}] is missing (layers: {list(adata.layers)}): pass layer= one of them, or "
            "None for X."
        )
    source = f"layers[{layer!r}]" if layer else "X"
    values = read_columns(adata.layers[layer] if layer else adata.X, [adata.var_names.get_loc(c) for c in celltypes])
    task = detect_task(values, celltypes, task, source=source)
    loss = resolve_loss(loss, task, DEFAULT_REGRESSION_LOSS)
    rows = rows or {}
    check_targets(values, celltypes, task, loss, train_rows=rows.get("train"), val_rows=rows.get("val"), source=source)
    return values, task


def check_split(labels: np.ndarray, celltypes: list[str], rows: dict[str, np.ndarray], split: str, task: str) -> None:
    """Raise if ``split`` is not a split, or a cell type cannot be scored there (one class / constant values)."""
    if split not in rows:
        raise ValueError(f"split={split!r} is not an obs[{K.SPLIT!r}] category; choose one of {list(rows)}.")
    fix = (
        "both are needed to score it (choose other chromosomes for it with chromseq.pp.split_by_chromosome, or "
        "leave the cell type out)."
    )
    for j, name in enumerate(celltypes):
        y = labels[rows[split], j]
        check_scorable(y[~np.isnan(y)], name, f"the {split!r} split", task, fix)


def check_scorable(y: np.ndarray, name: str, where: str, task: str, fix: str) -> None:
    """Raise if known targets ``y`` of ``name`` in ``where`` cannot be scored (AUROC / Pearson undefined).

    ``fix`` ends the classification message (what is needed and how to get it).
    """
    if task == "regression":
        if y.size < 3 or np.ptp(y) == 0:
            raise ValueError(
                f"{name!r} has {y.size} known value(s) in {where}{', all equal' if y.size else ''}: Pearson r needs "
                ">= 3 values that differ (choose other chromosomes, fewer folds, or leave the cell type out)."
            )
        return
    if not (y > 0.5).any() or not (y <= 0.5).any():
        raise ValueError(
            f"{name!r} has {int((y > 0.5).sum())} positive and {int((y <= 0.5).sum())} negative labelled "
            f"regions in {where}: {fix}"
        )


def check_fractions(fractions) -> list[float]:
    """Return the training fractions sorted from large to small; raise unless all are distinct and in (0, 1]."""
    values = [float(f) for f in np.atleast_1d(fractions)]
    bad = [f for f in values if not 0 < f <= 1]
    if bad or not values:
        raise ValueError(f"fractions must be a non-empty list of numbers in (0, 1], got {list(fractions)!r}.")
    if len(set(values)) != len(values):
        raise ValueError(f"fractions has duplicates: {values}.")
    return sorted(values, reverse=True)


def check_names(key_added: str, base: str, celltypes: list[str], fractions: list[float], seeds: list[int]) -> None:
    """Check, before any training, that the table key, the base and every run's model name are plain names."""
    check_name(key_added)
    check_name(base, "base")
    for ct in celltypes:
        run = f"finetune_{ct}_f{min(fractions):g}_s{max(seeds, key=abs)}"
        check_name(run, f"the run models' name (made from cell type {ct!r})", "rename that cell type (var_names)")


def pretraining_options(options: TrainingOptions, pretrain_task: str) -> TrainingOptions:
    """Return the runs' ``options`` made fit for pre-training of ``pretrain_task`` (used when none were given for it).

    A loss or monitor of the other task (the runs' ``loss='poisson'`` or ``monitor='val_pearson'`` for
    a body pretrained on ``obs['open']``) becomes ``'auto'`` / ``'val_loss'``; otherwise unchanged.
    """
    if pretrain_task not in K.TASKS:
        raise ValueError(f"pretrain_task must be one of {list(K.TASKS)}, got {pretrain_task!r}.")
    regression = pretrain_task == "regression"
    if (options.loss == "bce") == regression and options.loss != "auto":
        options = options.replace(loss="auto")
    if options.monitor == ("val_auroc" if regression else "val_pearson"):
        options = options.replace(monitor="val_loss")
    return options
