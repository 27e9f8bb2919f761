"""``pl.transfer_intervals``: cross-validated AUROC with bootstrap intervals, per cell type and fraction."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._docs import NCOLS_AX, RETURNS_PANELS, SHOW_SAVE, fill_docs
from chromseq.store import kind_rank

from ._utils import StylePicker, finish, panels, select_rows

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes

#: Columns of the interval table written by ``tl.transfer_benchmark(cv=...)``.
INTERVAL_COLUMNS = ("celltype", "fraction", "kind", "estimate", "lower", "upper")


@fill_docs(ncols_ax=NCOLS_AX, show_save=SHOW_SAVE, returns_panels=RETURNS_PANELS)
def transfer_intervals(
    adata: AnnData | pd.DataFrame,
    *,
    differences: bool = False,
    kinds: Sequence[str] | None = None,
    celltype: str | Sequence[str] | None = None,
    metric: str | None = None,
    ncols: int = 4,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | list[Axes]:
    """Plot cross-validated AUROC (or paired differences) against the training fraction, with intervals.

    One panel per cell type and one for ``'mean'`` (the mean over cell types); every point is the
    AUROC of the pooled out-of-fold scores (mean over seeds) with its block-bootstrap interval; for a
    regression benchmark (``task='regression'``), Pearson's r of the pooled out-of-fold predictions.

    Parameters
    ----------
    adata
        AnnData holding ``uns['chromseq']['transfer_intervals']`` (from
        :func:`chromseq.tl.transfer_benchmark` with ``cv``), or that table (e.g. the
        ``transfer_cv_intervals.csv`` of ``benchmarks/transfer.py``), with columns ``celltype``,
        ``fraction``, ``kind``, ``estimate``, ``lower``, ``upper``.
    differences
        Draw the paired differences (kinds containing ``'-'``, e.g. ``'finetune-scratch'``) around a
        zero line instead of the methods: an interval above zero means "better".
    kinds
        Kinds to draw; ``None``: all methods (or all differences).
    celltype
        Panels to draw (cell types or ``'mean'``); ``None``: all.
    metric
        Name of the estimate on the y axis; ``None``: ``'Pearson r'`` when the AnnData's benchmark was a
        regression (``uns['chromseq']['params']['transfer']['task']``), else ``'AUROC'``.
    {ncols_ax}
    {show_save}

    {returns_panels}

    Examples
    --------
    >>> chromseq.tl.transfer_benchmark(adata, cv=5, preset="fast")  # doctest: +SKIP
    >>> chromseq.pl.transfer_intervals(adata, differences=True)  # doctest: +SKIP
    """
    table = _interval_table(adata)
    metric = metric or interval_metric(adata)
    is_diff = table["kind"].str.contains("-", regex=False)
    table = table[is_diff if differences else ~is_diff]
    table = select_rows(select_rows(table, "kind", kinds, "interval table"), "celltype", celltype, "interval table")
    names = list(dict.fromkeys(table["celltype"]))
    fig, axes, created = panels(len(names), ax=ax, ncols=ncols, size=(3.4, 3.0))
    picker = StylePicker()
    low, high = table["lower"].min(), table["upper"].max()
    pad = 0.05 * max(high - low, 0.02)
    for name, panel in zip(names, axes, strict=True):
        _draw(panel, table[table["celltype"] == name], picker)
        if differences:
            panel.axhline(0.0, color="0.5", lw=0.8, ls="--")
        what = f"{metric} difference" if differences else metric
        panel.set(title=name, xlabel="fraction of training data", ylabel=f"{what} (out of fold)")
        panel.set_ylim(low - pad, high + pad)
    return finish(fig, axes, created=created, show=show, save=save)


def interval_metric(data: AnnData | pd.DataFrame) -> str:
    """Return the name of a transfer benchmark's estimate: ``'Pearson r'`` for regression, else ``'AUROC'``."""
    if isinstance(data, pd.DataFrame):
        return "AUROC"
    params = data.uns.get(K.UNS, {}).get(K.UNS_PARAMS, {}).get(K.UNS_TRANSFER, {})
    return "Pearson r" if str(params.get("task", "")) == K.TASKS[1] else "AUROC"


def _interval_table(data: AnnData | pd.DataFrame) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        table = data
    else:
        key = K.UNS_TRANSFER_INTERVALS
        table = data.uns.get(K.UNS, {}).get(key)
        if table is None:
            raise KeyError(
                f"adata.uns[{K.UNS!r}][{key!r}] is missing: run chromseq.tl.transfer_benchmark(adata, cv=5) first."
            )
        table = pd.DataFrame(table)
    missing = [c for c in INTERVAL_COLUMNS if c not in table.columns]
    if missing:
        raise KeyError(f"interval table lacks column(s) {missing}; it has {list(table.columns)}.")
    if table.empty:
        raise ValueError("the interval table is empty.")
    return table.assign(celltype=table["celltype"].astype(str), kind=table["kind"].astype(str))


def _draw(panel: Axes, rows: pd.DataFrame, picker: StylePicker) -> None:
    rows = rows.assign(rank=rows["kind"].map(kind_rank)).sort_values(["rank", "kind", "fraction"], kind="stable")
    kinds = list(dict.fromkeys(rows["kind"]))
    for i, kind in enumerate(kinds):
        group = rows[rows["kind"] == kind]
        x = group["fraction"].to_numpy(float) * 1.06 ** (i - (len(kinds) - 1) / 2)  # side by side
        y = group["estimate"].to_numpy(float)
        yerr = np.vstack([y - group["lower"].to_numpy(float), group["upper"].to_numpy(float) - y])
        panel.errorbar(x, y, yerr=yerr, marker="o", ms=4, capsize=2, lw=1.4, label=kind, **picker(kind, kind))
    panel.set_xscale("log")
    fractions = np.sort(rows["fraction"].unique())
    panel.set_xticks(fractions, [f"{f:g}" for f in fractions])
    panel.minorticks_off()
    panel.legend(fontsize="x-small", frameon=False)
