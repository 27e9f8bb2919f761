import anndata as ad
import numpy as np
import pandas as pd
import pytest

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import gc_fraction


@pytest.fixture(scope="module")
def _with_background(_chr20_small, chr20_genome):
    adata = _chr20_small.copy()
    cs.pp.split_by_chromosome(adata, random_state=0)
    cs.pp.add_background(adata, chr20_genome, random_state=0)
    return adata


@pytest.fixture
def with_background(_with_background):
    return _with_background.copy()


def _bg(adata):
    return adata.obs[K.BACKGROUND].to_numpy()


def test_default_n_balances_the_open_regions(with_background, chr20_small):
    assert _bg(with_background).sum() == chr20_small.obs[K.OPEN].sum()
    assert with_background.obs_names[: chr20_small.n_obs].equals(chr20_small.obs_names)


def test_background_overlaps_no_region_and_no_other_window(with_background):
    obs = with_background.obs  # one chromosome
    start, end, bg = obs[K.START].to_numpy(), obs[K.END].to_numpy(), _bg(with_background)
    overlaps = (start[bg, None] < end[None, :]) & (start[None, :] < end[bg, None])
    assert (overlaps.sum(1) == 1).all()  # each window overlaps itself only


def test_background_rows_are_closed_with_unknown_labels(with_background):
    bg = _bg(with_background)
    assert not with_background.obs[K.OPEN][bg].any()
    assert np.isnan(with_background.X[bg]).all()
    assert not np.isnan(with_background.X[~bg]).all()


def test_background_sequences_and_gc_come_from_the_genome(with_background, chr20_genome):
    obs = with_background.obs[_bg(with_background)]
    seq = with_background.obsm[K.SEQUENCE][_bg(with_background)]
    np.testing.assert_array_equal(
        seq, chr20_genome.windows(obs[K.CHROM].astype(str).to_numpy(), obs[K.START], obs[K.END])
    )
    np.testing.assert_allclose(obs[K.GC], gc_fraction(seq), rtol=1e-6)
    assert (seq < 4).all()  # max_n=0: no N


def test_background_gc_histogram_matches_the_open_regions(with_background):
    obs = with_background.obs
    edges = np.linspace(0, 1, 51)
    ref = np.histogram(obs.loc[obs[K.OPEN], K.GC], bins=edges)[0]
    got = np.histogram(obs.loc[obs[K.BACKGROUND], K.GC], bins=edges)[0]
    assert np.abs(ref - got).sum() <= 0.02 * ref.sum() * 2


def test_without_gc_matching_the_background_follows_the_genome(chr20_small, chr20_genome):
    out = cs.pp.add_background(chr20_small, chr20_genome, n=2000, gc_match=False, random_state=0, copy=True)
    assert abs(out.obs.loc[_bg(out), K.GC].mean() - 0.442) < 0.01  # README: random 600-bp windows 0.442


def test_background_follows_the_recorded_split_blocks(with_background):
    obs = with_background.obs
    params = with_background.uns[K.UNS][K.UNS_PARAMS]["split_by_chromosome"]
    block = ((obs[K.START] + obs[K.END]) // 2 // params["block_size"]).to_numpy()
    expected = np.asarray(params["blocks"]["chr20"], dtype=object)[block]
    np.testing.assert_array_equal(obs[K.SPLIT].astype(str).to_numpy(), expected)


def test_the_same_seed_gives_the_same_windows(chr20_small, chr20_genome):
    a = cs.pp.add_background(chr20_small, chr20_genome, n=300, random_state=5, copy=True)
    b = cs.pp.add_background(chr20_small, chr20_genome, n=300, random_state=5, copy=True)
    c = cs.pp.add_background(chr20_small, chr20_genome, n=300, random_state=6, copy=True)
    assert a.obs_names.equals(b.obs_names) and not a.obs_names.equals(c.obs_names)


def test_rerunning_replaces_the_earlier_background(with_background, chr20_genome):
    n_regions = (~_bg(with_background)).sum()
    cs.pp.add_background(with_background, chr20_genome, n=50, random_state=1)
    assert _bg(with_background).sum() == 50 and (~_bg(with_background)).sum() == n_regions


def test_copy_leaves_the_input_untouched(chr20_small, chr20_genome):
    out = cs.pp.add_background(chr20_small, chr20_genome, n=20, random_state=0, copy=True)
    assert out.n_obs == chr20_small.n_obs + 20 and chr20_small.n_obs == 300


def test_genome_defaults_to_the_recorded_one(chr20_small):
    cs.pp.add_background(chr20_small, n=10, random_state=0)
    assert _bg(chr20_small).sum() == 10


def test_pipeline_round_trips_every_key_through_h5ad(with_background, tmp_path):
    with_background.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    pd.testing.assert_frame_equal(back.obs, with_background.obs)
    np.testing.assert_array_equal(back.X, with_background.X)
    np.testing.assert_array_equal(back.obsm[K.SEQUENCE], with_background.obsm[K.SEQUENCE])
    params = back.uns[K.UNS][K.UNS_PARAMS]
    assert set(params) == {"read_regions", "add_sequences", "split_by_chromosome", "add_background"}
    assert params["add_background"]["n"] == with_background.uns[K.UNS][K.UNS_PARAMS]["add_background"]["n"]
    assert back.uns[K.UNS][K.UNS_GENOME]["chrom_map"] == {"chr20": "20"}


# ----------------------------------------------------------------------------- bad input


def test_missing_sequences_name_add_sequences(chr20_regions, chr20_genome):
    with pytest.raises(KeyError, match=r"add_sequences"):
        cs.pp.add_background(chr20_regions, chr20_genome)


def test_unknown_chromosome_raises_and_leaves_adata_untouched(chr20_small, chr20_genome):
    before = chr20_small.copy()
    with pytest.raises(KeyError, match="chr9"):
        cs.pp.add_background(chr20_small, chr20_genome, chroms=["chr9"])
    assert chr20_small.obs_names.equals(before.obs_names) and set(chr20_small.uns[K.UNS]) == set(before.uns[K.UNS])


def test_asking_for_more_windows_than_fit_raises_and_leaves_adata_untouched(toy_fasta):
    frame = pd.DataFrame({K.CHROM: ["MT"], K.START: [0], K.END: [100], "A": 1.0})
    adata = cs.pp.read_regions(frame, width=None)
    cs.pp.add_sequences(adata, toy_fasta)
    with pytest.raises(ValueError, match="could not find"):
        cs.pp.add_background(adata, toy_fasta, n=5, gc_match=False, random_state=0)
    assert adata.n_obs == 1


def test_chromosomes_named_either_way_are_drawn_away_from_the_regions(chr20_small, chr20_genome):
    out = cs.pp.add_background(chr20_small, chr20_genome, n=200, chroms=["20"], random_state=0, copy=True)
    assert set(out.obs[K.CHROM].astype(str)) == {"chr20"}
    assert out.uns[K.UNS][K.UNS_PARAMS]["add_background"]["chroms"] == ["chr20"]
