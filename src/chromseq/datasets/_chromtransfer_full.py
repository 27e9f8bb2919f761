"""The genome-wide ChromTransfer dataset (GRCh38, six cell lines), from the public label files."""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from chromseq import _keys as K
from chromseq._settings import logger, settings
from chromseq._validate import uns_chromseq
from chromseq.genome import Genome, as_genome

from ._fetch import COMMIT, REGISTRY, fetch_label_files, label_file_names, local_label_files
from ._fetch import base_url as resolve_url

#: The six cell lines of the ChromTransfer paper.
CELLTYPES = ("A549", "GM12878", "HCT116", "HepG2", "K562", "MCF7")
#: Held-out chromosomes: test as in the paper (chr2, chr3); validation chosen by chromseq.
TEST_CHROMS = ("chr2", "chr3")
VAL_CHROMS = ("chr8",)
#: GRCh38 primary chromosome lengths (bp), as in the UCSC hg38 and Ensembl GRCh38 FASTA files.
GRCH38_SIZES = {
    "chr1": 248_956_422, "chr2": 242_193_529, "chr3": 198_295_559, "chr4": 190_214_555,
    "chr5": 181_538_259, "chr6": 170_805_979, "chr7": 159_345_973, "chr8": 145_138_636,
    "chr9": 138_394_717, "chr10": 133_797_422, "chr11": 135_086_622, "chr12": 133_275_309,
    "chr13": 114_364_328, "chr14": 107_043_718, "chr15": 101_991_189, "chr16": 90_338_345,
    "chr17": 83_257_441, "chr18": 80_373_285, "chr19": 58_617_616, "chr20": 64_444_167,
    "chr21": 46_709_983, "chr22": 50_818_468, "chrX": 156_040_895, "chrY": 57_227_415,
}  # fmt: skip

LabelFiles = str | os.PathLike | Mapping[str, str | os.PathLike | Sequence[str | os.PathLike]]


def chromtransfer(
    genome: Genome | str | os.PathLike = "hg38",
    *,
    celltypes: Sequence[str] | None = None,
    chroms: Sequence[str] | None = None,
    width: int = 600,
    background: bool = True,
    split: bool = True,
    labels: LabelFiles | None = None,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    random_state: int | None = None,
) -> AnnData:
    """Build the genome-wide ChromTransfer dataset: 518,332 GRCh38 regions x six cell lines, with sequences.

    The labels are the public files of the ChromTransfer paper (Salvatore et al., NAR Genom
    Bioinform 2023; github.com/anderssonlab/ChromTransfer, commit ``52167ab1``,
    ``multiclass-baseline/data/raw/{train,test}/<CELL>.csv``; ENCODE DNase-seq, 600-bp regions).
    They are downloaded once with :mod:`pooch` into the cache folder, checked against their sha256,
    and read from there afterwards without network. Each line is ``chrN:start-end,LABEL`` with
    ``<CELL>`` (open there and only there), ``<CELL>_NEG`` (a DHS of other cell lines) or
    ``Negative`` (shared background); :func:`chromseq.pp.read_regions` reads them with
    ``specific=True``. The sequences come from ``genome``, then :func:`chromseq.pp.add_background`
    and :func:`chromseq.pp.split_by_chromosome` run as in the user's path.

    Parameters
    ----------
    genome
        A GRCh38 genome: a :class:`chromseq.Genome`, a FASTA path, or a genomepy name (``'hg38'``,
        installed with genomepy on first use; needs internet once, about 1 GB).
    celltypes
        Cell lines to load (default all six: ``A549``, ``GM12878``, ``HCT116``, ``HepG2``, ``K562``,
        ``MCF7``; case-insensitive).
    chroms
        Keep only the regions on these chromosomes (default: all, chr1-chr22).
    width
        Window width (bp) centred on each region.
    background
        Append GC-matched closed-chromatin windows with :func:`chromseq.pp.add_background` (as many as
        open regions, seeded).
    split
        Set ``obs['split']``: test chr2 and chr3 (as in the paper), validation chr8, train the rest.
        The chosen chromosomes must include them.
    labels
        Label files already on disk, used as given with no download: a folder holding
        ``train/<CELL>.csv`` and ``test/<CELL>.csv`` (gzip allowed; compared with the published
        checksums, a difference is logged), or ``{celltype: path or [paths]}`` of files in the same
        format. ``None`` downloads the public files (or reads them from the cache).
    cache_dir
        Download folder (default ``chromseq.settings.cache_dir``).
    base_url
        URL of the folder holding ``train/`` and ``test/`` (a mirror); default ``$CHROMSEQ_DATA_URL``,
        else GitHub at commit ``52167ab1``.
    random_state
        Seed of the background windows (default ``chromseq.settings.seed``).

    Returns
    -------
    AnnData of regions (plus background windows) x cell lines, with what the ``pp`` steps set:

    - ``X``: float32, 1 open, 0 closed, NaN unknown; ``obs['chrom']``, ``obs['start']``, ``obs['end']``
      (GRCh38, 0-based half-open), ``obs['open']``, ``obs['background']``, ``obs['gc']``,
      ``obs['split']`` (if ``split``);
    - ``obsm['sequence']``: uint8 codes ``(n_obs, width)``; ``uns['chromseq']['genome']``;
    - ``uns['chromseq']['params']['chromtransfer']``: the options and the label files used (URL or
      path, sha256).

    Examples
    --------
    >>> import chromseq as cs
    >>> adata = cs.datasets.chromtransfer("hg38", celltypes=["K562", "HepG2"])  # doctest: +SKIP
    >>> adata.obs["split"].value_counts()  # doctest: +SKIP
    """
    cts = _check_celltypes(celltypes)
    keep = _check_chroms(chroms, split)
    if not isinstance(width, int | np.integer) or isinstance(width, bool) or width <= 0:
        raise ValueError(f"width must be a positive int (bp), got {width!r}.")
    if labels is None:
        files = fetch_label_files(cts, cache_dir=cache_dir, url=base_url)
        origin = {ct: [f"{resolve_url(base_url)}{n}" for n in names] for ct, names in label_file_names(cts).items()}
    else:
        files = local_label_files(labels, cts)
        origin = {ct: [str(p) for p in paths] for ct, paths in files.items()}
    genome = as_genome(genome)
    adata = _read_labels(files, keep, int(width))
    _check_build(genome, adata)
    _prepare(adata, genome, background=background, split=split, random_state=random_state)
    uns_chromseq(adata).setdefault(K.UNS_PARAMS, {})["chromtransfer"] = {
        "celltypes": cts,
        "chroms": list(keep) if keep is not None else "all",
        "width": int(width),
        "background": bool(background),
        "split": {"val": list(VAL_CHROMS), "test": list(TEST_CHROMS)} if split else False,
        "labels": origin,
        "labels_commit": COMMIT,
        "labels_sha256": {n: REGISTRY[n] for names in label_file_names(cts).values() for n in names},
    }
    logger.info(
        "chromtransfer: %d regions (%d background) x %d cell lines; wrote uns[%r][%r][%r]",
        adata.n_obs, int(adata.obs[K.BACKGROUND].sum()), adata.n_vars, K.UNS, K.UNS_PARAMS, "chromtransfer",
    )  # fmt: skip
    return adata


def _check_celltypes(celltypes: Sequence[str] | None) -> list[str]:
    if celltypes is None:
        return list(CELLTYPES)
    names = [celltypes] if isinstance(celltypes, str) else list(celltypes)
    by_upper = {c.upper(): c for c in CELLTYPES}
    unknown = [c for c in names if not isinstance(c, str) or c.upper() not in by_upper]
    cts = [by_upper[c.upper()] for c in names if c not in unknown]
    if unknown or not cts or len(set(cts)) != len(cts):
        raise ValueError(f"celltypes must be distinct names from {list(CELLTYPES)}, got {names}.")
    return cts


def _check_chroms(chroms: Sequence[str] | None, split: bool) -> list[str] | None:
    if chroms is None:
        return None
    keep = [chroms] if isinstance(chroms, str) else [str(c) for c in chroms]
    keep = [c if c.startswith("chr") else f"chr{c}" for c in keep]
    unknown = [c for c in keep if c not in GRCH38_SIZES]
    if unknown or not keep:
        raise ValueError(f"chroms must name GRCh38 chromosomes such as 'chr21', got {list(chroms)}.")
    missing = [c for c in (*VAL_CHROMS, *TEST_CHROMS) if c not in keep]
    if split and missing:
        raise ValueError(
            f"split=True holds out {list(VAL_CHROMS)} (val) and {list(TEST_CHROMS)} (test), but chroms={keep} lacks "
            f"{missing}: add them, or pass split=False and call chromseq.pp.split_by_chromosome yourself."
        )
    return list(dict.fromkeys(keep))


def _read_labels(files: dict[str, list[Path]], keep: list[str] | None, width: int) -> AnnData:
    """``pp.read_regions`` on each cell line's files joined into one (only the lines on ``keep``)."""
    from chromseq import pp

    with tempfile.TemporaryDirectory(prefix="chromseq_labels_") as tmp:
        joined = {}
        for ct, paths in files.items():
            joined[ct] = Path(tmp) / f"{ct}.csv"
            _join_lines(paths, joined[ct], keep)
        adata = pp.read_regions(joined, width=width, specific=True)
    params = uns_chromseq(adata)[K.UNS_PARAMS]["read_regions"]
    params["sources"] = {ct: [str(p) for p in paths] for ct, paths in files.items()}
    return adata


def _join_lines(paths: list[Path], out: Path, keep: list[str] | None) -> None:
    """Write the lines of ``paths`` (gzip or plain) to ``out``, only those on chromosomes ``keep`` if given."""
    with open(out, "wb") as dst:
        for path in paths:
            with open(path, "rb") as fh:
                gzipped = fh.read(2) == b"\x1f\x8b"
            with (gzip.open if gzipped else open)(path, "rb") as fh:
                data = fh.read()
            if keep is not None:
                lines = pd.Series(data.decode("utf-8").splitlines(), dtype=object)
                chrom = lines.str.split(":", n=1).str[0]
                data = "\n".join(lines[chrom.isin(keep).to_numpy()]).encode("utf-8")
            if data and not data.endswith(b"\n"):
                data += b"\n"
            dst.write(data)
    if out.stat().st_size == 0:
        raise ValueError(f"no label lines on chromosomes {keep} in {[str(p) for p in paths]}.")


def _check_build(genome: Genome, adata: AnnData) -> None:
    """Log a warning when the genome's chromosome sizes are not GRCh38's (the labels are GRCh38 coordinates)."""
    differ = []
    for chrom in pd.unique(adata.obs[K.CHROM].astype(str)):
        size = genome.size(chrom)  # KeyError naming the genome's chromosomes if absent
        if size != GRCH38_SIZES.get(chrom, size):
            differ.append(f"{chrom} {size:,} bp (GRCh38: {GRCH38_SIZES[chrom]:,})")
    if differ:
        logger.warning(
            "chromtransfer: the labels are GRCh38 coordinates but genome %r is not GRCh38-sized: %s",
            genome.name, "; ".join(differ[:3]),
        )  # fmt: skip


def _prepare(adata: AnnData, genome: Genome, *, background: bool, split: bool, random_state: int | None) -> None:
    from chromseq import pp

    pp.add_sequences(adata, genome)
    if background:
        seed = settings.seed if random_state is None else random_state
        pp.add_background(adata, genome, random_state=seed)
    if split:
        pp.split_by_chromosome(adata, val=list(VAL_CHROMS), test=list(TEST_CHROMS))
