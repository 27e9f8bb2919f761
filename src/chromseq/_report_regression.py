"""The report's section on regression models: predicted vs observed, the metrics table, verdicts with intervals.

A regression model predicts a quantity (values in the target's units). Its verdict compares the
Pearson correlation of predicted and observed values on held-out regions with that of the
composition baselines (GC fraction; a k-mer ridge regression fitted on the training rows) and, for
a fine-tuned model, with the model trained from scratch: the paired difference of correlations,
with a 95% interval from the same block bootstrap as the classification verdicts
(:mod:`chromseq._report_verdicts`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import _keys as K
from ._intervals import block_weights, interval_table, pearson_replicates, weighted_pearson
from ._report_verdicts import LEVEL, N_BOOT, resampling_units, verdict_text
from .store import ScoreSource, kind_rank, labels, prediction_sources, regression_baseline_sources, regression_meta

if TYPE_CHECKING:
    from anndata import AnnData

REGRESSION = K.TASKS[1]
#: Columns of the report's regression table, in order.
_COLUMNS = ("target", "model", "kind", "n", "pearson", "spearman", "mse")
#: Kind of the model each target's verdict is about, in order of preference, and its name in the text.
_MAIN = (("finetune", "fine-tuned"), ("pretrain", "pretrained"), ("scratch", "from scratch"))
_COMPARE = "best composition baseline"
_SPECIFICITY = (
    "Cell-type specificity: for each region, the correlation across cell types of the predicted with the "
    "observed values (does the model rank the cell types of a region right?): one histogram per model, per kind "
    "of single-cell-type models (`<kind>_per_celltype`) and for the k-mer ridge baseline."
)


def regression_lines(
    adata: AnnData, split: str, table: pd.DataFrame, *, figure: Callable, markdown: Callable[[pd.DataFrame], str]
) -> list[str]:
    """Markdown lines of the regression section (empty when no prediction is a regression).

    Parameters
    ----------
    adata
        Evaluated regions AnnData with regression predictions in ``obsm['chromseq_pred']``.
    split
        Split scored.
    table
        The metrics table of :func:`chromseq.tl.evaluate` (its regression rows are shown).
    figure
        ``figure(name, draw)`` of the report: draws one figure, returns its markdown lines.
    markdown
        The report's table formatter (a DataFrame to markdown).

    Returns
    -------
    Markdown lines: a heading, the metrics table, one verdict per target, the figures.
    """
    from . import pl

    meta = regression_meta(adata)
    if not meta:
        return []
    lines = [
        "## Regression: predicted vs observed",
        "",
        f"Regression models predict a quantity in the units of their targets ({_targets_text(adata, meta)}). "
        f"Pearson and Spearman correlation and mean squared error of predicted vs observed values on the "
        f"`{split}` split, per cell type across regions, beside composition baselines (the GC fraction has "
        "no MSE: it is not in the targets' units). Rows `specificity`: for each region, the correlation across "
        "cell types of predicted with observed values, mean over regions (MSE over regions and cell types).",
        "",
    ]
    summary = regression_summary(pd.DataFrame(table), split)
    if len(summary):
        lines += [markdown(summary), ""]
    lines += regression_verdicts(adata, split, meta)
    lines += figure(
        "predicted_vs_observed", lambda save: pl.predicted_vs_observed(adata, split=split, show=False, save=save)
    )
    if len(summary):
        lines += figure(
            "metrics_regression",
            lambda save: pl.metrics(adata, ["pearson", "spearman", "mse"], split=split, show=False, save=save),
        )
    curves = figure("history_validation", lambda save: pl.history(adata, keys="val_pearson", show=False, save=save))
    if curves:
        lines += ["Validation Pearson r per epoch of each model (validation AUROC for a classification model):", ""]
        lines += curves
    if len({m["target"] for m in meta.values()}) >= 2:
        lines += [_SPECIFICITY, ""]
        lines += figure("specificity", lambda save: pl.specificity(adata, split=split, show=False, save=save))
    return lines


def regression_summary(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """Regression rows of the metrics table for ``split``: target, model, kind, n, pearson, spearman, mse."""
    if "task" not in table or "pearson" not in table:
        return pd.DataFrame(columns=list(_COLUMNS))
    rows = table[(table["split"].astype(str) == split) & (table["task"].astype(str) == REGRESSION)]
    columns = [c for c in _COLUMNS if c in rows]
    rows = rows[columns].assign(_rank=[kind_rank(k) for k in rows["kind"]])
    return rows.sort_values(["target", "_rank", "model"]).drop(columns="_rank").reset_index(drop=True)


def regression_verdicts(adata: AnnData, split: str, meta: dict[str, dict], *, random_state: int = 0) -> list[str]:
    """One line per regression target: the main model's Pearson r and its paired differences with intervals."""
    if K.SPLIT not in adata.obs:
        return []
    in_split, blocks, unit = resampling_units(adata, split)
    lines = []
    for target, layer in dict.fromkeys((m["target"], m["layer"]) for m in meta.values()):
        line = _target_line(adata, target, layer, meta, in_split, blocks, split, random_state)
        if line:
            lines.append(line)
    if not lines:
        return []
    note = (
        "A regression model has learned more than sequence composition only where its predictions correlate "
        "better with the observed values than those of the GC and k-mer baselines (fitted on the training "
        f"split). Brackets are {100 * LEVEL:g}% intervals of Pearson's r and of paired differences (bootstrap "
        f"over {unit}, {N_BOOT} replicates); a verdict is 'better' or 'worse' only when the interval of the "
        "difference excludes zero."
    )
    return [note, "", *lines, ""]


def _target_line(adata, target, layer, meta, in_split, blocks, split, random_state) -> str | None:
    sources = prediction_sources(adata, meta, target, task=REGRESSION, layer=layer)
    y = labels(adata, target, layer)
    main, label = _main(sources, y, in_split)
    scratch = _best([s for s in sources if s.kind == "scratch"], y, in_split) if main.kind != "scratch" else None
    baselines = regression_baseline_sources(adata, target, layer)
    named = {label: main, **({"from scratch": scratch} if scratch else {}), **{s.model: s for s in baselines}}
    rows = in_split & np.isfinite(y)
    for source in named.values():
        rows &= np.isfinite(source.scores)
    if rows.sum() < 3:
        return None
    weights = block_weights(blocks[rows], N_BOOT, random_state)
    estimates = {(target, name): pearson_replicates(y[rows], s.scores[rows], weights) for name, s in named.items()}
    differences = [(f"vs {_COMPARE}", label, [s.model for s in baselines])]
    if scratch:
        differences.append(("vs from scratch", label, ["from scratch"]))
    table = interval_table(estimates, differences, level=LEVEL).set_index(["celltype", "kind"])
    where = (f"layers['{layer}']" if layer else "X") + (
        " mean over cell types" if target not in adata.var_names else ""
    )
    return _format(target, label, table, differences, f"{int(rows.sum())} {split} regions, {where}", split)


def _main(sources: list[ScoreSource], y: np.ndarray, rows: np.ndarray) -> tuple[ScoreSource, str]:
    for kind, label in _MAIN:
        best = _best([s for s in sources if s.kind == kind], y, rows)
        if best is not None:
            return best, label
    return _best(sources, y, rows), sources[0].model


def _best(sources: list[ScoreSource], y: np.ndarray, rows: np.ndarray) -> ScoreSource | None:
    """Return the source with the highest Pearson r on ``rows`` (several models may share a kind); None if none."""
    if not sources:
        return None

    def score(s: ScoreSource) -> float:
        keep = rows & np.isfinite(y) & np.isfinite(s.scores)
        value = weighted_pearson(y[keep], s.scores[keep])[0] if keep.sum() > 2 else np.nan
        return -np.inf if np.isnan(value) else value

    return max(sources, key=score)


def _format(target, label, table, differences, counted, split) -> str:
    estimates, verdicts = verdict_text(target, label, table, differences)
    return f"- {target} ({counted}): {split} Pearson r {estimates}. {verdicts}."


def _targets_text(adata: AnnData, meta: dict[str, dict]) -> str:
    """Where each regression target's values come from and how they were transformed, from the model records."""
    from .store import records_of

    records = records_of(adata)
    described = {}
    for m in meta.values():
        record = records.get(m["model"])
        where = f"`layers['{m['layer']}']`" if m["layer"] else "`X`"
        transform = record.target_transform if record is not None and record.target_transform else "as read"
        described.setdefault(f"{where}, {transform}", []).append(m["target"])
    return "; ".join(f"{', '.join(dict.fromkeys(ts))}: {what}" for what, ts in described.items())
