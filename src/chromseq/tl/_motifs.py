"""Motif discovery on stored contributions: TF-MoDISco (modisco-lite), TOMTOM against JASPAR, seqlets per region."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._anndata import writable
from chromseq._jaspar import DEFAULT_COLLECTION, DEFAULT_TAX_GROUP, MotifDatabase, load_motif_database
from chromseq._settings import logger
from chromseq._validate import require_obsm, sequence_codes, uns_chromseq
from chromseq.tl._contrib_store import get_contributions
from chromseq.tl._contributions import select_rows

if TYPE_CHECKING:
    from collections.abc import Iterator

    from anndata import AnnData

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
SEQLET_COLUMNS = (
    "region", "start", "end", "sign", "attribution", "pval", "motif_id", "motif_name", "motif_pval", "motif_padj"
)  # fmt: skip


def motifs(
    adata: AnnData,
    celltype: str,
    *,
    mask: np.ndarray | pd.Series | str | None = None,
    motif_db: str | os.PathLike | None = None,
    tax_group: str | None = DEFAULT_TAX_GROUP,
    n_matches: int = 3,
    max_seqlets: int = 20000,
    min_metacluster_size: int = 100,
    n_leiden_runs: int = 50,
    trim_threshold: float = 0.3,
    control_factor: float = 100.0,
    seqlet_threshold: float = 0.01,
    modisco_kwargs: dict[str, Any] | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Discover motifs in stored contributions with TF-MoDISco and name them with TOMTOM against JASPAR.

    Runs :func:`modiscolite.tfmodisco.TFMoDISco` on the one-hot sequences and hypothetical
    contributions of the regions that have them; trims each pattern to the positions whose
    absolute contribution reaches ``trim_threshold`` of its maximum and matches its probability
    matrix with :func:`memelite.tomtom` against every motif of the database (q-values:
    Benjamini-Hochberg over the database, per pattern). Seqlets are also called in each region
    with :func:`tangermeme.seqlet.recursive_seqlets` (positive and negative) and annotated with
    their best database match (:func:`tangermeme.annotate.annotate_seqlets`).

    Parameters
    ----------
    adata
        Regions AnnData with ``obsm['sequence']`` and contributions of ``celltype`` from
        :func:`chromseq.tl.contributions` (read with :func:`chromseq.tl.get_contributions`); may
        be a view (results are then written to the AnnData it was taken from).
    celltype
        Name the contributions are stored under (as passed to :func:`chromseq.tl.contributions`).
    mask
        Restrict to these regions (boolean array, Series or obs column name); regions without
        contributions are always left out.
    motif_db
        ``None`` (JASPAR 2024 CORE, read offline with pyjaspar), a JASPAR release name such as
        ``'JASPAR2022'``, or the path of a MEME motif file.
    tax_group
        JASPAR taxonomic group (``None``: all); ignored for MEME files.
    n_matches
        Database matches kept per pattern.
    max_seqlets
        Most seqlets clustered per sign (modisco ``max_seqlets_per_metacluster``).
    min_metacluster_size
        Fewest seqlets of a sign for modisco to cluster them.
    n_leiden_runs
        Leiden clustering restarts (fewer is faster, less stable).
    trim_threshold
        Pattern positions whose summed absolute CWM is below this fraction of the maximum are
        trimmed before TOMTOM.
    control_factor
        A match counts as more than composition (``beyond_composition``) when its TOMTOM p-value
        is this many times smaller than that of the pattern's composition control: a matrix of the
        same width whose every column is the pattern's mean base composition. TOMTOM (memelite's
        Euclidean column score) gives low-information, GC- or AT-rich patterns small q-values
        against long database matrices (a flat matrix matches CTCF at q ~ 1e-12), so the q-value
        alone does not tell a motif from a composition bias.
    seqlet_threshold
        P-value threshold of the per-region seqlet caller.
    modisco_kwargs
        Further arguments of :func:`modiscolite.tfmodisco.TFMoDISco` (e.g. ``sliding_window_size``).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets ``uns['chromseq']['motifs'][<celltype>]``, a dict of

    ``patterns``
        DataFrame, one row per pattern (index ``pos_0``, ``neg_0``, ...): sign, seqlet count,
        length, trimmed span, best match (id, name, p-value, q-value), mean information content
        of the trimmed span (``info_content``, bits per position, 0-2) and whether the best match
        is more than composition (``match_beyond_composition``, see ``control_factor``).
    ``matches``
        DataFrame of the top ``n_matches`` TOMTOM matches of each pattern, with p- and q-values,
        the p-value of the pattern's composition control against the same motif
        (``control_pval``) and ``beyond_composition``.
    ``cwm``, ``hypothetical_cwm``, ``ppm``
        dicts pattern -> (4, length) float32 arrays (ACGT): contribution-weight matrix,
        hypothetical CWM and position probability matrix.
    ``match_ppm``
        dict pattern -> (4, width) float32 probabilities of the best match, on the matching strand.
    ``seqlets``
        DataFrame of seqlets per region: region (obs name), start, end (bp in the window,
        0-based half-open), sign, summed attribution, seqlet p-value (a ranking score), best
        motif, its TOMTOM p-value and that p-value Bonferroni-adjusted for the database size.
    ``params``
        dict of the parameters, the motif database and the contributions used.

    Examples
    --------
    >>> import chromseq as cs
    >>> cs.tl.motifs(adata, "K562")  # doctest: +SKIP
    >>> adata.uns["chromseq"]["motifs"]["K562"]["patterns"][["n_seqlets", "match_name", "match_qval"]]  # doctest: +SKIP
    """
    if not isinstance(n_matches, int) or n_matches < 1:
        raise ValueError(f"n_matches must be a positive int, got {n_matches!r}.")
    if not 0 < trim_threshold < 1:
        raise ValueError(f"trim_threshold must be in (0, 1), got {trim_threshold!r}.")
    if not control_factor >= 1:
        raise ValueError(f"control_factor must be 1 or more, got {control_factor!r}.")
    adata = writable(adata, copy, "motifs")
    onehot, hyp, names = _inputs(adata, celltype, mask)
    db = load_motif_database(motif_db, collection=DEFAULT_COLLECTION, tax_group=tax_group)

    kw = {
        "max_seqlets_per_metacluster": max_seqlets,
        "min_metacluster_size": min_metacluster_size,
        "n_leiden_runs": n_leiden_runs,
        **(modisco_kwargs or {}),
    }
    with _keep_torch_threads():
        patterns = _modisco(onehot, hyp, kw)
        result = _pattern_results(patterns, db, n_matches, trim_threshold, control_factor)
        result[K.UNS_SEQLETS] = _region_seqlets(onehot, hyp, names, db, seqlet_threshold)
    contrib = adata.uns.get(K.UNS, {}).get(K.UNS_CONTRIB, {}).get(celltype, {})
    result[K.UNS_PARAMS] = {
        "motif_db": db.source,
        "n_motifs_db": len(db),
        "n_regions": len(names),
        "n_matches": n_matches,
        "trim_threshold": float(trim_threshold),
        "control_factor": float(control_factor),
        "seqlet_threshold": float(seqlet_threshold),
        "qval": "benjamini-hochberg over the database, per pattern",
        "contributions": {k: v for k, v in contrib.items() if k in ("method", "model", "n_shuffles", "random_state")},
        "modisco": {k: v for k, v in kw.items() if isinstance(v, int | float | str | bool)},
    }
    store = uns_chromseq(adata).setdefault(K.UNS_MOTIFS, {})
    action = "replaced" if celltype in store else "added"
    store[celltype] = result
    n_pat = len(result[K.MOTIF_PATTERNS])
    logger.info(
        "motifs: %s uns[%r][%r][%r] (%d patterns from %d regions, %d seqlets; matched to %s)",
        action,
        K.UNS,
        K.UNS_MOTIFS,
        celltype,
        n_pat,
        len(names),
        len(result[K.UNS_SEQLETS]),
        db.source,
    )
    if n_pat == 0:
        logger.warning(
            "motifs: TF-MoDISco found no pattern for %r in %d regions; use more regions or a lower "
            "min_metacluster_size.",
            celltype,
            len(names),
        )
    return adata if copy else None


@contextlib.contextmanager
def _keep_torch_threads() -> Iterator[None]:
    """Restore torch's CPU thread count on exit.

    modisco-lite, memelite and tangermeme call ``numba.set_num_threads``; with numba's OpenMP
    threading layer that sets the OpenMP thread count torch shares, so a user's
    ``torch.set_num_threads(1)`` would silently become all cores after :func:`motifs`.
    """
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def _inputs(adata: AnnData, celltype: str, mask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return one-hot and hypothetical contributions (n, L, 4) float32 and the obs names of the regions used."""
    from chromseq._codes import one_hot

    require_obsm(adata, K.SEQUENCE)
    rows = select_rows(adata, mask)
    scores, names = get_contributions(adata[rows] if rows.size < adata.n_obs else adata, celltype)
    if len(names) == 0:
        raise ValueError(
            f"no selected region has contributions for {celltype!r}: run chromseq.tl.contributions("
            f"adata, celltype={celltype!r}) on these regions first."
        )
    rows = adata.obs_names.get_indexer(names)
    codes = sequence_codes(adata, rows)
    if codes.shape[1] != scores.shape[2]:
        raise ValueError(
            f"the contributions of {celltype!r} have width {scores.shape[2]} but obsm['sequence'] "
            f"{codes.shape[1]}: recompute the contributions."
        )
    hyp = np.ascontiguousarray(scores.transpose(0, 2, 1))
    onehot = np.ascontiguousarray(one_hot(codes).numpy().transpose(0, 2, 1))
    return onehot, hyp, adata.obs_names.to_numpy()[rows]


def _modisco(onehot: np.ndarray, hyp: np.ndarray, kw: dict[str, Any]) -> list[tuple[str, Any]]:
    """Run TF-MoDISco; return [(name, SeqletSet)] with names ``pos_<i>`` / ``neg_<i>``."""
    from modiscolite.tfmodisco import TFMoDISco

    pos, neg = TFMoDISco(one_hot=onehot, hypothetical_contribs=hyp, verbose=False, **kw)
    return [(f"{sign}_{i}", p) for sign, pats in (("pos", pos), ("neg", neg)) for i, p in enumerate(pats or [])]


def _pattern_results(
    patterns, db: MotifDatabase, n_matches: int, trim_threshold: float, control_factor: float
) -> dict[str, Any]:
    """Pattern table, TOMTOM matches and matrices of the modisco patterns."""
    cwm = {name: np.asarray(p.contrib_scores, np.float32).T for name, p in patterns}
    hcwm = {name: np.asarray(p.hypothetical_contribs, np.float32).T for name, p in patterns}
    ppm = {name: np.asarray(p.sequence, np.float32).T for name, p in patterns}
    spans = {name: _trim(cwm[name], trim_threshold) for name, _ in patterns}
    queries = [ppm[name][:, a:b] for name, (a, b) in spans.items()]
    matches = _tomtom(queries, list(spans), db, n_matches, control_factor)
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


def information_content(ppm: np.ndarray) -> np.ndarray:
    """Return the information content of each column of a (4, w) probability matrix, in bits (0 to 2)."""
    p = np.asarray(ppm, np.float64)
    return 2 + (p * np.log2(p + 1e-9)).sum(axis=0)


def _composition_control(ppm: np.ndarray) -> np.ndarray:
    """Return the (4, w) matrix whose every column is the mean base composition of ``ppm``."""
    return np.repeat(np.asarray(ppm, np.float64).mean(axis=1, keepdims=True), ppm.shape[1], axis=1)


def _tomtom(
    queries: list[np.ndarray], names: list[str], db: MotifDatabase, n_matches: int, control_factor: float
) -> pd.DataFrame:
    """Top ``n_matches`` database motifs of each query (4, w) by TOMTOM p-value, with BH q-values.

    Each query's composition control (:func:`_composition_control`) is matched in the same call;
    its p-value against the same motif decides ``beyond_composition``.
    """
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(MATCH_COLUMNS, _MATCH_DTYPES, strict=True)})
    if not queries:
        return empty
    from memelite import tomtom

    controls = [_composition_control(q) for q in queries]
    pvals, _, offsets, overlaps, strands = tomtom(queries + controls, [np.asarray(m) for m in db.ppms])
    n = len(queries)
    pvals, control, offsets, overlaps, strands = pvals[:n], pvals[n:], offsets[:n], overlaps[:n], strands[:n]
    qvals = _bh(pvals)
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
            "beyond_composition": pvals[q_idx, t_idx] * control_factor < control[q_idx, t_idx],
        }
    )


_MATCH_DTYPES = (object, np.int64, object, object, np.float64, np.float64, np.int64, np.int64, object, np.float64, bool)


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values along the last axis."""
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1) * m / np.arange(1, m + 1)
    ranked = np.minimum(np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1], 1.0)
    out = np.empty_like(ranked)
    np.put_along_axis(out, order, ranked, axis=-1)
    return out


def _region_seqlets(onehot, hyp, names, db: MotifDatabase, threshold: float) -> pd.DataFrame:
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
