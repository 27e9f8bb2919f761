"""``chr1`` and ``1`` (``chrM`` and ``MT``) are one chromosome when regions are read and split (issue 25, class 2)."""

import logging

import numpy as np
import pandas as pd
import pytest

import chromseq as cs
from chromseq import _keys as K


def _bed(path, lines):
    path.write_text("".join("\t".join(map(str, line)) + "\n" for line in lines))
    return path


def test_two_files_spelling_chromosomes_differently_give_one_row_per_region(tmp_path, caplog):
    a = _bed(tmp_path / "a.bed", [("chr1", 1000, 1600), ("chr1", 5000, 5600), ("chr2", 100, 700)])
    b = _bed(tmp_path / "b.bed", [("1", 1000, 1600), ("1", 9000, 9600)])
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        adata = cs.pp.read_regions({"A": a, "B": b}, merge="exact")
    assert list(adata.obs[K.CHROM].cat.categories) == ["chr1", "chr2"]
    assert adata.obs_names.tolist() == ["chr1:1000-1600", "chr1:5000-5600", "chr1:9000-9600", "chr2:100-700"]
    np.testing.assert_array_equal(adata.X, [[1, 1], [1, 0], [0, 1], [1, 0]])
    assert "'1' -> 'chr1' (2 rows)" in caplog.text


def test_one_file_mixing_spellings_merges_its_rows(tmp_path, caplog):
    bed = _bed(
        tmp_path / "c.bed",
        [("chr1", 1000, 1600), ("1", 1000, 1600), ("chrM", 10, 610), ("MT", 10, 610), ("MT", 900, 1500)],
    )
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        adata = cs.pp.read_regions({"A": bed}, merge="exact")
    assert adata.obs_names.tolist() == ["chr1:1000-1600", "MT:10-610", "MT:900-1500"]
    assert "'chrM' -> 'MT'" in caplog.text


def test_a_table_with_both_spellings_of_one_region_is_refused(tmp_path):
    table = pd.DataFrame({"chrom": ["chr1", "1"], "start": [0, 0], "end": [600, 600], "A": [1, 0]})
    with pytest.raises(ValueError, match="give the same window"):
        cs.pp.read_regions(table)


def _mixed(make_regions):
    """90 regions on chr1/1, chr2/2 and chr3 (train), spelled both ways on chr1 and chr2."""
    adata = make_regions()
    names = np.array(["chr1", "1", "chr2", "2", "chr3", "chr3"])[np.arange(adata.n_obs) % 6]
    adata.obs[K.CHROM] = pd.Categorical(names)
    return adata


def test_split_gives_both_spellings_of_a_chromosome_one_split(make_regions):
    adata = _mixed(make_regions)
    cs.pp.split_by_chromosome(adata, val=["chr2"], test=["1"])
    split = adata.obs[K.SPLIT].astype(str).to_numpy()
    chrom = adata.obs[K.CHROM].astype(str).str.removeprefix("chr").to_numpy()
    assert set(split[chrom == "1"]) == {"test"} and set(split[chrom == "2"]) == {"val"}
    assert set(split[chrom == "3"]) == {"train"}


def test_random_split_never_puts_two_spellings_in_two_splits(make_regions):
    for seed in range(5):
        adata = _mixed(make_regions)
        cs.pp.split_by_chromosome(adata, random_state=seed, val_fraction=0.3, test_fraction=0.3)
        per_chrom = adata.obs.groupby(adata.obs[K.CHROM].astype(str).str.removeprefix("chr"), observed=True)[K.SPLIT]
        assert (per_chrom.nunique() == 1).all()


def test_recorded_split_assigns_new_rows_in_the_other_spelling(make_regions):
    from chromseq.pp._split import assign_splits

    adata = make_regions()
    adata.obs[K.CHROM] = pd.Categorical(np.array(["chr1", "chr2", "chr3"])[np.arange(adata.n_obs) % 3])
    cs.pp.split_by_chromosome(adata, val="chr2", test="chr3")
    params = adata.uns[K.UNS][K.UNS_PARAMS]["split_by_chromosome"]
    labels = assign_splits(params, np.array(["2", "3", "1", "chr3"]), np.zeros(4, int), np.full(4, 600))
    assert labels.tolist() == ["val", "test", "train", "test"]
