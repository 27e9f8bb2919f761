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
from chromseq.store import motif_result, stored_seqlets

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
    wrap: int | None = None,
    sharey: bool | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | list[Axes]:
    """Plot the contribution scores of one region as sequence logos, one track per cell type, stacked.

    Letters are drawn by :func:`tangermeme.plot.plot_logo` with heights equal to the scores, in
    the units of the model's raw output (logit; a regression model's value, or the log-rate of a
    Poisson model), named on each track's axis; tracks share the y axis (by default when computed
    with the same method and units) so that cell types can be compared. Seqlets found
    by :func:`chromseq.tl.motifs` are marked in a lane under the letters (never over them): a bar
    coloured by the sign of the seqlet's contribution (legend) and the name of its best database
    motif, ``'?'`` where no match is significant. A track without seqlets says why.

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
    wrap
        Draw each track in rows of at most this many bp, one Axes per row (a 600-bp window in rows
        of 200 keeps letters readable); ``None``: one row.
    sharey
        One y scale for all tracks; ``None``: when all were computed with the same method and
        explain outputs in the same units.
    ax
        One Axes per cell type (per row of each cell type with ``wrap``) to draw in; ``None``
        makes a figure.
    {show_save}

    Returns
    -------
    The Axes (one cell type, one row) or the list of Axes, top to bottom.

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
    tracks = {ct: (scores if hypothetical else scores * onehot)[:, start:end] for ct, scores in stored.items()}
    ylims = _ylims(adata, tracks, sharey)
    spans = _rows_of(start, end, wrap)
    longest = max(b - a for a, b in spans)
    size = (min(max(longest / 20, 6.0), 20.0), 2.4 if seqlets else 2.0)
    fig, axes, created = panels(len(names) * len(spans), ax=ax, ncols=1, size=size)
    for i, ct in enumerate(names):
        table, why = _seqlets_of(adata, ct, adata.obs_names[row], start, end) if seqlets else (None, "")
        for j, (a, b) in enumerate(spans):
            axis = axes[i * len(spans) + j]
            plot_logo(tracks[ct][:, a - start : b - start], ax=axis, ylim=ylims[ct], show_score=False)
            axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _, s=a: f"{round(x) + s}"))
            axis.set_ylabel(f"{ct}\ncontribution ({_units(adata, ct)})" if j == 0 else "", fontsize=9)
            if seqlets:
                _draw_seqlets(axis, table, a, b, ylims[ct], match_padj, why=why if j == 0 else "", legend=j == 0)
    axes[0].set_title(f"{adata.obs_names[row]}  ({'hypothetical' if hypothetical else 'observed bases'})")
    axes[-1].set_xlabel("position in window (bp)")
    return finish(fig, axes, created=created, show=show, save=save)


def _units(adata: AnnData, name: str) -> str:
    """Return what the stored contributions of ``name`` explain: ``'logit'`` (also when unrecorded), ``'value'``..."""
    return str(adata.uns.get(K.UNS, {}).get(K.UNS_CONTRIB, {}).get(name, {}).get("target", "logit"))


def _rows_of(start: int, end: int, wrap: int | None) -> list[tuple[int, int]]:
    """``[start, end)`` cut into consecutive spans of at most ``wrap`` bp (one span if ``None``)."""
    if wrap is None:
        return [(start, end)]
    if isinstance(wrap, bool) or not isinstance(wrap, int | np.integer) or wrap < 10:
        raise ValueError(f"wrap={wrap!r} must be None or a row length of at least 10 bp.")
    cuts = list(range(start, end, int(wrap))) + [end]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def _ylims(adata: AnnData, tracks: dict[str, np.ndarray], sharey: bool | None) -> dict[str, tuple[float, float]]:
    """Symmetric y limits per track; shared when ``sharey`` (``None``: when every track used the same method)."""
    top = {ct: float(np.abs(t).max()) or 1.0 for ct, t in tracks.items()}
    if sharey is None:
        params = adata.uns.get(K.UNS, {}).get(K.UNS_CONTRIB, {})
        sharey = len({(str(params.get(ct, {}).get("method")), _units(adata, ct)) for ct in tracks}) == 1
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


#: Colours of the seqlet bars by the sign of their contribution (legend on each track).
SEQLET_COLORS = {"+": "#7b3294", "-": "#8c6d31"}


def _seqlets_of(adata, celltype: str, region: str, start: int, end: int) -> tuple[pd.DataFrame | None, str]:
    """Seqlets of ``region`` inside ``[start, end)`` (positions in the window), or ``None`` and why there are none."""
    table = stored_seqlets(adata, celltype)
    if table is None:
        return None, f"no seqlets: chromseq.tl.motifs(adata, {celltype!r}) has not been run"
    table = table[table["region"] == region]
    if table.empty:
        threshold = (motif_result(adata, celltype) or {}).get(K.UNS_PARAMS, {}).get("seqlet_threshold")
        at = f" at p < {float(threshold):g}" if threshold is not None else ""
        return None, f"no seqlets: no stretch of this region's scores is significant{at}"
    inside = table[(table["start"] >= start) & (table["end"] <= end)]
    if inside.empty:
        return None, f"no seqlets in this window ({len(table)} elsewhere in the region)"
    return inside, ""


def _draw_seqlets(axis, table, a: int, b: int, ylim, match_padj: float, *, why: str, legend: bool) -> None:
    """Draw the seqlets overlapping ``[a, b)`` as bars and names in a lane below the letters."""
    from matplotlib.lines import Line2D

    low, high = ylim
    lane = 0.45 * (high - low)
    axis.set_ylim(low - lane, high)
    axis.set_yticks([t for t in axis.get_yticks() if low <= t <= high])
    axis.axhline(low, color="0.85", lw=0.6)
    if why:
        axis.text(0.01, low - 0.5 * lane, why, transform=axis.get_yaxis_transform(), fontsize=7, color="0.4")
    if table is None:
        return
    table = table[(table["end"] > a) & (table["start"] < b)].sort_values("start")
    bp_per_char = 0.07 * (b - a) / max(axis.figure.get_size_inches()[0] * axis.get_position().width, 1e-3)
    free = [-np.inf, -np.inf]  # the first free position (bp) of each label row
    for s0, s1, sign, name, padj in table[["start", "end", "sign", "motif_name", "motif_padj"]].itertuples(index=False):
        x0, x1 = max(s0, a) - a, min(s1, b) - a
        color = SEQLET_COLORS.get(str(sign), "0.3")
        axis.plot([x0, x1], [low - 0.15 * lane] * 2, color=color, lw=3, solid_capstyle="butt")
        label = str(name) if float(padj) <= match_padj else "?"
        row = next((r for r, f in enumerate(free) if x0 >= f), None)
        if row is None:  # no room beside the neighbours' names: the bar stays, the name is dropped
            continue
        free[row] = x0 + (len(label) + 1) * bp_per_char
        axis.text(x0, low - (0.45 + 0.3 * row) * lane, label, fontsize=7, color=color, va="center", clip_on=True)
    if legend:
        handles = [Line2D([], [], color=c, lw=3, label=f"seqlet, {w} contribution") for c, w in
                   zip(SEQLET_COLORS.values(), ("positive", "negative"), strict=True)]  # fmt: skip
        handles.append(
            Line2D([], [], lw=0, marker="$?$", color="0.3", label=f"no JASPAR match (p_adj > {match_padj:g})")
        )
        axis.legend(handles=handles, fontsize=7, loc="lower left", bbox_to_anchor=(1.0, 0.0), frameon=False)
