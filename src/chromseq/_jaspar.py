"""Motif databases: JASPAR read offline through pyjaspar, and user MEME files.

A motif database is a :class:`MotifDatabase`: motif ids, names and position
probability matrices ``(4, width)`` in ACGT order (columns sum to 1). Nothing
here knows about AnnData.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: JASPAR release used when none is given (shipped with pyjaspar >= 3.0, read offline).
DEFAULT_RELEASE = "JASPAR2024"
DEFAULT_COLLECTION = "CORE"
DEFAULT_TAX_GROUP = "vertebrates"


@dataclass(frozen=True)
class MotifDatabase:
    """Motifs to match against.

    Attributes
    ----------
    ids
        Motif identifiers, e.g. ``'MA0035.5'``.
    names
        Motif (transcription factor) names, e.g. ``'GATA1'``.
    ppms
        Position probability matrices, each ``(4, width)`` float64 in ACGT order, columns summing to 1.
    source
        Where the motifs came from, e.g. ``'JASPAR2024 CORE vertebrates'`` or a file path.
    """

    ids: tuple[str, ...]
    names: tuple[str, ...]
    ppms: tuple[np.ndarray, ...] = field(repr=False)
    source: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    def labels(self) -> list[str]:
        """Return ``'<id> <name>'`` for each motif (the form MEME files use)."""
        return [f"{i} {n}".strip() for i, n in zip(self.ids, self.names, strict=True)]


def available_releases() -> list[str]:
    """Return the JASPAR releases pyjaspar can read offline, newest first."""
    from pyjaspar import jaspar_releases

    return sorted(jaspar_releases, reverse=True)


def jaspar(
    release: str = DEFAULT_RELEASE,
    *,
    collection: str = DEFAULT_COLLECTION,
    tax_group: str | None = DEFAULT_TAX_GROUP,
) -> MotifDatabase:
    """Read the latest version of each JASPAR matrix of a collection, offline.

    Parameters
    ----------
    release
        JASPAR release name, e.g. ``'JASPAR2024'`` (see :func:`available_releases`).
    collection
        JASPAR collection, e.g. ``'CORE'`` or ``'UNVALIDATED'``.
    tax_group
        Taxonomic group, e.g. ``'vertebrates'``; ``None`` for all.

    Returns
    -------
    The motifs, with counts normalised to probabilities.

    Raises
    ------
    ValueError
        If the release is not one pyjaspar ships, or the selection is empty.
    """
    releases = available_releases()
    if release not in releases:
        raise ValueError(f"JASPAR release {release!r} is not available offline; pyjaspar ships {releases}.")
    return _jaspar_cached(release, collection, tax_group)


@functools.lru_cache(maxsize=4)
def _jaspar_cached(release: str, collection: str, tax_group: str | None) -> MotifDatabase:
    from pyjaspar import jaspardb

    db = jaspardb(release=release)
    motifs = db.fetch_motifs(collection=collection, tax_group=None if tax_group is None else [tax_group])
    if not motifs:
        raise ValueError(f"{release} has no motifs in collection={collection!r}, tax_group={tax_group!r}.")
    ppms = []
    for m in motifs:
        counts = np.array([m.counts[b] for b in "ACGT"], dtype=np.float64)
        ppms.append(counts / counts.sum(axis=0, keepdims=True))
    source = f"{release} {collection} {tax_group or 'all taxa'}"
    return MotifDatabase(tuple(m.matrix_id for m in motifs), tuple(str(m.name) for m in motifs), tuple(ppms), source)


def read_meme(path: str | os.PathLike) -> MotifDatabase:
    """Read motifs from a MEME-format file (as written by MEME, JASPAR or ``memelite.io.write_meme``).

    Parameters
    ----------
    path
        Path to the MEME text file. A ``MOTIF`` line's first word is taken as the id and
        the rest as the name.

    Returns
    -------
    The motifs, each column renormalised to sum to 1.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not MEME format (no ``MEME version`` header) or holds no motif.
    """
    from memelite.io import read_meme as _read_meme

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"motif file {str(path)!r} does not exist.")
    with path.open("rb") as fh:
        head = fh.read(4096).decode("utf-8", errors="replace")
    first = next((line.strip() for line in head.splitlines() if line.strip()), "")
    if not first.startswith("MEME version"):
        raise ValueError(
            f"{str(path)!r} is not a MEME motif file: it starts with {first[:40]!r}, expected 'MEME version ...'. "
            "Convert it, e.g. with memelite.io.write_meme or MEME suite's jaspar2meme/transfac2meme."
        )
    try:
        motifs = _read_meme(str(path))
    except (ValueError, AttributeError, IndexError) as err:
        raise ValueError(f"{str(path)!r} is not a valid MEME motif file: {err}") from err
    if not motifs:
        raise ValueError(f"{str(path)!r} holds no motif (no 'MOTIF' with a 'letter-probability matrix').")
    ids, names, ppms = [], [], []
    for label, pwm in motifs.items():
        motif_id, _, name = label.partition(" ")
        pwm = np.clip(np.asarray(pwm, dtype=np.float64), 0, None)
        if pwm.shape[0] != 4:
            raise ValueError(f"motif {label!r} in {str(path)!r} has alphabet length {pwm.shape[0]}, expected 4 (ACGT).")
        ids.append(motif_id)
        names.append(name or motif_id)
        ppms.append(pwm / np.maximum(pwm.sum(axis=0, keepdims=True), 1e-12))
    return MotifDatabase(tuple(ids), tuple(names), tuple(ppms), str(path))


def load_motif_database(
    motif_db: str | os.PathLike | MotifDatabase | None = None,
    *,
    collection: str = DEFAULT_COLLECTION,
    tax_group: str | None = DEFAULT_TAX_GROUP,
) -> MotifDatabase:
    """Return a motif database from a JASPAR release name, a MEME file path, or ``None`` (default release).

    Parameters
    ----------
    motif_db
        ``None`` (JASPAR :data:`DEFAULT_RELEASE`), a release name such as ``'JASPAR2022'``,
        a path to a MEME file, or a :class:`MotifDatabase`.
    collection, tax_group
        JASPAR selection (ignored for MEME files).

    Returns
    -------
    The motif database.
    """
    if isinstance(motif_db, MotifDatabase):
        return motif_db
    if motif_db is None:
        return jaspar(DEFAULT_RELEASE, collection=collection, tax_group=tax_group)
    text = os.fspath(motif_db)
    if isinstance(motif_db, str) and text.upper().startswith("JASPAR") and not Path(text).exists():
        return jaspar(text, collection=collection, tax_group=tax_group)
    return read_meme(text)
