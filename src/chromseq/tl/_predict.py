"""``tl.predict``: apply trained models (of this AnnData, another one, or saved folders) to regions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._anndata import writable
from chromseq._settings import logger
from chromseq._validate import FIX, require_regions, sequence_codes, uns_chromseq
from chromseq.data import SequenceDataset
from chromseq.store import ModelRecord, get_record, load_recorded, models_of, records_of
from chromseq.tl._add_model import is_keras_file, model_record, record_from_folder
from chromseq.tl._contributions import select_rows
from chromseq.tl._fit_glue import check_width
from chromseq.train._inference import predict_proba

if TYPE_CHECKING:
    from anndata import AnnData


def _resolve(adata: AnnData, models: str | os.PathLike | AnnData | list | None) -> list[tuple[str, ModelRecord, bool]]:
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
        return [item for m in models for item in _resolve(adata, m)]
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


def _columns(name: str, record: ModelRecord) -> list[tuple[str, str]]:
    """``[(column, target)]`` of a model: its name for one output, ``<name>_<output>`` for several."""
    outputs = list(record.outputs)
    if record.kind == "pretrain" and len(outputs) == 1:
        return [(name, "open")]
    if len(outputs) == 1:
        return [(name, outputs[0])]
    return [(f"{name}_{o}", o) for o in outputs]


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
    """Predict accessibility probabilities of every region with trained models.

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
        Average the probabilities of each sequence and its reverse complement.
    device
        Torch device (``None``: :attr:`chromseq.settings.device`); autocast on CUDA.
    key_added
        ``.obsm`` key of the predictions.
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets ``adata.obsm[key_added]``: a DataFrame
    (index = obs_names) with one probability column per model output, named after the
    model (``<model>_<celltype>`` for multi-head models); existing columns of the same
    name are replaced. Sets ``adata.uns['chromseq']['predictions'][column]`` = ``{'model',
    'kind', 'target'}``; models from elsewhere are also recorded in
    ``adata.uns['chromseq']['models']``.

    Examples
    --------
    >>> cs.tl.predict(adata)  # doctest: +SKIP
    >>> cs.tl.predict(new_regions, models=adata)  # doctest: +SKIP
    >>> new_regions.obsm["chromseq_pred"].head()  # doctest: +SKIP
    """
    require_regions(adata, "predict")
    codes = sequence_codes(adata)
    width = codes.shape[1]
    resolved = _resolve(adata, models)
    own, seen = models_of(adata), {}
    for name, record, external in resolved:
        check_width(record.network, width, f"model {name!r}")
        if external and name in own and str(own[name]["path"]) != record.path:
            raise ValueError(
                f"adata already has a different model named {name!r} ({own[name]['path']}); rename or delete "
                f"adata.uns['chromseq']['models'][{name!r}] before applying the other one."
            )
        for col, _ in _columns(name, record):
            if col in seen:
                raise ValueError(f"two models would write prediction column {col!r}; predict them in separate calls.")
            seen[col] = name
    rows = None if mask is None else select_rows(adata, mask)
    data = SequenceDataset(codes, None, rows)
    preds: dict[str, np.ndarray] = {}
    meta: dict[str, dict[str, str]] = {}
    for name, record, _ in resolved:
        model = load_recorded(name, record)
        proba = predict_proba(model, data, batch_size=batch_size, device=device, rc_average=rc_average)
        for j, (col, target) in enumerate(_columns(name, record)):
            preds[col] = proba[:, j] if rows is None else _scatter(proba[:, j], rows, adata.n_obs)
            meta[col] = {"model": name, "kind": record.kind, "target": target}
    adata = writable(adata, copy, "predict")
    _write(adata, key_added, preds, meta, [(n, r) for n, r, ext in resolved if ext])
    return adata if copy else None


def _scatter(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Return float32 (n,) with ``values`` at ``rows`` and NaN elsewhere."""
    out = np.full(n, np.nan, dtype=np.float32)
    out[rows] = values
    return out


def _write(adata: AnnData, key: str, preds: dict[str, np.ndarray], meta: dict, external: list) -> None:
    old = adata.obsm.get(key)
    frame = pd.DataFrame(preds, index=adata.obs_names)
    if isinstance(old, pd.DataFrame):
        frame = pd.concat([old.drop(columns=[c for c in frame.columns if c in old.columns]), frame], axis=1)
    adata.obsm[key] = frame
    uns = uns_chromseq(adata)
    uns.setdefault(K.UNS_PREDICTIONS, {}).update(meta)
    models = uns.setdefault(K.UNS_MODELS, {})
    for name, record in external:
        if name not in models:
            models[name] = record.to_dict()
            logger.info("recorded model %r (from %s) in adata.uns['chromseq']['models']", name, record.path)
    logger.info("added adata.obsm[%r] columns %s and adata.uns['chromseq']['predictions']", key, list(preds))
