"""``tl.train``: the from-scratch baseline (same network, data, budget and early stopping as a fine-tune)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from chromseq._anndata import writable
from chromseq._docs import AUGMENT, DEVICE_SAVE_DIR, SEED_RESUME_COPY, TRAIN_FRACTION, fill_docs
from chromseq._settings import logger, settings
from chromseq._validate import require_celltypes
from chromseq.models import ChromTransfer, ChromTransferConfig, get_config
from chromseq.tl._fit_glue import check_regions, fit_celltypes, spec_kwargs
from chromseq.tl._models import models_of
from chromseq.train._spec import TrainSpec

if TYPE_CHECKING:
    from anndata import AnnData


def _scratch_config(adata: AnnData, preset: str | ChromTransferConfig | None, width: int) -> ChromTransferConfig:
    if preset is None:  # the same network the pretrained model has, for a fair comparison
        pretrained = [r for r in models_of(adata).values() if r.get("kind") == "pretrain"]
        preset = ChromTransferConfig.from_dict(pretrained[0]["config"]) if pretrained else "chromtransfer"
    config = get_config(preset)
    if config.seq_len != width:
        logger.info("model input width set to %d bp (obsm['sequence'] width)", width)
        config = config.replace(seq_len=width)
    return config


@fill_docs(
    augment=AUGMENT, train_fraction=TRAIN_FRACTION, device_save_dir=DEVICE_SAVE_DIR, seed_resume_copy=SEED_RESUME_COPY
)
def train(
    adata: AnnData,
    celltype: str | list[str] | None = None,
    *,
    multihead: bool = False,
    preset: str | ChromTransferConfig | None = None,
    max_epochs: int = 100,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    patience: int = 10,
    rc_augment: bool = True,
    max_shift: int = 0,
    train_fraction: float = 1.0,
    device: str | None = None,
    save_dir: str | Path | None = None,
    key_added: str | None = None,
    random_state: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Train the fine-tuning network from scratch for cell types: the baseline transfer learning must beat.

    The network (body plus fine-tuning head), the rows (NaN labels left out), the epoch
    budget, the early stopping and the class-balanced loss are those of
    :func:`chromseq.tl.finetune`; only the pretrained start is missing.

    Parameters
    ----------
    adata
        Regions AnnData with ``obsm['sequence']``, ``obs['split']`` and labels in ``X``.
    celltype
        A cell type, a list, or ``None`` for all.
    multihead
        One model with a head per cell type, trained in one pass.
    preset
        Network preset or config; ``None`` uses the config of the pretrained model in
        ``adata`` if there is one, else ``'chromtransfer'``.
    max_epochs
        Epoch budget.
    batch_size
        Sequences per step.
    learning_rate
        Initial Adam learning rate.
    patience
        Early stopping patience, in epochs.
    {augment}
    {train_fraction}
    {device_save_dir}
    key_added
        Model name (or prefix for several); default ``scratch_<celltype>`` / ``scratch``.
    {seed_resume_copy}

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets ``adata.uns['chromseq']['models'][name]``
    for each model (kind ``'scratch'``) and writes each model folder.

    Examples
    --------
    >>> cs.tl.train(adata, "K562", preset="tiny", max_epochs=4)  # doctest: +SKIP
    """
    celltypes = require_celltypes(adata, celltype)
    codes, _ = check_regions(adata)
    config = _scratch_config(adata, preset, codes.shape[1])
    seed = settings.seed if random_state is None else random_state
    spec = TrainSpec(
        **spec_kwargs(batch_size=batch_size, patience=patience, rc_augment=rc_augment, max_shift=max_shift),
        num_workers=settings.n_workers,
        max_epochs=max_epochs,
        learning_rate=learning_rate,
        l2=config.l2,
        seed=seed,
        stage="train",
    )

    def make_model(outputs: tuple[str, ...], generator: torch.Generator) -> ChromTransfer:
        return ChromTransfer(config.replace(head="finetune", outputs=outputs), generator=generator)

    adata = writable(adata, copy, "train")
    fit_celltypes(
        adata,
        celltypes,
        kind="scratch",
        make_model=make_model,
        stages=[spec],
        budget=max_epochs,
        multihead=multihead,
        device=device,
        save_dir=save_dir,
        key_added=key_added,
        resume=resume,
        overwrite=overwrite,
        train_fraction=train_fraction,
    )
    return adata if copy else None
