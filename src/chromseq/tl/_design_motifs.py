"""Motifs to implant with :func:`chromseq.tl.design`: a JASPAR matrix (by ID or TF name) or a consensus."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from chromseq import _keys as K
from chromseq._codes import encode
from chromseq._jaspar import DEFAULT_RELEASE, MotifDatabase, jaspar

_MATRIX_ID = re.compile(r"^MA\d{4}(\.\d+)?$", re.IGNORECASE)
_CONSENSUS = re.compile(r"^[ACGT]+$", re.IGNORECASE)


@dataclass(frozen=True)
class Motif:
    """A motif resolved for implantation.

    Attributes
    ----------
    label
        ``'<matrix id> <name>'`` for a JASPAR motif, the letters for a consensus.
    consensus
        The bases implanted (the most probable base of each column of a JASPAR matrix).
    source
        ``'JASPAR2024 CORE vertebrates'`` or ``'consensus'``.
    """

    label: str
    consensus: str
    source: str

    @property
    def codes(self) -> np.ndarray:
        """``(k,)`` uint8 codes of :attr:`consensus`."""
        return encode(self.consensus)


def resolve_motif(motif: str, release: str = DEFAULT_RELEASE) -> Motif:
    """Resolve a JASPAR matrix ID (``'MA0035'``, ``'MA0035.5'``), a TF name (``'GATA1'``) or a consensus (``'AGATAA'``).

    A string of A/C/G/T letters only is a consensus; a matrix ID without version is its latest
    version; a name matches case-insensitively, the lowest matrix ID winning among several.

    Raises
    ------
    ValueError
        If the ID or name is not in the JASPAR release (CORE vertebrates), or the string is empty.
    """
    text = str(motif).strip()
    if not text:
        raise ValueError("motif='' is empty: pass a JASPAR matrix ID ('MA0035'), a TF name ('GATA1') or bases.")
    if _CONSENSUS.match(text) and not _MATRIX_ID.match(text):
        return Motif(text.upper(), text.upper(), "consensus")
    db = jaspar(release)
    i = _find(db, text)
    if i is None:
        raise ValueError(
            f"motif {text!r} is not in {db.source}: pass a matrix ID (e.g. 'MA0035' for GATA1), a TF name "
            "from that collection, or the motif's bases as a consensus string ('AGATAA')."
        )
    consensus = "".join(K.ALPHABET[b] for b in db.ppms[i].argmax(axis=0))
    return Motif(f"{db.ids[i]} {db.names[i]}", consensus, db.source)


def _find(db: MotifDatabase, text: str) -> int | None:
    if _MATRIX_ID.match(text):
        wanted = text.upper()
        hits = [j for j, mid in enumerate(db.ids) if mid == wanted or mid.split(".")[0] == wanted]
        return max(hits, key=lambda j: int(db.ids[j].split(".")[1])) if hits else None
    hits = [j for j, name in enumerate(db.names) if name.upper() == text.upper()]
    return min(hits, key=lambda j: db.ids[j]) if hits else None
