"""``tl.evaluate``: metrics of every prediction and composition baseline, per target and split.

Classification rows are computed here; regression rows (Pearson, Spearman, MSE, specificity) in
:mod:`chromseq.tl._evaluate_regression`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._anndata import writable
from chromseq._metrics import METRIC_COLUMNS, binary_metrics
from chromseq._settings import logger
from chromseq._tasks import detect_task
from chromseq._validate import FIX, check_name, require_obsm, require_regions, uns_chromseq
from chromseq.store import (
    ScoreSource,
    baseline_sources,
    has_labels,
    kind_rank,
    labels,
    models_of,
    prediction_sources,
    regression_baseline_sources,
    resolve_targets,
    select_predictions,
    targets_of,
)

from ._baselines import composition_baseline, normalise_ks
from ._evaluate_regression import REGRESSION_COLUMNS, regression_rows, specificity_rows

if TYPE_CHECKING:
    from anndata import AnnData

#: Columns of the metrics table, in order.
COLUMNS = ("model", "kind", "target", "split", *METRIC_COLUMNS)
#: ``split`` value of rows computed on all regions together (``splits=None``).
ALL_SPLITS = "all"


def evaluate(
    adata: AnnData,
    models: str | Sequence[str] | None = None,
    *,
    targets: str | Sequence[str] | None = None,
    splits: Sequence[str] | None = K.SPLITS,
    baselines: bool = True,
    kmer_k: int | Sequence[int] = (1, 2, 3, 4),
    key_added: str = K.UNS_METRICS,
    copy: bool = False,
) -> AnnData | None:
    """Score predictions against labels: AUROC, AUPRC, F1, accuracy (or Pearson, Spearman, MSE) per model, target and split.

    Each prediction column of ``obsm['chromseq_pred']`` is compared with the labels of its target
    (``obs['open']`` for the pretrained model, the cell type's column of ``X`` otherwise), separately
    in each split. Regions with a NaN label (or NaN score) are left out and counted in the log.
    Beside every model, two composition baselines show what sequence composition alone achieves
    (see the "composition is a confound" section of the design): ``baseline_gc`` (``obs['gc']`` used
    as the score) and ``baseline_kmer`` (logistic regression on k-mer frequencies, fitted on the train
    split; see ``chromseq.tl.composition_baseline``). Baselines are computed even when there is no
    prediction yet.

    Regression predictions (``task='regression'`` in ``uns['chromseq']['predictions']``, values in the
    target's units) are compared with the observed values of their target in ``X`` or in the layer the
    model learned from (the prediction's ``layer``): Pearson r, Spearman rho (average ranks for ties)
    and mean squared error across the regions of each split. Their baselines are ``baseline_gc``
    (correlations only) and ``baseline_ridge`` (k-mer ridge regression on the same k-mer features,
    fitted on the train split, its penalty chosen on the val split). Cell-type specificity rows
    (``target='specificity'``) compare, region by region, the observed and predicted vectors over
    the cell types: for each model predicting >= 2 cell types, for the single-cell-type models of one
    kind together (model ``'<kind>_per_celltype'``, when they cover >= 2 cell types with one model
    each), and for ``baseline_ridge``. Without predictions, a target's task is detected from ``X``
    (only 0, 1 and NaN: classification). The output ``'signal'`` of a body pretrained by regression
    is compared with the mean over cell types of its layer (NaN left out).

    Parameters
    ----------
    adata
        Regions AnnData (``obs['split']``, labels in ``X`` / ``obs['open']``), with predictions from
        :func:`chromseq.tl.predict` and/or ``obsm['sequence']`` for the baselines.
    models
        Model (or prediction column) name(s) to evaluate; ``None``: every prediction column.
    targets
        Restrict to these targets (``'open'`` or cell types). ``None``: the targets of the evaluated
        predictions or, without predictions, ``'open'`` and every cell type.
    splits
        ``obs['split']`` categories to report, each in its own rows; ``None`` evaluates all regions
        together (``split='all'``) and does not need ``obs['split']``.
    baselines
        Add the ``baseline_gc`` and ``baseline_kmer`` rows (the k-mer fit needs a ``'train'`` split).
    kmer_k
        k-mer length(s) of the k-mer baseline (frequencies of each are concatenated, reverse complements merged).
    key_added
        Name of the table under ``uns['chromseq']``.
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets the following fields:

    ``adata.uns['chromseq'][key_added]`` (default ``'metrics'``)
        DataFrame, one row per score source x target x split, columns ``model``, ``kind``
        (``pretrain``/``finetune``/``scratch``/``baseline``), ``target``, ``split``, ``n`` (regions used),
        ``n_pos``, ``auroc``, ``auprc`` (average precision), ``f1_at_05`` (F1 of score >= 0.5),
        ``f1_best`` and ``best_threshold`` (F1-maximising threshold), ``accuracy`` (at 0.5). With a
        single class in a split, ``auroc`` and ``auprc`` are NaN (and a warning is logged). For
        ``baseline_gc`` the thresholds are GC fractions.
        When a regression row is present, the columns ``task`` (``'classification'``/``'regression'``),
        ``layer`` (where the observed values came from, ``''``: X), ``pearson``, ``spearman``, ``mse``,
        ``pearson_median``, ``spearman_median`` and ``n_targets`` follow (NaN where they do not apply;
        classification rows keep every value they have without them). Regression rows: ``n`` regions
        with a finite observed and predicted value, ``n_pos`` of those with an observed value > 0,
        the classification metrics NaN; ``mse`` is NaN for ``baseline_gc``. Specificity rows
        (``target='specificity'``, ``n_targets`` >= 2 cell types): ``n`` regions whose observed and
        predicted vectors are complete and not constant, ``pearson``/``spearman`` the mean and
        ``pearson_median``/``spearman_median`` the median over them of each region's correlation
        across the cell types, ``mse`` over those regions and cell types.
    ``adata.uns['chromseq']['params'][key_added]``
        The parameters of this call.
    ``adata.obsm['chromseq_baseline']``, ``adata.uns['chromseq']['baselines']``
        The k-mer (logistic or ridge) baseline scores and fits, when ``baselines=True`` (see
        ``chromseq.tl.composition_baseline``).

    Examples
    --------
    >>> adata = chromseq.datasets.chromtransfer_chr20()  # doctest: +SKIP
    >>> chromseq.tl.evaluate(adata)  # composition baselines only, before any model  # doctest: +SKIP
    >>> m = adata.uns["chromseq"]["metrics"]  # doctest: +SKIP
    >>> m[m.split == "test"].pivot(index="target", columns="model", values="auroc")  # doctest: +SKIP
    >>> m[(m.task == "regression") & (m.split == "test")][["model", "target", "pearson", "spearman"]]  # doctest: +SKIP
    """
    check_name(key_added)
    require_regions(adata, "evaluate")
    meta = select_predictions(adata, models)
    if models is None:
        _warn_unscored(adata, meta)
    names = _targets(adata, meta, targets, baselines)
    keys = _target_keys(adata, meta, names)
    observed = {(t, layer): labels(adata, t, layer) for t, _, layer in keys}  # every value read before any write
    split_masks = _split_masks(adata, splits)
    ks = normalise_ks(kmer_k)
    if baselines:
        require_obsm(adata, K.SEQUENCE)
    adata = writable(adata, copy, "evaluate")
    if baselines:
        _fit_baselines(adata, keys, ks)
    rows = []
    for target, task, layer in keys:
        y = observed[target, layer]
        _log_unlabelled(target, y, split_masks)
        sources = prediction_sources(adata, meta, target, task=task, layer=layer)
        if task == "regression":
            sources += regression_baseline_sources(adata, target, layer) if baselines else []
            rows += [row for source in sources for row in regression_rows(source, y, split_masks, layer)]
        else:
            sources += baseline_sources(adata, target, layer) if baselines else []
            rows += [row for source in sources for row in _rows(source, y, split_masks, layer)]
    regression = {(t, layer): observed[t, layer] for t, task, layer in keys if task == "regression"}
    rows += specificity_rows(adata, meta, regression, split_masks, baselines) if regression else []
    params = {
        "models": sorted({m["model"] for m in meta.values()}),
        "targets": names,
        "splits": list(split_masks),
        "baselines": baselines,
        "kmer_k": ks,
    }
    if regression:
        params["tasks"] = [f"{t}:{task}:{layer}" for t, task, layer in keys]
    _write(adata, _table(rows, names, with_regression=bool(regression)), key_added, params)
    return adata if copy else None


def _target_keys(adata: AnnData, meta: dict, names: list[str]) -> list[tuple[str, str, str]]:
    """``(target, task, layer)`` of every evaluated target: those of its prediction columns, else detected from X."""
    keys = []
    for target in names:
        found = [(m["task"], m["layer"]) for m in meta.values() if m["target"] == target]
        found = list(dict.fromkeys(found)) or [(detect_task(labels(adata, target)[:, None], [target]), "")]
        keys += [(target, task, layer) for task, layer in found]
    return keys


def _warn_unscored(adata: AnnData, meta: dict) -> None:
    """Warn when recorded models have no prediction to score (only the baselines would be)."""
    predicted = {m["model"] for m in meta.values()}
    unscored = sorted(set(models_of(adata)) - predicted)
    if not meta:
        logger.warning(
            "evaluate: adata has no model predictions (obsm[%r]): only the composition baselines are scored%s. "
            "Run %s first.",
            K.PRED, f"; models {unscored} are not" if unscored else "", FIX[K.PRED],
        )  # fmt: skip
    elif unscored:
        logger.warning(
            "evaluate: models %s have no predictions in obsm[%r] and are not scored: run "
            "chromseq.tl.predict(adata, models=...) to include them.",
            unscored, K.PRED,
        )  # fmt: skip


def _targets(adata: AnnData, meta: dict, targets: str | Sequence[str] | None, baselines: bool) -> list[str]:
    if targets is not None:
        return resolve_targets(adata, targets)
    if meta:
        names = targets_of(meta)
        unlabelled = [t for t in names if not has_labels(adata, t)]
        if unlabelled:
            logger.warning("no labels in adata for prediction target(s) %s: not evaluated.", unlabelled)
        names = [t for t in names if t not in unlabelled]
        if not names:
            raise KeyError(f"none of the prediction targets {targets_of(meta)} has labels in adata.")
        return names
    if not baselines:
        raise ValueError(
            f"nothing to evaluate: adata has no obsm[{K.PRED!r}] and baselines=False; run {FIX[K.PRED]} first."
        )
    return resolve_targets(adata, None)


def _split_masks(adata: AnnData, splits: Sequence[str] | None) -> dict[str, np.ndarray]:
    if splits is None:
        return {ALL_SPLITS: np.ones(adata.n_obs, dtype=bool)}
    if isinstance(splits, str):
        splits = [splits]
    if K.SPLIT not in adata.obs.columns:
        raise KeyError(
            f"adata.obs[{K.SPLIT!r}] is missing: run {FIX[K.SPLIT]} first, or pass splits=None to evaluate all regions together."
        )
    values = adata.obs[K.SPLIT].to_numpy()
    masks = {s: values == s for s in splits}
    empty = [s for s, m in masks.items() if not m.any()]
    if len(empty) == len(masks):
        raise ValueError(
            f"no region in split(s) {empty} of obs[{K.SPLIT!r}] (found {sorted(set(values.astype(str)))}): "
            "nothing to evaluate; pass other splits=, or splits=None for all regions together."
        )
    if empty:
        logger.warning("split(s) %s have no region in obs[%r]: no rows for them.", empty, K.SPLIT)
    return {s: m for s, m in masks.items() if m.any()}


def _fit_baselines(adata: AnnData, keys: list[tuple[str, str, str]], ks: list[int]) -> None:
    if K.SPLIT not in adata.obs.columns or not (adata.obs[K.SPLIT] == "train").any():
        logger.warning("no 'train' split in obs[%r]: the k-mer baseline is not fitted (GC baseline only).", K.SPLIT)
        return
    groups: dict[tuple[str, str], list[str]] = {}
    for target, task, layer in keys:
        groups.setdefault((task, layer), []).append(target)
    for (task, layer), targets in groups.items():
        composition_baseline(adata, targets, k=ks, task=task, layer=layer)


def _rows(source: ScoreSource, y: np.ndarray, split_masks: dict[str, np.ndarray], layer: str = "") -> list[dict]:
    out = []
    for split, mask in split_masks.items():
        y_split, s_split = y[mask], source.scores[mask]
        n_unscored = int((np.isnan(s_split) & ~np.isnan(y_split)).sum())
        if n_unscored:
            logger.warning(
                "%s / %s / %s: %d labelled regions have no score: left out.",
                source.model,
                source.target,
                split,
                n_unscored,
            )
        metrics = binary_metrics(y_split, s_split)
        n_labelled = int((~np.isnan(y_split)).sum())
        if not metrics["n"] and n_labelled:
            logger.warning(
                "%s / %s / %s: AUROC and AUPRC are NaN: none of the %d labelled regions has a finite score; "
                "predict them again (chromseq.tl.predict), or check the model if its predictions are NaN.",
                source.model,
                source.target,
                split,
                n_labelled,
            )
        elif metrics["n"] and np.isnan(metrics["auroc"]):
            logger.warning(
                "%s / %s / %s: only one class among %d labelled regions (%d positive): AUROC and AUPRC are NaN.",
                source.model,
                source.target,
                split,
                metrics["n"],
                metrics["n_pos"],
            )
        row = {"model": source.model, "kind": source.kind, "target": source.target, "split": split, **metrics}
        out.append(row | {"task": "classification", "layer": layer})
    return out


def _log_unlabelled(target: str, y: np.ndarray, split_masks: dict[str, np.ndarray]) -> None:
    counts = {s: int(np.isnan(y[m]).sum()) for s, m in split_masks.items()}
    if any(counts.values()):
        logger.info("%s: regions with NaN label left out, per split: %s", target, counts)


def _table(rows: list[dict], names: list[str], with_regression: bool = False) -> pd.DataFrame:
    """Rows ordered by target (as given; specificity last), kind, model and split, h5ad-safe dtypes.

    Without a regression row the columns are exactly :data:`COLUMNS`; with one, :data:`REGRESSION_COLUMNS` follow.
    """
    columns = [*COLUMNS, *REGRESSION_COLUMNS] if with_regression else list(COLUMNS)
    table = pd.DataFrame(rows, columns=columns)
    split_rank = {s: i for i, s in enumerate((*K.SPLITS, ALL_SPLITS))}
    key = pd.DataFrame(
        {
            "target": table["target"].map({**{t: i for i, t in enumerate(names)}, K.SPECIFICITY: len(names)}),
            "kind": table["kind"].map(kind_rank),
            "model": table["model"],
            "split": table["split"].map(lambda s: split_rank.get(s, len(split_rank))),
        }
    )
    table = table.loc[key.sort_values(list(key.columns), kind="stable").index].reset_index(drop=True)
    for col in ("model", "kind", "target", "split", *(("task", "layer") if with_regression else ())):
        table[col] = table[col].astype(str)
    ints = {"n": np.int64, "n_pos": np.int64, **({"n_targets": np.int64} if with_regression else {})}
    if with_regression:
        table["n_targets"] = table["n_targets"].fillna(1)
    return table.astype(ints)


def _write(adata: AnnData, table: pd.DataFrame, key_added: str, params: dict) -> None:
    uns = uns_chromseq(adata)
    if key_added in uns:
        logger.info("replacing uns[%r][%r]", K.UNS, key_added)
    uns[key_added] = table
    uns.setdefault(K.UNS_PARAMS, {})[key_added] = params
    logger.info(
        "added uns[%r][%r] (%d rows) and uns[%r][%r][%r]", K.UNS, key_added, len(table), K.UNS, K.UNS_PARAMS, key_added
    )
