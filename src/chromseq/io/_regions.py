"""Region coordinates from other tools' tables: columns or ``chr:start-end`` names, checked once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from chromseq import _keys as K

#: Accepted names of the chromosome column, in order of preference (ours, CREsted/UCSC, GRanges).
CHROM_COLUMNS = (K.CHROM, "chr", "seqnames")
#: Separators before the end (``chr1:100-600``, ``chr1_100_600``) and before the start (``:``, then
#: ``chr1-100-600`` as Signac/ArchR write, or ``_``). The chromosome is everything before the last two
#: numbers, so ``chrUn_gl000220:1-5`` parses.
END_SEPARATORS = ("-", "_")
START_SEPARATORS = (":", "-", "_")


def region_names(chrom: Sequence[str], start: Sequence[int], end: Sequence[int]) -> pd.Index:
    """Return the ``chrom:start-end`` names of regions (the ``obs_names`` convention of chromseq)."""
    chrom = np.asarray(chrom, dtype=str)
    start = np.asarray(start, dtype=np.int64).astype(str)
    end = np.asarray(end, dtype=np.int64).astype(str)
    names = np.char.add(np.char.add(np.char.add(np.char.add(chrom, ":"), start), "-"), end)
    return pd.Index(names.astype(object), dtype=object)


def parse_region_names(names: Sequence[str], *, what: str = "var_names") -> pd.DataFrame:
    """Parse names such as ``chr1:100-600`` into ``chrom``/``start``/``end`` columns (vectorised).

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
    frame = pd.DataFrame({K.CHROM: chrom.astype(object), K.START: start.astype(np.int64), K.END: end.astype(np.int64)})
    check_coordinates(frame, what=what)
    return frame


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


def coordinates(table: pd.DataFrame, *, what: str) -> tuple[pd.DataFrame, str | None]:
    """Return ``chrom``/``start``/``end`` of the rows of ``table``, from its columns or else its index.

    Returns
    -------
    The coordinates (a fresh frame with a RangeIndex) and the name of the chromosome column used
    (``None`` when they were parsed from the index).
    """
    chrom_col = next((c for c in CHROM_COLUMNS if c in table.columns), None)
    has_pos = K.START in table.columns and K.END in table.columns
    if chrom_col is None or not has_pos:
        return parse_region_names(table.index, what=f"{what} names"), None
    frame = pd.DataFrame({K.CHROM: table[chrom_col].astype(str).to_numpy(dtype=object)})
    for col in (K.START, K.END):
        values = pd.to_numeric(table[col], errors="coerce")
        if values.isna().any() or not np.all(np.mod(values.to_numpy(dtype=float), 1) == 0):
            raise ValueError(
                f"{what}[{col!r}] must hold whole numbers (bp), found {table[col].dtype} with gaps or fractions."
            )
        frame[col] = values.to_numpy().astype(np.int64)
    check_coordinates(frame, what=what)
    return frame, chrom_col


def check_coordinates(frame: pd.DataFrame, *, what: str) -> None:
    """Raise a :class:`ValueError` for negative starts or empty/inverted intervals."""
    start, end = frame[K.START].to_numpy(), frame[K.END].to_numpy()
    bad = (start < 0) | (end <= start)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{int(bad.sum())} {what} regions have start < 0 or end <= start "
            f"(first: {frame[K.CHROM].iloc[i]}:{start[i]}-{end[i]}); coordinates are 0-based, half-open (bp)."
        )


def split_categorical(values: pd.Series, *, what: str) -> pd.Categorical:
    """Return a ``split`` column as a categorical with the categories ``train``/``val``/``test``."""
    found = set(pd.unique(values.dropna().astype(str)))
    unknown = sorted(found - set(K.SPLITS))
    if unknown:
        raise ValueError(f"{what}[{K.SPLIT!r}] has values {unknown}; expected only {list(K.SPLITS)}.")
    return pd.Categorical(values.to_numpy(dtype=object), categories=list(K.SPLITS))
