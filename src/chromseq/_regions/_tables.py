"""Region coordinates from other tools' tables: columns or ``chr:start-end`` names, checked once."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._regions._names import parse_region_names

#: Accepted names of the chromosome column, in order of preference (ours, CREsted/UCSC, GRanges).
CHROM_COLUMNS = (K.CHROM, "chr", "seqnames")

#: A number whose exponent has 5 or more digits: outside float64 either way, and pandas' parser crashes (a
#: segmentation fault, pandas 2.3) on exponents beyond 2**31, such as '1e4002269400' in a damaged file.
_HUGE_EXPONENT = re.compile(r"\d[eE][+-]?\d{5,}")


def to_numbers(col: pd.Series) -> np.ndarray:
    """``pd.to_numeric(col, errors='coerce')`` as float64, NaN for text that is no number (or out of range)."""
    if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
        huge = [isinstance(v, str) and _HUGE_EXPONENT.search(v) is not None for v in col]
        if any(huge):
            col = col.astype(object).mask(np.asarray(huge), np.nan)
    return pd.Series(pd.to_numeric(col, errors="coerce")).to_numpy(dtype=float, na_value=np.nan)


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
        frame = parse_region_names(table.index, what=f"{what} names")
        check_coordinates(frame, what=f"{what} names")
        return frame, None
    frame = pd.DataFrame({K.CHROM: table[chrom_col].astype(str).to_numpy(dtype=object)})
    for col in (K.START, K.END):
        values = to_numbers(table[col])
        if np.isnan(values).any() or not np.all(np.mod(values, 1) == 0):
            raise ValueError(
                f"{what}[{col!r}] must hold whole numbers (bp), found {table[col].dtype} with gaps or fractions."
            )
        frame[col] = values.astype(np.int64)
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
