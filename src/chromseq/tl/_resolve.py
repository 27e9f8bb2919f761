"""What a verb of ``tl`` applies, and to which regions: the one place that resolves models and masks.

- :func:`resolve_models`: the ``models=`` argument of ``tl.predict`` and ``tl.score_variants``
  (names, folders, Keras files, another AnnData) as ``[(name, record, external)]``;
- :func:`default_model` and :func:`resolve_network`: the network behind ``celltype=``/``model=``
  (``tl.contributions``, ``tl.score_variants``);
- :func:`masked_rows`: the rows a ``mask=`` selects;
- :func:`explainable`: the rows a contribution method can explain (the N-row rule).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._validate import FIX
from chromseq.store import (
    ModelRecord,
    get_model,
    get_record,
    model_name,
    models_of,
    output_index,
    records_of,
    units_of,
)
from chromseq.tl._add_model import is_keras_file, model_record, record_from_folder

if TYPE_CHECKING:
    import torch
    from anndata import AnnData


def resolve_models(
    adata: AnnData, models: str | os.PathLike | AnnData | list | None
) -> list[tuple[str, ModelRecord, bool]]:
    """``[(name, record, external)]`` for the ``models`` argument."""
    from anndata import AnnData

    if models is None:
        own = records_of(adata)
        if not own:
            raise KeyError(f"adata has no trained models: run {FIX[K.UNS_MODELS]} first, or pass models=.")
        return [(n, r, False) for n, r in own.items()]
    if isinstance(models, AnnData):
        other = records_of(models)
        if not other:
            raise KeyError("the AnnData passed as models= has no trained models in uns['chromseq']['models'].")
        return [(n, r, True) for n, r in other.items()]
    if isinstance(models, list | tuple):
        return [item for m in models for item in resolve_models(adata, m)]
    if isinstance(models, str) and models in models_of(adata):
        return [(models, get_record(adata, models), False)]
    path = Path(models)
    if path.is_dir():
        name, record = record_from_folder(path)
        return [(name, record, True)]
    if path.is_file() and is_keras_file(path):
        name, record = model_record(adata, path)  # converted to a model folder under settings.model_dir
        return [(name, record, True)]
    raise KeyError(
        f"models={models!r} is neither a model of adata ({sorted(models_of(adata))}), a model folder nor a Keras "
        ".h5 file; pass a name, a folder, a .h5 file, an AnnData with models, or a list of them."
    )


def model_columns(
    name: str, record: ModelRecord, taken: set[str] | frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """``[(column, target)]`` of a model: its name for one output, ``<name>_<output>`` for several.

    A model's name is its own column: when ``<name>_<output>`` is the name of another model in
    ``taken`` (a single-head ``finetuned_K562`` beside a multi-head ``finetuned``), that output's
    column is ``<name>:<output>`` instead (``:`` is never in a model name), so both are predicted.
    """
    outputs = list(record.outputs)
    if record.kind == "pretrain" and len(outputs) == 1 and record.task != "regression":
        return [(name, "open")]  # a regression-pretrained body's one output is 'signal' (the pooled values)
    if len(outputs) == 1:
        return [(name, outputs[0])]
    return [(f"{name}:{o}" if f"{name}_{o}" in taken else f"{name}_{o}", o) for o in outputs]


def masked_rows(adata: AnnData, mask: np.ndarray | pd.Series | str | None) -> np.ndarray:
    """Return the positions (int64, sorted) of the rows ``mask`` selects; raise if none."""
    if mask is None:
        rows = np.arange(adata.n_obs)
    else:
        if isinstance(mask, str):
            if mask not in adata.obs.columns:
                raise KeyError(f"mask={mask!r} is not an obs column; obs has {list(adata.obs.columns)}.")
            mask = adata.obs[mask]
        if isinstance(mask, pd.Series):
            if not mask.index.equals(adata.obs_names):
                mask = mask.reindex(adata.obs_names)
            if mask.isna().any():
                raise ValueError(
                    "mask Series does not cover every obs_name (or holds NA); align it on adata.obs_names."
                )
        arr = np.asarray(mask)
        if arr.dtype != bool or arr.shape != (adata.n_obs,):
            raise ValueError(
                f"mask must be a boolean array of length n_obs={adata.n_obs}, got dtype {arr.dtype} "
                f"and shape {arr.shape}."
            )
        rows = np.flatnonzero(arr)
    if rows.size == 0:
        raise ValueError("the selection is empty: no region to compute; check mask / the subset passed.")
    return rows


def resolve_network(
    adata: AnnData, celltype: str | None, model: str | torch.nn.Module | None
) -> tuple[torch.nn.Module, dict[str, Any], int]:
    """Return the network, a description for uns, and the output column to explain.

    The description names the model and what its output is (``target``: ``'logit'``, ``'value'`` or
    ``'log_rate'``, see ``chromseq.store.Units``); a bare :class:`torch.nn.Module` is taken to output logits.
    """
    import torch

    if isinstance(model, torch.nn.Module):
        outputs = list(getattr(model, "outputs", []) or [])
        target = 0
        if len(outputs) > 1:
            if celltype not in outputs:
                raise ValueError(f"the model has outputs {outputs}; pass celltype= one of them.")
            target = outputs.index(celltype)
        name = type(model).__name__
        return model, {"model": name, "model_kind": "module", "target": units_of(None).output}, target
    if model is not None and not isinstance(model, str):
        raise TypeError(f"model must be None, a model name or a torch.nn.Module, got {type(model).__name__}.")
    if model is None and celltype is None:
        raise ValueError("pass celltype=<a var_name> (its fine-tuned model is used) or model=<a model name>.")
    models = records_of(adata)
    name = model if model is not None else default_model(models, celltype)
    if name not in models:
        raise KeyError(
            f"no model {name!r} in adata.uns['chromseq']['models'] (found {sorted(models)}): "
            "run chromseq.tl.pretrain / chromseq.tl.finetune first, or pass a model name listed there."
        )
    info = models[name]
    kind = info.kind
    target = 0 if kind == "pretrain" or celltype is None else int(output_index(adata, name, celltype))
    net = get_model(adata, name)
    desc = {"model": name, "model_kind": kind, "fingerprint": info.fingerprint, "target": units_of(info).output}
    if info.task != "classification":
        desc["task"] = info.task
    return net, desc, target


def default_model(models: dict[str, ModelRecord], celltype: str) -> str:
    """Return the model that explains ``celltype``: its own fine-tuned model, else a joint one that predicts it."""
    own = model_name("finetune", celltype)
    if own in models:
        return own
    joint = [n for n, m in models.items() if m.kind == "finetune" and celltype in m.celltypes]
    if joint:
        return joint[0]
    raise KeyError(
        f"no fine-tuned model for cell type {celltype!r} in adata.uns['chromseq']['models'] "
        f"(found {sorted(models)}): run chromseq.tl.finetune(adata, celltype={celltype!r}) first, "
        "or pass model='pretrained'."
    )


def explainable(codes: np.ndarray, method: str) -> np.ndarray:
    """Return a bool ``(n,)``: the rows of ``codes`` ``method`` can explain (deep_lift_shap: ACGT only; others: all)."""
    if method != "deep_lift_shap":
        return np.ones(len(codes), dtype=bool)
    return ~(codes > 3).any(axis=1)
