"""``tl.transfer_benchmark``: fine-tuned vs. from-scratch models as the cell type's training data shrinks.

The claim of ChromTransfer (Salvatore et al. 2023) in one table: a body pretrained on open
chromatin of all cell types, fine-tuned to one cell type, keeps its test performance when that
cell type's labelled training regions are cut to a small fraction; the same network trained from
scratch does not. Beside every run, the composition baselines (GC fraction; k-mer logistic
regression fitted on the same subsampled training regions) show what composition alone achieves.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._anndata import writable
from chromseq._metrics import METRIC_COLUMNS
from chromseq._settings import logger, settings
from chromseq._validate import check_seed, require_celltypes, uns_chromseq
from chromseq.models import ModelConfig, get_config, resolve_preset
from chromseq.store import BASELINE_GC, BASELINE_KMER, BASELINE_RIDGE, get_record, models_of

from ._baselines import normalise_ks
from ._fit_glue import check_regions
from ._options import TrainingOptions, resolve_options
from ._pretrain import PRETRAIN_OUTPUT, SIGNAL_OUTPUT, pretrain
from ._transfer_checks import (
    REGRESSION_TABLE_METRICS,
    benchmark_targets,
    check_fractions,
    check_names,
    check_split,
    pretraining_options,
)
from ._transfer_runs import MODEL_KINDS, Runs, _baseline_rows, _run_all, pretraining_plan

if TYPE_CHECKING:
    from anndata import AnnData

#: Training fractions of the paper's small-data experiment.
DEFAULT_FRACTIONS = (1.0, 0.5, 0.2, 0.1, 0.05)
#: Columns of the transfer table, in order (metric columns from :data:`chromseq._metrics.METRIC_COLUMNS`).
TABLE_COLUMNS = (
    "celltype",
    "fraction",
    "kind",
    "model",
    "seed",
    "split",
    "n_train",
    "n_train_pos",
    *METRIC_COLUMNS,
    "epochs",
    "best_epoch",
    "seconds",
)
#: Columns of the transfer table of regression runs: Pearson, Spearman and MSE replace the classification metrics.
REGRESSION_TABLE_COLUMNS = (*TABLE_COLUMNS[:8], *REGRESSION_TABLE_METRICS, *TABLE_COLUMNS[-3:])


def transfer_benchmark(
    adata: AnnData,
    celltype: str | Sequence[str] | None = None,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seeds: int | Sequence[int] = 0,
    base: str = "pretrained",
    preset: str | ModelConfig = "auto",
    options: TrainingOptions | None = None,
    pretrain_options: TrainingOptions | None = None,
    pretrain_celltypes: Literal["none", "all", "others"] = "none",
    pretrain_task: Literal["classification", "regression"] = "classification",
    max_epochs: int | None = None,
    batch_size: int | None = None,
    split: str = "test",
    baselines: bool = True,
    kmer_k: int | Sequence[int] = (1, 2, 3, 4),
    task: Literal["classification", "regression"] | None = None,
    layer: str | None = None,
    save_dir: str | Path | None = None,
    keep_models: bool = False,
    key_added: str = K.UNS_TRANSFER,
    cv: int | None = None,
    block_size: int = 1_000_000,
    n_boot: int = 1000,
    level: float = 0.95,
    copy: bool = False,
) -> AnnData | None:
    """Fine-tune vs. train from scratch on shrinking fractions of each cell type's training data.

    For every cell type, seed and fraction, the labelled ``'train'`` regions of that cell type
    are subsampled (stratified by label, seeded; validation and test regions unchanged), then
    :func:`chromseq.tl.finetune` (from the pretrained model ``base``) and :func:`chromseq.tl.train`
    (same network from scratch, same rows, epoch budget and early stopping) are run, and both are
    scored on the labelled regions of ``split``. The pretrained model sees all training regions
    (cell-type agnostic ``obs['open']`` target): in the paper it comes from a separate, much larger
    set than any one cell type's data. With ``baselines``, the GC fraction of each region and a
    k-mer logistic regression fitted on the same subsampled regions are scored beside them.

    Quantitative targets (``task='regression'``, or detected: values other than 0, 1 and NaN in ``X``
    or ``layers[layer]``) are fine-tuned into regression heads and trained from scratch on the same
    rows, and scored by Pearson r (with Spearman rho and MSE) instead of AUROC; the k-mer baseline is
    then a ridge regression (its penalty chosen on the ``'val'`` rows) and the GC fraction is scored by
    its correlation. The body is pretrained on ``obs['open']`` (open/closed) as for classification.

    Parameters
    ----------
    adata
        Regions AnnData with ``obsm['sequence']``, ``obs['split']``, labels in ``X`` (columns = cell
        types) and ``obs['open']`` (for pretraining, when ``base`` is not in ``adata`` yet).
    celltype
        A cell type, a list, or ``None`` for all ``var_names``.
    fractions
        Fractions of each cell type's labelled training regions, each in (0, 1].
    seeds
        Seed(s) of the subsampling and of the training runs; several seeds give replicate rows.
    base
        Name of the pretrained model in ``adata.uns['chromseq']['models']``. If absent, it is
        pretrained here (seed ``seeds[0]``, ``preset``, ``pretrain_options``) and recorded in
        ``adata`` under this name.
    preset
        Network preset (``'auto'``, the default: ``'fast'`` on a CPU, ``'chromtransfer'`` on a GPU;
        any name in :data:`chromseq.models.PRESETS`) or config (:class:`~chromseq.models.ModelConfig`)
        used when ``base`` is pretrained here; the scratch models always use the base model's network.
    options
        How every run trains (:class:`~chromseq.tl.TrainingOptions`; default: the paper's
        settings). Fine-tuning and scratch runs share it, so they get the same epoch budget,
        batch size, early stopping and augmentation; ``train_fraction`` and ``random_state``
        are set per run from ``fractions`` and ``seeds``.
    pretrain_options
        How the pretrained model is trained when it is trained here (default: ``options``, with a loss or
        monitor of the other task set to ``'auto'`` / ``'val_loss'``).
    pretrain_celltypes
        What a body pretrained here learns beside ``open`` (:func:`chromseq.tl.pretrain`'s
        ``celltypes``): ``'none'`` (the paper), ``'all'`` (every cell type of ``var_names`` as an
        extra output: the fine-tuned cell type's own training labels are then seen in pretraining
        too) or ``'others'`` (one body per benchmarked cell type, ``<base>_without_<cell type>``,
        pretrained on every other cell type: the honest transfer estimate of multi-task
        pretraining). With ``cv``, per fold as well.
    pretrain_task
        What a body pretrained here learns: ``'classification'`` (``obs['open']``, the paper) or
        ``'regression'`` (the pooled signal: the mean over cell types of ``layer`` or ``X``, see
        :func:`chromseq.tl.pretrain`); either is fine-tuned into heads of ``task``.
    max_epochs, batch_size
        Shortcuts for the fields of ``options`` (and of ``pretrain_options`` when it is not
        given) of the same names.
    split
        The ``obs['split']`` category scored (never used in training).
    baselines
        Add the composition baselines (kinds ``'baseline_gc'``, ``'baseline_kmer'``).
    kmer_k
        k-mer length(s) of the k-mer baseline.
    task
        ``'classification'`` (labels in ``X``), ``'regression'`` (quantities in ``X`` or ``layer``), or
        ``None``: detected from the benchmarked cell types' values (only 0, 1 and NaN: classification).
    layer
        Layer holding the regression targets (``None``: ``X``).
    save_dir
        Folder for models: the pretrained model (if trained here) and, with ``keep_models``, every
        run's model (``<kind>_<celltype>_f<fraction>_s<seed>``). ``None``:
        :attr:`chromseq.settings.model_dir`; runs' models then go to a temporary folder.
    keep_models
        Keep each run's model folder in ``save_dir`` (else they are deleted once scored).
    key_added
        Name of the table under ``adata.uns['chromseq']``.
    cv
        ``None``: one run per setting, scored on ``split`` of ``obs['split']``. An int k >= 2:
        k-fold cross-validation over contiguous chromosome units (whole chromosomes when there are
        at least k, else ``block_size`` blocks; dealt to folds in a seeded order, balanced by region
        count). For each fold a body is pretrained on the other folds only (``obs['split']`` is
        ignored: validation units for early stopping, 10 % of the regions, are carved from the other
        folds), every run and baseline is fitted on the other folds and scored on the fold, so every
        labelled region is scored out of fold. ``base`` must then not be in ``adata`` (a body
        pretrained on all regions has seen every fold).
    block_size
        Length (bp) of a block when ``cv`` uses blocks (one chromosome, such as chr20).
    n_boot, level
        With ``cv``: block-bootstrap replicates and coverage of the intervals (resampling units,
        paired across methods and cell types).
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets the following fields:

    ``adata.uns['chromseq'][key_added]`` (default ``'transfer'``)
        DataFrame, one row per cell type x fraction x seed x kind (``'finetune'``, ``'scratch'``,
        ``'baseline_gc'``, ``'baseline_kmer'``): ``celltype``, ``fraction``, ``kind``, ``model``,
        ``seed``, ``split``, ``n_train`` / ``n_train_pos`` (training regions used / positive), the
        metrics of :func:`chromseq.tl.evaluate` on ``split`` (``n``, ``n_pos``, ``auroc``, ``auprc``,
        ``f1_at_05``, ``f1_best``, ``best_threshold``, ``accuracy``), ``epochs`` trained,
        ``best_epoch`` (kept weights) and training ``seconds``. Drawn by
        :func:`chromseq.pl.transfer_curve`.
        With ``cv``, one row per fold as well (column ``fold``), each scored on that fold only.
        Regression: kinds ``'baseline_gc'`` and ``'baseline_ridge'``, and the metric columns are ``n``,
        ``n_pos`` (scored regions with a value > 0; ``n_train_pos`` likewise), ``pearson``, ``spearman``,
        ``mse`` (NaN for ``baseline_gc``).
    ``adata.uns['chromseq'][key_added + '_intervals']``
        Only with ``cv``: DataFrame with ``celltype`` (and ``'mean'``, the mean over cell types),
        ``fraction``, ``kind`` (a method, or ``'finetune-scratch'``, ``'finetune-best_baseline'``,
        ``'scratch-best_baseline'``: the paired difference with the better of GC and k-mer in each
        replicate; regression: of GC and k-mer ridge), ``estimate`` (AUROC, regression: Pearson r, of the
        pooled out-of-fold scores, mean over seeds),
        ``lower``, ``upper`` (percentile block-bootstrap interval) and ``n_boot``. Drawn by
        :func:`chromseq.pl.transfer_intervals`.
    ``adata.uns['chromseq']['params'][key_added]``
        The parameters of this call.
    ``adata.uns['chromseq']['models'][base]``
        Only when the pretrained model was trained here.

    Examples
    --------
    >>> adata = chromseq.datasets.chromtransfer_chr20()  # doctest: +SKIP
    >>> chromseq.tl.pretrain(adata, preset="tiny", max_epochs=30)  # doctest: +SKIP
    >>> chromseq.tl.transfer_benchmark(adata, ["K562", "HepG2"], fractions=[1.0, 0.1], max_epochs=10)  # doctest: +SKIP
    >>> adata.uns["chromseq"]["transfer"].pivot_table("auroc", ["celltype", "fraction"], "kind")  # doctest: +SKIP
    >>> chromseq.pl.transfer_curve(adata, "auroc")  # doctest: +SKIP
    """
    names = None if celltype is None else [str(c) for c in np.atleast_1d(celltype)]
    celltypes = require_celltypes(adata, names)
    fractions = check_fractions(fractions)
    seeds = [check_seed(int(s), "seeds") for s in np.atleast_1d(seeds)]
    check_names(key_added, base, celltypes, fractions, seeds)
    ks = normalise_ks(kmer_k)
    options = resolve_options(options, max_epochs=max_epochs, batch_size=batch_size)
    if pretrain_options is None:
        pretrain_options = pretraining_options(options, pretrain_task)
    else:
        pretrain_options = resolve_options(pretrain_options)
    get_config(resolve_preset(preset, pretrain_options.device))  # an unknown preset fails before any work
    bases, extras = pretraining_plan(list(adata.var_names), base, celltypes, pretrain_celltypes)
    codes, rows = check_regions(adata)
    layer = layer or ""
    labels, task = benchmark_targets(adata, celltypes, task, layer, options.loss, rows if cv is None else None)
    if cv is None:
        check_split(labels, celltypes, rows, split, task)
    elif base in models_of(adata):
        raise ValueError(
            f"cv={cv} pretrains one body per fold, but adata already has a model {base!r}: it has seen every "
            "fold. Pass another base= name, or remove the model from adata.uns['chromseq']['models']."
        )
    adata = writable(adata, copy, "transfer_benchmark")
    work = _workspace(adata, layer)
    root = Path(save_dir) if save_dir is not None else settings.model_dir
    pretrained_here = []
    how = {"task": "regression", "layer": layer or None} if pretrain_task == "regression" else {}
    if cv is None:
        pretrained_here = [
            name
            for name, extra in extras.items()
            if _ensure_base(
                work,
                name,
                preset,
                root,
                pretrain_options.replace(random_state=seeds[0]),
                extra,
                strict=pretrain_celltypes != "none",
                how=how,
            )
        ]
    runs_dir = root if keep_models else Path(tempfile.mkdtemp(prefix="chromseq_transfer_"))
    intervals, layout = None, {}
    try:
        network = get_config(resolve_preset(preset, pretrain_options.device)) if cv is not None else None
        network = network or get_record(work, next(iter(extras))).network
        runs = Runs(celltypes, fractions, seeds, options, network, runs_dir, task, layer)
        if cv is None:
            table = _run_all(work, runs, labels, codes, rows, split, bases)
            if baselines:
                baseline = _baseline_rows(adata, runs, labels, rows, split, ks)
                table = pd.concat([table, baseline], ignore_index=True)
        else:
            from ._transfer_cv import cross_validate

            table, intervals, layout = cross_validate(
                adata, work, runs, labels, cv=cv, block_size=block_size, base=base,
                pretrain_options=pretrain_options, pretrain_celltypes=pretrain_celltypes, pretrain_how=how,
                baselines=baselines,
                ks=ks, root=root, n_boot=n_boot, level=level,
            )  # fmt: skip
    finally:
        if not keep_models:
            shutil.rmtree(runs_dir, ignore_errors=True)
    for name in pretrained_here:
        uns_chromseq(adata).setdefault(K.UNS_MODELS, {})[name] = models_of(work)[name]
        logger.info("recorded the pretrained model %r in adata.uns[%r][%r]", name, K.UNS, K.UNS_MODELS)
    params = {
        "celltypes": celltypes,
        "fractions": fractions,
        "seeds": seeds,
        "base": base,
        "options": options.to_dict(),
        "pretrain_options": pretrain_options.to_dict(),
        "pretrain_celltypes": pretrain_celltypes,
        "pretrain_task": pretrain_task,
        "split": split,
        "baselines": baselines,
        "kmer_k": ks,
        "task": task,
        "layer": layer,
        "pretrained_here": bool(pretrained_here),
        **layout,
        **({"n_boot": n_boot, "level": level} if cv is not None else {}),
    }
    _write(adata, _order(table, celltypes, task), key_added, params)
    if intervals is not None:
        uns_chromseq(adata)[f"{key_added}_intervals"] = intervals
        logger.info("added uns[%r][%r] (block-bootstrap intervals)", K.UNS, f"{key_added}_intervals")
    return adata if copy else None


def _workspace(adata: AnnData, layer: str = "") -> AnnData:
    """Return a light AnnData sharing ``adata``'s arrays (and ``layer``), to record the runs' models in (not in ``adata``)."""
    from anndata import AnnData

    columns = [c for c in (K.SPLIT, K.OPEN, K.BACKGROUND) if c in adata.obs.columns]
    work = AnnData(
        X=adata.X,
        obs=adata.obs[columns].copy(),
        var=pd.DataFrame(index=adata.var_names.copy()),
        obsm={K.SEQUENCE: adata.obsm[K.SEQUENCE]},
        layers={layer: adata.layers[layer]} if layer else None,
    )
    work.uns[K.UNS] = {K.UNS_MODELS: dict(models_of(adata))}
    return work


def _ensure_base(
    work: AnnData,
    base: str,
    preset: str | ModelConfig,
    root: Path,
    options: TrainingOptions,
    extra: list[str],
    strict: bool,
    how: dict | None = None,
) -> bool:
    """Pretrain ``base`` (with ``extra`` cell-type outputs) in ``work`` unless it is there; return whether it was.

    With ``strict``, a ``base`` already there must have exactly those extra outputs; else it is used as it is.
    ``how`` holds :func:`~chromseq.tl.pretrain`'s ``task``/``layer`` for regression pre-training.
    """
    if base in models_of(work):
        have = [o for o in get_record(work, base).outputs if o not in (PRETRAIN_OUTPUT, SIGNAL_OUTPUT)]
        if strict and sorted(have) != sorted(extra):
            raise ValueError(
                f"the pretrained model {base!r} in adata has the extra outputs {have}, but pretrain_celltypes asks "
                f"for {extra}: pass another base= name (it is pretrained here), or the matching pretrain_celltypes."
            )
        logger.info("transfer benchmark: fine-tuning from the pretrained model %r", base)
        return False
    logger.info("transfer benchmark: no model %r in adata, pre-training it (preset %r)", base, preset)
    pretrain(
        work, preset=preset, options=options, save_dir=root, key_added=base, celltypes=extra or None, **(how or {})
    )
    return True


def _order(table: pd.DataFrame, celltypes: list[str], task: str = "classification") -> pd.DataFrame:
    kinds = {k: i for i, k in enumerate((*MODEL_KINDS, BASELINE_GC, BASELINE_KMER, BASELINE_RIDGE))}
    columns = REGRESSION_TABLE_COLUMNS if task == "regression" else TABLE_COLUMNS
    key = pd.DataFrame(
        {
            "celltype": table["celltype"].map({c: i for i, c in enumerate(celltypes)}),
            "fraction": -table["fraction"],
            "seed": table["seed"],
            "kind": table["kind"].map(kinds),
            "fold": table["fold"] if "fold" in table else 0,
        }
    )
    table = table.loc[key.sort_values(list(key.columns), kind="stable").index].reset_index(drop=True)
    table = table.reindex(columns=[*columns, *(["fold"] if "fold" in table else [])])
    for col in ("celltype", "kind", "model", "split"):
        table[col] = table[col].astype(str)
    return table.astype({"seed": np.int64, "n_train": np.int64, "n_train_pos": np.int64, "n": np.int64})


def _write(adata: AnnData, table: pd.DataFrame, key_added: str, params: dict) -> None:
    uns = uns_chromseq(adata)
    if key_added in uns:
        logger.info("replacing uns[%r][%r]", K.UNS, key_added)
    uns[key_added] = table
    uns.setdefault(K.UNS_PARAMS, {})[key_added] = params
    logger.info(
        "added uns[%r][%r] (%d rows) and uns[%r][%r][%r]", K.UNS, key_added, len(table), K.UNS, K.UNS_PARAMS, key_added
    )
