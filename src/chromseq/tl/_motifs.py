"""``tl.motifs``: motif discovery on stored contributions.

The verb reads the inputs, runs TF-MoDISco (modisco-lite) and writes the results; the pattern
library (trimming, TOMTOM against JASPAR) is in :mod:`chromseq.tl._motif_patterns`, the seqlets
per region in :mod:`chromseq.tl._seqlets`.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._anndata import writable
from chromseq._jaspar import DEFAULT_COLLECTION, DEFAULT_TAX_GROUP, load_motif_database
from chromseq._settings import logger
from chromseq._validate import require_obsm, sequence_codes
from chromseq.store import get_contributions, write_motifs
from chromseq.tl._motif_patterns import pattern_results
from chromseq.tl._resolve import masked_rows
from chromseq.tl._seqlets import region_seqlets

if TYPE_CHECKING:
    from collections.abc import Iterator

    from anndata import AnnData


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
        A match counts as more than composition (``beyond_composition``) when it is significant
        (TOMTOM q-value at most 0.05) and its TOMTOM p-value is this many times smaller than that
        of the pattern's composition control: a matrix of the
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
        hypothetical CWM (both in the units of the contributions: logit, or a regression model's
        value or log-rate) and position probability matrix.
    ``match_ppm``
        dict pattern -> (4, width) float32 probabilities of the best match, on the matching strand.
    ``seqlets``
        DataFrame of seqlets per region: region (obs name), start, end (bp in the window,
        0-based half-open), sign, summed attribution, seqlet p-value (a ranking score), best
        motif, its TOMTOM p-value and that p-value Bonferroni-adjusted for the database size.
    ``params``
        dict of the parameters, the motif database and the contributions used (method, model,
        ``target``: what they explain, ``'logit'``, ``'value'`` or ``'log_rate'``).

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
        result = pattern_results(patterns, db, n_matches, trim_threshold, control_factor)
        result[K.UNS_SEQLETS] = region_seqlets(onehot, hyp, names, db, seqlet_threshold)
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
        "contributions": {
            k: v for k, v in contrib.items() if k in ("method", "model", "target", "task", "n_shuffles", "random_state")
        },
        "modisco": {k: v for k, v in kw.items() if isinstance(v, int | float | str | bool)},
    }
    action = write_motifs(adata, celltype, result)
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
    rows = masked_rows(adata, mask)
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
