import anndata as ad
import numpy as np
import pandas as pd
import pytest

import chromseq as cs
from chromseq import _keys as K
from chromseq.pp._split import assign_splits


@pytest.fixture
def multi():
    """40 regions on each of chr1..chr10."""
    chrom = np.repeat([f"chr{i}" for i in range(1, 11)], 40)
    start = np.tile(np.arange(40) * 1000, 10)
    frame = pd.DataFrame({K.CHROM: chrom, K.START: start, K.END: start + 600, "A": 1.0})
    return cs.pp.read_regions(frame, width=None)


def _split(adata):
    return adata.obs[K.SPLIT].astype(str).to_numpy()


def test_single_chromosome_is_split_into_seeded_blocks(chr20_regions):
    cs.pp.split_by_chromosome(chr20_regions, random_state=0)
    split = chr20_regions.obs[K.SPLIT]
    assert list(split.cat.categories) == ["train", "val", "test"]
    share = split.value_counts(normalize=True)
    assert 0.05 < share["val"] < 0.2 and 0.05 < share["test"] < 0.2
    params = chr20_regions.uns[K.UNS][K.UNS_PARAMS]["split_by_chromosome"]
    assert params["by"] == "block" and len(params["blocks"]["chr20"]) == 63  # 63 Mb in 1 Mb blocks


def test_block_split_is_deterministic_given_the_seed(chr20_regions):
    a = cs.pp.split_by_chromosome(chr20_regions, random_state=3, copy=True)
    b = cs.pp.split_by_chromosome(chr20_regions, random_state=3, copy=True)
    c = cs.pp.split_by_chromosome(chr20_regions, random_state=4, copy=True)
    np.testing.assert_array_equal(_split(a), _split(b))
    assert not np.array_equal(_split(a), _split(c))


def test_each_block_lies_in_one_split(chr20_regions):
    cs.pp.split_by_chromosome(chr20_regions, block_size=2_000_000, random_state=0)
    obs = chr20_regions.obs
    block = (obs[K.START] + obs[K.END]) // 2 // 2_000_000
    assert (obs.groupby(block.to_numpy())[K.SPLIT].nunique() == 1).all()


def test_regions_added_later_follow_the_recorded_blocks(chr20_regions, tmp_path):
    cs.pp.split_by_chromosome(chr20_regions, random_state=0)
    chr20_regions.write_h5ad(tmp_path / "a.h5ad")
    params = ad.read_h5ad(tmp_path / "a.h5ad").uns[K.UNS][K.UNS_PARAMS]["split_by_chromosome"]
    obs = chr20_regions.obs
    again = assign_splits(params, obs[K.CHROM].to_numpy(), obs[K.START].to_numpy(), obs[K.END].to_numpy())
    np.testing.assert_array_equal(again, _split(chr20_regions))


def test_named_chromosomes_are_held_out_with_either_spelling(multi):
    cs.pp.split_by_chromosome(multi, val="8", test=["chr2", "3"])
    obs = multi.obs
    assert set(obs.loc[obs[K.SPLIT] == "val", K.CHROM]) == {"chr8"}
    assert set(obs.loc[obs[K.SPLIT] == "test", K.CHROM]) == {"chr2", "chr3"}
    assert (obs[K.SPLIT] == "train").sum() == 7 * 40


def test_unnamed_splits_take_whole_chromosomes_at_random(multi):
    cs.pp.split_by_chromosome(multi, val_fraction=0.2, test_fraction=0.1, random_state=0)
    per_chrom = multi.obs.groupby(K.CHROM, observed=True)[K.SPLIT].nunique()
    assert (per_chrom == 1).all()
    counts = multi.obs[K.SPLIT].value_counts()
    assert counts["val"] == 80 and counts["test"] == 40


def test_unknown_chromosome_is_a_key_error_listing_the_data(multi):
    before = multi.copy()
    with pytest.raises(KeyError, match=r"\['chr22'\].*chr1"):
        cs.pp.split_by_chromosome(multi, val=["chr22"], test=["chr1"])
    assert K.SPLIT not in multi.obs and multi.uns.keys() == before.uns.keys()


def test_a_chromosome_in_val_and_test_is_rejected(multi):
    with pytest.raises(ValueError, match="both val and test"):
        cs.pp.split_by_chromosome(multi, val=["chr1"], test=["1"])


def test_empty_train_split_is_rejected(chr20_regions):
    with pytest.raises(ValueError, match=r"'train'.*would be empty.*leave val and test as None"):
        cs.pp.split_by_chromosome(chr20_regions, val=["chr20"])
    assert K.SPLIT not in chr20_regions.obs


def test_blocks_too_large_for_three_splits_are_rejected(chr20_regions):
    with pytest.raises(ValueError, match="smaller block_size"):
        cs.pp.split_by_chromosome(chr20_regions, block_size=100_000_000)


def test_fractions_are_validated(multi):
    with pytest.raises(ValueError, match="sum to less than 1"):
        cs.pp.split_by_chromosome(multi, val_fraction=0.6, test_fraction=0.5)
