"""Shared fixtures: the real GRCh37 chr20 data in ../shared/data, and small FASTA files written per test."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CELLTYPES = ("A549", "GM12878", "HCT116", "HepG2", "K562", "MCF7")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Run torch on one thread: small batches gain nothing from more, and on a shared 2-core machine
    two OpenMP threads were up to 10x slower than one (tests/test_transfer.py, benchmarks/README.md)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the real data shared by the team (../shared/data next to the repository)."""
    path = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent")
    return path


@pytest.fixture(scope="session")
def chr20_fasta(shared_data) -> Path:
    """GRCh37 chr20 as bgzip FASTA; the sequence is named '20'."""
    return shared_data / "genome_grch37_chr20" / "20.fa.gz"


@pytest.fixture(scope="session")
def chr20_beds(shared_data) -> dict[str, Path]:
    """ChromTransfer label BEDs (chrom 'chr20'), one per cell line."""
    folder = shared_data / "chromtransfer_chr20"
    return {ct: folder / f"{ct}.bed" for ct in CELLTYPES}


@pytest.fixture(scope="session")
def chr20_genome(chr20_fasta):
    """A Genome on chr20 with the chromosome already read (shared: its arrays are read-only)."""
    import chromseq as cs

    genome = cs.Genome(chr20_fasta)
    genome.chromosome("20")
    return genome


@pytest.fixture(scope="session")
def _chr20_regions(chr20_beds):
    import chromseq as cs

    return cs.pp.read_regions(chr20_beds)


@pytest.fixture(scope="session")
def _chr20_small(_chr20_regions, chr20_genome):
    import chromseq as cs

    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(_chr20_regions.n_obs, size=300, replace=False))
    adata = _chr20_regions[rows].copy()
    cs.pp.add_sequences(adata, chr20_genome)
    return adata


@pytest.fixture
def chr20_regions(_chr20_regions):
    """All 12,061 real chr20 regions x 6 cell lines (no sequences), copied per test."""
    return _chr20_regions.copy()


@pytest.fixture
def chr20_small(_chr20_small):
    """300 real chr20 regions x 6 cell lines with obsm['sequence'] and obs['gc'], copied per test."""
    return _chr20_small.copy()


def write_fasta(
    path: Path, records: dict[str, str], *, line: int = 60, bgzip: bool = False, plain_gzip: bool = False
) -> Path:
    """Write ``records`` (name -> sequence) as FASTA, optionally bgzip- or gzip-compressed."""
    text = "".join(
        f">{name}\n" + "".join(seq[i : i + line] + "\n" for i in range(0, len(seq), line))
        for name, seq in records.items()
    )
    if bgzip:
        from Bio import bgzf

        with bgzf.BgzfWriter(str(path), "wb") as fh:
            fh.write(text.encode())
    elif plain_gzip:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def toy_records() -> dict[str, str]:
    """Three small chromosomes: 'chr1' (soft-masked stretch), '2' (an N run) and 'MT'."""
    rng = np.random.default_rng(1)

    def random_dna(n: int) -> str:
        return "".join(rng.choice(list("ACGT"), size=n))

    chr1 = random_dna(300) + random_dna(200).lower() + random_dna(500)
    chr2 = random_dna(400) + "N" * 300 + random_dna(500)
    return {"chr1": chr1, "2": chr2, "MT": random_dna(250)}


@pytest.fixture
def toy_fasta(tmp_path, toy_records) -> Path:
    """``toy_records`` as a plain FASTA file."""
    return write_fasta(tmp_path / "toy.fa", toy_records)


@pytest.fixture
def fasta_writer():
    """The :func:`write_fasta` helper: ``fasta_writer(path, records, bgzip=..., plain_gzip=...)``."""
    return write_fasta


def one_celltype_regions(n: int = 90, *, width: int = 60, codes: int = 4, seed: int = 0):
    """``n`` labelled chr1 regions of ``width`` bp for cell type 'A' (splits train/train/val, codes 0..codes-1)."""
    import anndata as ad

    from chromseq import _keys as K

    rng = np.random.default_rng(seed)
    start = np.arange(n, dtype=np.int64) * 1000
    is_open = rng.random(n) < 0.5
    obs = pd.DataFrame(
        {
            K.CHROM: pd.Categorical(["chr1"] * n),
            K.START: start,
            K.END: start + width,
            K.OPEN: is_open,
            K.BACKGROUND: ~is_open,
            K.SPLIT: pd.Categorical(np.tile(["train", "train", "val"], n // 3)),
        },
        index=[f"chr1:{s}-{s + width}" for s in start],
    )
    adata = ad.AnnData(is_open[:, None].astype(np.float32), obs=obs, var=pd.DataFrame(index=["A"]))
    adata.obsm[K.SEQUENCE] = rng.integers(0, codes, (n, width), dtype=np.uint8)
    return adata


@pytest.fixture
def make_regions():
    """The :func:`one_celltype_regions` helper: ``make_regions(n, width=..., codes=..., seed=...)``."""
    return one_celltype_regions
