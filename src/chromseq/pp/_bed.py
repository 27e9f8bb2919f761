"""Parsing of region files: BED, narrowPeak and ChromTransfer label files (BED6+1 or CSV).

Every parser returns a table with one row per input line and the columns
``chrom``, ``start``, ``end`` (0-based half-open), ``center`` (summit or centre),
``score`` (rank key for consensus merging), ``label`` (1 open / 0 closed),
``dhs`` (the row is an accessible element in some cell type) and ``line``
(1-based line number in the file, for error messages); with ``value=``, also
``value`` (float64, the quantity read from the column asked for).
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from chromseq._regions import to_numbers
from chromseq._settings import logger

Format = Literal["chromtransfer", "narrowPeak", "bed"]
_HEADER = ("#", "track", "browser")
_CSV_LINE = re.compile(r"^(?P<chrom>[^\s,:]+):(?P<start>-?\d+)-(?P<end>-?\d+),(?P<label>[^\s,]+)\s*$")
#: The same line format, matched over a whole text of lines at once (findall runs in C: ~10x faster than a per-row extract).
_CSV_LINES = re.compile(r"^([^\s,:]+):(-?\d+)-(-?\d+),([^\s,]+)[^\S\n]*$", re.MULTILINE)
#: Reference names as the SAM specification allows them (no whitespace, no leading '*' or '=').
_CONTIG_NAME = re.compile(r"[0-9A-Za-z!#$%&+./:;?@^_|~-][0-9A-Za-z!#$%&*+./:;=?@^_|~-]*")
_WHITESPACE = re.compile(r"\s")
_LONG_NUMBER = re.compile(r"(?i:chr)?\d{4,}")
#: A file whose regions fall on at least this many chromosomes of one region each (and more than half of its
#: chromosomes) gets a warning: damaged names usually appear once each.
SINGLETON_CHROMOSOMES = 10
#: Coordinates at or above this (2^53, where float64 parsing stops being exact) are rejected as damaged.
MAX_COORDINATE = 2**53
#: Named columns of BED/narrowPeak files (1-based): BED ``score``; narrowPeak ``signalValue``, ``pValue``, ``qValue``.
VALUE_COLUMNS = {"score": 5, "signalValue": 7, "pValue": 8, "qValue": 9}
NARROWPEAK_ONLY = ("signalValue", "pValue", "qValue")
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
    if path.is_dir():
        raise ValueError(f"region file {str(path)!r} is a directory: pass the path of a BED/narrowPeak file in it.")
    if not path.is_file():
        raise FileNotFoundError(f"region file {str(path)!r} does not exist.")
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as err:
        what = "a damaged or truncated gzip file" if gzipped else "not a readable text/BED file"
        raise ValueError(f"{path} is {what} ({err}): recompress or download it again.") from None
    try:
        return raw.decode("utf-8-sig").splitlines()  # a byte-order mark (Windows editors) is not part of line 1
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ValueError(
            f"{path}, line {line}: not UTF-8 text (byte {raw[err.start]:#04x}); is it a BED/narrowPeak file?"
        ) from None


def read_region_file(celltype: str, path: str | os.PathLike, value: str | int | None = None) -> RegionFile:
    """Parse a BED/narrowPeak/ChromTransfer file for ``celltype``; errors name the file and line.

    ``value``: also read a quantity into ``table['value']``: a name of :data:`VALUE_COLUMNS`, a
    1-based column number, or a name in the file's header line (``#chrom start end signal``).
    """
    lines = read_text_lines(path)
    text = pd.Series(lines, dtype=object)
    keep = (text.str.strip().str.len() > 0) & ~text.str.startswith(_HEADER)
    number = np.flatnonzero(keep.to_numpy()) + 1
    data = text[keep.to_numpy()].reset_index(drop=True)
    header, first_line = _header_names(lines, number, data, value)
    if first_line:  # a plain header line naming the columns: not a region
        number, data = number[1:], data.iloc[1:].reset_index(drop=True)
    if not len(data):
        raise ValueError(f"{path} has no regions (the file is empty or holds only header lines).")
    if "\t" not in data.iloc[0] and _CSV_LINE.match(data.iloc[0]):
        table, fmt = _parse_label_csv(data, number, path), "chromtransfer"
    else:
        table, fmt = _parse_bed(data, number, path)
    if fmt == "chromtransfer":
        if value is not None:
            raise ValueError(
                f"{path} is a ChromTransfer label file: it holds labels, not a quantity; pass value=None to read its "
                "labels, or a BED/narrowPeak file with the values."
            )
        table = _apply_labels(table, celltype, path)
    if value is not None:
        table["value"] = _read_values(data, number, path, fmt, value, header)
    _check_coordinates(table, path, lines)
    warn_chromosome_names(table["chrom"], table["line"], path)
    return RegionFile(celltype=celltype, path=str(path), format=fmt, table=table)


def implausible_chromosome(name: str) -> str | None:
    """Why ``name`` does not look like a contig name (``None`` if it does).

    Accepted: the characters the SAM specification allows in a reference name, without
    whitespace, naming ``chr`` at most once, and not a bare number of 4 or more digits
    (a coordinate that slid into the chromosome column).
    """
    if _WHITESPACE.search(name):
        return "holds whitespace"
    if not _CONTIG_NAME.fullmatch(name):
        return "holds characters a contig name cannot have"
    if name.lower().count("chr") > 1:
        return "names 'chr' twice"
    if _LONG_NUMBER.fullmatch(name):
        return "is a number, not a chromosome"
    return None


def warn_chromosome_names(chrom: pd.Series, line: pd.Series, path) -> None:
    """Log a warning for chromosome names that look damaged, and for many chromosomes of one region each.

    Such names fail only later (``pp.add_sequences`` cannot find them in the genome); this says so at read time.
    """
    codes, names = pd.factorize(chrom)
    counts = np.bincount(codes, minlength=len(names))
    first = np.full(len(names), -1, dtype=np.int64)
    first[codes[::-1]] = np.asarray(line)[::-1]  # the first line of each name
    odd = [(n, r, first[i]) for i, n in enumerate(names) if (r := implausible_chromosome(str(n)))]
    if odd:
        shown = "; ".join(f"{n!r} (line {ln}) {r}" for n, r, ln in odd[:5])
        logger.warning(
            "%s: %d chromosome name(s) do not look like contig names: %s%s. Check the file's first column: "
            "chromosome names must match the genome's, or these regions fail in chromseq.pp.add_sequences.",
            path, len(odd), shown, " ..." if len(odd) > 5 else "",
        )  # fmt: skip
    single = np.flatnonzero(counts == 1)
    if len(single) >= SINGLETON_CHROMOSOMES and len(single) > len(names) / 2:
        shown = ", ".join(f"{names[i]!r} (line {first[i]})" for i in single[:5])
        logger.warning(
            "%s: the regions fall on %d chromosomes, %d of which hold a single region (%s ...): are the chromosome "
            "names damaged, or the columns shifted?",
            path, len(names), len(single), shown,
        )  # fmt: skip


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
    labels = fields[6].str.strip() if ncol >= 7 else None
    if labels is not None and np.isnan(to_numbers(labels)).all() and not (labels == ".").all():
        table["raw_label"] = labels  # a column of '.' is BED's "no value" (narrowPeak signal), never labels
        return table, "chromtransfer"
    if ncol == 10:
        summit = _integers(fields[9], "summit (column 10)", data, number, path)
        _check_summits(summit, table, data, number, path)
        has = summit >= 0
        table.loc[has, "center"] = table["start"][has] + summit[has]
        pvalue = to_numbers(fields[7])
        signal = to_numbers(fields[6])
        table["score"] = np.where(np.isfinite(pvalue) & (pvalue >= 0), pvalue, signal)
        return table, "narrowPeak"
    if ncol >= 5:
        score = to_numbers(fields[4])
        table["score"] = np.where(np.isnan(score), 0.0, score)
    return table, "bed"


def _header_names(
    lines: list[str], number: np.ndarray, data: pd.Series, value: str | int | None
) -> tuple[list[str] | None, bool]:
    """Column names of the header line, if ``value`` names a column that is not a standard one.

    The header is a first line naming ``value`` itself (``chrom<TAB>start<TAB>end<TAB>signal``; then
    the second value is True: that line is no region), else the last ``#`` line before the first region.
    """
    if not isinstance(value, str) or value in VALUE_COLUMNS or not len(data):
        return None, False
    first = [f.strip() for f in data.iloc[0].split("\t")]
    if value in first:
        return first, True
    comments = [line for line in lines[: number[0] - 1] if line.startswith("#")]
    return ([f.strip() for f in comments[-1].lstrip("#").split("\t")] if comments else None), False


def _read_values(
    data: pd.Series, number: np.ndarray, path, fmt: Format, value: str | int, header: list[str] | None
) -> np.ndarray:
    """``(n,)`` float64 values of the column ``value`` names: finite numbers >= 0, else an error naming the line."""
    ncol = int(data.iloc[0].count("\t")) + 1
    column = _value_column(path, fmt, ncol, value, header)
    raw = data.str.split("\t", expand=True)[column - 1].str.strip()
    values = to_numbers(raw)
    what = f"value {value!r} (column {column})"
    for bad, problem in (
        (np.isnan(values), "is not a number"),
        (np.isinf(values), "is infinite"),
        (values < 0, "is negative (narrowPeak writes -1 where a value is not assigned)"),
    ):
        if bad.any():
            i = int(np.argmax(bad))
            raise _fail(
                path, number[i], data.iloc[i],
                f"{what} {raw.iloc[i]!r} {problem}: values must be numbers >= 0; choose a column the file fills "
                "(value='signalValue' for narrowPeak, 'score' for BED column 5) or fix the line",
            )  # fmt: skip
    return values


def _value_column(path, fmt: Format, ncol: int, value: str | int, header: list[str] | None) -> int:
    """Return the 1-based column ``value`` names in a file of ``ncol`` columns; a clear error if there is none."""
    named = "'signalValue', 'pValue', 'qValue', 'score'" if fmt == "narrowPeak" else "'score' (BED column 5)"
    choices = f"{named}, a column number 4..{ncol}, or a name of the file's header line"
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        if 4 <= value <= ncol:
            return int(value)
        raise ValueError(f"{path}: value={value!r} is not a column of this {ncol}-column file: pass {choices}.")
    if value in NARROWPEAK_ONLY and fmt != "narrowPeak":
        raise ValueError(
            f"{path}: value={value!r} is a narrowPeak column, but the file has {ncol} columns, not narrowPeak's 10: "
            f"pass {choices}."
        )
    if value in VALUE_COLUMNS:
        if VALUE_COLUMNS[value] > ncol:
            raise ValueError(
                f"{path}: value={value!r} is column {VALUE_COLUMNS[value]}, the file has {ncol}: pass {choices}."
            )
        return VALUE_COLUMNS[value]
    if header is not None and value in header and len(header) == ncol:
        return header.index(value) + 1
    shown = f" (its header names {header})" if header else ""
    raise ValueError(f"{path}: no column named {value!r}{shown}: pass {choices}.")


def _check_summits(summit: np.ndarray, table: pd.DataFrame, data: pd.Series, number: np.ndarray, path) -> None:
    """Raise unless each narrowPeak summit (an offset from the peak start) is -1 (not set) or inside the peak."""
    length = table["end"].to_numpy() - table["start"].to_numpy()
    bad = (summit < -1) | (summit >= np.maximum(length, 1))
    if bad.any():
        i = int(np.argmax(bad))
        raise _fail(
            path,
            number[i],
            data.iloc[i],
            f"summit offset {summit[i]} (column 10) lies outside the {length[i]}-bp peak: it must be -1 (no summit) "
            f"or 0..{length[i] - 1}, counted from the peak's start",
        )


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
    table["start"] = _integers(pd.Series(parts["start"], dtype=object), "start", data, number, path)
    table["end"] = _integers(pd.Series(parts["end"], dtype=object), "end", data, number, path)
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
    values = to_numbers(col.str.strip())
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        i = int(np.argmax(bad))
        raise _fail(path, number[i], data.iloc[i], f"{what} {col.iloc[i]!r} is not an integer")
    huge = np.abs(values) >= MAX_COORDINATE
    if huge.any():
        i = int(np.argmax(huge))
        raise _fail(
            path,
            number[i],
            data.iloc[i],
            f"{what} {col.iloc[i].strip()} is too large for a coordinate (2^53 bp or more)",
        )
    return values.astype(np.int64)


def _check_coordinates(table: pd.DataFrame, path, lines: list[str]) -> None:
    for bad, problem in (
        (table["chrom"].str.len().to_numpy() == 0, "empty chromosome name (column 1)"),
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
