"""Seqlets of each region for ``tl.motifs`` (tangermeme), with their best database match."""

from __future__ import annotations

import numpy as np
import pandas as pd

from chromseq._jaspar import MotifDatabase

#: Columns of the seqlet table written to uns (kept in this order, also when empty).
SEQLET_COLUMNS = (
    "region", "start", "end", "sign", "attribution", "pval", "motif_id", "motif_name", "motif_pval", "motif_padj"
)  # fmt: skip


def region_seqlets(onehot, hyp, names, db: MotifDatabase, threshold: float) -> pd.DataFrame:
    """Seqlets of each region (positive, and negative ones not overlapping a positive) with best database match."""
    import torch
    from tangermeme.annotate import annotate_seqlets
    from tangermeme.seqlet import recursive_seqlets

    attr = (onehot * hyp).sum(axis=2).astype(np.float64)  # (n, L) projected contributions
    pos = recursive_seqlets(attr, threshold=threshold).assign(sign="+")
    neg = recursive_seqlets(-attr, threshold=threshold).assign(sign="-")
    neg["attribution"] = -neg["attribution"]
    pair = neg.reset_index().merge(pos[["example_idx", "start", "end"]], on="example_idx", suffixes=("", "_p"))
    clash = pair.loc[(pair["start"] < pair["end_p"]) & (pair["end"] > pair["start_p"]), "index"].unique()
    seqlets = pd.concat([pos, neg.drop(index=clash)], ignore_index=True)
    seqlets = seqlets.sort_values(["example_idx", "start"], kind="stable").reset_index(drop=True)
    motif_id = np.array([], dtype=object)
    motif_name, motif_p = motif_id, np.array([], dtype=np.float64)
    if len(seqlets):
        X = torch.from_numpy(np.ascontiguousarray(onehot.transpose(0, 2, 1)))
        ppms = {str(i): np.asarray(m) for i, m in enumerate(db.ppms)}
        idx, p = annotate_seqlets(X, seqlets[["example_idx", "start", "end"]], ppms, n_nearest=1, n_jobs=-1)
        idx = idx.numpy()[:, 0].astype(np.int64)
        found = idx >= 0
        motif_id = np.where(found, np.asarray(db.ids, dtype=object)[idx], "")
        motif_name = np.where(found, np.asarray(db.names, dtype=object)[idx], "")
        motif_p = np.where(found, p.numpy()[:, 0], np.nan).astype(np.float64)
    return pd.DataFrame(
        {
            "region": np.asarray(names, dtype=object)[seqlets["example_idx"].to_numpy(dtype=np.int64)],
            "start": seqlets["start"].to_numpy(dtype=np.int64),
            "end": seqlets["end"].to_numpy(dtype=np.int64),
            "sign": seqlets["sign"].to_numpy(dtype=object),
            "attribution": seqlets["attribution"].to_numpy(dtype=np.float64),
            "pval": seqlets["p-value"].to_numpy(dtype=np.float64),
            "motif_id": motif_id,
            "motif_name": motif_name,
            "motif_pval": motif_p,
            "motif_padj": np.minimum(motif_p * len(db), 1.0),
        },
        columns=list(SEQLET_COLUMNS),
    )
