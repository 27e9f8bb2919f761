"""``tl.finetune``: cell-type heads on the pretrained body (frozen body first, then all layers)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from chromseq._anndata import writable
from chromseq._docs import SAVE_EXISTING_COPY, TASK_LAYER, TRAINING_OPTIONS, fill_docs
from chromseq._validate import require_celltypes
from chromseq.models import SequenceModel
from chromseq.store import get_record, load_recorded
from chromseq.tl._fit_glue import celltype_labels, check_regions, check_width, fit_models, group_names
from chromseq.tl._fit_targets import check_layer, resolve_targets
from chromseq.tl._options import Existing, TrainingOptions, resolve_options

if TYPE_CHECKING:
    from anndata import AnnData


def load_base(adata: AnnData, base: str, width: int) -> SequenceModel:
    """Load the pretrained model ``base`` and check it against the data width (bp)."""
    model = load_recorded(base, get_record(adata, base))
    check_width(model.config, width, f"base model {base!r}")
    return model


@fill_docs(training_options=TRAINING_OPTIONS, save_existing_copy=SAVE_EXISTING_COPY, task_layer=TASK_LAYER)
def finetune(
    adata: AnnData,
    celltype: str | list[str] | None = None,
    *,
    base: str = "pretrained",
    multihead: bool = False,
    task: str | None = None,
    layer: str | None = None,
    options: TrainingOptions | None = None,
    max_epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    save_dir: str | Path | None = None,
    key_added: str | None = None,
    existing: Existing = "keep",
    copy: bool = False,
) -> AnnData | None:
    """Fine-tune the pretrained model to cell types: a new head on the pretrained body.

    Stage 1 trains the new head(s) with the body frozen (Adam, ``learning_rate``, at most
    ``options.stage1_epochs``); stage 2 trains all layers at ``options.stage2_learning_rate``
    (5e-6 in the paper), both early-stopped on the validation loss, within ``max_epochs``
    together. The network is the base model's. Rows whose label is NaN for a cell type are
    left out of its training (counted in the log); positives are ``X == 1``, negatives
    ``X == 0``. With quantitative targets (``task='regression'``, or detected) the new heads are
    regression heads: any base works, one pretrained on open/closed included (its body is loaded,
    the heads are new).

    Parameters
    ----------
    adata
        Regions AnnData with ``obsm['sequence']``, ``obs['split']``, labels in ``X``
        (columns = cell types) and a pretrained model in ``uns['chromseq']['models']``.
    celltype
        A cell type (``var_name``), a list, or ``None`` for all.
    base
        Name of the pretrained model (:func:`chromseq.tl.pretrain`, or a published model
        registered with :func:`chromseq.tl.add_model`).
    multihead
        Train one model with a head per cell type on the shared body, in one pass (NaN
        labels masked per head), instead of one model per cell type.
    {task_layer}
    {training_options}
    key_added
        Name of the model; with several single-head models, their prefix
        (``<key_added>_<celltype>``). Default ``finetuned_<celltype>``, or ``finetuned``
        for a multi-head model.
    {save_existing_copy}

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets ``adata.uns['chromseq']['models'][name]``
    for each model (kind ``'finetune'``, ``celltypes``, ``base``, history with stages
    ``'head'`` and ``'full'``) and writes each model folder.

    Examples
    --------
    >>> cs.tl.pretrain(adata, preset="tiny", max_epochs=2)  # doctest: +SKIP
    >>> cs.tl.finetune(adata, "K562", max_epochs=4)  # doctest: +SKIP
    >>> few = cs.tl.TrainingOptions(train_fraction=0.1, patience=3)  # doctest: +SKIP
    >>> cs.tl.finetune(adata, "K562", options=few, key_added="ft_K562_10pct")  # doctest: +SKIP
    >>> cs.tl.finetune(adata, "K562", layer="signal", task="regression", key_added="ft_signal")  # doctest: +SKIP
    >>> adata.uns["chromseq"]["models"]["finetuned_K562"]["history"]["stage"]  # doctest: +SKIP
    """
    options = resolve_options(options, max_epochs=max_epochs, batch_size=batch_size, learning_rate=learning_rate)
    celltypes = require_celltypes(adata, celltype)
    groups = [list(celltypes)] if multihead else [[c] for c in celltypes]
    group_names("finetune", groups, key_added, multihead)  # plain model names, checked before any work
    check_layer(adata, layer)
    regions = check_regions(adata)
    base_model = load_base(adata, base, regions[0].shape[1])
    labels = celltype_labels(adata, celltypes, layer)
    target = resolve_targets(adata, labels, list(celltypes), task=task, layer=layer, options=options)
    adata = writable(adata, copy, "finetune")
    fit_models(
        adata, labels, groups, kind="finetune",
        network=base_model.config, options=options, save_dir=save_dir, key_added=key_added, existing=existing,
        multihead=multihead, body=base_model, base=base, regions=regions, target=target,
    )  # fmt: skip
    return adata if copy else None
