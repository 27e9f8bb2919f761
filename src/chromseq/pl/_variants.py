"""Plots of :func:`chromseq.tl.score_variants`: ref/alt contribution logos of one variant, and the strongest variants."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from chromseq import _keys as K
from chromseq._docs import SHOW_SAVE, fill_docs
from chromseq.pl._utils import finish, panels

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes

_UP, _DOWN = "#d62728", "#1f77b4"


@fill_docs(show_save=SHOW_SAVE)
def variant_effect(
    vdata: AnnData,
    variant: str | int,
    celltype: str,
    *,
    window: int = 40,
    ax: Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> list[Axes]:
    """Plot the contributions of a variant's reference and alternative windows, one logo above the other.

    The letters are the observed bases' contributions (one y scale for both; in the units of the model's
    raw output: logit, or a regression model's value or log-rate); the variant's bases are shaded, and
    the title gives ``delta`` (``logit(alt) - logit(ref)`` and both probabilities for a classification
    model; ``alt - ref`` and both predicted values, in the target's units, for a regression model).

    Parameters
    ----------
    vdata
        Variant AnnData of :func:`chromseq.tl.score_variants` with ``contributions=True``.
    variant
        An obs name (``'20:421808:A>ACCA'``) or an integer row position.
    celltype
        Output (a ``var_name`` of ``vdata``) whose contributions to draw.
    window
        Width (bp) drawn around the variant's first REF base.
    ax
        Two Axes (ref, alt) to draw in; ``None`` makes a figure.
    {show_save}

    Returns
    -------
    The two Axes, reference then alternative.

    Examples
    --------
    >>> vdata = cs.tl.score_variants(adata, "my.vcf.gz", celltype="K562", contributions=True)  # doctest: +SKIP
    >>> cs.pl.variant_effect(vdata, 0, "K562")  # doctest: +SKIP
    """
    from tangermeme.plot import plot_logo

    _require_variants(vdata)
    row, name = _row(vdata, variant)
    if celltype not in vdata.var_names:
        raise KeyError(f"unknown output {celltype!r}; vdata.var_names are {list(vdata.var_names)}.")
    keys = [K.variant_contrib_key(a, celltype) for a in ("ref", "alt")] + [K.SEQUENCE_REF, K.SEQUENCE_ALT]
    missing = [k for k in keys if k not in vdata.obsm]
    if missing:
        raise KeyError(
            f"vdata.obsm lacks {missing}: score the variants with chromseq.tl.score_variants(..., contributions=True)."
        )
    if not bool(vdata.obs[K.VARIANT_SCORED].iloc[row]):
        raise ValueError(f"variant {name!r} was not scored (flag {vdata.obs[K.VARIANT_FLAG].iloc[row]!r}).")
    width = vdata.obsm[K.SEQUENCE_REF].shape[1]
    off = width // 2
    start, end = max(0, off - window // 2), min(width, off - window // 2 + window)
    tracks = []
    for allele in ("ref", "alt"):
        codes = np.asarray(vdata.obsm[K.SEQUENCE_REF if allele == "ref" else K.SEQUENCE_ALT][row])
        hyp = np.asarray(vdata.obsm[K.variant_contrib_key(allele, celltype)][row], dtype=np.float32)
        tracks.append(np.nan_to_num(hyp * np.eye(5, 4, dtype=np.float32)[codes].T)[:, start:end])
    top = max(float(np.abs(t).max()) for t in tracks) or 1.0
    fig, axes, created = panels(2, ax=ax, ncols=1, size=(min(max((end - start) / 8, 6.0), 16.0), 2.0))
    obs = vdata.obs.iloc[row]
    for a, track, allele in zip(axes, tracks, ("ref", "alt"), strict=True):
        plot_logo(track, ax=a, ylim=(-top, top), show_score=False)
        n_bases = len(obs["ref"] if allele == "ref" else obs["alt"])
        a.axvspan(off - start - 0.5, min(off - start + n_bases, end - start) - 0.5, color="#ffd54f", alpha=0.35, lw=0)
        a.set_ylabel(f"{allele}\n{obs['ref'] if allele == 'ref' else obs['alt']}"[:14], fontsize=9)
        a.set_xticks(a.get_xticks())
        a.set_xticklabels([f"{round(x) + start - off}" for x in a.get_xticks()])
        a.set_xlim(-0.5, end - start - 0.5)
    j = vdata.var_names.get_loc(celltype)
    delta, p_ref, p_alt = (float(vdata.layers[k][row, j]) for k in (K.VARIANT_DELTA, K.VARIANT_REF, K.VARIANT_ALT))
    units = _delta_units(vdata, celltype)
    if units == "logit":
        effect = f"delta {delta:+.3f} logit (p {p_ref:.3f} -> {p_alt:.3f})"
    else:
        effect = f"delta {delta:+.3g} {units} ({p_ref:.3g} -> {p_alt:.3g})"
    axes[0].set_title(f"{name}  {celltype}: {effect}", fontsize=10)
    axes[-1].set_xlabel("bp from the variant's first REF base")
    return finish(fig, axes, created=created, show=show, save=save)


@fill_docs(show_save=SHOW_SAVE)
def variant_ranking(
    vdata: AnnData,
    celltype: str | Sequence[str] | None = None,
    *,
    n: int = 10,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | list[Axes]:
    """Bar plot of the variants with the strongest effect (largest ``|delta|``), one panel per output.

    ``delta`` is in logit units for a classification model and in the target's units (``alt - ref``)
    for a regression model; each panel's axis says which.

    Parameters
    ----------
    vdata
        Variant AnnData of :func:`chromseq.tl.score_variants`.
    celltype
        Output(s) (``var_names``) to rank for; ``None``: all.
    n
        Variants shown per panel.
    ax
        One Axes per output; ``None`` makes a figure.
    {show_save}

    Returns
    -------
    The Axes (one output) or the list of Axes.

    Examples
    --------
    >>> vdata = cs.tl.score_variants(adata, "my.vcf.gz", celltype=["K562", "HepG2"])  # doctest: +SKIP
    >>> cs.pl.variant_ranking(vdata, n=15)  # doctest: +SKIP
    """
    _require_variants(vdata)
    names = list(vdata.var_names) if celltype is None else ([celltype] if isinstance(celltype, str) else list(celltype))
    unknown = [c for c in names if c not in vdata.var_names]
    if unknown:
        raise KeyError(f"unknown output(s) {unknown}; vdata.var_names are {list(vdata.var_names)}.")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")
    fig, axes, created = panels(len(names), ax=ax, ncols=3, size=(4.2, 0.3 * n + 1.2))
    ids = vdata.obs["id"].astype(str) if "id" in vdata.obs else vdata.obs_names.astype(str)
    labels = np.where(ids != "", ids, vdata.obs_names.astype(str))
    for a, ct in zip(axes, names, strict=True):
        delta = np.asarray(vdata[:, ct].layers[K.VARIANT_DELTA]).ravel()
        order = np.argsort(-np.nan_to_num(np.abs(delta), nan=-1.0), kind="stable")[:n]
        order = order[np.isfinite(delta[order])][::-1]
        a.barh(np.arange(len(order)), delta[order], color=np.where(delta[order] > 0, _UP, _DOWN))
        a.set_yticks(np.arange(len(order)), labels[order], fontsize=8)
        a.axvline(0, color="black", lw=0.8)
        a.set_title(ct, fontsize=10)
        a.set_xlabel(f"delta ({_delta_units(vdata, ct)}, alt - ref)")
    return finish(fig, axes, created=created, show=show, save=save)


def _delta_units(vdata: AnnData, output: str) -> str:
    """Return the units of ``delta`` of ``output``.

    ``'logit'`` for classification (and variant files without ``var['task']``), else those of the
    regression predictions (``var['units']``: ``'value'``, ``'rate'``).
    """
    var = vdata.var.loc[output]
    if str(var.get("task", "classification")) != "regression":
        return "logit"
    return str(var.get("units", "value"))


def _require_variants(vdata: AnnData) -> None:
    """Raise a one-line ``KeyError`` unless ``vdata`` holds variant scores (``layers['delta']``)."""
    if K.VARIANT_DELTA not in vdata.layers:
        raise KeyError(
            f"vdata has no layers[{K.VARIANT_DELTA!r}]: it is not a variant AnnData. Pass the result of "
            "chromseq.tl.score_variants(adata, 'variants.vcf.gz', ...) (or chromseq variants -o v.h5ad)."
        )


def _row(vdata: AnnData, variant: str | int) -> tuple[int, str]:
    if isinstance(variant, int | np.integer):
        if not -vdata.n_obs <= variant < vdata.n_obs:
            raise IndexError(f"variant={variant} is out of range for {vdata.n_obs} variants.")
        row = int(variant) % vdata.n_obs
    else:
        if variant not in vdata.obs_names:
            raise KeyError(f"no variant named {variant!r} (obs names look like {vdata.obs_names[0]!r}).")
        row = int(vdata.obs_names.get_loc(variant))
    return row, str(vdata.obs_names[row])
