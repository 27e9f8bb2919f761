"""``pl.metrics``: the metrics table of ``tl.evaluate`` as grouped bars (or dots) per target."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._docs import SHOW_SAVE, fill_docs
from chromseq._metrics import METRIC_COLUMNS
from chromseq.store import PER_CELLTYPE, kind_rank

from ._utils import StylePicker, finish, panels, select_rows, series_label

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes

#: Marker and face colour of the baselines in the dot style (models are filled circles).
_DOT_MARKERS = {"baseline_gc": ("s", "#7f7f7f"), "baseline_kmer": ("D", "white"), "baseline_ridge": ("D", "white")}
#: Baselines drawn as hatched bars (the k-mer models: logistic for classification, ridge for regression).
_HATCHED = ("baseline_kmer", "baseline_ridge")
_BOUNDED = {"auroc", "auprc", "f1_at_05", "f1_best", "accuracy"}
_CORRELATIONS = {"pearson", "spearman"}
#: Columns of the regression rows of the metrics table, drawn by default for a regression-only table.
REGRESSION_METRICS = ("pearson", "spearman", "mse")
REGRESSION = K.TASKS[1]


@fill_docs(show_save=SHOW_SAVE)
def metrics(
    adata: AnnData | pd.DataFrame,
    metric: str | Sequence[str] | None = None,
    *,
    split: str = "test",
    targets: str | Sequence[str] | None = None,
    models: str | Sequence[str] | None = None,
    style: Literal["bar", "dot"] = "bar",
    key: str = K.UNS_METRICS,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | list[Axes]:
    """Plot metrics of the evaluation table: a group per target, a bar (or dot) per model.

    Models trained per cell type share a series across targets: ``finetuned_K562`` and
    ``finetuned_HepG2`` are both drawn as ``finetuned`` (and so is their ``specificity`` row,
    ``finetune_per_celltype``). Composition baselines are grey
    (k-mer hatched), so the gain of each model over composition alone is visible at a glance.
    Where the table has ``<metric>_lower`` and ``<metric>_upper`` columns (an interval), each bar
    carries it as an error bar. Regression metrics (``'pearson'``, ``'spearman'``, ``'mse'``) are
    drawn for the regression rows only (the table's ``task`` column), classification metrics for
    the others.

    Parameters
    ----------
    adata
        AnnData evaluated by :func:`chromseq.tl.evaluate`, or its metrics table (a DataFrame with
        columns ``model``, ``kind``, ``target``, ``split`` and the metric, e.g. read back from a CSV).
    metric
        Column to draw: ``'auroc'``, ``'auprc'``, ``'f1_at_05'``, ``'f1_best'``, ``'accuracy'`` for
        classification; ``'pearson'``, ``'spearman'``, ``'mse'`` for regression. A list draws one
        panel per metric. ``None``: ``'auroc'``, or for a table of regression rows only
        ``['pearson', 'spearman', 'mse']``.
    split
        Split whose rows are drawn (``'all'`` for a table made with ``splits=None``).
    targets
        Target(s) to show; ``None``: all, in table order.
    models
        Model name(s) to show; ``None``: all (baselines included).
    style
        ``'bar'``: grouped bars; ``'dot'``: one marker per model and target.
    key
        Key of the table under ``uns['chromseq']`` when ``adata`` is an AnnData.
    ax
        Axes to draw in (one per metric); ``None`` makes a new figure.
    {show_save}

    Returns
    -------
    The Axes, or a list of Axes with one panel per metric.

    Examples
    --------
    >>> chromseq.tl.evaluate(adata)  # doctest: +SKIP
    >>> chromseq.pl.metrics(adata, "auprc", split="test")  # doctest: +SKIP
    >>> chromseq.pl.metrics(adata, ["pearson", "mse"])  # doctest: +SKIP
    """
    if style not in ("bar", "dot"):
        raise ValueError(f"style must be 'bar' or 'dot', got {style!r}.")
    table = _table(adata, key)
    names = _metric_names(table, metric)
    drawn = [_wide(_rows_of_task(table, name), name, split, targets, models) for name in names]
    n_bars = max(len(wide.index) * len(wide.columns) for wide, _, _ in drawn)
    width = 2.4 + max(2.0, 0.22 * n_bars)  # room for the bars and the legend
    fig, axes, created = panels(len(names), ax=ax, ncols=len(names), size=(width, 3.6))
    for name, (wide, kinds, errors), panel in zip(names, drawn, axes, strict=True):
        _draw(panel, wide, kinds, style, errors)
        _scale(panel, name, wide, errors)
        panel.set(ylabel=f"{name} ({split})")
    handles = {}  # one legend for all panels: a series without values in the last panel is still listed
    for panel in axes:
        for handle, label in zip(*panel.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    axes[-1].legend(
        handles.values(), handles.keys(), fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0)
    )
    return finish(fig, axes, created=created, show=show, save=save)


def _metric_names(table: pd.DataFrame, metric: str | Sequence[str] | None) -> list[str]:
    if metric is not None:
        names = [metric] if isinstance(metric, str) else list(metric)
        if not names:
            raise ValueError("metric is an empty list: name at least one column, e.g. 'auroc' or 'pearson'.")
        return names
    regression_only = "task" in table.columns and (table["task"].astype(str) == REGRESSION).all()
    return list(REGRESSION_METRICS) if regression_only else ["auroc"]


def _rows_of_task(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Return the rows a metric describes: regression rows for a regression metric, the others for the rest."""
    if "task" not in table.columns:
        return table
    regression = table["task"].astype(str) == REGRESSION
    rows = table[regression] if metric in REGRESSION_METRICS else table[~regression]
    if rows.empty:
        wanted, other = ("regression", "auroc") if metric in REGRESSION_METRICS else ("classification", "pearson")
        raise ValueError(
            f"metric {metric!r} describes {wanted} rows but the metrics table has none; draw metrics of its rows "
            f"instead (e.g. metric={other!r})."
        )
    return rows


def _scale(panel: Axes, metric: str, wide: pd.DataFrame, errors) -> None:
    """Set the axis limits and the chance line of a metric (AUROC 0.5, correlation 0)."""
    if metric in _BOUNDED:
        panel.set_ylim(0, 1.02)
    elif metric in _CORRELATIONS:
        values = wide.to_numpy(float).ravel()
        if errors is not None:
            values = np.r_[values, errors[0].to_numpy(float).ravel()]
        low = float(np.nanmin(np.r_[values, 0.0]))
        panel.set_ylim(low - 0.05 if low < 0 else 0.0, 1.02)
        panel.axhline(0.0, color="0.6", lw=0.8, zorder=0)
    if metric == "auroc":
        panel.axhline(0.5, color="0.6", lw=0.8, ls=":", zorder=0)


def _table(data: AnnData | pd.DataFrame, key: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    table = data.uns.get(K.UNS, {}).get(key)
    if table is None:
        raise KeyError(f"adata.uns[{K.UNS!r}][{key!r}] is missing: run chromseq.tl.evaluate(adata) first.")
    return pd.DataFrame(table)


def _wide(table: pd.DataFrame, metric: str, split: str, targets, models) -> tuple[pd.DataFrame, dict[str, str], tuple]:
    """Rows of ``split`` -> (targets x series) values, the kind of each series, and (lower, upper) or None."""
    needed = ["model", "kind", "target", "split", metric]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        known = [c for c in METRIC_COLUMNS if c in table.columns]
        raise KeyError(f"metrics table lacks column(s) {missing}; metrics present: {known}.")
    rows = table[table["split"].astype(str) == split]
    if rows.empty:
        raise ValueError(
            f"no rows for split {split!r}; the table has splits {sorted(table['split'].astype(str).unique())}."
        )
    rows = select_rows(select_rows(rows, "target", targets, "metrics table"), "model", models, "metrics table").copy()
    rows["series"] = [series_label(m, t) for m, t in zip(rows["model"], rows["target"], strict=True)]
    rows["series"] = _per_celltype_series(rows)
    clash = rows.duplicated(["target", "series"], keep=False)
    rows.loc[clash, "series"] = rows.loc[clash, "model"]
    kinds = dict(zip(rows["series"], rows["kind"].astype(str), strict=True))
    order = sorted(kinds, key=lambda s: (kind_rank(kinds[s]), s))
    index = list(dict.fromkeys(rows["target"]))
    wide = rows.pivot(index="target", columns="series", values=metric).loc[index, order]
    bounds = [f"{metric}_lower", f"{metric}_upper"]
    errors = None
    if all(b in rows.columns for b in bounds):
        errors = tuple(rows.pivot(index="target", columns="series", values=b).loc[index, order] for b in bounds)
    return wide, kinds, errors


def _per_celltype_series(rows: pd.DataFrame) -> list[str]:
    """Draw a specificity row of ``<kind>_per_celltype`` models in their series (``finetuned``), when it is one."""
    per_target = rows[rows["target"].astype(str) != K.SPECIFICITY]
    out = []
    for model, kind, target, series in rows[["model", "kind", "target", "series"]].itertuples(index=False):
        same = set(per_target.loc[per_target["kind"].astype(str) == str(kind), "series"])
        combined = str(target) == K.SPECIFICITY and str(model) == f"{kind}{PER_CELLTYPE}" and len(same) == 1
        out.append(same.pop() if combined else series)
    return out


def _draw(panel: Axes, wide: pd.DataFrame, kinds: dict[str, str], style: str, errors=None) -> None:
    picker = StylePicker()
    n = len(wide.columns)
    width = 0.8 / n
    x = np.arange(len(wide.index))
    for i, series in enumerate(wide.columns):
        values = wide[series].to_numpy(float)
        ok = np.isfinite(values)
        if not ok.any():
            continue  # e.g. the MSE of the GC baseline: not in the targets' units
        pos = x[ok] - 0.4 + width * (i + 0.5)
        look = picker(series, kinds[series], series)
        if style == "bar":
            hatch = "//" if series in _HATCHED else None
            fill = "white" if series in _HATCHED else look["color"]
            panel.bar(pos, values[ok], width * 0.92, label=series, color=fill, edgecolor=look["color"], hatch=hatch)
        else:
            marker, face = _DOT_MARKERS.get(series, ("o", look["color"]))
            panel.plot(pos, values[ok], marker, ms=7, label=series, color=look["color"], mfc=face, ls="none")
        if errors is not None:
            low, high = (e[series].to_numpy(float)[ok] for e in errors)
            span = np.vstack([values[ok] - low, high - values[ok]])
            has = np.isfinite(span).all(axis=0)
            panel.errorbar(
                pos[has], values[ok][has], yerr=span[:, has], fmt="none", ecolor="0.2", elinewidth=1, capsize=2
            )
    panel.set_xticks(x, [str(t) for t in wide.index], rotation=30 if len(x) > 4 else 0)
    panel.set_xlim(-0.6, len(x) - 0.4)
