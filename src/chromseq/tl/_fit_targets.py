"""The targets of the training verbs: read from ``X`` or a layer, the task and loss, class checks, subsampling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from chromseq._settings import logger
from chromseq._tasks import check_targets, detect_task, resolve_loss
from chromseq.data import read_columns
from chromseq.store import target_transform as store_target_transform
from chromseq.tl._options import DEFAULT_REGRESSION_LOSS, TrainingOptions
from chromseq.train import check_monitor

if TYPE_CHECKING:
    from anndata import AnnData


@dataclass(frozen=True)
class Targets:
    """What the models of one verb call learn: the task, the loss in effect, and where the targets came from.

    ``layer`` is the layer name (``''``: ``X``), ``transform`` how ``pp.normalize_targets`` transformed
    it, in words (``''``: as read); both go to the model record.
    """

    task: str = "classification"
    loss: str = "bce"
    layer: str = ""
    transform: str = ""


def check_layer(adata: AnnData, layer: str | None) -> None:
    """Raise a :class:`KeyError` naming the layers there are when ``layer`` is not one of ``adata.layers``."""
    if layer is not None and layer not in adata.layers:
        raise KeyError(
            f"adata.layers[{layer!r}] is missing; adata has layers {sorted(adata.layers)}: pass one of them, or "
            "layer=None for X."
        )


def celltype_labels(adata: AnnData, celltypes: list[str], layer: str | None = None) -> np.ndarray:
    """``X`` (or ``layers[layer]``) columns of ``celltypes`` as dense float32 ``(n_obs, len(celltypes))``, NaN = unknown.

    A backed ``X`` is read in blocks of rows; only these columns are kept in memory.
    """
    check_layer(adata, layer)
    cols = [adata.var_names.get_loc(c) for c in celltypes]
    return read_columns(adata.X if layer is None else adata.layers[layer], cols)


def resolve_targets(
    adata: AnnData,
    labels: np.ndarray,
    names: list[str],
    *,
    task: str | None,
    layer: str | None,
    options: TrainingOptions,
    why: str = "as passed",
    source: str | None = None,
) -> Targets:
    """Return the :class:`Targets` of ``labels`` ``(n, k)`` (columns ``names``): task detected unless given, loss resolved.

    ``why`` says in the log why a given ``task`` was chosen, ``source`` where the targets are
    (default: ``X`` or the layer).

    Raises
    ------
    ValueError
        An unknown task, a loss or monitor of the other task, or labels that look binary but for a few values.
    """
    source = source or ("X" if layer is None else f"layers[{layer!r}]")
    task = detect_task(labels, names, task, source=source, why=why)
    loss = resolve_loss(options.loss, task, DEFAULT_REGRESSION_LOSS)
    check_monitor(options.monitor, loss, "TrainingOptions")
    if task == "regression":
        logger.info("regression on %s with loss %r", source, loss)
    return Targets(task, loss, layer or "", store_target_transform(adata, layer))


def check_fit_targets(
    labels: np.ndarray, names: list[str], target: Targets, rows: dict[str, np.ndarray], monitor: str
) -> None:
    """Raise before training if ``labels`` cannot train ``target``'s task (see :func:`chromseq._tasks.check_targets`)."""
    source = "X" if not target.layer else f"layers[{target.layer!r}]"
    check_targets(
        labels, names, target.task, target.loss, train_rows=rows["train"], val_rows=rows["val"], source=source
    )
    if target.task == "classification":
        check_classes(labels, names, rows["train"], rows["val"], monitor)


def check_classes(
    labels: np.ndarray, names: list[str], train_rows: np.ndarray, val_rows: np.ndarray, monitor: str
) -> None:
    """Raise if an output lacks a class among its train labels (its val labels too for ``val_auroc``) or val rows."""
    for j, name in enumerate(names):
        y = labels[train_rows, j]
        y = y[~np.isnan(y)]
        n_pos, n_neg = int((y > 0.5).sum()), int((y <= 0.5).sum())
        if n_pos == 0 or n_neg == 0:
            raise ValueError(
                f"{name!r} has {n_pos} positive and {n_neg} negative labelled rows in the train split; "
                "both classes are needed (check X, or the split: chromseq.pp.split_by_chromosome)."
            )
        if np.isnan(labels[val_rows, j]).all():
            raise ValueError(f"{name!r} has no labelled row in the val split: choose other val chromosomes.")
        v = labels[val_rows, j][~np.isnan(labels[val_rows, j])]
        if monitor == "val_auroc" and not ((v > 0.5).any() and (v <= 0.5).any()):
            raise ValueError(
                f"monitor='val_auroc' but {name!r} has {int((v > 0.5).sum())} positive and {int((v <= 0.5).sum())} "
                "negative labelled rows in the val split, so its AUROC is undefined: use monitor='val_loss', or "
                "choose other val chromosomes (chromseq.pp.split_by_chromosome)."
            )


def subsample(rows: np.ndarray, labels: np.ndarray, fraction: float, seed: int, *, stratify: bool = True) -> np.ndarray:
    """Return a random ``fraction`` of ``rows`` (sorted), stratified by the first output's label; all if 1.

    With ``stratify=False`` (regression targets: no classes) a plain random ``fraction``.
    """
    if fraction == 1:
        return rows
    rng = np.random.default_rng([seed, int(fraction * 1e6)])
    first = labels[rows, 0]
    classes = (first > 0.5, first <= 0.5, np.isnan(first)) if stratify else (np.ones(len(rows), bool),)
    picked = []
    for cls in classes:
        members = rows[cls]
        n = min(len(members), max(1, round(fraction * len(members)))) if len(members) else 0
        picked.append(rng.choice(members, n, replace=False))
    out = np.sort(np.concatenate(picked))
    logger.info("using %d of %d training rows (train_fraction=%g)", len(out), len(rows), fraction)
    return out


def log_unlabelled(labels: np.ndarray, names: list[str], rows: np.ndarray) -> None:
    """Log, per output, how many rows are left out because their label is NaN."""
    n_nan = np.isnan(labels[rows]).sum(axis=0)
    for name, n in zip(names, n_nan, strict=True):
        if n:
            logger.info("%s: %d of %d train/val rows have no label (NaN) and are left out", name, n, len(rows))
