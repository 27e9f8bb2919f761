"""The regression rows of ``tl.evaluate``: Pearson, Spearman and MSE per target, and cell-type specificity.

Per target, every regression prediction (and the GC and k-mer ridge baselines) is compared with the
observed values of its target across the regions of each split. *Specificity* rows compare, for each
region, the vector of observed values over the cell types with the predicted one; they are computed for

- each model predicting two or more cell types (model = its name);
- the single-cell-type models of one kind (e.g. every ``finetune`` model) when together they cover two
  or more cell types with one model each (model = ``<kind>_per_celltype``);
- the k-mer ridge baseline over the same cell types (``baseline_ridge``); the GC baseline gives every
  cell type the same score, so it has none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from chromseq import _keys as K
from chromseq._metrics_regression import REGRESSION_METRIC_COLUMNS, regression_metrics, specificity_metrics
from chromseq._settings import logger
from chromseq.store import BASELINE_GC, BASELINE_KIND, BASELINE_RIDGE, ScoreSource, ridge_column, specificity_groups

if TYPE_CHECKING:
    from anndata import AnnData

#: Columns the metrics table gets (after the classification ones) when it holds a regression row.
REGRESSION_COLUMNS = ("task", "layer", *REGRESSION_METRIC_COLUMNS)


def regression_rows(source: ScoreSource, y: np.ndarray, split_masks: dict[str, np.ndarray], layer: str) -> list[dict]:
    """Rows of one regression score source: ``n``, ``n_pos`` (observed > 0), Pearson, Spearman, MSE per split.

    The GC baseline's score is a GC fraction, not a value in the target's units: its MSE is NaN.
    """
    out = []
    for split, mask in split_masks.items():
        y_split, s_split = y[mask], source.scores[mask]
        n_unscored = int((~np.isfinite(s_split) & np.isfinite(y_split)).sum())
        if n_unscored:
            logger.warning(
                "%s / %s / %s: %d regions with a value have no prediction: left out.",
                source.model, source.target, split, n_unscored,
            )  # fmt: skip
        metrics = regression_metrics(y_split, s_split, mse=source.model != BASELINE_GC)
        if metrics["n"] and np.isnan(metrics["pearson"]):
            logger.warning(
                "%s / %s / %s: Pearson and Spearman are NaN: %d region(s), or a constant observed or predicted value.",
                source.model, source.target, split, metrics["n"],
            )  # fmt: skip
        row = {"model": source.model, "kind": source.kind, "target": source.target, "split": split}
        out.append(row | {"task": "regression", "layer": layer} | metrics)
    return out


def specificity_rows(
    adata: AnnData,
    meta: dict[str, dict],
    observed: dict[tuple[str, str], np.ndarray],
    split_masks: dict[str, np.ndarray],
    baselines: bool,
) -> list[dict]:
    """Specificity rows of every group (:func:`specificity_groups`) and of the ridge baseline, per layer and split.

    ``observed`` maps ``(target, layer)`` of every regression target evaluated to its ``(n_obs,)`` values.
    """
    rows = []
    frame = adata.obsm.get(K.PRED)
    for layer in dict.fromkeys(layer for _, layer in observed):
        groups = [(model, kind, {t: frame[c].to_numpy(np.float64) for t, c in cols.items()})
                  for model, kind, cols in specificity_groups(meta, layer)]  # fmt: skip
        targets = [t for t, lay in observed if lay == layer and t in adata.var_names]  # cell types only
        ridge = adata.obsm.get(K.BASELINE)
        columns = {t: ridge_column(t, layer) for t in targets}
        if baselines and len(targets) >= 2 and ridge is not None and all(c in ridge for c in columns.values()):
            groups.append(
                (BASELINE_RIDGE, BASELINE_KIND, {t: ridge[c].to_numpy(np.float64) for t, c in columns.items()})
            )
        for model, kind, values in groups:
            names = [t for t in targets if t in values]  # the evaluated targets the group predicts
            if len(names) < 2:
                continue
            y = np.column_stack([observed[t, layer] for t in names])
            s = np.column_stack([values[t] for t in names])
            for split, mask in split_masks.items():
                metrics = specificity_metrics(y[mask], s[mask])
                row = {"model": model, "kind": kind, "target": K.SPECIFICITY, "split": split}
                rows.append(row | {"task": "regression", "layer": layer} | metrics)
            logger.info("specificity of %r over %d cell types %s", model, len(names), names)
    return rows
