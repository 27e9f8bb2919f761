"""``tl.train``: the from-scratch baseline (same network, data, budget and early stopping as a fine-tune)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from chromseq._anndata import writable
from chromseq._docs import SAVE_EXISTING_COPY, TASK_LAYER, TRAINING_OPTIONS, fill_docs
from chromseq._settings import logger
from chromseq._validate import require_celltypes
from chromseq.models import ModelConfig, get_config, resolve_preset
from chromseq.store import records_of
from chromseq.tl._fit_glue import celltype_labels, check_regions, fit_models, group_names
from chromseq.tl._fit_targets import check_layer, resolve_targets
from chromseq.tl._options import Existing, TrainingOptions, resolve_options

if TYPE_CHECKING:
    from anndata import AnnData


def _scratch_config(adata: AnnData, preset: str | ModelConfig | None, width: int, device: str | None) -> ModelConfig:
    if preset is None:  # the same network the pretrained model has, for a fair comparison
        pretrained = [r for r in records_of(adata).values() if r.kind == "pretrain"]
        preset = pretrained[0].network if pretrained else "auto"
    config = get_config(resolve_preset(preset, device))
    if config.seq_len != width:
        logger.info("model input width set to %d bp (obsm['sequence'] width)", width)
        config = config.replace(seq_len=width)
    return config


@fill_docs(training_options=TRAINING_OPTIONS, save_existing_copy=SAVE_EXISTING_COPY, task_layer=TASK_LAYER)
def train(
    adata: AnnData,
    celltype: str | list[str] | None = None,
    *,
    multihead: bool = False,
    preset: str | ModelConfig | None = None,
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
    """Train the fine-tuning network from scratch for cell types: the baseline transfer learning must beat.

    The network (body plus fine-tuning head), the rows (NaN labels left out), the epoch
    budget, the early stopping and the class-balanced loss are those of
    :func:`chromseq.tl.finetune` given the same ``options``; only the pretrained start is
    missing (one stage at ``learning_rate``).

    Parameters
    ----------
    adata
        Regions AnnData with ``obsm['sequence']``, ``obs['split']`` and labels in ``X``.
    celltype
        A cell type, a list, or ``None`` for all.
    multihead
        One model with a head per cell type, trained in one pass.
    preset
        Network preset (``'auto'``, ``'fast'``, ``'tiny'``, ``'chromtransfer'``) or config; ``None``
        (default) uses the config of the pretrained model in ``adata`` if there is one, else
        ``'auto'`` (``'fast'`` on a CPU, ``'chromtransfer'`` on a GPU; see :func:`chromseq.tl.pretrain`).
    {task_layer}
    {training_options}
    key_added
        Model name (or prefix for several); default ``scratch_<celltype>`` / ``scratch``.
    {save_existing_copy}

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets ``adata.uns['chromseq']['models'][name]``
    for each model (kind ``'scratch'``) and writes each model folder.

    Examples
    --------
    >>> cs.tl.train(adata, "K562", preset="tiny", max_epochs=4)  # doctest: +SKIP
    """
    options = resolve_options(options, max_epochs=max_epochs, batch_size=batch_size, learning_rate=learning_rate)
    celltypes = require_celltypes(adata, celltype)
    groups = [list(celltypes)] if multihead else [[c] for c in celltypes]
    group_names("scratch", groups, key_added, multihead)  # plain model names, checked before any work
    check_layer(adata, layer)
    regions = check_regions(adata)
    config = _scratch_config(adata, preset, regions[0].shape[1], options.device)
    labels = celltype_labels(adata, celltypes, layer)
    target = resolve_targets(adata, labels, list(celltypes), task=task, layer=layer, options=options)
    adata = writable(adata, copy, "train")
    fit_models(
        adata, labels, groups, kind="scratch",
        network=config, options=options, save_dir=save_dir, key_added=key_added, existing=existing,
        multihead=multihead, regions=regions, target=target,
    )  # fmt: skip
    return adata if copy else None
