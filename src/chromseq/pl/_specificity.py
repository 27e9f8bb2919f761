"""``pl.specificity``: how well regression models rank the cell types within each region."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from chromseq import _keys as K
from chromseq._docs import SHOW_SAVE, fill_docs
from chromseq._metrics_regression import pearson_rows, rank_average
from chromseq.store import BASELINE_KIND, BASELINE_RIDGE, kind_rank, labels, regression_meta, ridge_column
from chromseq.store import specificity_groups as store_groups

from ._curves import _split_mask
from ._utils import StylePicker, finish, panels

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes


@fill_docs(show_save=SHOW_SAVE)
def specificity(
    adata: AnnData,
    models: str | Sequence[str] | None = None,
    *,
    split: str | None = "test",
    method: Literal["pearson", "spearman"] = "pearson",
    bins: int = 20,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes:
    """Plot, per region, the correlation across cell types of predicted with observed values.

    A model can follow how open each cell type is across regions (high Pearson per cell type) and
    still miss *which* cell types a region is open in. This plot answers the second question: for
    every region, the vector of its observed values over the cell types is correlated with the
    predicted vector, and the distribution of these per-region correlations is drawn, one histogram
    per group as the ``specificity`` rows of :func:`chromseq.tl.evaluate` (a model predicting several
    cell types; the single-cell-type models of one kind, e.g. ``finetuned_K562``, ``finetuned_HepG2``,
    as ``finetune_per_celltype``; the k-mer ridge baseline of those cell types, once fitted). The
    legend gives each group's median and number of regions.

    Parameters
    ----------
    adata
        Regions AnnData with regression predictions of at least two cell types (one model
        predicting several, or one model of a kind per cell type; :func:`chromseq.tl.predict`), and
        the observed values in ``X`` or their layer.
    models
        Model (or prediction column) name(s); ``None``: every regression model.
    split
        ``obs['split']`` category whose regions are used (``None``: all regions).
    method
        ``'pearson'`` or ``'spearman'`` (ranks of the cell types within each region).
    bins
        Histogram bins over [-1, 1].
    ax
        Axes to draw in; ``None`` makes a new figure.
    {show_save}

    Returns
    -------
    The Axes. Regions with a missing value in any of the cell types, or the same value in all of
    them (no correlation), are left out; the legend says how many regions each group has.

    Examples
    --------
    >>> chromseq.tl.predict(adata)  # doctest: +SKIP
    >>> chromseq.pl.specificity(adata, split="test")  # doctest: +SKIP
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}.")
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}.")
    groups = _groups(adata, models)
    mask = _split_mask(adata, split)
    fig, (panel,), created = panels(1, ax=ax, size=(5.0, 3.6))
    picker = StylePicker()
    edges = np.linspace(-1, 1, bins + 1)
    for label, kind, layer, columns in groups:
        y = np.column_stack([labels(adata, t, layer) for t in columns])[mask]
        pred = np.column_stack(list(columns.values()))[mask]
        r = region_correlations(y, pred, method)
        r = r[np.isfinite(r)]
        text = f"{label} (median {np.median(r):.3f}, n={r.size})" if r.size else f"{label} (no region)"
        look = picker(label, kind, label)
        panel.hist(r, bins=edges, histtype="step", lw=1.8 if kind != BASELINE_KIND else 1.2, label=text, **look)
    panel.axvline(0.0, color="0.6", lw=0.8, zorder=0)
    what = "Pearson" if method == "pearson" else "Spearman"
    n_types = max(len(columns) for *_, columns in groups)
    panel.set(
        xlabel=f"{what} r across cell types, per region",
        ylabel="regions",
        xlim=(-1.02, 1.02),
        title=f"cell-type specificity ({split or 'all'}; up to {n_types} cell types)",
    )
    panel.legend(fontsize="small", frameon=False, loc="upper left")
    return finish(fig, [panel], created=created, show=show, save=save)


def region_correlations(y: np.ndarray, pred: np.ndarray, method: str = "pearson") -> np.ndarray:
    """``(n,)`` correlation of each row of ``pred`` with the same row of ``y`` (both ``(n, T)``).

    NaN for a row with a missing value or a constant side; ``'spearman'`` correlates average ranks
    (the per-region numbers behind the specificity rows of :func:`chromseq.tl.evaluate`).
    """
    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    complete = np.isfinite(y).all(axis=1) & np.isfinite(pred).all(axis=1)
    if method == "spearman":
        y, pred = rank_average(y, axis=1), rank_average(pred, axis=1)
    return np.where(complete, pearson_rows(y, pred), np.nan)


def _groups(adata: AnnData, models) -> list[tuple[str, str, str, dict[str, np.ndarray]]]:
    """``(name, kind, layer, {cell type: predicted (n_obs,)})`` of every group, as the specificity rows of ``tl.evaluate``.

    A model predicting two or more cell types, the single-cell-type models of one kind (one per cell
    type), and the k-mer ridge baseline of those cell types when it is fitted.
    """
    meta = {c: m for c, m in regression_meta(adata, models).items() if m["target"] in adata.var_names}
    frame, baselines = adata.obsm[K.PRED], adata.obsm.get(K.BASELINE)
    groups = []
    for layer in dict.fromkeys(m["layer"] for m in meta.values()):
        found = store_groups(meta, layer)
        groups += [(name, kind, layer, {t: frame[c].to_numpy(np.float64) for t, c in cols.items()})
                   for name, kind, cols in found]  # fmt: skip
        targets = list(dict.fromkeys(t for *_, cols in found for t in cols))
        ridge = [ridge_column(t, layer) for t in targets]
        if found and baselines is not None and all(c in baselines for c in ridge):
            values = {t: baselines[c].to_numpy(np.float64) for t, c in zip(targets, ridge, strict=True)}
            groups.append((BASELINE_RIDGE, BASELINE_KIND, layer, values))
    if not groups:
        found = sorted({(m["model"], m["target"]) for m in meta.values()})
        raise ValueError(
            "specificity needs regression predictions of two or more cell types: one model predicting several, "
            f"or one model of a kind per cell type; found (model, cell type) {found}. Fine-tune or train a "
            "regression model per cell type (or one multi-output model), then run chromseq.tl.predict(adata)."
        )
    return sorted(groups, key=lambda g: (kind_rank(g[1]), g[0]))
