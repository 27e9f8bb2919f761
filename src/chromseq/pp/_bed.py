"""Parsing of region files: BED, narrowPeak and ChromTransfer label files (BED6+1 or CSV).

Every parser returns a table with one row per input line and the columns
``chrom``, ``start``, ``end`` (0-based half-open), ``center`` (summit or centre),
``score`` (rank key for consensus merging), ``label`` (1 open / 0 closed),
``dhs`` (the row is an accessible element in some cell type) and ``line``
(1-based line number in the file, for error messages).
"""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

Format = Literal["chromtransfer", "narrowPeak", "bed"]
_HEADER = ("#", "track", "browser")
_CSV_LINE = re.compile(r"^(?P<chrom>[^\s,:]+):(?P<start>-?\d+)-(?P<end>-?\d+),(?P<label>[^\s,]+)\s*$")
#: The same line format, matched over a whole text of lines at once (findall runs in C: ~10x faster than a per-row extract).
_CSV_LINES = re.compile(r"^([^\s,:]+):(-?\d+)-(-?\d+),([^\s,]+)[^\S\n]*$", re.MULTILINE)
_REGION_NAME = re.compile(r"^(?P<chrom>[^\s:]+):(?P<start>-?\d+)-(?P<end>-?\d+)$")
NEGATIVE = "NEGATIVE"
NEG_SUFFIX = "_NEG"


@dataclass
class RegionFile:
    """One parsed per-cell-type file."""

    celltype: str
    path: str
    format: Format
    table: pd.DataFrame


def read_text_lines(path: str | os.PathLike) -> list[str]:
    """Read a text file, gzip or plain (detected from the content, not the suffix)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"region file {str(path)!r} does not exist.")
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            return fh.read().splitlines()
    except (UnicodeDecodeError, OSError, EOFError) as err:
        raise ValueError(f"{path} is not a readable text/BED file: {err}") from err


def read_region_file(celltype: str, path: str | os.PathLike) -> RegionFile:
    """Parse a BED/narrowPeak/ChromTransfer file for ``celltype``; errors name the file and line."""
    lines = read_text_lines(path)
    text = pd.Series(lines, dtype=object)
    keep = (text.str.strip().str.len() > 0) & ~text.str.startswith(_HEADER)
    number = np.flatnonzero(keep.to_numpy()) + 1
    data = text[keep.to_numpy()].reset_index(drop=True)
    if not len(data):
        raise ValueError(f"{path} has no regions (the file is empty or holds only header lines).")
    if "\t" not in data.iloc[0] and _CSV_LINE.match(data.iloc[0]):
        table, fmt = _parse_label_csv(data, number, path), "chromtransfer"
    else:
        table, fmt = _parse_bed(data, number, path)
    if fmt == "chromtransfer":
        table = _apply_labels(table, celltype, path)
    _check_coordinates(table, path, lines)
    return RegionFile(celltype=celltype, path=str(path), format=fmt, table=table)


def _fail(path, line: int, text: str, problem: str) -> ValueError:
    return ValueError(f"{path}, line {line}: {problem}: {text[:200]!r}")


def _parse_bed(data: pd.Series, number: np.ndarray, path) -> tuple[pd.DataFrame, Format]:
    nfields = data.str.count("\t").to_numpy() + 1
    if (nfields < 3).any():
        i = int(np.argmax(nfields < 3))
        raise _fail(path, number[i], data.iloc[i], "expected at least 3 tab-separated fields (chrom, start, end)")
    if (nfields != nfields[0]).any():
        i = int(np.argmax(nfields != nfields[0]))
        raise _fail(path, number[i], data.iloc[i], f"has {nfields[i]} fields where line {number[0]} has {nfields[0]}")
    fields = data.str.split("\t", expand=True)
    table = pd.DataFrame({"chrom": fields[0].str.strip(), "line": number})
    table["start"] = _integers(fields[1], "start", data, number, path)
    table["end"] = _integers(fields[2], "end", data, number, path)
    table["center"] = (table["start"] + table["end"]) // 2
    table["score"] = 0.0
    table["label"] = np.float32(1)
    table["dhs"] = True
    ncol = nfields[0]
    if ncol >= 7 and pd.to_numeric(fields[6], errors="coerce").isna().all():
        table["raw_label"] = fields[6].str.strip()
        return table, "chromtransfer"
    if ncol == 10:
        summit = _integers(fields[9], "summit (column 10)", data, number, path)
        has = summit >= 0
        table.loc[has, "center"] = table["start"][has] + summit[has]
        pvalue = pd.to_numeric(fields[7], errors="coerce").to_numpy(float)
        signal = pd.to_numeric(fields[6], errors="coerce").to_numpy(float)
        table["score"] = np.where(np.isfinite(pvalue) & (pvalue >= 0), pvalue, signal)
        return table, "narrowPeak"
    if ncol >= 5:
        table["score"] = pd.to_numeric(fields[4], errors="coerce").fillna(0.0).to_numpy(float)
    return table, "bed"


def _parse_label_csv(data: pd.Series, number: np.ndarray, path) -> pd.DataFrame:
    parts = _split_label_lines(data)
    if parts is None:  # some line does not match: find the first one for the message
        parts = data.str.extract(_CSV_LINE)
        bad = parts["chrom"].isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise _fail(path, number[i], data.iloc[i], "expected 'chrom:start-end,LABEL' like the other lines")
        parts = {k: parts[k].to_numpy() for k in ("chrom", "start", "end", "label")}
    table = pd.DataFrame({"chrom": parts["chrom"], "line": number})
    table["start"] = np.asarray(parts["start"]).astype(np.int64)
    table["end"] = np.asarray(parts["end"]).astype(np.int64)
    table["center"] = (table["start"] + table["end"]) // 2
    table["score"] = 0.0
    table["raw_label"] = parts["label"]
    return table


def _split_label_lines(data: pd.Series) -> dict[str, np.ndarray] | None:
    """Fields of every ``chrom:start-end,LABEL`` line in one C-level regex pass; ``None`` if a line does not match."""
    matches = _CSV_LINES.findall("\n".join(data))
    if len(matches) != len(data) or not matches:  # each line matches at most once, so equal counts: all match
        return None
    fields = np.array(matches, dtype=object)  # (n, 4) str
    return {"chrom": fields[:, 0], "start": fields[:, 1], "end": fields[:, 2], "label": fields[:, 3]}


def _integers(col: pd.Series, what: str, data: pd.Series, number: np.ndarray, path) -> np.ndarray:
    values = pd.to_numeric(col.str.strip(), errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        i = int(np.argmax(bad))
        raise _fail(path, number[i], data.iloc[i], f"{what} {col.iloc[i]!r} is not an integer")
    return values.astype(np.int64)


def _check_coordinates(table: pd.DataFrame, path, lines: list[str]) -> None:
    for bad, problem in (
        (table["start"].to_numpy() < 0, "negative start coordinate"),
        (table["start"].to_numpy() >= table["end"].to_numpy(), "start >= end (BED is 0-based, half-open)"),
    ):
        if bad.any():
            line = int(table["line"].to_numpy()[bad][0])
            raise _fail(path, line, lines[line - 1], problem)


def _apply_labels(table: pd.DataFrame, celltype: str, path) -> pd.DataFrame:
    """Turn ChromTransfer labels into X values: ``<CELL>`` 1, ``<CELL>_NEG`` 0, ``Negative`` 0."""
    codes, names = pd.factorize(table.pop("raw_label"))  # a few distinct labels: upper-case those only
    upper = pd.Series(np.asarray(pd.Index(names).str.upper(), dtype=object)[codes], index=table.index)
    cell = celltype.upper()
    pos, neg, background = upper == cell, upper == cell + NEG_SUFFIX, upper == NEGATIVE
    unknown = ~(pos | neg | background)
    if unknown.any():
        found = sorted(set(upper[unknown]))[:5]
        names = sorted({u.removesuffix(NEG_SUFFIX) for u in upper[upper != NEGATIVE]})
        i = int(np.argmax(unknown.to_numpy()))
        raise ValueError(
            f"{path}, line {table['line'].iloc[i]}: label(s) {found} do not name cell type {celltype!r}: "
            f"expected {cell}, {cell}{NEG_SUFFIX} or Negative (case-insensitive). The file's labels name "
            f"{names}; use that name as the cell type, e.g. read_regions({{{names[0]!r}: ...}})."
        )
    table["label"] = pos.to_numpy().astype(np.float32)
    table["dhs"] = (pos | neg).to_numpy()
    return table


def chrom_order(chroms) -> list[str]:
    """Sort chromosome names naturally: 1..22, X, Y, M, then the rest alphabetically (any ``chr`` prefix)."""

    def key(name: str):
        base = name[3:] if name.lower().startswith("chr") else name
        if base.isdigit():
            return (0, int(base), name)
        special = {"X": 1, "Y": 2, "M": 3, "MT": 3}
        return (special.get(base.upper(), 4), 0, name)

    return sorted({str(c) for c in chroms}, key=key)


def parse_region_names(names: pd.Index | pd.Series) -> pd.DataFrame | None:
    """Parse ``chrom:start-end`` names; ``None`` unless every name parses."""
    parts = pd.Series(np.asarray(names, dtype=str), dtype=object).str.extract(_REGION_NAME)
    if len(parts) == 0 or parts["chrom"].isna().any():
        return None
    return pd.DataFrame(
        {
            "chrom": parts["chrom"].to_numpy(),
            "start": parts["start"].astype(np.int64),
            "end": parts["end"].astype(np.int64),
        }
    )
