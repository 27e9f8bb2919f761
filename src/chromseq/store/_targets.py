"""Labels and scores of evaluation targets, shared by ``tl.evaluate`` and the ``pl`` curve plots.

A *target* is ``'open'`` (the pretraining label ``obs['open']``) or a cell type (a column of ``X``).
A *score source* is one column of scores for a target: a model prediction (``obsm['chromseq_pred']``
with its metadata in ``uns['chromseq']['predictions']``) or a composition baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from chromseq import _keys as K

if TYPE_CHECKING:
    from anndata import AnnData

#: Order in which kinds are listed in tables, legends and bar groups.
KIND_ORDER = ("pretrain", "finetune", "scratch", "baseline")


@dataclass(frozen=True)
class ScoreSource:
    """One score column for one target: ``model`` and ``kind`` as in the metrics table, ``scores`` ``(n_obs,)``."""

    model: str
    kind: str
    target: str
    scores: np.ndarray


def resolve_targets(adata: AnnData, targets: str | Sequence[str] | None) -> list[str]:
    """Return targets as a list; ``None`` means ``'open'`` (if ``obs['open']`` exists) then every cell type.

    Raises
    ------
    KeyError
        For a name that is neither ``'open'`` (with ``obs['open']`` present) nor a ``var_name``.
    """
    if targets is None:
        names = ([K.OPEN] if K.OPEN in adata.obs.columns else []) + list(adata.var_names)
    else:
        names = [targets] if isinstance(targets, str) else list(dict.fromkeys(targets))
    unknown = [t for t in names if not has_labels(adata, t)]
    if unknown:
        raise KeyError(
            f"unknown target(s) {unknown}: a target is 'open' (needs obs['open'], from chromseq.pp.read_regions), "
            f"a cell type in adata.var_names {list(adata.var_names)}, or 'signal' (the mean over cell types)."
        )
    if not names:
        raise ValueError("no target to evaluate: adata has no obs['open'] and no var_names.")
    return names


def labels(adata: AnnData, target: str, layer: str = "") -> np.ndarray:
    """Labels (or observed values) of ``target`` as ``(n_obs,)`` float64: 1 open, 0 closed, NaN unknown.

    ``layer`` names the layer holding a cell type's values (``''``: ``X``); quantities are returned
    as they are stored (regression targets). The target ``'signal'`` (the output of regression
    pre-training, when no cell type has that name) is the mean over cell types of ``X`` or ``layer``
    (NaN left out of each region's mean; NaN where none is known).
    """
    if layer and layer not in adata.layers:
        raise KeyError(
            f"adata.layers[{layer!r}] is missing (layers: {list(adata.layers)}): the predictions name it as their "
            "targets' layer; restore it, or evaluate an AnnData that has it."
        )
    if target == K.SIGNAL and target not in adata.var_names:
        return pooled_values(adata, layer)
    if layer:
        if target not in adata.var_names:
            raise KeyError(f"no values for target {target!r} in layers[{layer!r}]: not in adata.var_names.")
        column = adata.layers[layer][:, adata.var_names.get_loc(target)]
        column = column.toarray() if hasattr(column, "toarray") else np.asarray(column)
        return np.asarray(column, dtype=np.float64).ravel()
    if target in adata.var_names:
        column = adata.X[:, adata.var_names.get_loc(target)]
        column = column.toarray() if hasattr(column, "toarray") else np.asarray(column)
        return np.asarray(column, dtype=np.float64).ravel()
    if target == K.OPEN and K.OPEN in adata.obs.columns:
        return adata.obs[K.OPEN].to_numpy(dtype=np.float64, na_value=np.nan)
    raise KeyError(f"no labels for target {target!r}: not 'open' and not in adata.var_names {list(adata.var_names)}.")


def pooled_values(adata: AnnData, layer: str = "") -> np.ndarray:
    """Mean over cell types of ``X`` (or ``layers[layer]``) per region, ``(n_obs,)`` float64, NaN left out."""
    values = adata.layers[layer] if layer else adata.X
    values = values.toarray() if hasattr(values, "toarray") else np.asarray(values)
    values = np.asarray(values, dtype=np.float64)
    known = ~np.isnan(values)
    n = known.sum(axis=1)
    total = np.where(known, values, 0.0).sum(axis=1)
    return np.divide(total, n, out=np.full(len(n), np.nan), where=n > 0)


def has_labels(adata: AnnData, target: str) -> bool:
    """Whether ``adata`` holds the labels or values of ``target`` (a cell type, ``'open'``, or the pooled ``'signal'``)."""
    return target in adata.var_names or (target == K.OPEN and K.OPEN in adata.obs.columns) or target == K.SIGNAL


def prediction_meta(adata: AnnData) -> dict[str, dict]:
    """``{column: {'model', 'kind', 'target', 'task', 'layer'}}`` of the ``obsm['chromseq_pred']`` columns; ``{}`` when none.

    Raises
    ------
    KeyError
        When predictions exist without their metadata, or a column has no metadata.
    """
    if K.PRED not in adata.obsm:
        return {}
    meta = adata.uns.get(K.UNS, {}).get(K.UNS_PREDICTIONS)
    columns = list(adata.obsm[K.PRED].columns)
    missing = [c for c in columns if meta is None or c not in meta]
    if missing:
        raise KeyError(
            f"obsm[{K.PRED!r}] columns {missing} have no entry in uns[{K.UNS!r}][{K.UNS_PREDICTIONS!r}]: "
            "run chromseq.tl.predict(adata) to write predictions together with their metadata."
        )
    return {c: _entry(meta[c]) for c in columns}


def _entry(entry: dict) -> dict[str, str]:
    """One column's metadata with ``task`` (default classification) and ``layer`` (default ``''``: X)."""
    out = {f: str(entry[f]) for f in ("model", "kind", "target")}
    out["task"] = str(entry.get("task", K.TASKS[0]) or K.TASKS[0])
    out["layer"] = str(entry.get("layer", "") or "")
    if out["task"] not in K.TASKS:
        raise ValueError(
            f"prediction column of model {out['model']!r} has task {out['task']!r}; expected one of {list(K.TASKS)}."
        )
    return out


def select_predictions(adata: AnnData, models: str | Sequence[str] | None) -> dict[str, dict]:
    """Prediction columns to use: all of them, or those of the named models (model or column names)."""
    meta = prediction_meta(adata)
    if models is None:
        return meta
    wanted = [models] if isinstance(models, str) else list(models)
    known = {m["model"] for m in meta.values()} | set(meta)
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise KeyError(
            f"no predictions for model(s) {unknown}; predicted models are {sorted({m['model'] for m in meta.values()})}. "
            "Run chromseq.tl.predict(adata, models=...) first."
        )
    return {c: m for c, m in meta.items() if c in wanted or m["model"] in wanted}


def prediction_sources(
    adata: AnnData, meta: dict[str, dict], target: str, *, task: str | None = None, layer: str | None = None
) -> list[ScoreSource]:
    """Score sources of the selected prediction columns whose target is ``target``.

    ``task`` and ``layer`` (``None``: any) keep only the columns of that task and targets' layer.
    """
    frame = adata.obsm.get(K.PRED)
    return [
        ScoreSource(m["model"], m["kind"], target, frame[c].to_numpy(dtype=np.float64))
        for c, m in meta.items()
        if m["target"] == target
        and (task is None or m.get("task", K.TASKS[0]) == task)
        and (layer is None or m.get("layer", "") == layer)
    ]


def targets_of(meta: dict[str, dict]) -> list[str]:
    """Distinct targets of prediction metadata, in column order."""
    return list(dict.fromkeys(m["target"] for m in meta.values()))


def kind_rank(kind: str) -> int:
    """Sort key of a model kind (unknown kinds after the known ones)."""
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def write_predictions(adata: AnnData, key: str, preds: dict[str, np.ndarray], meta: dict[str, dict]) -> None:
    """Write prediction columns (``(n_obs,)`` each) into ``obsm[key]`` (replacing those of the same name) and their metadata."""
    import pandas as pd

    from chromseq._validate import uns_chromseq

    old = adata.obsm.get(key)
    frame = pd.DataFrame(preds, index=adata.obs_names)
    if isinstance(old, pd.DataFrame):
        frame = pd.concat([old.drop(columns=[c for c in frame.columns if c in old.columns]), frame], axis=1)
    adata.obsm[key] = frame
    uns_chromseq(adata).setdefault(K.UNS_PREDICTIONS, {}).update(meta)
