"""Plots of :func:`chromseq.tl.design`: score trajectories per step, and a designed sequence's logo."""

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

_CHANGED = "#ffbf00"


def _require_design(ddata: AnnData) -> dict:
    info = ddata.uns.get(K.UNS, {}).get(K.UNS_DESIGN)
    missing = [k for k in (K.DESIGN_TRAJECTORY, K.DESIGN_START_SEQUENCE) if k not in ddata.obsm]
    if info is None or missing:
        raise KeyError(
            f"this AnnData is not a design result (no uns['chromseq'][{K.UNS_DESIGN!r}] or obsm {missing}): "
            "pass the AnnData returned by chromseq.tl.design."
        )
    return info


@fill_docs(show_save=SHOW_SAVE)
def design(
    ddata: AnnData,
    *,
    celltype: str | Sequence[str] | None = None,
    sequences: Sequence[str] | Sequence[int] | None = None,
    individual: bool = False,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes:
    """Plot the predictions of designed sequences at each step: the target cell type and the others.

    One line per model output: the mean over the sequences, with a band from the lowest to the
    highest; the target (the cell type designed for) is drawn thicker.

    Parameters
    ----------
    ddata
        The AnnData returned by :func:`chromseq.tl.design`.
    celltype
        Output(s) to draw; ``None``: all.
    sequences
        Designs to include (obs names or row positions); ``None``: all.
    individual
        Also draw each sequence's own trajectory, thin.
    ax
        Axes to draw in; ``None`` makes a figure.
    {show_save}

    Returns
    -------
    The Axes.

    Examples
    --------
    >>> designs = cs.tl.design(adata, "K562", start=20, objective="specific")  # doctest: +SKIP
    >>> cs.pl.design(designs)  # doctest: +SKIP
    """
    info = _require_design(ddata)
    outputs = list(ddata.var_names)
    wanted = outputs if celltype is None else [celltype] if isinstance(celltype, str) else list(celltype)
    unknown = [c for c in wanted if c not in outputs]
    if unknown:
        raise KeyError(f"output(s) {unknown} not in the design; it has {outputs}.")
    rows = np.arange(ddata.n_obs) if sequences is None else _rows(ddata, sequences)
    traj = np.asarray(ddata.obsm[K.DESIGN_TRAJECTORY])[rows]
    fig, axes, created = panels(1, ax=ax, size=(6.0, 3.6))
    a, steps = axes[0], np.arange(traj.shape[1])
    for j, output in enumerate(outputs):
        if output not in wanted:
            continue
        target = output == info["celltype"]
        values = traj[:, :, j]
        (line,) = a.plot(
            steps, values.mean(0), lw=2.6 if target else 1.4, label=output + (" (target)" if target else "")
        )
        a.fill_between(steps, values.min(0), values.max(0), color=line.get_color(), alpha=0.15, lw=0)
        if individual:
            a.plot(steps, values.T, color=line.get_color(), lw=0.5, alpha=0.5)
    a.set_xlabel("step" if info["method"] == "evolve" else "start (0) / motif implanted (1)")
    a.set_ylabel("predicted " + str(info.get("scores") or "probability"))
    a.set_title(f"{info['method']}: {info['objective_text']}  ({len(rows)} sequences)", fontsize=10)
    a.legend(fontsize=8, frameon=False)
    return finish(fig, axes, created=created, show=show, save=save)


@fill_docs(show_save=SHOW_SAVE)
def design_logo(
    ddata: AnnData,
    sequence: str | int,
    celltype: str | Sequence[str] | None = None,
    *,
    window: tuple[int, int] | int | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | list[Axes]:
    """Plot a designed sequence's contributions as a logo (see :func:`chromseq.pl.contributions`), changed bases shaded.

    Parameters
    ----------
    ddata
        The AnnData returned by :func:`chromseq.tl.design`, with contributions of this sequence
        computed by :func:`chromseq.tl.contributions`.
    sequence
        An obs name (``'design_0'``) or a row position.
    celltype
        Name(s) the contributions are stored under; ``None``: every one computed for it.
    window
        Part to draw: ``(start, end)`` in bp, or a width centred on the sequence; ``None``: all.
    ax
        One Axes per track; ``None`` makes a figure.
    {show_save}

    Returns
    -------
    The Axes (one track) or the list of Axes.

    Examples
    --------
    >>> cs.tl.contributions(designs, "K562", model="finetuned")  # doctest: +SKIP
    >>> cs.pl.design_logo(designs, "design_0", "K562")  # doctest: +SKIP
    """
    from chromseq.pl._contributions import _row, _window
    from chromseq.pl._contributions import contributions as logo

    _require_design(ddata)
    row = _row(ddata, sequence)
    start, end = _window(window, ddata.obsm[K.SEQUENCE].shape[1])
    drawn = logo(ddata, row, celltype, window=(start, end), seqlets=False, ax=ax, show=False)
    axes = drawn if isinstance(drawn, list) else [drawn]
    changed = np.flatnonzero(
        np.asarray(ddata.obsm[K.SEQUENCE][row]) != np.asarray(ddata.obsm[K.DESIGN_START_SEQUENCE][row])
    )
    shown = changed[(changed >= start) & (changed < end)]
    for a in axes:
        for pos in shown:
            a.axvspan(pos - start - 0.5, pos - start + 0.5, color=_CHANGED, alpha=0.35, lw=0, zorder=0)
    axes[0].set_title(
        f"{ddata.obs_names[row]}: {len(changed)} base(s) changed from {ddata.obs[K.DESIGN_SOURCE].iloc[row]} (shaded)"
    )
    return finish(axes[0].figure, axes, created=ax is None, show=show, save=save)


def _rows(ddata: AnnData, sequences: Sequence[str] | Sequence[int]) -> np.ndarray:
    items = list(sequences)
    if all(isinstance(s, int | np.integer) for s in items):
        return np.asarray(items, dtype=np.int64)
    missing = [s for s in items if s not in ddata.obs_names]
    if missing:
        raise KeyError(f"sequence(s) {missing[:5]} are not obs names of the design (e.g. {ddata.obs_names[0]!r}).")
    return ddata.obs_names.get_indexer(items)
