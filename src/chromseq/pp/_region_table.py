"""A ready table of regions x cell types (DataFrame or CSV) for ``pp.read_regions``: regions and values."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._regions import one_spelling, parse_region_names, to_numbers

#: ``value=`` of a table of regions x cell types whose cell type columns hold quantities.
TABLE_VALUES = "values"


def read_table(
    table: pd.DataFrame | str | Path, source: str, *, width: int | None, quantity: bool
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Windows (``chrom``, ``start``, ``end``), ``(n, n_celltypes)`` float32 values and the cell type names.

    ``quantity``: the columns hold finite numbers >= 0 (NaN unknown), else labels 1/0/NaN.
    """
    frame = table.copy() if isinstance(table, pd.DataFrame) else _read_csv_table(Path(table))
    if frame.columns.duplicated().any():
        raise ValueError(
            f"duplicate cell type columns {sorted(set(frame.columns[frame.columns.duplicated()]))} in {source}."
        )
    coord_cols = [K.CHROM, K.START, K.END]
    if set(coord_cols) <= set(frame.columns):
        coords = frame[coord_cols].reset_index(drop=True)
        values = frame.drop(columns=coord_cols)
    else:
        try:
            coords = parse_region_names(frame.index, what="index names") if len(frame.index) else None
        except ValueError:
            coords = None
        if coords is None:
            raise ValueError(
                f"{source}: cannot find the regions. Give columns {coord_cols} or region names 'chrom:start-end' "
                "as the index (the first column of a CSV)."
            ) from None
        values = frame
    coords = coords.assign(**{K.CHROM: one_spelling(coords[K.CHROM].to_numpy(), f"read_regions: {source}")})
    coords = _table_coordinates(coords, source, width)
    x = _table_values(values, source, quantity=quantity)
    if len(x) == 0 or x.shape[1] == 0:
        raise ValueError(f"{source} has no regions or no cell type columns.")
    return coords, x, [str(c) for c in values.columns]


def _read_csv_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"region table {str(path)!r} does not exist.")
    if path.suffix.lower() in (".bed", ".narrowpeak", ".gz") and not path.name.lower().endswith(".csv.gz"):
        raise ValueError(
            f"{path} looks like a region file: pass it with its cell type, read_regions({{'K562': path}})."
        )
    with open(path, "rb") as fh:
        opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh), [])
    if not header:
        raise ValueError(f"{path} is empty: expected a CSV table of regions x cell types.")
    dup = sorted({h for h in header if header.count(h) > 1 and h})
    if dup:
        raise ValueError(f"duplicate cell type columns {dup} in {path}.")
    frame = pd.read_csv(path)
    if K.CHROM not in frame.columns:
        frame = frame.set_index(frame.columns[0])
    return frame


def _table_coordinates(coords: pd.DataFrame, source: str, width: int | None) -> pd.DataFrame:
    start = to_numbers(coords[K.START])
    end = to_numbers(coords[K.END])
    for bad, problem in (
        (~np.isfinite(start) | ~np.isfinite(end), "coordinates that are not integers"),
        (start < 0, "a negative start coordinate"),
        (start >= end, "start >= end (0-based, half-open)"),
    ):
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{source}: row {i} ({coords.iloc[i].tolist()}) has {problem}.")
    out = pd.DataFrame(
        {"chrom": coords[K.CHROM].astype(str).to_numpy(), "start": start.astype(np.int64), "end": end.astype(np.int64)}
    )
    if width is not None:
        out["start"] = np.maximum((out["start"] + out["end"]) // 2 - width // 2, 0)
        out["end"] = out["start"] + width
    dup = out.duplicated(keep=False)
    if dup.any():
        shown = out[dup].head(4).astype(str).agg(lambda r: f"{r['chrom']}:{r['start']}-{r['end']}", axis=1).tolist()
        raise ValueError(
            f"{source}: {dup.sum()} rows give the same window (after resizing), e.g. {shown}; give each region once."
        )
    return out


def _table_values(values: pd.DataFrame, source: str, *, quantity: bool = False) -> np.ndarray:
    x = np.empty(values.shape, dtype=np.float32)
    for j, col in enumerate(values.columns):
        raw = values[col]
        num = pd.Series(to_numbers(raw.astype(object).where(raw.notna(), np.nan)), index=raw.index)
        if (num.isna() & raw.notna()).any():
            raise ValueError(
                f"{source}: column {col!r} holds non-numeric values such as {raw[num.isna() & raw.notna()].iloc[0]!r}."
            )
        vals = num.to_numpy(np.float64)
        if quantity:
            _check_table_quantities(vals, col, values.index, source)
            x[:, j] = vals
            continue
        odd = ~np.isnan(vals) & (vals != 0) & (vals != 1)
        if odd.any():
            raise ValueError(
                f"{source}: column {col!r} holds {np.unique(vals[odd])[:5].tolist()}; labels must be 1 (open), 0 (closed) "
                "or empty (unknown)."
            )
        x[:, j] = vals
    return x


def _check_table_quantities(vals: np.ndarray, col, index: pd.Index, source: str) -> None:
    for bad, problem in ((np.isinf(vals), "an infinite value"), (vals < 0, "a negative value")):
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"{source}: column {col!r} holds {problem} ({vals[i]:g}) in row {i} ({index[i]!r}): values must be "
                "finite numbers >= 0 (empty for unknown); fix the table."
            )
