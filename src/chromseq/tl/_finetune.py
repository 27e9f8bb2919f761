"""``tl.finetune``: cell-type heads on the pretrained body (frozen body first, then all layers)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from chromseq._anndata import writable
from chromseq._docs import AUGMENT, DEVICE_SAVE_DIR, SEED_RESUME_COPY, TRAIN_FRACTION, fill_docs
from chromseq._settings import settings
from chromseq._validate import require_celltypes
from chromseq.models import ChromTransfer, ChromTransferConfig, get_config
from chromseq.tl._fit_glue import check_regions, check_width, fit_celltypes, spec_kwargs
from chromseq.tl._models import get_record, load_recorded
from chromseq.train._spec import TrainSpec

if TYPE_CHECKING:
    from anndata import AnnData


def load_base(adata: AnnData, base: str, preset: str | ChromTransferConfig | None) -> ChromTransfer:
    """Load the pretrained model ``base`` and check it against ``preset`` and the data width."""
    model = load_recorded(base, get_record(adata, base))
    if preset is not None:
        want = get_config(preset)
        if want.body_key() | {"seq_len": 0} != model.config.body_key() | {"seq_len": 0}:
            raise ValueError(
                f"base model {base!r} has preset {model.config.preset!r}, which does not match "
                f"preset={want.preset!r}: pass preset=None (use the base's) or pretrain with that preset."
            )
    codes, _ = check_regions(adata)
    check_width(model.config, codes.shape[1], f"base model {base!r}")
    return model


@fill_docs(
    augment=AUGMENT, train_fraction=TRAIN_FRACTION, device_save_dir=DEVICE_SAVE_DIR, seed_resume_copy=SEED_RESUME_COPY
)
def finetune(
    adata: AnnData,
    celltype: str | list[str] | None = None,
    *,
    base: str = "pretrained",
    multihead: bool = False,
    preset: str | ChromTransferConfig | None = None,
    max_epochs: int = 100,
    stage1_epochs: int | None = None,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    stage2_learning_rate: float = 5e-6,
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
    """Fine-tune the pretrained model to cell types: a new head on the pretrained body.

    Stage 1 trains the new head(s) with the body frozen (Adam, ``learning_rate``);
    stage 2 trains all layers at ``stage2_learning_rate`` (5e-6 in the paper), both
    early-stopped on the validation loss. Rows whose label is NaN for a cell type are
    left out of its training (counted in the log); positives are ``X == 1``, negatives
    ``X == 0``.

    Parameters
    ----------
    adata
        Regions AnnData with ``obsm['sequence']``, ``obs['split']``, labels in ``X``
        (columns = cell types) and a pretrained model in ``uns['chromseq']['models']``.
    celltype
        A cell type (``var_name``), a list, or ``None`` for all.
    base
        Name of the pretrained model.
    multihead
        Train one model with a head per cell type on the shared body, in one pass (NaN
        labels masked per head), instead of one model per cell type.
    preset
        Optional check: the base model must have this preset.
    max_epochs
        Epoch budget of both stages together (the same budget :func:`chromseq.tl.train` gets).
    stage1_epochs
        Most epochs of stage 1 (default half the budget); stage 2 gets what is left.
    batch_size
        Sequences per step.
    learning_rate, stage2_learning_rate
        Adam learning rates of stage 1 (frozen body) and stage 2 (all layers).
    patience
        Early stopping patience of each stage, in epochs.
    {augment}
    {train_fraction}
    {device_save_dir}
    key_added
        Name of the model; with several single-head models, their prefix
        (``<key_added>_<celltype>``). Default ``finetuned_<celltype>``, or ``finetuned``
        for a multi-head model.
    {seed_resume_copy}

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets ``adata.uns['chromseq']['models'][name]``
    for each model (kind ``'finetune'``, ``celltypes``, ``base``, history with stages
    ``'head'`` and ``'full'``) and writes each model folder.

    Examples
    --------
    >>> cs.tl.pretrain(adata, preset="tiny", max_epochs=2)  # doctest: +SKIP
    >>> cs.tl.finetune(adata, "K562", max_epochs=4)  # doctest: +SKIP
    >>> adata.uns["chromseq"]["models"]["finetuned_K562"]["history"]["stage"]  # doctest: +SKIP
    """
    celltypes = require_celltypes(adata, celltype)
    base_model = load_base(adata, base, preset)
    seed = settings.seed if random_state is None else random_state
    common = spec_kwargs(batch_size=batch_size, patience=patience, rc_augment=rc_augment, max_shift=max_shift)
    common["num_workers"] = settings.n_workers
    n1 = max(1, math.ceil(max_epochs / 2)) if stage1_epochs is None else stage1_epochs
    stages = [
        TrainSpec(
            **common,
            max_epochs=n1,
            learning_rate=learning_rate,
            l2=base_model.config.l2,
            seed=seed,
            stage="head",
            freeze_body=True,
        ),
        TrainSpec(
            **common,
            max_epochs=max_epochs,
            learning_rate=stage2_learning_rate,
            l2=base_model.config.l2,
            seed=seed,
            stage="full",
        ),
    ]

    def make_model(outputs: tuple[str, ...], generator: torch.Generator) -> ChromTransfer:
        model = ChromTransfer(base_model.config.replace(head="finetune", outputs=outputs), generator=generator)
        model.body.load_state_dict(base_model.body.state_dict())
        return model

    adata = writable(adata, copy, "finetune")
    fit_celltypes(
        adata,
        celltypes,
        kind="finetune",
        make_model=make_model,
        stages=stages,
        budget=max_epochs,
        multihead=multihead,
        device=device,
        save_dir=save_dir,
        key_added=key_added,
        resume=resume,
        overwrite=overwrite,
        train_fraction=train_fraction,
        base=base,
        extra={"stage2_learning_rate": stage2_learning_rate, "stage1_epochs": n1},
    )
    return adata if copy else None
