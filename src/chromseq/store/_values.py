"""Prediction columns by task (classification or regression), and the groups scored for cell-type specificity.

``uns['chromseq']['predictions'][column]`` says ``task`` and ``layer`` (where the model's targets came
from; ``''``: ``X``); entries written before regression existed are classification (see
:func:`prediction_meta`). The plots and the report draw each task's columns with its own figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from chromseq import _keys as K
from chromseq._settings import logger
from chromseq.store._targets import select_predictions

if TYPE_CHECKING:
    from anndata import AnnData

#: Suffix of the model name of a specificity row combining single-cell-type models of one kind.
PER_CELLTYPE = "_per_celltype"


def task_predictions(adata: AnnData, models: str | Sequence[str] | None, task: str) -> dict[str, dict]:
    """Prediction columns of ``task``: of every model, or of the named models (model or column names).

    Returns
    -------
    ``{column: {'model', 'kind', 'target', 'task', 'layer'}}`` (``layer`` ``''`` for ``X``).

    Raises
    ------
    KeyError
        For a model name with no prediction (see :func:`select_predictions`).
    """
    if task not in K.TASKS:
        raise ValueError(f"task must be one of {K.TASKS}, got {task!r}.")
    return {c: m for c, m in select_predictions(adata, models).items() if m["task"] == task}


def regression_meta(adata: AnnData, models: str | Sequence[str] | None = None) -> dict[str, dict]:
    """Return the regression prediction columns, as :func:`task_predictions` returns them."""
    return task_predictions(adata, models, K.TASKS[1])


def specificity_groups(meta: dict[str, dict], layer: str) -> list[tuple[str, str, dict[str, str]]]:
    """Return the prediction groups scored for specificity: ``(model, kind, {target: column})``, >= 2 targets each.

    ``meta`` holds the selected prediction columns; only regression columns of ``layer`` count. The
    specificity rows of :func:`chromseq.tl.evaluate` and :func:`chromseq.pl.specificity` group the same way:
    a model predicting two or more cell types is a group; single-cell-type models of one kind together are
    one (``<kind>_per_celltype``) when they have one model per cell type.
    """
    by_model: dict[str, dict[str, str]] = {}
    kinds: dict[str, str] = {}
    for column, m in meta.items():
        if m["task"] == "regression" and m["layer"] == layer:
            by_model.setdefault(m["model"], {})[m["target"]] = column
            kinds[m["model"]] = m["kind"]
    groups = [(model, kinds[model], cols) for model, cols in by_model.items() if len(cols) >= 2]
    singles: dict[str, dict[str, list[str]]] = {}
    for model, cols in by_model.items():
        if len(cols) == 1:
            ((target, column),) = cols.items()
            singles.setdefault(kinds[model], {}).setdefault(target, []).append(column)
    for kind, per_target in singles.items():
        if len(per_target) < 2:
            continue
        crowded = sorted(t for t, cols in per_target.items() if len(cols) > 1)
        if crowded:
            logger.warning(
                "specificity of the %r single-cell-type models not scored: cell type(s) %s have several %r models; "
                "evaluate one model per cell type (models=...) to get it.",
                kind, crowded, kind,
            )  # fmt: skip
            continue
        groups.append((f"{kind}{PER_CELLTYPE}", kind, {t: cols[0] for t, cols in per_target.items()}))
    return groups
