"""``pl.transfer_curve``: a metric against the fraction of training data, fine-tuned vs. from scratch."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._docs import NCOLS_AX, RETURNS_PANELS, SHOW_SAVE, fill_docs
from chromseq._regions import to_numbers
from chromseq.store import kind_rank

from ._utils import StylePicker, finish, panels, select_rows

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes

#: Columns every transfer table has (plus at least one metric column such as ``auroc``).
TRANSFER_COLUMNS = ("celltype", "fraction", "kind")


@fill_docs(ncols_ax=NCOLS_AX, show_save=SHOW_SAVE, returns_panels=RETURNS_PANELS)
def transfer_curve(
    adata: AnnData | pd.DataFrame,
    metric: str | None = None,
    *,
    celltype: str | Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    logx: bool = True,
    ncols: int = 3,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | list[Axes]:
    """Plot a test metric against the fraction of training data used, one panel per cell type.

    The paper's claim in one picture: fine-tuning a pretrained body keeps its performance when the
    cell type's training data shrinks, training from scratch does not.

    The *transfer table* (``uns['chromseq']['transfer']`` or a DataFrame, e.g. the CSV written by
    ``benchmarks/transfer.py``) has one row per run, with columns:

    ``celltype`` (str)
        The cell type fine-tuned / trained.
    ``fraction`` (float in (0, 1])
        Fraction of the cell type's training regions used.
    ``kind`` (str)
        ``'finetune'`` or ``'scratch'`` (other kinds, e.g. ``'baseline'``, are drawn too).
    a metric column (float)
        ``auroc``, ``auprc``, ... on the test split, as :func:`chromseq.tl.evaluate` names them;
        ``pearson``, ``spearman``, ``mse`` for a regression benchmark.
    ``seed`` (int, optional)
        Replicate runs; several rows for one celltype x fraction x kind are drawn as their mean with
        the standard deviation as error bars.

    Other columns (``n_train``, ``model``, ...) are ignored.

    Parameters
    ----------
    adata
        AnnData holding the table in ``uns['chromseq']['transfer']``, or the table itself.
    metric
        Metric column to draw; ``None``: ``'auroc'``, or ``'pearson'`` for a table without AUROC (a
        regression benchmark).
    celltype
        Cell type(s) to draw; ``None``: all, in table order.
    kinds
        Kinds to draw; ``None``: all (fine-tune and scratch first).
    logx
        Log-scale the fraction axis (fractions such as 0.05-1 spread evenly).
    {ncols_ax}
    {show_save}

    {returns_panels}

    Examples
    --------
    >>> table = pd.read_csv("benchmarks/results/transfer.csv")  # doctest: +SKIP
    >>> chromseq.pl.transfer_curve(table, "auroc", save="transfer.png")  # doctest: +SKIP
    """
    table = _table(adata)
    if metric is None:
        metric = "pearson" if "auroc" not in table.columns and "pearson" in table.columns else "auroc"
    table = _check(table, metric)
    table = select_rows(select_rows(table, "celltype", celltype, "transfer table"), "kind", kinds, "transfer table")
    summary = _summarise(table, metric)
    names = list(dict.fromkeys(table["celltype"]))
    fig, axes, created = panels(len(names), ax=ax, ncols=ncols, size=(3.6, 3.2))
    picker = StylePicker()
    limits = (summary["mean"] - summary["sd"].fillna(0)).min(), (summary["mean"] + summary["sd"].fillna(0)).max()
    for name, panel in zip(names, axes, strict=True):
        _draw(panel, summary[summary["celltype"] == name], picker, logx=logx)
        panel.set(title=name, xlabel="fraction of training data", ylabel=f"{metric} (test)")
        pad = 0.05 * max(limits[1] - limits[0], 0.02)
        panel.set_ylim(limits[0] - pad, limits[1] + pad)
    return finish(fig, axes, created=created, show=show, save=save)


def _table(data: AnnData | pd.DataFrame) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    table = data.uns.get(K.UNS, {}).get(K.UNS_TRANSFER)
    if table is None:
        raise KeyError(
            f"adata.uns[{K.UNS!r}][{K.UNS_TRANSFER!r}] is missing: run benchmarks/transfer.py (or pass its table)."
        )
    return pd.DataFrame(table)


def _check(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    missing = [c for c in (*TRANSFER_COLUMNS, metric) if c not in table.columns]
    if missing:
        raise KeyError(f"transfer table lacks column(s) {missing}; it has {list(table.columns)}.")
    if table.empty:
        raise ValueError("the transfer table is empty.")
    fraction = pd.Series(to_numbers(table["fraction"]), index=table.index)
    if not ((fraction > 0) & (fraction <= 1)).all():
        raise ValueError(f"transfer table 'fraction' must be in (0, 1]; found {sorted(table['fraction'].unique())}.")
    return table.assign(fraction=fraction, celltype=table["celltype"].astype(str), kind=table["kind"].astype(str))


def _summarise(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    grouped = table.groupby(["celltype", "kind", "fraction"], sort=False)[metric]
    summary = grouped.agg(mean="mean", sd="std", n="count").reset_index()
    summary["rank"] = summary["kind"].map(kind_rank)
    return summary.sort_values(["rank", "kind", "fraction"], kind="stable")


def _draw(panel: Axes, rows: pd.DataFrame, picker: StylePicker, *, logx: bool) -> None:
    for kind, group in rows.groupby("kind", sort=False):
        look = picker(kind, kind)
        yerr = group["sd"].to_numpy(float) if (group["n"] > 1).any() else None
        panel.errorbar(
            group["fraction"].to_numpy(float),
            group["mean"].to_numpy(float),
            yerr=yerr,
            marker="o",
            ms=4,
            capsize=2,
            lw=1.6,
            label=kind,
            **look,
        )
    if logx:
        panel.set_xscale("log")
    fractions = np.sort(rows["fraction"].unique())
    panel.set_xticks(fractions, [f"{f:g}" for f in fractions])
    panel.minorticks_off()
    panel.legend(fontsize="small", frameon=False)
