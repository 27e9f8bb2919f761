"""Rebuild the chr20 dataset bundled in ``chromseq.datasets`` from the real data files.

Usage::

    python scripts/build_chr20_bundle.py [--data ../shared/data] [--n-background 6000] [--seed 0]

Reads the six ChromTransfer label BEDs of GRCh37 chr20 and the GRCh37 chr20 FASTA,
runs the chromseq preprocessing on them, and writes into
``src/chromseq/datasets/_data/chromtransfer_chr20/``:

- ``<CELL>.bed.gz``: the label BEDs, byte-for-byte after decompression (gzip -9, no
  timestamp, so a rebuild gives identical bytes);
- ``background.bed.gz``: GC-matched closed-chromatin windows drawn once with
  ``chromseq.pp.add_background`` (seeded);
- ``sequences.npz``: the GRCh37 bases under every label region and background window,
  2-bit packed (``chromseq.datasets._bundle.GenomeSlice``);
- ``manifest.json``: sources with sha256, parameters, counts and sizes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

import chromseq as cs
from chromseq import _keys as K
from chromseq.datasets._bundle import GenomeSlice
from chromseq.datasets._chromtransfer import BUNDLE_DIR, CELLTYPES, GENOME_BUILD, GENOME_CHROM

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"


def sha256(path: Path) -> str:
    """Return the sha256 hex digest of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gzip_bytes(data: bytes) -> bytes:
    """Gzip deterministically: level 9, no file name, mtime 0."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buf, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def write_label_beds(src: Path, out: Path) -> dict[str, dict]:
    """Copy the six label BEDs gzipped; return their sha256 and row counts."""
    sources = {}
    for ct in CELLTYPES:
        bed = src / f"{ct}.bed"
        data = bed.read_bytes()
        (out / f"{ct}.bed.gz").write_bytes(gzip_bytes(data))
        sources[f"{ct}.bed"] = {"sha256": hashlib.sha256(data).hexdigest(), "rows": data.count(b"\n")}
    return sources


def draw_background(out: Path, genome: cs.Genome, n: int, seed: int) -> tuple[pd.DataFrame, dict]:
    """Run the real pipeline on the bundled BEDs; keep the background windows it draws and its parameters."""
    adata = cs.pp.read_regions({ct: out / f"{ct}.bed.gz" for ct in CELLTYPES}, specific=True)
    cs.pp.add_sequences(adata, genome=genome)
    cs.pp.add_background(adata, genome=genome, n=n, random_state=seed)
    bg = adata.obs.loc[adata.obs[K.BACKGROUND], [K.CHROM, K.START, K.END]].astype({K.CHROM: str})
    bg = bg.sort_values(K.START).reset_index(drop=True)
    logging.info(
        "background: %d windows, GC %.3f (regions %.3f)",
        len(bg),
        adata.obs.loc[adata.obs[K.BACKGROUND], K.GC].mean(),
        adata.obs.loc[~adata.obs[K.BACKGROUND], K.GC].mean(),
    )
    (out / "background.bed.gz").write_bytes(gzip_bytes(bg.to_csv(sep="\t", header=False, index=False).encode()))
    params = dict(adata.uns[K.UNS][K.UNS_PARAMS]["add_background"])
    return bg, {"method": "chromseq.pp.add_background", **params}


def write_slice(src: Path, out: Path, genome: cs.Genome, bg: pd.DataFrame) -> GenomeSlice:
    """Cut the bases under every label region (as in the files) and background window out of chr20."""
    beds = pd.concat([pd.read_csv(src / f"{ct}.bed", sep="\t", header=None, usecols=[0, 1, 2]) for ct in CELLTYPES])
    if set(beds[0]) | set(bg[K.CHROM]) != {"chr20"}:
        raise ValueError(f"expected regions on chr20 only, found {sorted(set(beds[0]) | set(bg[K.CHROM]))}")
    starts = np.concatenate([beds[1].to_numpy(), bg[K.START].to_numpy()])
    ends = np.concatenate([beds[2].to_numpy(), bg[K.END].to_numpy()])
    chrom = genome.resolve("chr20")
    sl = GenomeSlice.from_chromosome(chrom, genome.chromosome(chrom), starts, ends)
    sl.save(out / "sequences.npz")
    logging.info(
        "sequences.npz: %d intervals, %d bp, %d bytes",
        len(sl.starts),
        sl.codes.size,
        (out / "sequences.npz").stat().st_size,
    )
    return sl


def main() -> None:
    """Rebuild the bundle."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=BUNDLE_DIR, help="bundle folder to (re)write")
    parser.add_argument("--n-background", type=int, default=6000, help="number of background windows")
    parser.add_argument("--seed", type=int, default=0, help="random_state of pp.add_background")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cs.settings.verbosity = 2

    src = args.data / "chromtransfer_chr20"
    fasta = args.data / "genome_grch37_chr20" / "20.fa.gz"
    args.out.mkdir(parents=True, exist_ok=True)
    sources = write_label_beds(src, args.out)
    genome = cs.Genome(fasta)
    bg, bg_params = draw_background(args.out, genome, args.n_background, args.seed)
    sl = write_slice(src, args.out, genome, bg)

    files = sorted(p for p in args.out.iterdir() if p.name != "manifest.json")
    manifest = {
        "dataset": "chromtransfer_chr20",
        "description": "ChromTransfer labels (six cell lines) on GRCh37 chr20, with the region sequences",
        "genome": {"build": GENOME_BUILD, "chrom": GENOME_CHROM, "fasta": fasta.name, "sha256": sha256(fasta)},
        "sources": sources,
        "background": bg_params,
        "slice": {"intervals": len(sl.starts), "bases": int(sl.codes.size), "n_bases": int((sl.codes == 4).sum())},
        "files": {p.name: {"bytes": p.stat().st_size, "sha256": sha256(p)} for p in files},
        "builder": "scripts/build_chr20_bundle.py",
        "chromseq": cs.__version__,
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(p.stat().st_size for p in args.out.iterdir())
    logging.info("wrote %s: %d files, %.2f MB", args.out, len(files) + 1, total / 1e6)


if __name__ == "__main__":
    main()
