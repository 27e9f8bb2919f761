"""``pl.contributions``: sequence logo of a region's contribution scores, one track per cell type."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._docs import SHOW_SAVE, fill_docs
from chromseq._validate import sequence_codes
from chromseq.pl._utils import finish, panels
from chromseq.store import stored_seqlets

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes


@fill_docs(show_save=SHOW_SAVE)
def contributions(
    adata: AnnData,
    region: str | int,
    celltype: str | Sequence[str] | None = None,
    *,
    window: tuple[int, int] | int | None = None,
    hypothetical: bool = False,
    seqlets: bool = True,
    match_padj: float = 0.01,
    sharey: bool | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | list[Axes]:
    """Plot the contribution scores of one region as sequence logos, one track per cell type, stacked.

    Letters are drawn by :func:`tangermeme.plot.plot_logo` with heights equal to the scores
    (logit units); all tracks share the y axis so that cell types can be compared. Seqlets found
    by :func:`chromseq.tl.motifs` are marked under the letters with the name of their best
    database motif.

    Parameters
    ----------
    adata
        AnnData with ``obsm['sequence']`` and contributions stored by
        :func:`chromseq.tl.contributions` (read with :func:`chromseq.tl.get_contributions`).
    region
        An obs name (``'chr20:100-700'``) or an integer row position.
    celltype
        Name(s) the contributions are stored under; ``None``: every one computed for this region.
    window
        Part of the window to draw: ``(start, end)`` in bp from the window start (0-based,
        half-open), or a width centred on the window; ``None``: all of it.
    hypothetical
        Draw the hypothetical contributions of all four bases instead of the observed base's.
    seqlets
        Mark the seqlets of ``uns['chromseq']['motifs'][<celltype>]['seqlets']`` in this region.
    match_padj
        Seqlets whose best TOMTOM match has a larger adjusted p-value (Bonferroni over the
        database) are labelled ``'?'``.
    sharey
        One y scale for all tracks; ``None``: when all were computed with the same method.
    ax
        One Axes per cell type to draw in; ``None`` makes a figure.
    {show_save}

    Returns
    -------
    The Axes (one cell type) or the list of Axes, top to bottom.

    Examples
    --------
    >>> import chromseq as cs
    >>> cs.pl.contributions(adata, adata.obs_names[0], ["K562", "HepG2"], window=200)  # doctest: +SKIP
    """
    from matplotlib.ticker import FuncFormatter
    from tangermeme.plot import plot_logo

    row = _row(adata, region)
    stored = _scores(adata, row, celltype)
    names = list(stored)
    codes = sequence_codes(adata, np.array([row]))[0]
    start, end = _window(window, codes.shape[0])
    onehot = np.eye(5, 4, dtype=np.float32)[codes].T
    tracks = {}
    for ct, scores in stored.items():
        tracks[ct] = (scores if hypothetical else scores * onehot)[:, start:end]
    ylims = _ylims(adata, tracks, sharey)
    width = end - start
    fig, axes, created = panels(len(names), ax=ax, ncols=1, size=(min(max(width / 40, 6.0), 20.0), 2.2))
    for a, ct in zip(axes, names, strict=True):
        annot = _seqlet_annotations(adata, ct, adata.obs_names[row], start, end, match_padj) if seqlets else None
        plot_logo(tracks[ct], ax=a, annotations=annot, ylim=ylims[ct], show_score=False)
        a.set_ylabel(f"{ct}\ncontribution", fontsize=9)
        a.xaxis.set_major_formatter(FuncFormatter(lambda x, _, s=start: f"{round(x) + s}"))
    axes[0].set_title(f"{adata.obs_names[row]}  ({'hypothetical' if hypothetical else 'observed bases'})")
    axes[-1].set_xlabel("position in window (bp)")
    return finish(fig, axes, created=created, show=show, save=save)


def _ylims(adata: AnnData, tracks: dict[str, np.ndarray], sharey: bool | None) -> dict[str, tuple[float, float]]:
    """Symmetric y limits per track; shared when ``sharey`` (``None``: when every track used the same method)."""
    top = {ct: float(np.abs(t).max()) or 1.0 for ct, t in tracks.items()}
    if sharey is None:
        params = adata.uns.get(K.UNS, {}).get(K.UNS_CONTRIB, {})
        sharey = len({str(params.get(ct, {}).get("method")) for ct in tracks}) == 1
    if sharey:
        top = dict.fromkeys(top, max(top.values()))
    return {ct: (-v, v) for ct, v in top.items()}


def _row(adata: AnnData, region: str | int) -> int:
    if isinstance(region, int | np.integer):
        if not -adata.n_obs <= region < adata.n_obs:
            raise IndexError(f"region={region} is out of range for {adata.n_obs} regions.")
        return int(region) % adata.n_obs
    if region not in adata.obs_names:
        raise KeyError(f"region {region!r} is not an obs name (e.g. {adata.obs_names[0]!r}).")
    return int(adata.obs_names.get_loc(region))


def _scores(adata: AnnData, row: int, celltype: str | Sequence[str] | None) -> dict[str, np.ndarray]:
    """Return name -> float32 (4, L) scores of region ``row`` for ``celltype`` (``None``: every name computed for it)."""
    from chromseq.store import get_contributions, stored_contributions

    region = adata.obs_names[row]
    stored = stored_contributions(adata)
    if celltype is None:
        found = {}
        for ct in stored:
            scores, names = get_contributions(adata, ct)
            if region in names:
                found[ct] = scores[names.get_loc(region)]
        if not found:
            raise KeyError(
                f"region {region!r} has no contribution scores (stored: {stored}): run "
                "chromseq.tl.contributions(adata, celltype=...) on it first."
            )
        return found
    out = {}
    for ct in [celltype] if isinstance(celltype, str) else list(celltype):
        if ct not in stored:
            raise KeyError(
                f"no contributions stored for {ct!r} (stored: {stored}): run "
                f"chromseq.tl.contributions(adata, celltype={ct!r}) first."
            )
        try:
            out[ct] = get_contributions(adata, ct, regions=[region])[0][0]
        except KeyError:
            raise ValueError(
                f"contributions for {ct!r} were not computed for region {region!r}: run "
                f"chromseq.tl.contributions on a selection that includes it."
            ) from None
    return out


def _window(window: tuple[int, int] | int | None, width: int) -> tuple[int, int]:
    if window is None:
        return 0, width
    if isinstance(window, int | np.integer):
        if not 0 < window <= width:
            raise ValueError(f"window={window} must be a width in 1..{width} bp.")
        start = (width - int(window)) // 2
        return start, start + int(window)
    start, end = (int(w) for w in window)
    if not 0 <= start < end <= width:
        raise ValueError(f"window={window} must be (start, end) with 0 <= start < end <= {width}.")
    return start, end


def _seqlet_annotations(adata, celltype, region, start, end, match_padj) -> pd.DataFrame | None:
    """Seqlets of ``region`` inside [start, end) as tangermeme annotations (label first; positions from ``start``)."""
    table = stored_seqlets(adata, celltype)
    if table is None:
        return None
    table = table[(table["region"] == region) & (table["start"] > start) & (table["end"] < end)]
    if table.empty:
        return None
    label = np.where(table["motif_padj"].to_numpy() <= match_padj, table["motif_name"].astype(str).to_numpy(), "?")
    return pd.DataFrame(
        {
            "motif_name": label,
            "start": table["start"].to_numpy() - start,
            "end": table["end"].to_numpy() - start,
            "strand": table["sign"].to_numpy(),
            "score": -np.log10(table["pval"].to_numpy() + 1e-300),
        }
    )
