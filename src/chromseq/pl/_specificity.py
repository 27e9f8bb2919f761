"""``pl.specificity``: how well regression models rank the cell types within each region."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from chromseq import _keys as K
from chromseq._docs import SHOW_SAVE, fill_docs
from chromseq.store import kind_rank, observed, regression_meta

from ._curves import _split_mask
from ._utils import StylePicker, finish, panels, series_label

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
    per model series (a model predicting several cell types, or the single-cell-type models of one
    series such as ``finetuned_K562``, ``finetuned_HepG2``, ...). The legend gives each median.

    Parameters
    ----------
    adata
        Regions AnnData with regression predictions of at least two cell types from the same
        series (:func:`chromseq.tl.predict`), and the observed values in ``X`` or their layer.
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
    them (no correlation), are left out; the legend says how many regions each series has.

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
    for label, (kind, columns) in groups.items():
        y = np.column_stack([observed(adata, t, layer) for t, layer, _ in columns])[mask]
        pred = np.column_stack([adata.obsm[K.PRED][c].to_numpy(np.float64) for _, _, c in columns])[mask]
        r = region_correlations(y, pred, method)
        r = r[np.isfinite(r)]
        text = f"{label} (median {np.median(r):.3f}, n={r.size})" if r.size else f"{label} (no region)"
        panel.hist(r, bins=edges, histtype="step", lw=1.8, label=text, color=picker(label, kind)["color"])
    panel.axvline(0.0, color="0.6", lw=0.8, zorder=0)
    what = "Pearson" if method == "pearson" else "Spearman"
    n_types = max(len(c) for _, c in groups.values())
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

    NaN for a row with a missing value or a constant side. ``'spearman'`` correlates average ranks.
    """
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    complete = np.isfinite(y).all(axis=1) & np.isfinite(pred).all(axis=1)
    if method == "spearman":
        y, pred = rankdata(y, axis=1), rankdata(pred, axis=1)
    dy = y - y.mean(axis=1, keepdims=True)
    dp = pred - pred.mean(axis=1, keepdims=True)
    denom = np.sqrt((dy * dy).sum(axis=1) * (dp * dp).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (dy * dp).sum(axis=1) / denom
    return np.where(complete & (denom > 0), np.clip(r, -1.0, 1.0), np.nan)


def _groups(adata: AnnData, models) -> dict[str, tuple[str, list[tuple[str, str, str]]]]:
    """``{series: (kind, [(target, layer, column), ...])}`` for series predicting two or more cell types."""
    meta = regression_meta(adata, models)
    found: dict[str, tuple[str, dict[str, list]]] = {}
    for column, m in meta.items():
        if m["target"] not in adata.var_names:
            continue
        label = series_label(m["model"], m["target"])
        found.setdefault(label, (m["kind"], {}))[1].setdefault(m["target"], []).append((m["layer"], column))
    groups, crowded = {}, []
    for label, (kind, targets) in found.items():
        if any(len(v) > 1 for v in targets.values()):
            crowded.append(label)
        elif len(targets) >= 2:
            groups[label] = (kind, [(t, *v[0]) for t, v in targets.items()])
    if not groups:
        raise ValueError(
            "specificity needs regression predictions of two or more cell types from one model series; found "
            f"{ {label: sorted(t) for label, (_, t) in found.items()} }"
            + (f" (series {crowded} have several models for one cell type: pass models=)" if crowded else "")
            + ". Fine-tune or train one regression model per cell type (or one multi-output model), then predict."
        )
    return dict(sorted(groups.items(), key=lambda item: (kind_rank(item[1][0]), item[0])))
