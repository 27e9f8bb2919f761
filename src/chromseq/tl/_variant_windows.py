"""Reference and alternative model windows of variants, cut from a :class:`~chromseq.Genome`.

Window rule (SNVs, MNVs, insertions, deletions alike), for model width ``L`` and a variant at
1-based ``pos`` with ``REF`` of ``r`` bases and ``ALT`` of ``a`` bases:

- the first REF base sits at index ``L // 2`` of both windows (0-based; for an even ``L`` the right
  of the two central bases), so the reference window is ``[pos - 1 - L // 2, pos - 1 - L // 2 + L)``;
- the alternative window has the same left flank, then ALT, then the genome right after REF; it is
  extended (deletions) or trimmed (insertions) on the right to keep width ``L``; an ALT longer than
  ``L - L // 2`` is itself trimmed on the right.

A variant whose windows (or REF) would run outside its chromosome is skipped (flag ``chrom_end``).
:func:`window_scores` scores the windows with a model.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chromseq._codes import encode
from chromseq.genome import Genome

if TYPE_CHECKING:
    import torch

#: Flags in ``obs['flag']`` of :func:`chromseq.tl.score_variants`; all but ``ok`` and a flagged
#: ``ref_mismatch`` (``ref_mismatch='flag'``) mean the variant was not scored.
FLAGS = ("ok", "ref_mismatch", "symbolic", "star", "invalid_allele", "not_in_genome", "chrom_end")
_BASES = re.compile(r"^[ACGTN]+$")


def classify(table: pd.DataFrame, genome: Genome, width: int) -> pd.DataFrame:
    """Return each variant's ``kind``, ``flag`` (before the REF check) and window coordinates.

    Returns
    -------
    pandas.DataFrame
        ``kind`` (snv/mnv/insertion/deletion/other), ``flag``, ``window_start``/``window_end`` (int64,
        0-based half-open reference window on the variant's chromosome) and ``_need_end`` (last genome
        base, exclusive, that the two windows and REF read).
    """
    ref, alt = table["ref"].to_numpy(str), table["alt"].to_numpy(str)
    r = np.array([len(x) for x in ref], dtype=np.int64)
    a = np.array([len(x) for x in alt], dtype=np.int64)
    flag = np.full(len(table), "ok", dtype=object)
    star = alt == "*"
    symbolic = np.array([x.startswith("<") or "[" in x or "]" in x or x == "." for x in alt])
    valid = np.array([bool(_BASES.match(x)) for x in alt]) & np.array([bool(_BASES.match(x)) for x in ref])
    flag[~valid] = "invalid_allele"
    flag[symbolic] = "symbolic"
    flag[star] = "star"
    off = width // 2
    start = table["pos"].to_numpy(np.int64) - 1 - off
    need_end = np.maximum.reduce([start + width, start + off + r, start + width + r - a])
    chroms = table["chrom"].astype(str).to_numpy()
    sizes = {}
    for c in pd.unique(chroms):
        sizes[c] = genome.size(c) if c in genome else -1
    size = np.array([sizes[c] for c in chroms], dtype=np.int64)
    out_of_genome = size < 0
    flag[(flag == "ok") & out_of_genome] = "not_in_genome"
    flag[(flag == "ok") & ((start < 0) | (need_end > size))] = "chrom_end"
    kind = np.select(
        [(r == 1) & (a == 1), r == a, a > r, r > a], ["snv", "mnv", "insertion", "deletion"], default="other"
    )
    kind = np.where(flag == "ok", kind, "other")
    return pd.DataFrame(
        {"kind": kind, "flag": flag, "window_start": start, "window_end": start + width, "_need_end": need_end},
        index=table.index,
    )


def windows(
    table: pd.DataFrame, info: pd.DataFrame, genome: Genome, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut the reference and alternative windows of the variants flagged ``ok`` in ``info``.

    Returns
    -------
    tuple of np.ndarray
        ``ref`` and ``alt`` uint8 codes ``(n_ok, width)`` (A0 C1 G2 T3 N4) and a bool ``(n_ok,)``
        telling whether REF equals the genome there.
    """
    rows = np.flatnonzero(info["flag"].to_numpy() == "ok")
    chrom = table["chrom"].astype(str).to_numpy()[rows]
    start = info["window_start"].to_numpy(np.int64)[rows]
    ref_codes = genome.windows(chrom, start, start + width)
    alt_codes = ref_codes.copy()
    match = np.ones(len(rows), dtype=bool)
    off = width // 2
    refs, alts = table["ref"].to_numpy(str)[rows], table["alt"].to_numpy(str)[rows]
    kinds = info["kind"].to_numpy()[rows]
    snv = np.flatnonzero(kinds == "snv")
    if len(snv):  # vectorised: one base changes
        ref_base = encode("".join(refs[snv]))
        match[snv] = ref_codes[snv, off] == ref_base
        alt_codes[snv, off] = encode("".join(alts[snv]))
    for i in np.flatnonzero(kinds != "snv"):
        alt_codes[i], match[i] = _alt_window(genome, chrom[i], int(start[i]), refs[i], alts[i], width)
    return ref_codes, alt_codes, match


def _alt_window(genome: Genome, chrom: str, start: int, ref: str, alt: str, width: int) -> tuple[np.ndarray, bool]:
    """Alternative window of one variant (any lengths), and whether REF matches the genome."""
    off, r, a = width // 2, len(ref), len(alt)
    end = max(start + width, start + off + r, start + width + r - a)
    ext = genome.fetch(chrom, start, end)
    match = bool(np.array_equal(ext[off : off + r], encode(ref)))
    right = ext[off + r : off + r + max(0, width - off - a)]
    seq = np.concatenate([ext[:off], encode(alt), right])[:width]
    return seq, match


def window_scores(
    model: torch.nn.Module,
    codes: np.ndarray,
    *,
    link: str,
    rc_average: bool,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """Return the scores ``(n, n_outputs)`` float64 of windows (uint8 codes ``(n, L)``) whose difference is ``delta``.

    The one inference loop of :mod:`chromseq.train`, in fp32. Classification (``link='logit'``): the
    logits (with ``rc_average``, the logit of the mean of the forward and reverse-complement
    probabilities, what :func:`~chromseq.tl.predict` reports, computed without overflow; else the
    forward logit), by :func:`chromseq.train.predict_logits`. Regression: predictions in the target's
    units (:func:`chromseq.train.predict_values` with the model's ``link``; with ``rc_average`` the
    mean of both strands in those units).
    """
    from chromseq.data import SequenceDataset
    from chromseq.train import predict_logits, predict_values

    data = SequenceDataset(np.ascontiguousarray(codes, dtype=np.uint8))
    kw = {"rc_average": rc_average, "batch_size": batch_size, "device": device, "precision": "fp32", "desc": "variants"}
    if link == "logit":
        return predict_logits(model, data, **kw)
    return predict_values(model, data, link=link, **kw).astype(np.float64)
