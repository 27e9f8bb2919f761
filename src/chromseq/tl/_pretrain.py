"""``tl.pretrain``: the cell-type agnostic model (open in any cell type vs closed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chromseq import _keys as K
from chromseq._anndata import writable
from chromseq._docs import SAVE_EXISTING_COPY, TASK_LAYER, TRAINING_OPTIONS, fill_docs
from chromseq._settings import logger
from chromseq._validate import check_name, require_celltypes, require_obs
from chromseq.models import ModelConfig, get_config, resolve_preset
from chromseq.tl._fit_glue import celltype_labels, check_regions, fit_models
from chromseq.tl._fit_targets import Targets, check_layer, resolve_targets
from chromseq.tl._options import Existing, TrainingOptions, resolve_options

if TYPE_CHECKING:
    from anndata import AnnData

#: Name of the cell-type agnostic pretraining output.
PRETRAIN_OUTPUT = "open"
#: Name of the output of regression pretraining: the per-region mean over cell types of the targets.
SIGNAL_OUTPUT = "signal"


def pretrain_labels(adata: AnnData) -> np.ndarray:
    """Pre-training target ``(n_obs, 1)`` float32: 1 where ``obs['open']``, 0 elsewhere.

    Rows that are neither open nor background (e.g. the ``Negative`` rows of the
    ChromTransfer files, non-DHS regions) count as closed. Rows flagged both open and
    background contradict each other and get NaN (left out, with a warning).
    """
    require_obs(adata, K.OPEN)
    is_open = adata.obs[K.OPEN].to_numpy().astype(bool)
    y = is_open.astype(np.float32)[:, None]
    if K.BACKGROUND in adata.obs.columns:
        both = is_open & adata.obs[K.BACKGROUND].to_numpy().astype(bool)
        if both.any():
            logger.warning(
                "%d rows are flagged both open and background; they are left out of pre-training", both.sum()
            )
            y[both] = np.nan
    return y


def pooled_signal(adata: AnnData, layer: str | None) -> np.ndarray:
    """Regression pre-training target ``(n_obs, 1)`` float32: the mean over cell types of ``layers[layer]`` (or ``X``).

    NaN (unknown) values are left out of each region's mean; a region with no known value gets NaN.
    """
    values = celltype_labels(adata, list(adata.var_names), layer).astype(np.float64)
    known = ~np.isnan(values)
    n = known.sum(axis=1)
    total = np.where(known, values, 0.0).sum(axis=1)
    mean = np.divide(total, n, out=np.full(len(n), np.nan), where=n > 0)
    return mean.astype(np.float32)[:, None]


def regression_pretraining_targets(
    adata: AnnData, celltypes: str | Sequence[str] | None, layer: str | None
) -> tuple[list[str], np.ndarray]:
    """Output names and targets ``(n_obs, 1 + len(celltypes))`` float32 of regression pre-training.

    Column 0 (``'signal'``) is :func:`pooled_signal`; then the ``celltypes`` columns of the same matrix.
    """
    names = [] if celltypes is None else [str(c) for c in np.atleast_1d(celltypes)]
    if SIGNAL_OUTPUT in names:
        raise ValueError(
            f"celltypes contains {SIGNAL_OUTPUT!r}, the name of the regression pretraining output: rename that var column."
        )
    y = pooled_signal(adata, layer)
    if not names:
        return [SIGNAL_OUTPUT], y
    names = require_celltypes(adata, names)
    return [SIGNAL_OUTPUT, *names], np.concatenate([y, celltype_labels(adata, names, layer)], axis=1)


def pretraining_task(task: str | None, layer: str | None) -> str:
    """Return the task of pre-training: ``task`` as passed; regression when only ``layer`` is given; else classification.

    Classification pre-trains on ``obs['open']`` (the default, as in the paper); a ``layer`` holds quantities.
    """
    if task is None:
        return "classification" if layer is None else "regression"
    if task == "classification" and layer is not None:
        raise ValueError(
            f"task='classification' pre-trains on obs['open'], not on a layer (got layer={layer!r}): pass "
            "layer=None, or task='regression' to pre-train on the per-region mean of the layer."
        )
    return task


def pretraining_targets(adata: AnnData, celltypes: str | Sequence[str] | None) -> tuple[list[str], np.ndarray]:
    """Output names and targets ``(n_obs, 1 + len(celltypes))`` float32 of :func:`pretrain`.

    Column 0 is :func:`pretrain_labels`; then one column per cell type, ``X``'s labels with
    unknown (NaN) labels of background rows set to 0 (closed in every cell type).
    """
    names = [] if celltypes is None else [str(c) for c in np.atleast_1d(celltypes)]
    if PRETRAIN_OUTPUT in names:
        raise ValueError(
            f"celltypes contains {PRETRAIN_OUTPUT!r}, the name of the pretraining output: rename that var column."
        )
    y = pretrain_labels(adata)
    if not names:
        return [PRETRAIN_OUTPUT], y
    names = require_celltypes(adata, names)
    extra = celltype_labels(adata, names)
    if K.BACKGROUND in adata.obs.columns:
        background = adata.obs[K.BACKGROUND].to_numpy().astype(bool)[:, None]
        extra = np.where(background & np.isnan(extra), np.float32(0), extra)
    logger.info("pretraining outputs: %r and %d cell types %s", PRETRAIN_OUTPUT, len(names), names)
    return [PRETRAIN_OUTPUT, *names], np.concatenate([y, extra], axis=1).astype(np.float32)


@fill_docs(training_options=TRAINING_OPTIONS, save_existing_copy=SAVE_EXISTING_COPY, task_layer=TASK_LAYER)
def pretrain(
    adata: AnnData,
    *,
    preset: str | ModelConfig = "auto",
    task: str | None = None,
    layer: str | None = None,
    options: TrainingOptions | None = None,
    max_epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    save_dir: str | Path | None = None,
    key_added: str | None = None,
    existing: Existing = "keep",
    celltypes: str | Sequence[str] | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Train the cell-type agnostic ChromTransfer model: open chromatin (any cell type) vs closed.

    Target ``obs['open']`` (1) against everything else (0): background windows from
    :func:`chromseq.pp.add_background` and non-DHS rows such as ``Negative``. Trains on
    ``obs['split'] == 'train'``, early-stops on ``'val'``; ``'test'`` is never seen. It is
    the one training path of :func:`chromseq.tl.finetune` and :func:`chromseq.tl.train` with
    one output, ``open``.

    Regression pre-training (``task='regression'``, or a ``layer`` given without a task) learns
    one output named ``'signal'``: the per-region mean over all cell types (``var``) of
    ``layers[layer]`` (or ``X``), NaN left out of the mean. Without ``task`` and ``layer`` the
    target is ``obs['open']`` whatever ``X`` holds (pass ``task='regression'`` to pre-train on
    the pooled ``X``). Either body can be fine-tuned into classification or regression heads.

    Parameters
    ----------
    adata
        Regions AnnData with ``obsm['sequence']``, ``obs['open']`` and ``obs['split']``.
    preset
        ``'auto'`` (default: ``'fast'`` on a CPU, ``'chromtransfer'`` on a GPU, for the device
        training runs on; the choice is logged and the model record keeps it), ``'chromtransfer'``
        (the published network, F = 64), ``'fast'`` / ``'tiny'`` (CPU), another family's preset
        (``'dilated'``, ``'dilated_fast'``, ``'topic'``, ``'topic_fast'``; the model card compares
        them) or a config of any family (:class:`~chromseq.models.ModelConfig`). Its ``seq_len`` is
        set to the width of ``obsm['sequence']``.
    {task_layer}
        In pre-training the default is classification on ``obs['open']`` (see above).
    {training_options}
    key_added
        Model name (default ``'pretrained'``).
    celltypes
        Cell types (``var_names``) trained as extra outputs beside ``open``, one head each
        (multi-task pretraining; the paper pretrains on ``open`` alone, the default ``None``).
        Their targets are the ``X`` columns, with rows flagged ``obs['background']`` counted
        as closed (0) where ``X`` has no label. Fine-tuning keeps only the body, so a
        cell type to be fine-tuned later can be left out here for an honest transfer
        estimate (as :func:`chromseq.tl.transfer_benchmark` does with
        ``pretrain_celltypes='others'``).
    {save_existing_copy}

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets ``adata.uns['chromseq']['models'][name]``
    (kind ``'pretrain'``, path, config, history, fingerprint, params) and writes the model
    folder ``save_dir/name``.

    Examples
    --------
    >>> import chromseq as cs
    >>> adata = cs.datasets.synthetic()  # doctest: +SKIP
    >>> cs.tl.pretrain(adata, preset="tiny", max_epochs=2)  # doctest: +SKIP
    >>> adata.uns["chromseq"]["models"]["pretrained"]["history"]["val_auroc"]  # doctest: +SKIP
    """
    if key_added is not None:
        check_name(key_added)  # a plain name, before any work
    options = resolve_options(options, max_epochs=max_epochs, batch_size=batch_size, learning_rate=learning_rate)
    check_layer(adata, layer)
    why = (
        "as passed"
        if task is not None
        else "pretraining default: a layer holds quantities"
        if layer
        else ("pretraining default: obs['open']; task='regression' pre-trains on the mean of X")
    )
    task = pretraining_task(task, layer)
    regions = check_regions(adata)
    codes = regions[0]
    if task == "regression":
        outputs, labels = regression_pretraining_targets(adata, celltypes, layer)
        target = resolve_targets(adata, labels, outputs, task=task, layer=layer, options=options, why=why)
    else:
        outputs, labels = pretraining_targets(adata, celltypes)
        target = resolve_targets(
            adata, labels, outputs, task=task, layer=None, options=options, why=why, source=f"obs[{K.OPEN!r}]"
        )
        target = Targets(target.task, target.loss)  # obs['open']: no layer, no transform
    config = get_config(resolve_preset(preset, options.device))
    if config.seq_len != codes.shape[1]:
        logger.info("model input width set to %d bp (obsm['sequence'] width)", codes.shape[1])
        config = config.replace(seq_len=codes.shape[1])
    adata = writable(adata, copy, "pretrain")
    fit_models(
        adata, labels, [outputs], kind="pretrain", network=config, options=options, save_dir=save_dir,
        key_added=key_added, existing=existing, multihead=True, regions=regions, target=target,
    )  # fmt: skip
    return adata if copy else None
