"""Region coordinates from other tools' tables: columns or ``chr:start-end`` names, checked once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from chromseq import _keys as K

#: Accepted names of the chromosome column, in order of preference (ours, CREsted/UCSC, GRanges).
CHROM_COLUMNS = (K.CHROM, "chr", "seqnames")
#: ``chr1:100-600`` (snapATAC2, CREsted, 10x), ``chr1-100-600`` (Signac, ArchR) or ``chr1_100_600``.
#: The chromosome is everything before the last two numbers, so ``chrUn_gl000220:1-5`` parses.
NAME_PATTERN = r"^(?P<chrom>.+?)[:_-](?P<start>\d+)[-_](?P<end>\d+)$"


def region_names(chrom: Sequence[str], start: Sequence[int], end: Sequence[int]) -> pd.Index:
    """Return the ``chrom:start-end`` names of regions (the ``obs_names`` convention of chromseq)."""
    chrom = pd.Series(np.asarray(chrom, dtype=object)).astype(str)
    start = pd.Series(np.asarray(start, dtype=np.int64)).astype(str)
    end = pd.Series(np.asarray(end, dtype=np.int64)).astype(str)
    return pd.Index((chrom + ":" + start + "-" + end).to_numpy(), dtype=object)


def parse_region_names(names: Sequence[str], *, what: str = "var_names") -> pd.DataFrame:
    """Parse names such as ``chr1:100-600`` into ``chrom``/``start``/``end`` columns (vectorised).

    Raises
    ------
    ValueError
        If any name does not parse (the message shows the first ones).
    """
    parts = pd.Series(np.asarray(names, dtype=object)).astype(str).str.extract(NAME_PATTERN)
    bad = parts[K.CHROM].isna().to_numpy()
    if bad.any():
        examples = list(np.asarray(names, dtype=object)[bad][:3])
        raise ValueError(
            f"{int(bad.sum())} of {len(bad)} {what} are not regions like 'chr1:100-600' (e.g. {examples}): "
            "give the coordinates as columns 'chrom' (or 'chr'), 'start' and 'end' instead."
        )
    frame = pd.DataFrame(
        {
            K.CHROM: parts[K.CHROM].to_numpy(dtype=object),
            K.START: parts[K.START].astype(np.int64).to_numpy(),
            K.END: parts[K.END].astype(np.int64).to_numpy(),
        }
    )
    check_coordinates(frame, what=what)
    return frame


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
