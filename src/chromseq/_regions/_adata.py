"""Helpers shared by the ``pp`` functions: input checks, copy/view handling, params and genome records."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from chromseq import _keys as K
from chromseq._settings import logger
from chromseq._validate import require_obs, uns_chromseq
from chromseq.genome import Genome, as_genome


def regions(adata: AnnData) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Return chrom (str), start, end (int64) of ``adata``'s regions and their common width (bp)."""
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData, got {type(adata).__name__}.")
    for key in (K.CHROM, K.START, K.END):
        require_obs(adata, key)
    chrom = chromosomes(adata)
    start = adata.obs[K.START].to_numpy()
    end = adata.obs[K.END].to_numpy()
    if not (np.issubdtype(start.dtype, np.integer) and np.issubdtype(end.dtype, np.integer)):
        raise ValueError(
            f"obs[{K.START!r}] and obs[{K.END!r}] must be integers (bp), got {start.dtype} and {end.dtype}."
        )
    if adata.n_obs == 0:
        raise ValueError("adata has no regions (n_obs == 0).")
    bad = (start < 0) | (start >= end)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"region {adata.obs_names[i]} has start={start[i]}, end={end[i]}: need 0 <= start < end.")
    widths = np.unique(end - start)
    if len(widths) != 1:
        raise ValueError(
            f"regions have different widths {widths[:5].tolist()} bp; the model needs one width. "
            "Resize them with chromseq.pp.read_regions(..., width=600)."
        )
    return chrom, start.astype(np.int64), end.astype(np.int64), int(widths[0])


def chromosomes(adata: AnnData, *, categorical: bool = False) -> np.ndarray | pd.Categorical:
    """``obs['chrom']`` as a str object array, or as a :class:`pandas.Categorical` of str (fast for many regions)."""
    col = adata.obs[K.CHROM]
    cat = col.array if isinstance(col.dtype, pd.CategoricalDtype) else pd.Categorical(col)
    if (cat.codes < 0).any():
        i = int(np.argmax(cat.codes < 0))
        raise ValueError(f"region {adata.obs_names[i]} has no chromosome in obs[{K.CHROM!r}].")
    names = np.asarray(cat.categories.astype(str), dtype=object)
    if categorical:
        return pd.Categorical.from_codes(cat.codes, categories=pd.Index(names))
    return names[cat.codes]


def set_params(adata: AnnData, func: str, params: dict[str, Any]) -> None:
    """Keep ``params`` of ``func`` in ``uns['chromseq']['params'][func]``."""
    uns_chromseq(adata).setdefault(K.UNS_PARAMS, {})[func] = params


def get_params(adata: AnnData, func: str) -> dict[str, Any] | None:
    """Return the params recorded by ``func``, or ``None``."""
    return adata.uns.get(K.UNS, {}).get(K.UNS_PARAMS, {}).get(func)


def genome_of(adata: AnnData, genome: Genome | str | os.PathLike | None) -> Genome:
    """Open ``genome``; ``None`` reopens the genome recorded by ``add_sequences``."""
    if genome is not None:
        return as_genome(genome)
    info = adata.uns.get(K.UNS, {}).get(K.UNS_GENOME)
    if not info:
        raise ValueError(
            f"no genome given and none recorded in adata.uns[{K.UNS!r}][{K.UNS_GENOME!r}]: pass genome=<FASTA path or "
            "genomepy name>, or run chromseq.pp.add_sequences(adata, genome=...) first."
        )
    if info.get("source") == "memory":
        raise ValueError(
            f"the genome recorded in adata.uns[{K.UNS!r}][{K.UNS_GENOME!r}] ({info.get('name')!r}) was built in memory "
            "(Genome.from_arrays) and cannot be reopened: pass it again with genome=."
        )
    source = info.get("path") if info.get("source") == "fasta" else info.get("name")
    return Genome(source)


def check_same_genome(adata: AnnData, genome: Genome, chroms: list[str]) -> None:
    """Raise if ``adata`` holds sequences from a genome whose chromosome sizes differ from ``genome``'s."""
    info = adata.uns.get(K.UNS, {}).get(K.UNS_GENOME)
    if not info or K.SEQUENCE not in adata.obsm:
        return
    recorded = {str(k): int(v) for k, v in dict(info.get("sizes", {})).items()}
    for c in chroms:
        name = genome.resolve(c)
        if name in recorded and recorded[name] != genome.size(name):
            raise ValueError(
                f"obsm[{K.SEQUENCE!r}] was read from genome {info.get('name')!r} where {name} is {recorded[name]:,} bp, "
                f"but {genome.name!r} has {genome.size(name):,} bp: use the same genome, or rerun add_sequences."
            )


def record_genome(adata: AnnData, genome: Genome) -> None:
    """Write ``genome.info`` for the data's chromosomes to ``uns['chromseq']['genome']``."""
    chroms = [str(c) for c in pd.unique(adata.obs[K.CHROM])]
    info = genome.info(chroms)
    uns = uns_chromseq(adata)
    old = uns.get(K.UNS_GENOME)
    if old and (old.get("path"), old.get("name")) != (info["path"], info["name"]):
        logger.warning("replacing uns[%r][%r] (was %s)", K.UNS, K.UNS_GENOME, old.get("name"))
    uns[K.UNS_GENOME] = info
