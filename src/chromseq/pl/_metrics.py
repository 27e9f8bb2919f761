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
from chromseq.store import kind_rank

from ._utils import StylePicker, finish, panels, select_rows, series_label

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes

#: Marker and face colour of the baselines in the dot style (models are filled circles).
_DOT_MARKERS = {"baseline_gc": ("s", "#7f7f7f"), "baseline_kmer": ("D", "white")}
_BOUNDED = {"auroc", "auprc", "f1_at_05", "f1_best", "accuracy"}


@fill_docs(show_save=SHOW_SAVE)
def metrics(
    adata: AnnData | pd.DataFrame,
    metric: str = "auroc",
    *,
    split: str = "test",
    targets: str | Sequence[str] | None = None,
    models: str | Sequence[str] | None = None,
    style: Literal["bar", "dot"] = "bar",
    key: str = K.UNS_METRICS,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes:
    """Plot one metric of the evaluation table: a group per target, a bar (or dot) per model.

    Models trained per cell type share a series across targets: ``finetuned_K562`` and
    ``finetuned_HepG2`` are both drawn as ``finetuned``. Composition baselines are grey
    (k-mer hatched), so the gain of each model over composition alone is visible at a glance.

    Parameters
    ----------
    adata
        AnnData evaluated by :func:`chromseq.tl.evaluate`, or its metrics table (a DataFrame with
        columns ``model``, ``kind``, ``target``, ``split`` and the metric, e.g. read back from a CSV).
    metric
        Column to draw: ``'auroc'``, ``'auprc'``, ``'f1_at_05'``, ``'f1_best'``, ``'accuracy'``, ...
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
        Axes to draw in; ``None`` makes a new figure.
    {show_save}

    Returns
    -------
    The Axes.

    Examples
    --------
    >>> chromseq.tl.evaluate(adata)  # doctest: +SKIP
    >>> chromseq.pl.metrics(adata, "auprc", split="test")  # doctest: +SKIP
    """
    if style not in ("bar", "dot"):
        raise ValueError(f"style must be 'bar' or 'dot', got {style!r}.")
    wide, kinds = _wide(_table(adata, key), metric, split, targets, models)
    width = 2.4 + max(2.0, 0.22 * len(wide.index) * len(wide.columns))  # room for the bars and the legend
    fig, (panel,), created = panels(1, ax=ax, size=(width, 3.6))
    _draw(panel, wide, kinds, style)
    if metric in _BOUNDED:
        panel.set_ylim(0, 1.02)
    if metric == "auroc":
        panel.axhline(0.5, color="0.6", lw=0.8, ls=":", zorder=0)
    panel.set(ylabel=f"{metric} ({split})")
    panel.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return finish(fig, [panel], created=created, show=show, save=save)


def _table(data: AnnData | pd.DataFrame, key: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    table = data.uns.get(K.UNS, {}).get(key)
    if table is None:
        raise KeyError(f"adata.uns[{K.UNS!r}][{key!r}] is missing: run chromseq.tl.evaluate(adata) first.")
    return pd.DataFrame(table)


def _wide(table: pd.DataFrame, metric: str, split: str, targets, models) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows of ``split`` -> (targets x series) values and the kind of each series."""
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
    clash = rows.duplicated(["target", "series"], keep=False)
    rows.loc[clash, "series"] = rows.loc[clash, "model"]
    kinds = dict(zip(rows["series"], rows["kind"].astype(str), strict=True))
    order = sorted(kinds, key=lambda s: (kind_rank(kinds[s]), s))
    wide = rows.pivot(index="target", columns="series", values=metric)
    wide = wide.loc[list(dict.fromkeys(rows["target"])), order]
    return wide, kinds


def _draw(panel: Axes, wide: pd.DataFrame, kinds: dict[str, str], style: str) -> None:
    picker = StylePicker()
    n = len(wide.columns)
    width = 0.8 / n
    x = np.arange(len(wide.index))
    for i, series in enumerate(wide.columns):
        values = wide[series].to_numpy(float)
        ok = np.isfinite(values)
        pos = x[ok] - 0.4 + width * (i + 0.5)
        look = picker(series, kinds[series], series)
        if style == "bar":
            hatch = "//" if series == "baseline_kmer" else None
            fill = "white" if series == "baseline_kmer" else look["color"]
            panel.bar(pos, values[ok], width * 0.92, label=series, color=fill, edgecolor=look["color"], hatch=hatch)
        else:
            marker, face = _DOT_MARKERS.get(series, ("o", look["color"]))
            panel.plot(pos, values[ok], marker, ms=7, label=series, color=look["color"], mfc=face, ls="none")
    panel.set_xticks(x, [str(t) for t in wide.index], rotation=30 if len(x) > 4 else 0)
    panel.set_xlim(-0.6, len(x) - 0.4)
