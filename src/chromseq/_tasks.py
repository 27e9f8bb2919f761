"""What a training verb learns from its targets: the task (classification or regression) and its checks.

:func:`detect_task` tells binary labels (0, 1, NaN) from quantities; :func:`check_targets` refuses
values the task and loss cannot train on (inf, negative counts, a constant column, too few known
values), each message naming the column, what was found and the fix. Both run before any
training and before the AnnData is touched.
"""

from __future__ import annotations

import numpy as np

from chromseq._keys import LOSSES, TASKS
from chromseq._settings import logger
from chromseq._validate import check_labels

#: Below this share of values other than 0/1 (of its known values) a column looks like binary labels with errors.
STRAY_SHARE = 0.05


def _is_binary(values: np.ndarray) -> np.ndarray:
    """Boolean ``(n, k)``: NaN, 0 or 1."""
    return np.isnan(values) | (values == 0) | (values == 1)


def detect_task(
    values: np.ndarray, names: list[str], task: str | None = None, *, source: str = "X", why: str = "as passed"
) -> str:
    """Return the task of targets ``values`` ``(n, k)`` (columns ``names``): ``task`` if given, else detected.

    Only 0, 1 and NaN -> ``'classification'``; anything else -> ``'regression'``. A column whose
    values are 0/1 but for a few strays (under 5 % of its known values) is refused rather than
    trained as a quantity: it is most likely binary labels with errors. The result is logged (a
    given ``task`` with ``why``).

    Raises
    ------
    ValueError
        ``task`` not one of :data:`~chromseq._keys.TASKS`, or a column that is 0/1 but for a few values.
    """
    if task is not None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)} or None (detected), got {task!r}.")
        logger.info("task: %s (%s) on targets from %s", task, why, source)
        return task
    binary = _is_binary(values)
    if binary.all():
        logger.info("task: classification (detected: targets from %s are 0, 1 and NaN)", source)
        return "classification"
    known = (~np.isnan(values)).sum(axis=0)
    stray = (~binary).sum(axis=0)
    for j in np.flatnonzero((stray > 0) & (stray < STRAY_SHARE * known)):
        try:
            check_labels(values[:, [j]], [names[j]])
        except ValueError as err:
            raise ValueError(
                f"{str(err)[:-1]}; only {int(stray[j])} of {int(known[j])} known values are not 0/1, so they look "
                "like binary labels with errors: fix those values, or pass task='regression' if the column is a "
                "quantity."
            ) from None
    logger.info("task: regression (detected: targets from %s hold values other than 0, 1 and NaN)", source)
    return "regression"


def resolve_loss(loss: str, task: str, default_regression: str) -> str:
    """Return the loss of ``task``: ``'auto'`` is ``'bce'`` (classification) or ``default_regression``; checked against the task."""
    if loss == "auto":
        return "bce" if task == "classification" else default_regression
    if loss not in LOSSES:
        raise ValueError(f"loss must be 'auto' or one of {list(LOSSES)}, got {loss!r}.")
    if (loss == "bce") != (task == "classification"):
        fix = "loss='bce' (or 'auto')" if task == "classification" else "loss='mse', 'poisson' or 'mse_cosine'"
        raise ValueError(f"loss={loss!r} does not train {task}: use {fix}, or pass the other task= for these targets.")
    return loss


def check_targets(
    values: np.ndarray,
    names: list[str],
    task: str,
    loss: str,
    *,
    train_rows: np.ndarray | None = None,
    val_rows: np.ndarray | None = None,
    source: str = "X",
) -> None:
    """Raise a :class:`ValueError` if targets ``values`` ``(n, k)`` cannot train ``task`` with ``loss``.

    Classification: only 0, 1 and NaN. Regression: no infinity; no negative value for
    ``'poisson'`` (a count loss); at least two known values among ``train_rows`` and among
    ``val_rows`` per column, and some variance among the known train values. NaN is unknown
    (left out) for every task. Each message names the column, what was found and the fix.
    """
    if task == "classification":
        check_labels(values, names)
        return
    train = np.arange(len(values)) if train_rows is None else train_rows
    for j, name in enumerate(names):
        y = values[:, j]
        n_inf = int(np.isinf(y).sum())
        if n_inf:
            raise ValueError(
                f"targets of {name!r} (from {source}) hold {n_inf} infinite value(s): set them to a finite value, or "
                "to NaN (unknown, left out of training)."
            )
        if loss == "poisson" and (y < 0).any():
            raise ValueError(
                f"targets of {name!r} (from {source}) hold {int((y < 0).sum())} negative value(s) (min {np.nanmin(y):g}), "
                "but loss='poisson' models counts (>= 0): use loss='mse', or counts (e.g. the raw layer) as targets."
            )
        _check_spread(y, name, source, train, val_rows)


def _check_spread(y: np.ndarray, name: str, source: str, train: np.ndarray, val: np.ndarray | None) -> None:
    for split, rows in (("train", train), ("val", val)):
        if rows is None:
            continue
        known = y[rows][~np.isnan(y[rows])]
        if len(known) < 2:
            raise ValueError(
                f"targets of {name!r} (from {source}) have {len(known)} known value(s) in the {split} split; "
                "regression needs at least 2: fill in values (NaN is unknown), or choose other "
                f"{split} chromosomes (chromseq.pp.split_by_chromosome)."
            )
        if split == "train" and np.ptp(known) == 0:
            raise ValueError(
                f"targets of {name!r} (from {source}) are all {known[0]:g} in the train split (no variance): "
                "nothing to learn; leave that column out (celltype=...), or check the layer."
            )
