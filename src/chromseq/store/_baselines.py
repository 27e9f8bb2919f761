"""Composition-baseline scores as stored by ``tl.composition_baseline`` (``obsm['chromseq_baseline']``).

The baseline names and columns are decided here; :mod:`chromseq.tl._baselines` fits and writes
through :func:`write_baselines`, and the evaluation, the plots and the report read through
:func:`baseline_sources`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._codes import gc_fraction
from chromseq._settings import logger
from chromseq._validate import sequence_codes, uns_chromseq
from chromseq.store._targets import ScoreSource

if TYPE_CHECKING:
    from anndata import AnnData

BASELINE_GC = "baseline_gc"
BASELINE_KMER = "baseline_kmer"
BASELINE_RIDGE = "baseline_ridge"
BASELINE_KIND = "baseline"


def gc_scores(adata: AnnData) -> np.ndarray:
    """Return the ``baseline_gc`` score: ``obs['gc']``, or the GC fraction of ``obsm['sequence']`` when it is absent."""
    if K.GC in adata.obs.columns:
        return adata.obs[K.GC].to_numpy(dtype=np.float64)
    return gc_fraction(np.asarray(sequence_codes(adata))).astype(np.float64)


def kmer_column(target: str, layer: str = "") -> str:
    """Column of ``obsm['chromseq_baseline']`` holding the k-mer baseline's probability for ``target`` (of ``layer``)."""
    return f"{BASELINE_KMER}_{layer}_{target}" if layer else f"{BASELINE_KMER}_{target}"


def ridge_column(target: str, layer: str = "") -> str:
    """Column of ``obsm['chromseq_baseline']`` holding the k-mer ridge baseline's value for ``target`` (of ``layer``)."""
    return f"{BASELINE_RIDGE}_{layer}_{target}" if layer else f"{BASELINE_RIDGE}_{target}"


def write_baselines(adata: AnnData, scores: dict, meta: dict) -> None:
    """Write baseline ``scores`` (column -> ``(n_obs,)``) into ``obsm['chromseq_baseline']`` and their ``meta`` to uns."""
    old = adata.obsm.get(K.BASELINE)
    frame = old.copy() if isinstance(old, pd.DataFrame) else pd.DataFrame(index=adata.obs_names)
    for column, values in scores.items():
        frame[column] = values
    adata.obsm[K.BASELINE] = frame
    uns = uns_chromseq(adata)
    uns[K.UNS_BASELINES] = {**uns.get(K.UNS_BASELINES, {}), **meta}
    logger.info("added obsm[%r] columns %s and uns[%r][%r]", K.BASELINE, sorted(scores), K.UNS, K.UNS_BASELINES)


def baseline_sources(adata: AnnData, target: str, layer: str = "") -> list[ScoreSource]:
    """Return the GC baseline and, when fitted, the k-mer baseline of ``target`` (labels in ``layer``, ``''``: X)."""
    return _sources(adata, target, BASELINE_KMER, kmer_column(target, layer), "k-mer")


def regression_baseline_sources(adata: AnnData, target: str, layer: str = "") -> list[ScoreSource]:
    """Return the GC baseline and, when fitted, the k-mer ridge baseline of ``target``'s values in ``layer``."""
    return _sources(adata, target, BASELINE_RIDGE, ridge_column(target, layer), "k-mer ridge")


def _sources(adata: AnnData, target: str, name: str, column: str, what: str) -> list[ScoreSource]:
    """Return the GC baseline, and the fitted baseline ``name`` (``obsm`` column ``column``) if there is one."""
    out = [ScoreSource(BASELINE_GC, BASELINE_KIND, target, gc_scores(adata))]
    frame = adata.obsm.get(K.BASELINE)
    if frame is not None and column in frame.columns:
        out.append(ScoreSource(name, BASELINE_KIND, target, frame[column].to_numpy(np.float64)))
    else:
        logger.debug("no %s baseline for %r; run chromseq.tl.evaluate(adata) to fit it.", what, target)
    return out
