"""``pl.predicted_vs_observed``: a regression model's predictions against the observed values, per cell type."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from chromseq import _keys as K
from chromseq._docs import NCOLS_AX, SHOW_SAVE, fill_docs
from chromseq._metrics_regression import regression_metrics
from chromseq._validate import FIX
from chromseq.store import kind_rank, labels, records_of, regression_meta, targets_of

from ._curves import _split_mask
from ._utils import KIND_COLORS, finish, panels, series_label

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes

#: ``style='auto'`` draws single points up to this many regions per panel, a hexbin above it.
AUTO_POINTS = 3000
_STYLES = ("auto", "scatter", "hexbin", "density")

#: Characters per line of a panel's x label (a transform's description is wrapped to the panel's width).
LABEL_WIDTH = 50


@fill_docs(ncols_ax=NCOLS_AX, show_save=SHOW_SAVE)
def predicted_vs_observed(
    adata: AnnData,
    celltype: str | Sequence[str] | None = None,
    *,
    models: str | Sequence[str] | None = None,
    split: str | None = "test",
    style: Literal["auto", "scatter", "hexbin", "density"] = "auto",
    gridsize: int = 40,
    ncols: int = 3,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | list[Axes]:
    """Plot predicted against observed values of regression models: one panel per model and cell type.

    Each panel's title gives the Pearson and Spearman correlation of the drawn regions (regions
    whose observed or predicted value is NaN are left out), the numbers :func:`chromseq.tl.evaluate`
    reports. The dashed line is ``predicted = observed``: points above it are over-predicted.
    Many regions are binned (hexagons coloured by the log count) so that dense areas stay readable.

    Parameters
    ----------
    adata
        Regions AnnData with regression predictions (:func:`chromseq.tl.predict` of a model trained
        with ``task='regression'``) and the observed values in ``X`` or the layer the model learned.
    celltype
        Cell type(s) to draw (or ``'signal'``, the pooled target of regression pretraining: the mean
        over cell types); ``None``: every target with a regression prediction.
    models
        Model (or prediction column) name(s); ``None``: every regression model.
    split
        ``obs['split']`` category to draw (``None``: all regions).
    style
        ``'scatter'``: one point per region; ``'hexbin'``: hexagonal bins coloured by log count;
        ``'density'``: points coloured by how many regions share their neighbourhood (a 2-D
        histogram of ``gridsize`` bins per axis); ``'auto'``: scatter up to ``AUTO_POINTS`` (3000)
        regions per panel, hexbin above.
    gridsize
        Bins per axis of ``'hexbin'`` and ``'density'``.
    {ncols_ax}
    {show_save}

    Returns
    -------
    The Axes, or a list of Axes with one panel per model and cell type.

    Examples
    --------
    >>> chromseq.tl.finetune(adata, layer="signal", task="regression")  # doctest: +SKIP
    >>> chromseq.tl.predict(adata)  # doctest: +SKIP
    >>> chromseq.pl.predicted_vs_observed(adata, "K562", split="test")  # doctest: +SKIP
    """
    if style not in _STYLES:
        raise ValueError(f"style must be one of {_STYLES}, got {style!r}.")
    if gridsize < 2:
        raise ValueError(f"gridsize must be at least 2, got {gridsize}.")
    meta = _selected(adata, celltype, models)
    mask = _split_mask(adata, split)
    pairs = [(m, labels(adata, m["target"], m["layer"]), adata.obsm[K.PRED][c].to_numpy(np.float64)) for c, m in meta]
    fig, axes, created = panels(len(pairs), ax=ax, ncols=ncols, size=(3.8, 3.8))
    units = _units(adata)
    for (m, y, pred), panel in zip(pairs, axes, strict=True):
        keep = mask & np.isfinite(y) & np.isfinite(pred)
        _draw(panel, y[keep], pred[keep], style, gridsize, KIND_COLORS.get(m["kind"], "#1f77b4"))
        numbers = regression_metrics(y[keep], pred[keep], mse=False)  # those of tl.evaluate
        r, rho = numbers["pearson"], numbers["spearman"]
        panel.set_title(
            f"{m['target']}: {series_label(m['model'], m['target'])}\n"
            f"Pearson {r:.3f}, Spearman {rho:.3f} (n={int(keep.sum())}, {split or 'all'})",
            fontsize="medium",
        )
        where = f"layers[{m['layer']!r}]" if m["layer"] else "X"
        where += " mean over cell types" if m["target"] not in adata.var_names else ""  # regression pretraining
        label = f"observed ({where}{units.get(m['model'], '')})"
        panel.set(xlabel=textwrap.fill(label, LABEL_WIDTH, break_long_words=False), ylabel="predicted")
    return finish(fig, axes, created=created, show=show, save=save)


def _selected(adata: AnnData, celltype, models) -> list[tuple[str, dict]]:
    """Regression prediction columns to draw, ordered by target then kind; errors before any drawing."""
    meta = regression_meta(adata, models)
    if not meta:
        raise ValueError(
            f"no regression prediction in obsm[{K.PRED!r}]: train with task='regression' (e.g. "
            f"chromseq.tl.finetune(adata, task='regression', layer=...)) and run {FIX[K.PRED]}."
        )
    targets = targets_of(meta)
    if celltype is not None:
        wanted = [celltype] if isinstance(celltype, str) else list(dict.fromkeys(celltype))
        unknown = [t for t in wanted if t not in targets]
        if unknown:
            raise KeyError(f"no regression prediction for cell type(s) {unknown}; predicted cell types are {targets}.")
        targets = wanted
    chosen = [(c, m) for c, m in meta.items() if m["target"] in targets]
    return sorted(chosen, key=lambda cm: (targets.index(cm[1]["target"]), kind_rank(cm[1]["kind"]), cm[0]))


def _units(adata: AnnData) -> dict[str, str]:
    """``{model: ', <transform>'}`` for models whose record names the transform of their targets."""
    return {name: f", {r.target_transform}" for name, r in records_of(adata).items() if r.target_transform}


def _draw(panel: Axes, y: np.ndarray, pred: np.ndarray, style: str, gridsize: int, color: str) -> None:
    if style == "auto":
        style = "scatter" if len(y) <= AUTO_POINTS else "hexbin"
    if len(y) == 0:
        panel.text(0.5, 0.5, "no region with both values", ha="center", va="center", transform=panel.transAxes)
        return
    if style == "scatter":
        panel.scatter(y, pred, s=10, alpha=0.6, color=color, linewidths=0, rasterized=len(y) > 500)
    elif style == "hexbin":
        hexes = panel.hexbin(y, pred, gridsize=gridsize, mincnt=1, bins="log", cmap="viridis", linewidths=0.2)
        panel.figure.colorbar(hexes, ax=panel, label="regions (log)")
    else:
        density = _neighbours(y, pred, gridsize)
        order = np.argsort(density, kind="stable")  # densest on top
        points = panel.scatter(
            y[order], pred[order], c=density[order], s=8, cmap="viridis", linewidths=0, rasterized=len(y) > 500
        )
        panel.figure.colorbar(points, ax=panel, label="regions in bin")
    low, high = min(y.min(), pred.min()), max(y.max(), pred.max())
    panel.plot([low, high], [low, high], color="0.5", ls="--", lw=0.9, zorder=3)


def _neighbours(y: np.ndarray, pred: np.ndarray, gridsize: int) -> np.ndarray:
    """``(n,)`` number of regions in each region's cell of a ``gridsize`` x ``gridsize`` histogram."""
    counts, xe, ye = np.histogram2d(y, pred, bins=gridsize)
    i = np.clip(np.searchsorted(xe, y, side="right") - 1, 0, gridsize - 1)
    j = np.clip(np.searchsorted(ye, pred, side="right") - 1, 0, gridsize - 1)
    return counts[i, j]
