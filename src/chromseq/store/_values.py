"""The task of each prediction column, and the observed values a regression prediction is compared with.

``uns['chromseq']['predictions'][column]`` says ``task`` (``'classification'``: probabilities;
``'regression'``: values in the target's units) and ``layer`` (where the model's targets came from;
``''``: ``X``). Entries written before regression existed have neither and are classification.
The regression plots and the report read predictions and observed values through this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from chromseq import _keys as K
from chromseq.store._targets import select_predictions

if TYPE_CHECKING:
    from anndata import AnnData

CLASSIFICATION, REGRESSION = K.TASKS


def prediction_tasks(adata: AnnData) -> dict[str, str]:
    """``{column: task}`` of every ``obsm['chromseq_pred']`` column (``'classification'`` when unrecorded)."""
    if K.PRED not in adata.obsm:
        return {}
    meta = adata.uns.get(K.UNS, {}).get(K.UNS_PREDICTIONS) or {}
    return {str(c): str((meta.get(c) or {}).get("task") or CLASSIFICATION) for c in adata.obsm[K.PRED].columns}


def task_predictions(adata: AnnData, models: str | Sequence[str] | None, task: str) -> dict[str, dict]:
    """Prediction columns of ``task`` (all models, or the named models/columns) with ``task`` and ``layer``.

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
    meta = select_predictions(adata, models)
    tasks = prediction_tasks(adata)
    stored = adata.uns.get(K.UNS, {}).get(K.UNS_PREDICTIONS) or {}
    return {
        c: {**m, "task": task, "layer": str(stored[c].get("layer") or "")} for c, m in meta.items() if tasks[c] == task
    }


def regression_meta(adata: AnnData, models: str | Sequence[str] | None = None) -> dict[str, dict]:
    """Return the regression prediction columns, as :func:`task_predictions` returns them."""
    return task_predictions(adata, models, REGRESSION)


def observed(adata: AnnData, target: str, layer: str = "") -> np.ndarray:
    """Observed values of ``target``: ``(n_obs,)`` float64 from ``X`` or ``layers[layer]`` (NaN: unknown).

    Raises
    ------
    KeyError
        For a layer the AnnData lacks, or a target that is not a ``var_name``.
    """
    if target not in adata.var_names:
        raise KeyError(f"no observed values for target {target!r}: not in adata.var_names {list(adata.var_names)}.")
    if layer and layer not in adata.layers:
        raise KeyError(
            f"adata.layers[{layer!r}] is missing (the model's targets came from it); the AnnData has layers "
            f"{list(adata.layers)}: predict on the AnnData the model was trained on, or add the layer back."
        )
    matrix = adata.layers[layer] if layer else adata.X
    column = matrix[:, adata.var_names.get_loc(target)]
    column = column.toarray() if hasattr(column, "toarray") else np.asarray(column)
    return np.asarray(column, dtype=np.float64).ravel()
