"""FASTA reading for :class:`chromseq.Genome`: the index through pyfaidx, whole records as uint8 codes.

``pyfaidx`` reads a whole chromosome from a bgzip FASTA through ``Bio.bgzf`` at about 4.5 Mb/s
(14 s for GRCh37 chr20); here the bgzip blocks listed in the ``.gzi`` index are decompressed
directly with :mod:`zlib`, in threads, and the line breaks are cut out with one reshape
(under 1 s for chr20 on 2 busy cores).
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ._codes import ASCII_TO_CODE
from ._settings import logger


def read_index(path: Path) -> tuple[dict[str, tuple[int, ...]], np.ndarray | None]:
    """Read (or build) the .fai/.gzi index with pyfaidx; return plain records and bgzip blocks."""
    import pyfaidx

    try:
        fai = pyfaidx.Faidx(str(path))
    except pyfaidx.UnsupportedCompressionFormat as err:
        raise ValueError(
            f"{path} is compressed with plain gzip, which has no random access. Recompress it with "
            f"`gunzip -c {path.name} | bgzip > {path.name.split('.')[0]}.fa.gz` (htslib), or decompress it."
        ) from err
    except pyfaidx.FastaIndexingError as err:
        raise ValueError(f"{path} is not a valid FASTA file: {err}") from err
    except (struct.error, RuntimeError, EOFError, zlib.error) as err:  # Bio.bgzf on a truncated or damaged file
        raise ValueError(
            f"{path} is a truncated or damaged bgzip file ({type(err).__name__}: {err}); download or compress it "
            "again (`bgzip`), and delete its .fai/.gzi index."
        ) from None
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path} is not a FASTA file: it holds bytes that are not text ({err.reason} at byte {err.start} of a "
            "line). Give a FASTA file, plain or bgzip-compressed."
        ) from None
    except ValueError as err:  # a damaged .fai (too few fields, not numbers) or the same name twice
        raise ValueError(_index_problem(path, err)) from None
    except OSError as err:
        raise ValueError(
            f"cannot read or write the FASTA index of {path} ({err}). Create it with `samtools faidx {path}` "
            "in a writable folder, or copy the FASTA to one."
        ) from err
    try:
        records = {
            name: (int(r.rlen), int(r.offset), int(r.bend), int(r.lenc), int(r.lenb)) for name, r in fai.index.items()
        }
        blocks = None
        if fai._bgzf:  # (compressed start, uncompressed start) of each bgzip block
            blocks = np.array([(b.cstart, b.ustart) for b in fai.gzi_index], dtype=np.int64)
    finally:
        fai.close()
    if not records:
        raise ValueError(f"{path} holds no sequences: is it a FASTA file?")
    return records, blocks


def _index_problem(path: Path, err: ValueError) -> str:
    text = str(err)
    if text.startswith("Duplicate key"):
        return (
            f"{path} names two sequences the same ({text.split(' ', 2)[-1]}): every FASTA header needs its own name; "
            "rename or remove one of them."
        )
    return (
        f"the FASTA index {path}.fai is damaged ({text}); delete it (chromseq rebuilds it) or rebuild it with "
        f"`samtools faidx {path}`."
    )


def read_chromosome(path: Path, name: str, record: tuple[int, ...], blocks: np.ndarray | None) -> np.ndarray:
    """Return the codes ``(size,)`` of sequence ``name``, after checking the index against the file around it."""
    size, offset, bend, line_bases, line_bytes = record
    logger.info("reading %s (%s bp) from %s", name, f"{size:,}", path.name)
    head = min(offset, 4096)  # the header line before the sequence, and a few bytes after it, are checked too
    try:
        if blocks is None:
            with open(path, "rb") as raw:
                raw.seek(offset - head)
                span = raw.read(bend - offset + head + 8)
        else:
            span = _read_bgzf(path, blocks, offset - head, bend - offset + head + 8)
    except (zlib.error, EOFError, IndexError) as err:
        raise ValueError(
            f"{path} is truncated or damaged where sequence {name!r} is stored ({type(err).__name__}: {err}); "
            "download or compress it again, and delete its .fai/.gzi index."
        ) from None
    data = span[head : head + bend - offset]
    check_record(path, name, span[:head], data, span[head + bend - offset :], offset, size)
    letters = np.frombuffer(data, dtype=np.uint8)
    codes = _strip_line_breaks(letters, size, line_bases, line_bytes)
    if codes is None:  # irregular line lengths: drop every line break
        letters = letters[(letters != 10) & (letters != 13)]
        if len(letters) != size:
            raise ValueError(
                f"{path}: sequence {name!r} has {len(letters)} bases but the index says {size}; rebuild the .fai."
            )
        codes = ASCII_TO_CODE[letters]
    return codes


def check_record(path: Path, name: str, before: bytes, data: bytes, after: bytes, offset: int, size: int) -> None:
    """Raise a :class:`ValueError` if the index's record of ``name`` does not fit the bytes of the file.

    ``before``: bytes before the record's offset (its header line), ``data``: the record's bytes as the
    index places them, ``after``: a few bytes after. A record must start right after the line
    ``>name``, hold only sequence letters and line breaks, and end where a line break is followed
    by the next header or the end of the file.
    """
    header = before[:-1].rsplit(b"\n", 1)
    title = header[-1].rstrip(b"\r")
    known = len(header) == 2 or len(before) == offset  # the whole header line was read
    stripped = data.rstrip(b"\r\n")
    rest = (data + after)[len(stripped) :]
    problem = None
    if offset == 0 or before[-1:] != b"\n":
        problem = f"its offset {offset:,} is not the start of a line"
    elif known and (not title.startswith(b">") or (title[1:].split() or [b""])[0].decode(errors="replace") != name):
        problem = f"its offset {offset:,} does not follow the header line '>{name}' (the line there is {title[:40]!r})"
    elif b">" in data:
        problem = f"its length {size:,} reaches into the next sequence"
    elif (n_bases := len(data) - data.count(b"\n") - data.count(b"\r")) < size:
        problem = f"the file ends after {n_bases:,} of the {size:,} bases the index gives it"
    elif n_bases > size or rest[:1] not in (b"", b"\n", b"\r") or rest.lstrip(b"\r\n")[:1] not in (b"", b">"):
        problem = f"the sequence goes on after {size:,} bases (the length in the index is too short)"
    elif b" " in data or b"\t" in data:
        line = data[: min(i for i in (data.find(b" "), data.find(b"\t")) if i >= 0)].count(b"\n") + 1
        raise ValueError(
            f"{path}: sequence {name!r} has spaces or tabs inside its sequence lines (line {line:,} after its header); "
            "a FASTA sequence line holds letters only: remove them, then delete the .fai index."
        )
    if problem:
        raise ValueError(
            f"the FASTA index of {path} ({path}.fai) does not fit the file for sequence {name!r}: {problem}. Delete "
            f"the .fai (and .gzi) index so that chromseq rebuilds it, or rebuild it with `samtools faidx {path}`."
        )


def _read_bgzf(path: Path, blocks: np.ndarray, offset: int, nbytes: int) -> bytes:
    """Decompress ``nbytes`` from uncompressed ``offset`` of a bgzip file, its blocks in parallel threads."""
    first = int(np.searchsorted(blocks[:, 1], offset, side="right")) - 1
    stop = int(np.searchsorted(blocks[:, 1], offset + nbytes, side="left"))
    with open(path, "rb") as raw:
        raw.seek(int(blocks[first, 0]))
        end = int(blocks[stop, 0]) if stop < len(blocks) else None
        compressed = raw.read() if end is None else raw.read(end - int(blocks[first, 0]))
    bounds = np.append(blocks[first:stop, 0] - blocks[first, 0], len(compressed))
    chunks = [compressed[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # zlib releases the GIL
        data = b"".join(pool.map(_gunzip_members, chunks))
    skip = offset - int(blocks[first, 1])
    return data[skip : skip + nbytes]


def _gunzip_members(chunk: bytes) -> bytes:
    """Decompress every gzip member (bgzip block) in ``chunk``."""
    out = []
    while chunk:
        member = zlib.decompressobj(wbits=31)
        out.append(member.decompress(chunk))
        chunk = member.unused_data
    return b"".join(out)


def _strip_line_breaks(letters: np.ndarray, size: int, line_bases: int, line_bytes: int) -> np.ndarray | None:
    """Codes of a FASTA record with fixed-length lines (as the .fai describes), or ``None`` if irregular."""
    if line_bases <= 0 or line_bytes <= line_bases:
        return None
    full, tail = divmod(size, line_bases)
    if len(letters) < full * line_bytes + tail:
        return None
    lines = letters[: full * line_bytes].reshape(full, line_bytes)
    breaks = lines[:, line_bases:]
    if not ((breaks == 10) | (breaks == 13)).all():
        return None
    codes = np.empty(size, dtype=np.uint8)
    codes[: full * line_bases].reshape(full, line_bases)[:] = ASCII_TO_CODE[lines[:, :line_bases]]
    codes[full * line_bases :] = ASCII_TO_CODE[letters[full * line_bytes : full * line_bytes + tail]]
    return codes


_FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas", ".fa.gz", ".fasta.gz", ".fna.gz", ".fas.gz", ".fa.bgz", ".bgz")


# -- locating the FASTA (a path or a genomepy name) ---------------------------------------------------------
def _looks_like_path(genome: str) -> bool:
    low = genome.lower()
    return "/" in genome or os.sep in genome or genome.startswith(("~", ".")) or low.endswith(_FASTA_SUFFIXES)


def _strip_suffix(filename: str) -> str:
    low = filename.lower()
    for suffix in sorted(_FASTA_SUFFIXES, key=len, reverse=True):
        if low.endswith(suffix):
            return filename[: -len(suffix)]
    return filename


def locate(genome, genomes_dir, download: bool) -> tuple[Path, str, str]:
    """Return (FASTA path, genome name, source 'fasta' or 'genomepy') of a path or a genomepy name."""
    if not isinstance(genome, str | os.PathLike):
        raise TypeError(
            f"genome must be a FASTA path or a genomepy name, got {type(genome).__name__}; "
            "a Genome is passed as is where one is accepted."
        )
    text = os.fspath(genome)
    if Path(text).expanduser().is_file():
        path = Path(text).expanduser().resolve()
        return path, _strip_suffix(path.name), "fasta"
    as_path = isinstance(genome, os.PathLike) or _looks_like_path(text)
    if as_path and Path(text).expanduser().is_dir():
        found = sorted(p.name for p in Path(text).expanduser().iterdir() if p.name.lower().endswith(_FASTA_SUFFIXES))
        raise ValueError(
            f"genome {text!r} is a folder, not a FASTA file: pass the path of the FASTA file in it"
            f"{' (it holds ' + ', '.join(found[:5]) + ')' if found else ' (it holds none)'}, or a genomepy genome name."
        )
    if as_path:
        raise FileNotFoundError(
            f"genome FASTA {text!r} does not exist. Pass the path of a FASTA file (plain or bgzip) "
            "or the name of a genomepy genome such as 'hg38'."
        )
    return _genomepy_fasta(text, genomes_dir, download), text, "genomepy"


def _offline_message(name: str, genomes_dir) -> str:
    where = f" --genomes_dir {genomes_dir}" if genomes_dir else ""
    return (
        f"genome {name!r} is not installed in genomepy's genomes_dir{f' ({genomes_dir})' if genomes_dir else ''}. "
        f"Install it once with `genomepy install {name}{where}` (needs internet), "
        "or pass the path of a local FASTA file instead of a name."
    )


def _genomepy_fasta(name: str, genomes_dir, download: bool) -> Path:
    import genomepy

    gdir = None if genomes_dir is None else os.fspath(genomes_dir)
    try:
        fasta = genomepy.Genome(name, genomes_dir=gdir)
    except FileNotFoundError as err:
        if not download:
            raise FileNotFoundError(_offline_message(name, gdir)) from err
        logger.warning("genome %r is not installed: installing it with genomepy (download)", name)
        try:
            fasta = genomepy.install_genome(name, genomes_dir=gdir, annotation=False)
        except Exception as err2:  # network errors come in many types
            raise FileNotFoundError(f"{_offline_message(name, gdir)} The download failed: {err2}") from err2
    try:
        return Path(fasta.genome_file).resolve()
    finally:
        fasta.close()
