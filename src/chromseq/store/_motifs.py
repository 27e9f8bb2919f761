"""Motif results as stored by ``tl.motifs``: ``uns['chromseq']['motifs'][celltype]``.

Each result is a dict with the pattern table, their CWMs, the JASPAR matches, the seqlets per
region and the parameters; :func:`write_motifs` stores one, the plots, the tracks, the report and
the command line read them through :func:`motif_results` / :func:`motif_result`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from chromseq import _keys as K
from chromseq._validate import uns_chromseq

if TYPE_CHECKING:
    import pandas as pd
    from anndata import AnnData


def motif_results(adata: AnnData) -> dict[str, dict[str, Any]]:
    """Return every stored motif result, by cell type (empty when ``tl.motifs`` never ran)."""
    return adata.uns.get(K.UNS, {}).get(K.UNS_MOTIFS, {})


def motif_result(adata: AnnData, celltype: str) -> dict[str, Any] | None:
    """Return the motif result of ``celltype``, or ``None``."""
    return motif_results(adata).get(celltype)


def stored_seqlets(adata: AnnData, celltype: str) -> pd.DataFrame | None:
    """Return the seqlet table of ``celltype`` (one row per seqlet), or ``None`` when there is none."""
    result = motif_result(adata, celltype)
    if result is None or K.UNS_SEQLETS not in result:
        return None
    return result[K.UNS_SEQLETS]


def write_motifs(adata: AnnData, celltype: str, result: dict[str, Any]) -> str:
    """Store the motif ``result`` of ``celltype``; return ``"added"`` or ``"replaced"``."""
    stored = uns_chromseq(adata).setdefault(K.UNS_MOTIFS, {})
    action = "replaced" if celltype in stored else "added"
    stored[celltype] = result
    return action


#: Largest TOMTOM q-value of a match that counts as one: a match above it is never "beyond composition"
#: (``tl.motifs``; a q-value of 1.00 says the pattern matches nothing in the database better than chance).
MATCH_QVAL = 0.05


def information_content(ppm: np.ndarray) -> np.ndarray:
    """Return the information content of each column of a (4, w) probability matrix, in bits (0 to 2)."""
    p = np.asarray(ppm, np.float64)
    return 2 + (p * np.log2(p + 1e-9)).sum(axis=0)
