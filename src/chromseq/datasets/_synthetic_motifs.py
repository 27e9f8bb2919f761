"""JASPAR motifs of the synthetic grammar (:func:`chromseq.datasets.synthetic`), read with pyjaspar."""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._jaspar import available_releases

_PSEUDOCOUNT = 0.01  # added to JASPAR frequencies before normalising
_MATRIX_ID = re.compile(r"^MA\d{4}(\.\d+)?$")


@lru_cache(maxsize=8)
def _jaspar(release: str):
    from pyjaspar import jaspardb

    releases = available_releases()
    if release not in releases:  # pyjaspar itself only prints a message
        raise ValueError(f"jaspar_release={release!r} is not shipped with pyjaspar; use one of {releases}.")
    return jaspardb(release=release)


@lru_cache(maxsize=256)
def _fetch(release: str, motif: str) -> tuple[str, str, np.ndarray]:
    """Return (matrix_id, name, (4, L) probabilities) of one JASPAR motif, by ID or TF name."""
    db = _jaspar(release)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Biopython warns before returning None for an unknown ID
        if _MATRIX_ID.match(motif):
            found = db.fetch_motif_by_id(motif)
        else:
            hits = [m for m in db.fetch_motifs_by_name(motif) if m.tax_group == "vertebrates"]
            found = min(hits, key=lambda m: m.matrix_id) if hits else None
    if found is None:
        raise ValueError(f"motif {motif!r} is not in {release}: give a JASPAR matrix ID (e.g. 'MA0035') or TF name.")
    counts = np.array([found.counts[b] for b in K.ALPHABET], dtype=np.float64)
    freq = counts / counts.sum(axis=0, keepdims=True) + _PSEUDOCOUNT
    freq /= freq.sum(axis=0, keepdims=True)
    freq.setflags(write=False)
    return found.matrix_id, found.name, freq


def resolve_motifs(spec: dict[str, list[str]], release: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Motif table (matrix_id, name, group, length, consensus) and probabilities of ``spec``; IDs replace names in it."""
    rows, pwms = [], {}
    for group, names in spec.items():
        resolved = []
        for name in names:
            mid, tf, pwm = _fetch(release, name)
            if mid in pwms:
                raise ValueError(f"motif {mid} ({tf}) is listed twice; each motif may belong to one group only.")
            pwms[mid] = pwm
            resolved.append(mid)
            consensus = "".join(K.ALPHABET[i] for i in pwm.argmax(axis=0))
            rows.append({"matrix_id": mid, "name": tf, "group": group, "length": pwm.shape[1], "consensus": consensus})
        spec[group] = resolved
    table = pd.DataFrame(rows).set_index("matrix_id")
    table["length"] = table["length"].astype(np.int64)
    return table, pwms


def site_strengths(seq: np.ndarray, sites: dict[str, np.ndarray], table: pd.DataFrame, pwms) -> np.ndarray:
    """Strength in (0, 1] of every planted instance: the geometric mean over its positions of ``p(base) / max p``.

    1 for the consensus; lower for instances sampled away from it. Read from the planted bases of
    ``seq`` ``(n, width)`` (minus-strand instances reverse complemented first).
    """
    from chromseq._codes import reverse_complement_codes

    out = np.zeros(sites["region"].size, dtype=np.float64)
    for mid in table.index:
        is_m = np.flatnonzero(sites["matrix_id"] == mid)
        if not is_m.size:
            continue
        pwm = pwms[mid]
        length = pwm.shape[1]
        codes = seq[sites["region"][is_m, None], sites["start"][is_m, None] + np.arange(length)]
        minus = sites["strand"][is_m]
        codes[minus] = reverse_complement_codes(codes[minus])
        rel = np.log(pwm / pwm.max(axis=0))  # (4, L), 0 at the consensus base
        out[is_m] = np.exp(rel[codes, np.arange(length)].mean(axis=1))
    return out


def dosage(
    n: int, groups: list[str], celltypes: list[str], sites: dict[str, np.ndarray], strength: np.ndarray
) -> np.ndarray:
    """Noise-free dosage ``(n, len(celltypes))``: per region and cell type, the summed strength of its planted sites.

    A cell type's own motifs count for it; the shared grammar's sites count for every cell type.
    """
    out = np.zeros((n, len(celltypes)), dtype=np.float64)
    shared = groups.index("shared") if "shared" in groups else -1
    for j in range(len(celltypes)):
        mine = (sites["group"] == j) | (sites["group"] == shared)
        np.add.at(out[:, j], sites["region"][mine], strength[mine])
    return out
