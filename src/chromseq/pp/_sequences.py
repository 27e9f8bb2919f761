"""``pp.add_sequences``: the DNA of every region as uint8 codes in ``obsm['sequence']``."""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
from anndata import AnnData

from chromseq import _keys as K
from chromseq._anndata import writable
from chromseq._codes import window_stats
from chromseq._regions import chromosomes, record_genome, regions, set_params
from chromseq._settings import logger
from chromseq.genome import Genome, as_genome


def add_sequences(
    adata: AnnData,
    genome: Genome | str | os.PathLike,
    *,
    pad: bool = False,
    max_n: float = 0.1,
    too_many_n: Literal["drop", "error", "keep"] = "drop",
    copy: bool = False,
) -> AnnData | None:
    """Read the DNA sequence of every region from a genome.

    Every region's window ``[start, end)`` (0-based, half-open; one width for all) is cut
    out of whole-chromosome code arrays, vectorised. Chromosome names are matched to the
    genome's (``chr20`` reads ``20``; ``chrM`` reads ``MT``). Nothing is changed when an
    error is raised.

    Parameters
    ----------
    adata
        Regions x cell types, with ``obs['chrom']``, ``obs['start']``, ``obs['end']``
        (from :func:`chromseq.pp.read_regions`).
    genome
        A :class:`chromseq.Genome`, a FASTA path (plain or bgzip) or a genomepy genome name.
        Pass a :class:`~chromseq.Genome` to reuse its chromosomes across calls.
    pad
        Fill the part of a window outside its chromosome with N; with ``False`` such regions
        raise a :class:`ValueError` that names them.
    max_n
        Largest fraction of N bases (0-1) a window may hold.
    too_many_n
        What to do with windows holding more N than ``max_n``: ``'drop'`` the regions (logged
        with their count), raise an ``'error'``, or ``'keep'`` them.
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets the following fields:

    ``adata.obsm['sequence']`` : uint8 ``(n_obs, width)``
        Codes A0 C1 G2 T3 N4 (soft-masked bases read as upper case).
    ``adata.obs['gc']`` : float32
        GC fraction of the non-N bases of each window (NaN if all N).
    ``adata.uns['chromseq']['genome']`` : dict
        Genome name, path, chromosome name map and sizes.
    ``adata.uns['chromseq']['params']['add_sequences']`` : dict
        The parameters.

    Examples
    --------
    >>> import chromseq as cs
    >>> adata = cs.pp.read_regions({"K562": "K562.bed"})  # doctest: +SKIP
    >>> cs.pp.add_sequences(adata, "20.fa.gz")  # doctest: +SKIP
    >>> adata.obsm["sequence"].shape  # doctest: +SKIP
    (3116, 600)
    """
    if too_many_n not in ("drop", "error", "keep"):
        raise ValueError(f"too_many_n must be 'drop', 'error' or 'keep', got {too_many_n!r}.")
    if not 0 <= max_n <= 1:
        raise ValueError(f"max_n is a fraction of the window and must be in [0, 1], got {max_n!r}.")
    chrom, start, end, width = regions(adata)
    genome = as_genome(genome)
    codes = genome.windows(chromosomes(adata, categorical=True), start, end, pad=pad)
    gc, n_frac = window_stats(codes)
    keep = _n_filter(adata, n_frac, max_n, too_many_n)

    adata = writable(adata, copy, "add_sequences")
    if not keep.all():
        adata._inplace_subset_obs(keep)
        codes, gc = codes[keep], gc[keep]
    if K.SEQUENCE in adata.obsm:
        logger.info("add_sequences: replacing obsm[%r]", K.SEQUENCE)
    adata.obsm[K.SEQUENCE] = codes
    adata.obs[K.GC] = gc
    record_genome(adata, genome)
    set_params(
        adata, add_sequences.__name__, {"pad": pad, "max_n": float(max_n), "too_many_n": too_many_n, "width": width}
    )
    logger.info(
        "add_sequences: wrote obsm[%r] (%d x %d uint8), obs[%r], uns[%r][%r] from genome %s",
        K.SEQUENCE, adata.n_obs, width, K.GC, K.UNS, K.UNS_GENOME, genome.name,
    )  # fmt: skip
    return adata if copy else None


def _n_filter(adata: AnnData, n_frac: np.ndarray, max_n: float, action: str) -> np.ndarray:
    """Boolean mask of the regions to keep; raises for ``action='error'``."""
    bad = n_frac > max_n
    if not bad.any() or action == "keep":
        if bad.any():
            logger.warning("add_sequences: keeping %d region(s) with more than %.0f%% N", bad.sum(), 100 * max_n)
        return np.ones(len(n_frac), dtype=bool)
    names = ", ".join(adata.obs_names[bad][:5])
    if action == "error" or bad.all():
        raise ValueError(
            f"{bad.sum()} of {len(bad)} region(s) have more than {100 * max_n:.0f}% N bases (e.g. {names}). "
            "Pass too_many_n='drop' to drop them, too_many_n='keep' to keep them, or a larger max_n."
        )
    logger.warning(
        "add_sequences: dropped %d region(s) with more than %.0f%% N bases (e.g. %s)", bad.sum(), 100 * max_n, names
    )
    return ~bad
