"""Variants from VCF/BCF files (read with pysam) or tables, one row per ALT allele."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from chromseq._regions import to_numbers
from chromseq._settings import logger

#: Columns of a variants table, in order.
VARIANT_COLUMNS = ("chrom", "pos", "ref", "alt", "id")


def read_vcf(path: str | os.PathLike, *, region: str | None = None) -> pd.DataFrame:
    """Read the variants of a VCF or BCF file, one row per ALT allele.

    The file is parsed by htslib through pysam (``pysam.VariantFile``): VCF (plain, bgzip, or plain gzip,
    which is decompressed to a temporary file first, as htslib reads only bgzip) or BCF; ``region`` needs a
    bgzip/BCF file with a ``.tbi``/``.csi`` index. Multi-allelic records are split: a record
    ``REF=TG ALT=TGG,T`` gives two rows sharing ``chrom``, ``pos``, ``ref`` and ``id``.
    Alleles are kept as written (upper-cased); symbolic ALTs (``<DEL>``), ``*`` and breakends
    are kept too, and :func:`chromseq.tl.score_variants` flags them.

    Parameters
    ----------
    path
        VCF (``.vcf``, ``.vcf.gz``) or BCF file.
    region
        Only records in this region (``'20'``, ``'20:1000000-2000000'``; 1-based, inclusive).

    Returns
    -------
    pandas.DataFrame
        Columns ``chrom`` (str), ``pos`` (int64, 1-based as in the VCF), ``ref``, ``alt`` and
        ``id`` (str, ``''`` where the VCF has ``.``), one row per ALT allele in file order.
        Records without ALT (``.``) are dropped with a logged count.

    Examples
    --------
    >>> variants = cs.io.read_vcf("cohort.vcf.gz")  # doctest: +SKIP
    """
    import pysam

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VCF file {str(path)!r} does not exist.")
    with _htslib_readable(path) as readable:
        frame, n_no_alt = _records(pysam, readable, region, shown=path)
    if n_no_alt:
        logger.info("read_vcf: dropped %d record(s) without an ALT allele (ALT '.') from %s", n_no_alt, path.name)
    logger.info("read_vcf: %d ALT alleles from %s", len(frame), path.name)
    return frame


def _records(pysam, path: Path, region: str | None, *, shown: Path) -> tuple[pd.DataFrame, int]:
    """Read the records of ``path`` (``shown`` is the user's file, named in errors)."""
    rows: list[tuple[str, int, str, str, str]] = []
    n_no_alt = 0
    try:
        handle = pysam.VariantFile(str(path))
    except (OSError, ValueError) as err:
        raise ValueError(f"could not read {str(shown)!r} as VCF/BCF ({err}); check the file format.") from None
    with handle:
        n_header = _header_lines(path)
        records = handle.fetch(region=region) if region is not None else handle
        n = 0
        try:
            for n, rec in enumerate(records, 1):  # noqa: B007 (n names the record that failed)
                if not rec.alts:
                    n_no_alt += 1
                    continue
                vid = "" if rec.id in (None, ".") else str(rec.id)
                ref = rec.ref.upper()
                rows.extend((str(rec.chrom), int(rec.pos), ref, alt.upper(), vid) for alt in rec.alts)
        except (OSError, ValueError, TypeError, AttributeError) as err:
            where = f"record {n + 1:,}" + (f" (line {n_header + n + 1:,})" if region is None and n_header else "")
            raise ValueError(
                f"{str(shown)!r}: VCF {where} cannot be read ({err}): the file is truncated or the record is "
                "malformed; fix that line (8 tab-separated columns CHROM POS ID REF ALT QUAL FILTER INFO), or "
                "write the file again."
            ) from None
    frame = pd.DataFrame(rows, columns=list(VARIANT_COLUMNS))
    frame["pos"] = frame["pos"].astype(np.int64)
    return frame, n_no_alt


def _header_lines(path: Path) -> int:
    """Return the number of ``#`` header lines of a VCF text file (plain or gzip), 0 for BCF or when unreadable."""
    try:
        with open(path, "rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gz else open(path, "rb") as fh:
            n = 0
            for line in fh:
                if not line.startswith(b"#"):
                    return n
                n += 1
            return n
    except (OSError, EOFError, zlib.error):
        return 0


@contextlib.contextmanager
def _htslib_readable(path: Path) -> Iterator[Path]:
    """Yield ``path``, or for a plain-gzip (not bgzip) file a decompressed temporary copy: htslib reads only bgzip."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    plain_gzip = head[:2] == b"\x1f\x8b" and not (head[3] & 4 and head[12:14] == b"BC")
    if not plain_gzip:
        yield path
        return
    logger.debug("read_vcf: %s is plain gzip, not bgzip; reading a decompressed copy", path.name)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "variants.vcf"
        try:
            with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise ValueError(
                f"{str(path)!r} is a truncated or damaged gzip file ({type(err).__name__}: {err}); download or "
                "compress it again (bgzip lets chromseq read regions of it)."
            ) from None
        yield plain


def as_variant_table(variants: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Return ``variants`` as a clean table with :data:`VARIANT_COLUMNS` (a VCF path is read).

    A DataFrame needs ``chrom``, ``pos`` (1-based), ``ref`` and ``alt`` and may have ``id``;
    an ALT holding several alleles separated by commas is split into one row per allele.
    """
    if isinstance(variants, str | os.PathLike):
        return read_vcf(variants)
    if not isinstance(variants, pd.DataFrame):
        raise TypeError(
            f"variants must be a VCF/BCF path or a DataFrame (chrom, pos, ref, alt[, id]), got {type(variants).__name__}."
        )
    missing = [c for c in VARIANT_COLUMNS[:4] if c not in variants.columns]
    if missing:
        raise KeyError(
            f"the variants table lacks column(s) {missing}; it needs chrom, pos (1-based), ref, alt and "
            f"optionally id. It has {list(variants.columns)}."
        )
    table = variants.loc[:, [c for c in VARIANT_COLUMNS if c in variants.columns]].copy()
    if "id" not in table:
        table["id"] = ""
    if table[["chrom", "pos", "ref", "alt"]].isna().any().any():
        raise ValueError("the variants table has missing chrom/pos/ref/alt values; drop or fill those rows.")
    pos = pd.Series(to_numbers(table["pos"]), index=table.index)
    if pos.isna().any() or (pos % 1 != 0).any() or (pos < 1).any():
        raise ValueError("variants 'pos' must be whole numbers >= 1 (1-based VCF positions).")
    table["pos"] = pos.astype(np.int64)
    table["id"] = table["id"].fillna("").astype(str).replace(".", "")
    for col in ("chrom", "ref", "alt"):
        table[col] = table[col].astype(str)
    table["ref"] = table["ref"].str.upper()
    table["alt"] = table["alt"].str.upper().str.split(",")
    table = table.explode("alt", ignore_index=True)
    return table.loc[:, list(VARIANT_COLUMNS)]
