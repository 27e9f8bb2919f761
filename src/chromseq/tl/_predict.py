"""``tl.predict``: apply trained models (of this AnnData, another one, or saved folders) to regions."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._anndata import writable
from chromseq._settings import logger
from chromseq._validate import check_name, positive_int, require_regions, sequence_codes
from chromseq.data import SequenceDataset
from chromseq.store import ModelRecord, load_recorded, models_of, write_predictions, write_record
from chromseq.tl._fit_glue import check_width
from chromseq.tl._resolve import masked_rows, model_columns, resolve_models
from chromseq.train import predict_values

if TYPE_CHECKING:
    from anndata import AnnData


def predict(
    adata: AnnData,
    models: str | os.PathLike | AnnData | list | None = None,
    *,
    mask: np.ndarray | pd.Series | str | None = None,
    batch_size: int = 512,
    rc_average: bool = True,
    device: str | None = None,
    key_added: str = K.PRED,
    copy: bool = False,
) -> AnnData | None:
    """Predict accessibility of every region with trained models: probabilities, or values for regression models.

    A classification model writes probabilities; a regression model (record ``task``
    ``'regression'``) writes values in its target's units (its outputs, or their ``exp`` for a
    Poisson model: the model record's ``link``).

    Parameters
    ----------
    adata
        Regions AnnData with ``obsm['sequence']`` (uint8 codes, width = the models').
    models
        ``None`` (all models recorded in ``adata``), a model name, a model folder, a Keras
        ``.h5`` file (see :func:`chromseq.tl.add_model`), another AnnData whose models to
        apply (e.g. trained on other regions), or a list of these.
    mask
        Regions to predict: a boolean array (``n_obs``), a boolean Series aligned on
        ``obs_names``, or the name of a boolean ``obs`` column (e.g. ``adata.obs.split != 'train'``
        to score only the held-out regions, in a fraction of the time). ``None``: all regions.
        The other regions get NaN, which :func:`chromseq.tl.evaluate` leaves out.
    batch_size
        Sequences per forward pass (does not change the result).
    rc_average
        Average the predictions (probabilities, or values) of each sequence and its reverse complement.
    device
        Torch device (``None``: :attr:`chromseq.settings.device`); autocast on CUDA.
    key_added
        ``.obsm`` key of the predictions.
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets ``adata.obsm[key_added]``: a DataFrame
    (index = obs_names) with one column per model output (probability, or value), named after the
    model (``<model>_<celltype>`` for multi-head models, or ``<model>:<celltype>`` where
    another model has the name ``<model>_<celltype>``: every model is predicted, and a
    model's name is always its own column); existing columns of the same name are replaced. Sets ``adata.uns['chromseq']['predictions'][column]`` = ``{'model',
    'kind', 'target'}``, plus ``'task': 'regression'`` and ``'layer'`` (the layer the model's targets came
    from, ``''`` for ``X``) for a regression model (no ``task``: classification); models from elsewhere are
    also recorded in
    ``adata.uns['chromseq']['models']``.

    Examples
    --------
    >>> cs.tl.predict(adata)  # doctest: +SKIP
    >>> cs.tl.predict(new_regions, models=adata)  # doctest: +SKIP
    >>> new_regions.obsm["chromseq_pred"].head()  # doctest: +SKIP
    """
    check_name(key_added)
    positive_int(batch_size, "batch_size")
    require_regions(adata, "predict")
    codes = sequence_codes(adata)
    width = codes.shape[1]
    resolved = resolve_models(adata, models)
    own, seen = models_of(adata), {}
    taken = set(own) | {n for n, _, _ in resolved}  # model names: each model owns the column of its name
    for name, record, external in resolved:
        check_width(record.network, width, f"model {name!r}")
        if external and name in own and str(own[name]["path"]) != record.path:
            raise ValueError(
                f"adata already has a different model named {name!r} ({own[name]['path']}); rename or delete "
                f"adata.uns['chromseq']['models'][{name!r}] before applying the other one."
            )
        for col, target in model_columns(name, record, taken):
            if ":" in col:
                logger.info("column %r is model %r's: model %r writes output %r to %r", col.replace(":", "_"),
                            col.replace(":", "_"), name, target, col)  # fmt: skip
            if col in seen:
                raise ValueError(f"two models would write prediction column {col!r}; predict them in separate calls.")
            seen[col] = name
    rows = None if mask is None else masked_rows(adata, mask)
    data = SequenceDataset(codes, None, rows)
    preds: dict[str, np.ndarray] = {}
    meta: dict[str, dict[str, str]] = {}
    for name, record, _ in resolved:
        model = load_recorded(name, record)
        values = predict_values(
            model, data, link=record.link, batch_size=batch_size, device=device, rc_average=rc_average
        )
        _check_finite(name, record, values)
        for j, (col, target) in enumerate(model_columns(name, record, taken)):
            preds[col] = values[:, j] if rows is None else _scatter(values[:, j], rows, adata.n_obs)
            meta[col] = {"model": name, "kind": record.kind, "target": target}
            if record.task != "classification":  # a classification column is as it always was: no task is one
                meta[col] |= {"task": record.task, "layer": record.target_layer}
    adata = writable(adata, copy, "predict")
    _write(adata, key_added, preds, meta, [(n, r) for n, r, ext in resolved if ext])
    return adata if copy else None


def _check_finite(name: str, record: ModelRecord, proba: np.ndarray) -> None:
    """Refuse predictions holding NaN or infinity (a broken model); nothing has been written yet."""
    bad = int((~np.isfinite(proba)).sum())
    if bad:
        raise ValueError(
            f"model {name!r} ({record.path}) predicted NaN or infinity for {bad} of {proba.size} values: the model is "
            "broken (training diverged, or its weights overflow). Retrain it, or use an earlier copy; adata was "
            "left unchanged."
        )


def _scatter(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Return float32 (n,) with ``values`` at ``rows`` and NaN elsewhere."""
    out = np.full(n, np.nan, dtype=np.float32)
    out[rows] = values
    return out


def _write(adata: AnnData, key: str, preds: dict[str, np.ndarray], meta: dict, external: list) -> None:
    write_predictions(adata, key, preds, meta)
    for name, record in external:
        if name not in models_of(adata):
            write_record(adata, name, record)
            logger.info("recorded model %r (from %s) in adata.uns['chromseq']['models']", name, record.path)
    logger.info("added adata.obsm[%r] columns %s and adata.uns['chromseq']['predictions']", key, list(preds))
