"""``pl.motifs``: discovered TF-MoDISco patterns (CWM logos) beside their best JASPAR match."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from chromseq import _keys as K
from chromseq._docs import SHOW_SAVE, fill_docs
from chromseq.pl._utils import finish, panels
from chromseq.store import MATCH_QVAL, information_content, motif_results

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes


@fill_docs(show_save=SHOW_SAVE)
def motifs(
    adata: AnnData,
    celltype: str,
    patterns: Sequence[str] | int | None = None,
    *,
    trim: bool = True,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | list[Axes]:
    """Plot each discovered pattern's contribution-weight matrix beside the logo of its best database match.

    One row per pattern: on the left the CWM logo (units of the contributions: logit, or a
    regression model's value or log-rate; trimmed to the span matched by
    TOMTOM), titled with the pattern name, its sign and seqlet count; on the right the
    information-content logo of the best match (reverse-complemented when it matched on the
    minus strand), titled with its id, name and TOMTOM q-value, and marked "no better than
    composition" when the match does not beat the pattern's composition control (see
    :func:`chromseq.tl.motifs`). Logos are drawn with
    :func:`tangermeme.plot.plot_logo`.

    Parameters
    ----------
    adata
        AnnData with ``uns['chromseq']['motifs'][celltype]`` (from :func:`chromseq.tl.motifs`).
    celltype
        Name the motifs are stored under.
    patterns
        Pattern names (e.g. ``['pos_0', 'neg_1']``), or the number of patterns with the most
        seqlets; ``None``: all.
    trim
        Draw the CWM trimmed to the span used for matching (else the full pattern).
    ax
        Two Axes per pattern (CWM, match), row by row; ``None`` makes a figure.
    {show_save}

    Returns
    -------
    The list of Axes (CWM and match of the first pattern, then of the next, ...).

    Examples
    --------
    >>> import chromseq as cs
    >>> cs.pl.motifs(adata, "K562", patterns=5)  # doctest: +SKIP
    """
    result = _result(adata, celltype)
    table = result[K.MOTIF_PATTERNS]
    names = _select(table, patterns, celltype)
    fig, axes, created = panels(2 * len(names), ax=ax, ncols=2, size=(4.2, 1.9))
    for i, name in enumerate(names):
        _draw_pattern(axes[2 * i], name, table.loc[name], result[K.MOTIF_CWM][name], trim)
        _draw_match(axes[2 * i + 1], table.loc[name], result.get(K.MOTIF_MATCH_PPM, {}).get(name))
    if created and len(names) < len(table):  # say that patterns were left out, and which
        fig.suptitle(f"{celltype}: {len(names)} of {len(table)} patterns shown", fontsize=10)
    return finish(fig, axes, created=created, show=show, save=save)


def _result(adata: AnnData, celltype: str) -> dict:
    stored = motif_results(adata)
    if celltype not in stored:
        raise KeyError(
            f"adata.uns['chromseq']['motifs'] has no {celltype!r} (has {sorted(stored)}): run "
            f"chromseq.tl.motifs(adata, {celltype!r}) first."
        )
    return stored[celltype]


def _select(table, patterns: Sequence[str] | int | None, celltype: str) -> list[str]:
    if len(table) == 0:
        raise ValueError(f"TF-MoDISco found no pattern for {celltype!r}: nothing to plot.")
    if patterns is None:
        return list(table.index)
    if isinstance(patterns, int | np.integer):
        if patterns < 1:
            raise ValueError(f"patterns={patterns} must be at least 1.")
        return list(table.sort_values("n_seqlets", ascending=False, kind="stable").index[: int(patterns)])
    names = [patterns] if isinstance(patterns, str) else list(patterns)
    unknown = [p for p in names if p not in table.index]
    if unknown or not names:
        raise KeyError(f"unknown pattern(s) {unknown}; {celltype!r} has {list(table.index)}.")
    return names


def _draw_pattern(ax: Axes, name: str, row, cwm: np.ndarray, trim: bool) -> None:
    from tangermeme.plot import plot_logo

    cwm = np.asarray(cwm, dtype=np.float32)
    if trim:
        cwm = cwm[:, int(row["trim_start"]) : int(row["trim_end"])]
    plot_logo(cwm, ax=ax)
    ax.set_title(f"{name} ({row['sign']}, {int(row['n_seqlets'])} seqlets)", fontsize=9)
    ax.set_ylabel("CWM", fontsize=8)


def _draw_match(ax: Axes, row, ppm: np.ndarray | None) -> None:
    from tangermeme.plot import plot_logo

    if ppm is None:
        ax.text(0.5, 0.5, "no database match", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    ppm = np.asarray(ppm, dtype=np.float64)
    plot_logo(ppm * information_content(ppm), ax=ax)
    ax.set_ylim(0, 2)
    ax.set_ylabel("bits", fontsize=8)
    title = f"{row['match_id']} {row['match_name']}  q={float(row['match_qval']):.1e}"
    if float(row["match_qval"]) > MATCH_QVAL:  # the best of a database that matches no better than chance
        title += f"\n(not significant: q > {MATCH_QVAL:g})"
    elif not row.get("match_beyond_composition", True):  # no better than the pattern's composition control
        title += "\n(no better than composition)"
    ax.set_title(title, fontsize=9)
