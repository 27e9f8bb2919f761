"""``tl.pretrain``: the cell-type agnostic model (open in any cell type vs closed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from chromseq import _keys as K
from chromseq._anndata import writable
from chromseq._docs import AUGMENT, DEVICE_SAVE_DIR, SEED_RESUME_COPY, fill_docs
from chromseq._settings import logger, settings
from chromseq._validate import require_obs
from chromseq.data import SequenceDataset
from chromseq.models import ChromTransfer, ChromTransferConfig, get_config
from chromseq.tl._fit_glue import (
    check_classes,
    check_regions,
    claim,
    fingerprint,
    make_record,
    save_and_record,
    spec_kwargs,
    split_array,
    start,
)
from chromseq.tl._models import model_name
from chromseq.train._engine import fit
from chromseq.train._spec import TrainSpec

if TYPE_CHECKING:
    from anndata import AnnData


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


@fill_docs(augment=AUGMENT, device_save_dir=DEVICE_SAVE_DIR, seed_resume_copy=SEED_RESUME_COPY)
def pretrain(
    adata: AnnData,
    *,
    preset: str | ChromTransferConfig = "chromtransfer",
    max_epochs: int = 100,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    patience: int = 10,
    rc_augment: bool = True,
    max_shift: int = 0,
    device: str | None = None,
    save_dir: str | Path | None = None,
    key_added: str | None = None,
    random_state: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Train the cell-type agnostic ChromTransfer model: open chromatin (any cell type) vs closed.

    Target ``obs['open']`` (1) against everything else (0): background windows from
    :func:`chromseq.pp.add_background` and non-DHS rows such as ``Negative``. Trains on
    ``obs['split'] == 'train'``, early-stops on ``'val'``; ``'test'`` is never seen.

    Parameters
    ----------
    adata
        Regions AnnData with ``obsm['sequence']``, ``obs['open']`` and ``obs['split']``.
    preset
        ``'chromtransfer'`` (the published network, F = 64), ``'tiny'`` (CPU tests and
        demo), or a :class:`~chromseq.models.ChromTransferConfig`. Its ``seq_len`` is set
        to the width of ``obsm['sequence']``.
    max_epochs
        Epoch budget.
    batch_size
        Sequences per step.
    learning_rate
        Initial Adam learning rate (reduced 10x after 5 epochs without improvement).
    patience
        Early stopping: epochs without a lower validation loss.
    {augment}
    {device_save_dir}
    key_added
        Model name (default ``'pretrained'``).
    {seed_resume_copy}

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets ``adata.uns['chromseq']['models'][name]``
    (kind ``'pretrain'``, path, config, history, fingerprint) and writes the model folder
    ``save_dir/name``.

    Examples
    --------
    >>> import chromseq as cs
    >>> adata = cs.datasets.synthetic()  # doctest: +SKIP
    >>> cs.tl.pretrain(adata, preset="tiny", max_epochs=2)  # doctest: +SKIP
    >>> adata.uns["chromseq"]["models"]["pretrained"]["history"]["val_auroc"]  # doctest: +SKIP
    """
    start(device)
    codes, rows = check_regions(adata)
    labels = pretrain_labels(adata)
    check_classes(labels, ["open"], rows["train"], rows["val"])
    config = get_config(preset).replace(head="pretrain", outputs=("open",))
    if config.seq_len != codes.shape[1]:
        logger.info("model input width set to %d bp (obsm['sequence'] width)", codes.shape[1])
        config = config.replace(seq_len=codes.shape[1])
    seed = settings.seed if random_state is None else random_state
    spec = TrainSpec(
        **spec_kwargs(max_epochs=max_epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience),
        rc_augment=rc_augment,
        max_shift=max_shift,
        l2=config.l2,
        seed=seed,
        stage="train",
        num_workers=settings.n_workers,
    )
    adata = writable(adata, copy, "pretrain")
    name = key_added or model_name("pretrain")
    path, ckpt_dir, lock = claim(save_dir, name, resume=resume, overwrite=overwrite)
    with lock:
        train_rows, val_rows = (r[~np.isnan(labels[r, 0])] for r in (rows["train"], rows["val"]))
        fp = fingerprint(codes, labels, split_array(adata), np.concatenate([train_rows, val_rows]))
        logger.info("pre-training %r on %d train / %d val regions", name, len(train_rows), len(val_rows))
        model = ChromTransfer(config, generator=torch.Generator().manual_seed(seed))
        result = fit(
            model,
            SequenceDataset(codes, labels, train_rows),
            SequenceDataset(codes, labels, val_rows),
            spec,
            device=device,
            checkpoint=ckpt_dir / "train.pt",
            resume=resume,
            fingerprint=fp,
        )
        extra = {"n_train": len(train_rows), "n_val": len(val_rows)}
        record = make_record(
            name=name, kind="pretrain", model=model, outputs=["open"], history=result.history, fingerprint=fp,
            spec=spec, extra=extra,
        )  # fmt: skip
        save_and_record(adata, model.cpu(), record, path, ckpt_dir, overwrite)
    return adata if copy else None
