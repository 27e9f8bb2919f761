"""Region names ``chrom:start-end``: the one place that builds them and the one that parses them.

chromseq names every region (``obs_names``) ``chrom:start-end`` with 0-based, half-open coordinates.
Names from other tools may also be written ``chrom-start-end`` (Signac, ArchR) or
``chrom_start_end``; :func:`parse_region_names` reads all three.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from chromseq import _keys as K

#: Separators before the end (``chr1:100-600``, ``chr1_100_600``) and before the start (``:``, then
#: ``chr1-100-600`` as Signac/ArchR write, or ``_``). The chromosome is everything before the last two
#: numbers, so ``chrUn_gl000220:1-5`` parses.
END_SEPARATORS = ("-", "_")
START_SEPARATORS = (":", "-", "_")


def region_names(chrom: Sequence[str], start: Sequence[int], end: Sequence[int]) -> pd.Index:
    """Return the ``chrom:start-end`` names of regions (the ``obs_names`` convention of chromseq).

    Parameters
    ----------
    chrom, start, end
        ``(n,)`` chromosome names and 0-based, half-open coordinates (bp).

    Returns
    -------
    pd.Index
        ``(n,)`` object index of names such as ``chr1:100-600``.
    """
    chrom = np.asarray(chrom, dtype=str)
    start = np.asarray(start, dtype=np.int64).astype(str)
    end = np.asarray(end, dtype=np.int64).astype(str)
    names = np.char.add(np.char.add(np.char.add(np.char.add(chrom, ":"), start), "-"), end)
    return pd.Index(names.astype(object), dtype=object)


def parse_region_names(names: Sequence[str], *, what: str = "var_names") -> pd.DataFrame:
    """Parse names such as ``chr1:100-600`` into ``chrom``/``start``/``end`` columns (vectorised).

    Only the form is checked here (a chromosome and two whole numbers); callers check the
    coordinates themselves (start >= 0, end > start).

    Parameters
    ----------
    names
        ``(n,)`` region names.
    what
        What the names are, for the error message (e.g. ``"var_names"``).

    Returns
    -------
    pd.DataFrame
        ``(n, 3)``: ``chrom`` (object), ``start`` and ``end`` (int64), with a RangeIndex.

    Raises
    ------
    ValueError
        If any name does not parse (the message shows the first ones).
    """
    text = np.asarray(names, dtype=str)
    head, end, ok_end = _split_last(text, END_SEPARATORS)
    chrom, start, ok_start = _split_last(head, START_SEPARATORS)
    ok = ok_end & ok_start & np.char.isdigit(start) & np.char.isdigit(end) & (np.char.str_len(chrom) > 0)
    if not ok.all():
        examples = [str(name) for name in text[~ok][:3]]
        raise ValueError(
            f"{int((~ok).sum())} of {len(ok)} {what} are not regions like 'chr1:100-600' (e.g. {examples}): "
            "give the coordinates as columns 'chrom' (or 'chr'), 'start' and 'end' instead."
        )
    return pd.DataFrame({K.CHROM: chrom.astype(object), K.START: start.astype(np.int64), K.END: end.astype(np.int64)})


def _split_last(text: np.ndarray, separators: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split each string at its last separator, trying ``separators`` in order: (head, tail, found)."""
    head, tail = np.full(text.shape, "", dtype=text.dtype), np.full(text.shape, "", dtype=text.dtype)
    found = np.zeros(text.shape, dtype=bool)
    for sep in separators:
        todo = np.flatnonzero(~found)
        if not len(todo):
            break
        parts = np.char.rpartition(text[todo], sep).reshape(len(todo), 3)
        hit = parts[:, 1] == sep
        head[todo[hit]], tail[todo[hit]], found[todo[hit]] = parts[hit, 0], parts[hit, 2], True
    return head, tail, found
