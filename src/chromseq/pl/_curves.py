"""``pl.roc`` and ``pl.pr``: ROC and precision-recall curves per cell type, models beside composition baselines."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from chromseq import _keys as K
from chromseq._docs import NCOLS_AX, SHOW_SAVE, fill_docs
from chromseq._metrics import binary_metrics, clean
from chromseq._validate import FIX
from chromseq.store import (
    BASELINE_KIND,
    ScoreSource,
    baseline_sources,
    kind_rank,
    labels,
    prediction_sources,
    resolve_targets,
    targets_of,
    task_predictions,
)

from ._utils import StylePicker, finish, panels, series_label

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes

_SHARED_DOC = """
    Parameters
    ----------
    adata
        Regions AnnData with predictions (:func:`chromseq.tl.predict`) and/or baselines
        (:func:`chromseq.tl.evaluate`), and labels in ``X`` / ``obs['open']``.
    celltype
        Target(s) to draw, one panel each: cell types or ``'open'`` (the pretraining target).
        ``None``: every target with a prediction (or, with none, with a fitted k-mer baseline).
    models
        Model (or prediction column) name(s); ``None``: all predictions of each target.
    split
        ``obs['split']`` category to draw (``None``: all regions).
    baselines
        Also draw the composition baselines (GC fraction; k-mer logistic regression once fitted by
        :func:`chromseq.tl.evaluate`) in grey.
    {ncols_ax}
    {show_save}

    Returns
    -------
    The Axes, or a list of Axes with one panel per target. Legends give each curve's {metric}
    (same numbers as :func:`chromseq.tl.evaluate`).
"""


def roc(
    adata: AnnData,
    celltype: str | Sequence[str] | None = None,
    *,
    models: str | Sequence[str] | None = None,
    split: str | None = "test",
    baselines: bool = True,
    ncols: int = 3,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | list[Axes]:
    """Plot ROC curves, one panel per cell type: fine-tuned vs. from-scratch vs. composition baselines.

    {shared}

    Examples
    --------
    >>> chromseq.tl.predict(adata)  # doctest: +SKIP
    >>> chromseq.tl.evaluate(adata)  # doctest: +SKIP
    >>> chromseq.pl.roc(adata, ["K562", "HepG2"], save="roc.png")  # doctest: +SKIP
    """
    return _curves(adata, "roc", celltype, models, split, baselines, ncols=ncols, ax=ax, show=show, save=save)


def pr(
    adata: AnnData,
    celltype: str | Sequence[str] | None = None,
    *,
    models: str | Sequence[str] | None = None,
    split: str | None = "test",
    baselines: bool = True,
    ncols: int = 3,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | list[Axes]:
    """Plot precision-recall curves, one panel per cell type, with the positive rate as the chance line.

    {shared}

    Examples
    --------
    >>> chromseq.pl.pr(adata, "K562", split="test")  # doctest: +SKIP
    """
    return _curves(adata, "pr", celltype, models, split, baselines, ncols=ncols, ax=ax, show=show, save=save)


roc.__doc__ = roc.__doc__.replace("{shared}", _SHARED_DOC.replace("{metric}", "AUROC").strip())
pr.__doc__ = pr.__doc__.replace("{shared}", _SHARED_DOC.replace("{metric}", "AUPRC (average precision)").strip())
fill_docs(ncols_ax=NCOLS_AX, show_save=SHOW_SAVE)(roc)
fill_docs(ncols_ax=NCOLS_AX, show_save=SHOW_SAVE)(pr)


def _curves(
    adata: AnnData,
    curve: Literal["roc", "pr"],
    celltype,
    models,
    split: str | None,
    baselines: bool,
    *,
    ncols: int,
    ax,
    show: bool | None,
    save,
):
    meta = _classification(adata, models)
    names = _panel_targets(adata, meta, celltype, baselines)
    mask = _split_mask(adata, split)
    fig, axes, created = panels(len(names), ax=ax, ncols=ncols, size=(3.8, 5.0))  # room for the legend below
    style = StylePicker()
    for target, panel in zip(names, axes, strict=True):
        sources = prediction_sources(adata, meta, target) + (baseline_sources(adata, target) if baselines else [])
        sources.sort(key=lambda s: kind_rank(s.kind))
        y = labels(adata, target)[mask]
        for source in sources:
            _draw(panel, curve, y, source.scores[mask], source, style)
        _decorate(panel, curve, y, target, split)
    return finish(fig, axes, created=created, show=show, save=save)


def _classification(adata: AnnData, models) -> dict[str, dict]:
    """Classification prediction columns (regression ones are drawn by ``pl.predicted_vs_observed``)."""
    meta = task_predictions(adata, models, "classification")
    if models is not None and not meta:
        raise ValueError(
            f"model(s) {models!r} are regression models: ROC and precision-recall curves need probabilities; "
            "draw them with chromseq.pl.predicted_vs_observed(adata, models=...)."
        )
    return meta


def _panel_targets(adata: AnnData, meta: dict, celltype, baselines: bool) -> list[str]:
    if celltype is not None:
        return resolve_targets(adata, celltype)
    names = [t for t in targets_of(meta) if t in adata.var_names or t == K.OPEN]
    if not names and baselines:
        fitted = adata.uns.get(K.UNS, {}).get(K.UNS_BASELINES, {})
        names = [m["target"] for m in fitted.values() if m["target"] in adata.var_names or m["target"] == K.OPEN]
    if not names:
        raise ValueError(
            f"nothing to plot: no labelled prediction in obsm[{K.PRED!r}] and no fitted baseline; run "
            f"{FIX[K.PRED]} (or chromseq.tl.evaluate(adata) for baselines), or pass celltype=."
        )
    return list(dict.fromkeys(names))


def _split_mask(adata: AnnData, split: str | None) -> np.ndarray:
    if split is None:
        return np.ones(adata.n_obs, dtype=bool)
    if K.SPLIT not in adata.obs.columns:
        raise KeyError(f"adata.obs[{K.SPLIT!r}] is missing: run {FIX[K.SPLIT]} first, or pass split=None.")
    mask = adata.obs[K.SPLIT].to_numpy() == split
    if not mask.any():
        found = list(adata.obs[K.SPLIT].unique())
        raise ValueError(f"no region in split {split!r}; obs[{K.SPLIT!r}] has {found}.")
    return mask


def _draw(panel: Axes, curve: str, y: np.ndarray, scores: np.ndarray, source: ScoreSource, style: StylePicker) -> None:
    from sklearn.metrics import precision_recall_curve, roc_curve

    y, s, _ = clean(y, scores)
    metrics = binary_metrics(y, s)
    if np.isnan(metrics["auroc"]):
        return  # one class (or nothing scored): no curve, evaluate logs why
    label = series_label(source.model, source.target)
    if curve == "roc":
        x, v, _ = roc_curve(y, s)
        text = f"{label} ({metrics['auroc']:.3f})"
    else:
        v, x, _ = precision_recall_curve(y, s)
        text = f"{label} ({metrics['auprc']:.3f})"
    lw = 1.2 if source.kind == BASELINE_KIND else 1.8
    drawstyle = "steps-post" if curve == "pr" else "default"
    panel.plot(x, v, label=text, lw=lw, drawstyle=drawstyle, **style(label, source.kind, source.model))


def _decorate(panel: Axes, curve: str, y_all: np.ndarray, target: str, split: str | None) -> None:
    y = y_all[~np.isnan(y_all)]
    title = f"{target} ({split or 'all'}; {int(y.sum())}+ / {int((y == 0).sum())}-)"
    if curve == "roc":
        panel.plot([0, 1], [0, 1], color="0.8", lw=0.8, zorder=0)
        panel.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    else:
        if y.size:
            panel.axhline(y.mean(), color="0.8", lw=0.8, zorder=0)
        panel.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01))
    panel.set_title(title, fontsize="medium")
    if panel.get_legend_handles_labels()[0]:
        # below the panel, never over the curves (weak models run along the diagonal, right where
        # an inner lower-right legend would sit)
        panel.legend(
            title="AUROC" if curve == "roc" else "AUPRC",
            fontsize="small",
            title_fontsize="small",
            loc="upper center",
            bbox_to_anchor=(0.5, -0.2),
            frameon=False,
        )
