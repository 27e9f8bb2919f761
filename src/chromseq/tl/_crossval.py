"""Cross-validation folds of contiguous chromosome segments (whole chromosomes, or blocks of one).

A region belongs to the unit (chromosome, or ``block_size`` block of a chromosome) holding its
centre. Units are dealt to folds in a seeded order, each to the fold with the fewest regions so far,
so folds are balanced and no unit is split between folds. For each fold, validation units (for early
stopping) are carved from the other folds' units; the fold's own units are only scored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._regions import regions

if TYPE_CHECKING:
    from anndata import AnnData

TRAIN, VAL, TEST = K.SPLITS


def fold_units(adata: AnnData, n_folds: int, block_size: int = 1_000_000) -> tuple[np.ndarray, str]:
    """Return the unit of every region and its kind.

    Parameters
    ----------
    adata
        Regions with ``obs['chrom']``, ``obs['start']``, ``obs['end']``.
    n_folds
        Number of folds; whole chromosomes are the units when there are at least this many.
    block_size
        Block length (bp) when the units are blocks.

    Returns
    -------
    ``(n_obs,)`` str unit labels (``'chr20'`` or ``'chr20:12'``, the 13th block) and ``'chromosome'``
    or ``'block'``.
    """
    chrom, start, end, _ = regions(adata)
    chrom = np.asarray(chrom).astype(str)
    if len(np.unique(chrom)) >= n_folds:
        return chrom, "chromosome"
    if not isinstance(block_size, int | np.integer) or block_size <= 0:
        raise ValueError(f"block_size must be a positive int (bp), got {block_size!r}.")
    block = ((np.asarray(start) + np.asarray(end)) // 2) // block_size
    return np.char.add(np.char.add(chrom, ":"), block.astype(str)), "block"


def assign_folds(units: np.ndarray, n_folds: int, random_state: int = 0) -> np.ndarray:
    """Deal units to ``n_folds`` folds (seeded order, each to the fold with the fewest regions).

    Parameters
    ----------
    units
        ``(n,)`` unit label of every region (:func:`fold_units`).
    n_folds
        Number of folds, >= 2 and at most the number of units.
    random_state
        Seed of the dealing order.

    Returns
    -------
    ``(n,)`` int fold of every region, in ``0 .. n_folds - 1``; all regions of a unit share a fold.
    """
    names, inverse, counts = np.unique(units, return_inverse=True, return_counts=True)
    if not isinstance(n_folds, int | np.integer) or n_folds < 2:
        raise ValueError(f"cv must be an int >= 2 (folds), got {n_folds!r}.")
    if n_folds > len(names):
        raise ValueError(
            f"cv={n_folds} folds need at least as many chromosome units; the data has {len(names)} "
            "(use fewer folds or a smaller block_size)."
        )
    order = np.random.default_rng(random_state).permutation(len(names))
    size = np.zeros(n_folds, dtype=np.int64)
    fold_of = np.empty(len(names), dtype=np.int64)
    for u in order:
        f = int(np.argmin(size))
        fold_of[u] = f
        size[f] += counts[u]
    return fold_of[inverse]


def fold_split(
    units: np.ndarray, folds: np.ndarray, fold: int, val_fraction: float = 0.1, random_state: int = 0
) -> pd.Categorical:
    """``obs['split']`` for one fold: the fold's regions ``'test'``, validation units from the rest.

    Parameters
    ----------
    units, folds
        Unit and fold of every region (:func:`fold_units`, :func:`assign_folds`).
    fold
        The fold scored (``'test'``).
    val_fraction
        Fraction of the other folds' regions held out for validation (whole units, seeded).
    random_state
        Seed of the choice of validation units (combined with ``fold``).

    Returns
    -------
    Categorical ``'train'``/``'val'``/``'test'`` of every region.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}.")
    test = folds == fold
    rest_units, counts = np.unique(units[~test], return_counts=True)
    rng = np.random.default_rng([random_state, fold])
    order = rng.permutation(len(rest_units))
    n_val = np.searchsorted(np.cumsum(counts[order]), val_fraction * counts.sum()) + 1
    val_units = rest_units[order[: min(n_val, len(rest_units) - 1)]]
    labels = np.where(test, TEST, np.where(np.isin(units, val_units), VAL, TRAIN))
    return pd.Categorical(labels, categories=list(K.SPLITS))
