"""The pattern library of ``tl.motifs``: TF-MoDISco patterns trimmed, named by TOMTOM against JASPAR.

TOMTOM q-values are Benjamini-Hochberg over the database, per pattern
(:func:`scipy.stats.false_discovery_control`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from chromseq import _keys as K
from chromseq._jaspar import MotifDatabase
from chromseq.store import MATCH_QVAL, information_content

#: Columns of the tables written to uns (kept in this order, also when empty).
PATTERN_COLUMNS = (
    "sign",
    "n_seqlets",
    "length",
    "trim_start",
    "trim_end",
    "match_id",
    "match_name",
    "match_pval",
    "match_qval",
    "info_content",
    "match_beyond_composition",
)
MATCH_COLUMNS = (
    "pattern", "rank", "motif_id", "motif_name", "pval", "qval", "offset", "overlap", "strand",
    "control_pval", "beyond_composition",
)  # fmt: skip


def pattern_results(
    patterns, db: MotifDatabase, n_matches: int, trim_threshold: float, control_factor: float
) -> dict[str, Any]:
    """Pattern table, TOMTOM matches and matrices of the modisco patterns."""
    cwm = {name: np.asarray(p.contrib_scores, np.float32).T for name, p in patterns}
    hcwm = {name: np.asarray(p.hypothetical_contribs, np.float32).T for name, p in patterns}
    ppm = {name: np.asarray(p.sequence, np.float32).T for name, p in patterns}
    spans = {name: _trim(cwm[name], trim_threshold) for name, _ in patterns}
    queries = [ppm[name][:, a:b] for name, (a, b) in spans.items()]
    matches = tomtom_matches(queries, list(spans), db, n_matches, control_factor)
    best = matches[matches["rank"] == 0].set_index("pattern")
    table = pd.DataFrame(
        {
            "sign": [name.split("_")[0] for name, _ in patterns],
            "n_seqlets": [len(p.seqlets) for _, p in patterns],
            "length": [cwm[name].shape[1] for name, _ in patterns],
            "trim_start": [spans[name][0] for name, _ in patterns],
            "trim_end": [spans[name][1] for name, _ in patterns],
            "info_content": [float(information_content(q).mean()) for q in queries],
        },
        index=pd.Index([name for name, _ in patterns], dtype=object),
    ).astype({"n_seqlets": np.int64, "length": np.int64, "trim_start": np.int64, "trim_end": np.int64})
    for col, src in (
        ("match_id", "motif_id"),
        ("match_name", "motif_name"),
        ("match_pval", "pval"),
        ("match_qval", "qval"),
        ("match_beyond_composition", "beyond_composition"),
    ):
        table[col] = best[src].reindex(table.index).to_numpy() if len(table) else np.array([], best[src].dtype)
    return {
        K.MOTIF_PATTERNS: table[list(PATTERN_COLUMNS)],
        K.MOTIF_MATCH_PPM: _match_ppms(best, db),
        K.MOTIF_MATCHES: matches,
        K.MOTIF_CWM: cwm,
        K.MOTIF_HCWM: hcwm,
        K.MOTIF_PPM: ppm,
    }


def _match_ppms(best: pd.DataFrame, db: MotifDatabase) -> dict[str, np.ndarray]:
    """Best match of each pattern as (4, width) float32 probabilities, reverse-complemented if matched on '-'."""
    index = {motif_id: i for i, motif_id in enumerate(db.ids)}
    out = {}
    for pattern, row in best.iterrows():
        ppm = np.asarray(db.ppms[index[row["motif_id"]]], dtype=np.float32)
        out[str(pattern)] = np.ascontiguousarray(ppm[::-1, ::-1] if row["strand"] == "-" else ppm)
    return out


def _trim(cwm: np.ndarray, threshold: float) -> tuple[int, int]:
    """Span [start, end) of the positions whose summed |CWM| reaches ``threshold`` x the maximum."""
    score = np.abs(cwm).sum(axis=0)
    keep = np.flatnonzero(score >= threshold * score.max())
    return int(keep[0]), int(keep[-1]) + 1


def _composition_control(ppm: np.ndarray) -> np.ndarray:
    """Return the (4, w) matrix whose every column is the mean base composition of ``ppm``."""
    return np.repeat(np.asarray(ppm, np.float64).mean(axis=1, keepdims=True), ppm.shape[1], axis=1)


def tomtom_matches(
    queries: list[np.ndarray], names: list[str], db: MotifDatabase, n_matches: int, control_factor: float
) -> pd.DataFrame:
    """Top ``n_matches`` database motifs of each query (4, w) by TOMTOM p-value, with BH q-values.

    Each query's composition control (:func:`_composition_control`) is matched in the same call.
    ``beyond_composition`` needs both: the match is significant (q-value at most :data:`MATCH_QVAL`)
    and its p-value is ``control_factor`` times smaller than the control's against the same motif.
    """
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(MATCH_COLUMNS, _MATCH_DTYPES, strict=True)})
    if not queries:
        return empty
    from memelite import tomtom

    controls = [_composition_control(q) for q in queries]
    pvals, _, offsets, overlaps, strands = tomtom(queries + controls, [np.asarray(m) for m in db.ppms])
    n = len(queries)
    pvals, control, offsets, overlaps, strands = pvals[:n], pvals[n:], offsets[:n], overlaps[:n], strands[:n]
    qvals = false_discovery_control(pvals, axis=-1, method="bh")
    k = min(n_matches, len(db))
    top = np.argsort(pvals, axis=1, kind="stable")[:, :k]
    q_idx = np.repeat(np.arange(len(queries)), k)
    t_idx = top.ravel()
    return pd.DataFrame(
        {
            "pattern": np.asarray(names, dtype=object)[q_idx],
            "rank": np.tile(np.arange(k), len(queries)).astype(np.int64),
            "motif_id": np.asarray(db.ids, dtype=object)[t_idx],
            "motif_name": np.asarray(db.names, dtype=object)[t_idx],
            "pval": pvals[q_idx, t_idx].astype(np.float64),
            "qval": qvals[q_idx, t_idx].astype(np.float64),
            "offset": offsets[q_idx, t_idx].astype(np.int64),
            "overlap": overlaps[q_idx, t_idx].astype(np.int64),
            "strand": np.where(strands[q_idx, t_idx] == 1, "-", "+").astype(object),
            "control_pval": control[q_idx, t_idx].astype(np.float64),
            "beyond_composition": beyond_composition(
                pvals[q_idx, t_idx], qvals[q_idx, t_idx], control[q_idx, t_idx], control_factor
            ),
        }
    )


def beyond_composition(pval, qval, control_pval, control_factor: float) -> np.ndarray:
    """Whether matches are motifs: significant (``qval <= MATCH_QVAL``) and ``control_factor`` x better than composition.

    All arrays have one value per match: its TOMTOM p- and q-value, and the p-value of the pattern's
    composition control against the same database motif. Returns a bool array of their shape.
    """
    pval, qval, control_pval = (np.asarray(v, dtype=np.float64) for v in (pval, qval, control_pval))
    return (qval <= MATCH_QVAL) & (pval * control_factor < control_pval)


_MATCH_DTYPES = (object, np.int64, object, object, np.float64, np.float64, np.int64, np.int64, object, np.float64, bool)
