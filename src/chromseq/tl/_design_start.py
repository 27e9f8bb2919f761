"""Start sequences of :func:`chromseq.tl.design`: regions of an AnnData, or random sequences of a GC fraction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from chromseq import _keys as K
from chromseq._codes import gc_fraction
from chromseq._validate import sequence_codes

if TYPE_CHECKING:
    from anndata import AnnData

#: Most regions read to estimate the GC fraction of the training data.
_GC_SAMPLE = 20_000


def training_gc(adata: AnnData) -> float:
    """Mean GC fraction of ``adata``'s training regions (all regions without ``obs['split']``).

    Read from ``obs['gc']`` when present, else from ``obsm['sequence']`` (at most 20,000 rows).

    Raises
    ------
    ValueError
        If ``adata`` has neither, or no region to average over.
    """
    rows = np.arange(adata.n_obs)
    if K.SPLIT in adata.obs and (adata.obs[K.SPLIT] == "train").any():
        rows = np.flatnonzero((adata.obs[K.SPLIT] == "train").to_numpy())
    if K.GC in adata.obs:
        values = adata.obs[K.GC].to_numpy(np.float64)[rows]
    elif K.SEQUENCE in adata.obsm and len(rows):
        pick = rows[np.linspace(0, len(rows) - 1, min(len(rows), _GC_SAMPLE)).astype(np.int64)]
        values = gc_fraction(sequence_codes(adata, np.unique(pick))).astype(np.float64)
    else:
        values = np.array([])
    values = values[np.isfinite(values)]
    if not len(values):
        raise ValueError(
            "random starts are GC-matched to adata's regions, but adata has no obs['gc'] nor obsm['sequence']: "
            "pass gc=<fraction> (e.g. gc=0.42), or start=<an AnnData of regions>."
        )
    return float(values.mean())


def random_start(n: int, width: int, gc: float, seed: int) -> tuple[np.ndarray, list[str]]:
    """``n`` random sequences ``(n, width)`` uint8 (each base G/C with probability ``gc``) and their names.

    Raises
    ------
    ValueError
        If ``n < 1`` or ``gc`` is not in [0, 1].
    """
    if n < 1:
        raise ValueError(f"start={n}: ask for at least one random sequence, or pass an AnnData of regions.")
    if not 0.0 <= gc <= 1.0:
        raise ValueError(f"gc={gc} must be a GC fraction in [0, 1].")
    rng = np.random.default_rng(seed)
    strong = rng.random((n, width)) < gc
    flip = rng.random((n, width)) < 0.5
    codes = np.where(strong, np.where(flip, 2, 1), np.where(flip, 3, 0)).astype(np.uint8)  # G/C or T/A
    return codes, [f"random_{i}" for i in range(n)]


def check_start(start: object, width: int) -> tuple[np.ndarray, list[str]]:
    """Codes ``(n, width)`` and obs names of a start AnnData, checked before any work.

    Raises
    ------
    TypeError
        If ``start`` is neither an AnnData nor an int.
    ValueError
        If it has no regions, another width than the model's, or N bases.
    """
    from anndata import AnnData

    if not isinstance(start, AnnData):
        raise TypeError(f"start must be an AnnData of regions or a number of random sequences, got {type(start)}.")
    if start.n_obs == 0:
        raise ValueError("start has no regions (n_obs == 0): pass regions to start from, or a number.")
    codes = np.asarray(sequence_codes(start))
    if codes.shape[1] != width:
        raise ValueError(
            f"start sequences are {codes.shape[1]} bp wide but the model takes {width} bp: read the start regions "
            f"with width={width} (chromseq.pp.read_regions(..., width={width}) and chromseq.pp.add_sequences), "
            "or start from random sequences (start=<number>)."
        )
    has_n = (codes == 4).any(axis=1)
    if has_n.any():
        names = list(start.obs_names[has_n][:5])
        raise ValueError(
            f"{int(has_n.sum())} start sequence(s) hold N bases ({names}{' ...' if has_n.sum() > 5 else ''}): "
            "a design changes A/C/G/T only; drop them first, e.g. start[~(start.obsm['sequence'] == 4).any(axis=1)]."
        )
    return codes.copy(), [str(s) for s in start.obs_names]
