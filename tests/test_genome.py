import logging

import numpy as np
import pandas as pd
import pyfaidx
import pytest
from anndata import AnnData

import chromseq as cs
from chromseq._codes import base_counts, encode, gc_fraction

# ----------------------------------------------------------------------------- real chr20


def test_windows_equal_an_independent_pyfaidx_read_with_chr20_mapping(chr20_genome, chr20_fasta):
    rng = np.random.default_rng(0)
    starts = rng.integers(60_000, 62_900_000, size=200)
    codes = chr20_genome.windows("chr20", starts, starts + 600)
    fasta = pyfaidx.Fasta(str(chr20_fasta), as_raw=True)
    try:
        expected = np.stack([encode(fasta["20"][int(s) : int(s) + 600]) for s in starts])
    finally:
        fasta.close()
    np.testing.assert_array_equal(codes, expected)


def test_chromosome_is_read_whole_and_read_only(chr20_genome):
    seq = chr20_genome.chromosome("chr20")
    assert seq.dtype == np.uint8 and seq.shape == (63_025_520,)
    assert chr20_genome.sizes == {"20": 63_025_520}
    with pytest.raises(ValueError, match="read-only"):
        seq[0] = 0


def test_info_is_a_plain_dict_naming_the_chromosome_map(chr20_genome, chr20_fasta):
    info = chr20_genome.info(["chr20"])
    assert info["chrom_map"] == {"chr20": "20"}
    assert info["sizes"] == {"20": 63_025_520}
    assert info["path"] == str(chr20_fasta.resolve())
    assert info["name"] == "20" and info["source"] == "fasta"


# ----------------------------------------------------------------------------- small FASTA files


def test_plain_and_bgzip_fasta_give_the_same_codes(tmp_path, toy_records, fasta_writer):
    plain = cs.Genome(fasta_writer(tmp_path / "a.fa", toy_records))
    bgz = cs.Genome(fasta_writer(tmp_path / "a.fa.gz", toy_records, bgzip=True))
    for name, seq in toy_records.items():
        np.testing.assert_array_equal(plain.chromosome(name), encode(seq))
        np.testing.assert_array_equal(bgz.chromosome(name), encode(seq))


def test_soft_masked_bases_read_as_upper_case(toy_fasta, toy_records):
    codes = cs.Genome(toy_fasta).fetch("chr1", 300, 500)
    assert toy_records["chr1"][300:500].islower()
    np.testing.assert_array_equal(codes, encode(toy_records["chr1"][300:500].upper()))
    assert codes.max() < 4


@pytest.mark.parametrize(
    ("asked", "stored"), [("1", "chr1"), ("chr1", "chr1"), ("chr2", "2"), ("chrM", "MT"), ("M", "MT")]
)
def test_chromosome_names_are_reconciled_both_ways(toy_fasta, toy_records, asked, stored):
    genome = cs.Genome(toy_fasta)
    assert genome.resolve(asked) == stored
    np.testing.assert_array_equal(genome.fetch(asked, 10, 40), encode(toy_records[stored][10:40]))


def test_unknown_chromosome_is_a_key_error_listing_the_genome(toy_fasta):
    with pytest.raises(KeyError, match=r"chr7.*chr1, 2, MT"):
        cs.Genome(toy_fasta).windows("chr7", [0], [10])
    assert "chr7" not in cs.Genome(toy_fasta)


def test_window_past_the_chromosome_end_raises_naming_it(toy_fasta):
    with pytest.raises(ValueError, match=r"MT:200-300.*pad=True"):
        cs.Genome(toy_fasta).windows(["MT", "MT"], [0, 200], [100, 300])


def test_pad_fills_bases_outside_the_chromosome_with_n(toy_fasta, toy_records):
    codes = cs.Genome(toy_fasta).windows(["MT", "MT"], [200, -10], [300, 90], pad=True)
    np.testing.assert_array_equal(codes[0, :50], encode(toy_records["MT"][200:250]))
    assert (codes[0, 50:] == 4).all() and (codes[1, :10] == 4).all()
    np.testing.assert_array_equal(codes[1, 10:], encode(toy_records["MT"][:90]))


def test_windows_keep_the_input_order_across_chromosomes(toy_fasta, toy_records):
    chrom = ["MT", "chr1", "2", "chr1"]
    starts = np.array([5, 700, 20, 3])
    codes = cs.Genome(toy_fasta).windows(chrom, starts, starts + 8)
    stored = {"MT": "MT", "chr1": "chr1", "2": "2"}
    expected = [encode(toy_records[stored[c]][s : s + 8]) for c, s in zip(chrom, starts, strict=True)]
    np.testing.assert_array_equal(codes, np.stack(expected))


def test_windows_must_share_one_width(toy_fasta):
    with pytest.raises(ValueError, match="one positive width"):
        cs.Genome(toy_fasta).windows("chr1", [0, 10], [100, 120])


def test_cache_false_keeps_only_the_last_chromosome(toy_fasta):
    genome = cs.Genome(toy_fasta, cache=False)
    genome.chromosome("chr1")
    genome.chromosome("2")
    assert list(genome._cache) == ["2"]


def test_base_counts_agree_with_gc_fraction():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, size=(9000, 603), dtype=np.uint8)  # more rows than a chunk, width not a multiple of 8
    codes[0] = 4
    gc, n = base_counts(codes)
    np.testing.assert_array_equal(n, (codes == 4).sum(1))
    np.testing.assert_allclose(gc[1:] / (603 - n[1:]), gc_fraction(codes[1:]), rtol=1e-6)


# ----------------------------------------------------------------------------- opening errors


def test_missing_genome_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cs.Genome(tmp_path / "nope.fa")


def test_plain_gzip_fasta_raises_naming_bgzip(tmp_path, toy_records, fasta_writer):
    path = fasta_writer(tmp_path / "g.fa.gz", toy_records, plain_gzip=True)
    with pytest.raises(ValueError, match="bgzip"):
        cs.Genome(path)


@pytest.mark.parametrize("head", [b"", b">chr1\nACGT\n"], ids=["all-binary", "binary-after-a-record"])
def test_garbage_fasta_is_a_value_error_naming_the_path(tmp_path, head):
    path = tmp_path / "g.fa"
    path.write_bytes(head + np.random.default_rng(0).bytes(3000))
    with pytest.raises(ValueError, match=r"g\.fa is not a FASTA file: it holds bytes that are not text"):
        cs.Genome(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa"]  # no half-written index left


def test_genomepy_name_not_installed_offline_names_the_install_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"genomepy install hg00"):
        cs.Genome("hg00", genomes_dir=tmp_path, download=False)


def test_failed_genomepy_download_names_the_offline_fix(tmp_path, monkeypatch):
    import genomepy

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(genomepy, "install_genome", offline)
    with pytest.raises(FileNotFoundError, match=r"genomepy install hg00.*local FASTA.*no network"):
        cs.Genome("hg00", genomes_dir=tmp_path)


def test_installed_genomepy_genome_is_opened_by_name(tmp_path, toy_records, fasta_writer, caplog):
    folder = tmp_path / "toy"
    folder.mkdir()
    fasta_writer(folder / "toy.fa", toy_records)
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        genome = cs.Genome("toy", genomes_dir=tmp_path, download=False)
    assert genome.name == "toy" and genome.info()["source"] == "genomepy"
    np.testing.assert_array_equal(genome.fetch("chr2", 0, 50), encode(toy_records["2"][:50]))
    assert not caplog.records  # nothing was downloaded


def test_crlf_line_ends_and_a_missing_final_newline_are_read(tmp_path, toy_records):
    text = "".join(
        f">{n}\r\n" + "\r\n".join(s[i : i + 50] for i in range(0, len(s), 50)) + "\r\n" for n, s in toy_records.items()
    )
    (tmp_path / "crlf.fa").write_bytes(text.encode())
    (tmp_path / "open.fa").write_bytes(text.replace("\r\n", "\n").rstrip("\n").encode())
    for name in ("crlf.fa", "open.fa"):
        genome = cs.Genome(tmp_path / name)
        for chrom, seq in toy_records.items():
            np.testing.assert_array_equal(genome.chromosome(chrom), encode(seq), err_msg=f"{name} {chrom}")


# ----------------------------------------------------------------------------- 2-bit storage, in-memory genomes


@pytest.mark.parametrize("width", [1, 7, 600, 1500])
def test_windows_from_two_bit_storage_equal_the_codes_at_every_phase(width):
    rng = np.random.default_rng(width)
    codes = rng.integers(0, 4, size=20_000, dtype=np.uint8)
    for a, b in [(0, 3), (5_000, 5_001), (5_003, 5_010), (9_000, 11_000), (19_990, 20_000)]:  # N runs, edges too
        codes[a:b] = 4
    genome = cs.Genome.from_arrays({"chr1": codes})
    starts = np.concatenate([[0, 20_000 - width], rng.integers(0, 20_000 - width + 1, size=3_000)])
    expected = np.stack([codes[s : s + width] for s in starts])
    np.testing.assert_array_equal(genome.windows("chr1", starts, starts + width), expected)
    np.testing.assert_array_equal(genome.chromosome("chr1"), codes)


def test_genome_holds_two_bits_per_base(toy_fasta, toy_records):
    genome = cs.Genome.from_arrays({"chr1": np.zeros(1_000_000, np.uint8)})
    assert genome.nbytes < 1_000_000 / 4 + 1_000
    fasta = cs.Genome(toy_fasta)
    fasta.windows("chr1", [0], [10])
    assert fasta.nbytes < len(toy_records["chr1"]) / 4 + 1_000


def test_in_memory_genome_is_not_reopened_from_uns():
    genome = cs.Genome.from_arrays({"chr1": "ACGT" * 5_000})
    obs = pd.DataFrame({"chrom": pd.Categorical(["chr1"]), "start": [100], "end": [700], "open": [True]}, index=["r"])
    adata = AnnData(np.ones((1, 1), np.float32), obs=obs)
    cs.pp.add_sequences(adata, genome)
    assert adata.uns["chromseq"]["genome"]["source"] == "memory"
    with pytest.raises(ValueError, match=r"built in memory.*pass it again with genome="):
        cs.pp.add_background(adata, n=1)


def test_from_arrays_refuses_values_that_are_not_codes():
    with pytest.raises(ValueError, match="uint8 codes 0-4"):
        cs.Genome.from_arrays({"chr1": np.array([0, 1, 9], np.uint8)})
