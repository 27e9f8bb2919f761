import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import reverse_complement_codes

# ----------------------------------------------------------------------------- synthetic


@pytest.fixture(scope="module")
def synth():
    return cs.datasets.synthetic(3000, random_state=0)


def _truth(adata):
    return adata.uns[K.UNS][K.UNS_SYNTHETIC]


def _planted(adata, sites, length):
    """Bases at each recorded site, read on the site's strand."""
    rows = adata.obs_names.get_indexer(sites["region"].astype(str))
    bases = adata.obsm[K.SEQUENCE][rows[:, None], sites["start"].to_numpy()[:, None] + np.arange(length)]
    minus = (sites["strand"] == "-").to_numpy()
    bases[minus] = reverse_complement_codes(bases[minus])
    return bases


def test_synthetic_is_deterministic_given_random_state():
    a = cs.datasets.synthetic(300, random_state=7)
    b = cs.datasets.synthetic(300, random_state=7)
    c = cs.datasets.synthetic(300, random_state=8)
    np.testing.assert_array_equal(a.obsm[K.SEQUENCE], b.obsm[K.SEQUENCE])
    np.testing.assert_array_equal(a.X, b.X)
    pd.testing.assert_frame_equal(_truth(a)["sites"], _truth(b)["sites"])
    assert not np.array_equal(a.obsm[K.SEQUENCE], c.obsm[K.SEQUENCE])


def test_synthetic_follows_the_regions_contract(synth):
    assert synth.shape == (3000, 3)
    assert list(synth.var_names) == ["K562", "HepG2", "GM12878"]
    assert synth.X.dtype == np.float32 and set(np.unique(synth.X)) == {0.0, 1.0}
    obs = synth.obs
    assert isinstance(obs[K.CHROM].dtype, pd.CategoricalDtype)
    assert obs[K.START].dtype == np.int64 and obs[K.END].dtype == np.int64
    assert ((obs[K.END] - obs[K.START]) == 600).all()
    assert obs[K.OPEN].dtype == bool and obs[K.BACKGROUND].dtype == bool
    assert obs[K.GC].dtype == np.float32
    assert list(obs[K.SPLIT].cat.categories) == list(K.SPLITS)
    seq = synth.obsm[K.SEQUENCE]
    assert seq.dtype == np.uint8 and seq.shape == (3000, 600) and seq.max() < 4
    assert list(synth.obs_names[:1]) == [f"{obs[K.CHROM].iloc[0]}:{obs[K.START].iloc[0]}-{obs[K.END].iloc[0]}"]


def test_synthetic_regions_do_not_overlap(synth):
    obs = synth.obs.sort_values([K.CHROM, K.START])
    same = obs[K.CHROM].to_numpy()[1:] == obs[K.CHROM].to_numpy()[:-1]
    assert (obs[K.START].to_numpy()[1:][same] >= obs[K.END].to_numpy()[:-1][same]).all()


def test_synthetic_split_is_by_fake_chromosome(synth):
    split = synth.obs.groupby(K.CHROM, observed=True)[K.SPLIT].unique()
    assert [list(v) for v in split] == [["train"]] * 8 + [["val"], ["test"]]
    assert list(split.index[-2:]) == ["synth9", "synth10"]


def test_synthetic_labels_follow_the_planted_classes(synth):
    truth = _truth(synth)
    sites = truth["sites"]
    X = pd.DataFrame(synth.X, index=synth.obs_names, columns=synth.var_names)
    for group, by_group in sites.groupby("group", observed=True):
        rows = X.loc[by_group["region"].astype(str).unique()]
        if group == "shared":
            assert (rows == 1).all().all()
        else:
            assert (rows[group] == 1).all() and (rows.drop(columns=group) == 0).all().all()
    with_sites = synth.obs_names.isin(sites["region"].astype(str))
    np.testing.assert_array_equal(synth.obs[K.BACKGROUND].to_numpy(), ~with_sites)
    np.testing.assert_array_equal(synth.obs[K.OPEN].to_numpy(), X.sum(axis=1).to_numpy() > 0)
    assert not synth.X[synth.obs[K.BACKGROUND].to_numpy()].any()


def test_synthetic_records_default_motifs_per_celltype(synth):
    truth = _truth(synth)
    names = truth["motifs"].groupby("group")["name"].apply(lambda s: sorted(n.upper() for n in s)).to_dict()
    assert names == {"K562": ["GATA1"], "HepG2": ["FOXA2", "HNF4A"], "GM12878": ["SPI1"], "shared": ["CTCF"]}
    assert truth["params"]["jaspar_release"] == "JASPAR2024"
    for mid, length in zip(truth["motifs"]["matrix_id"], truth["motifs"]["length"], strict=True):
        pwm = truth["pwms"][mid]
        assert pwm.shape == (4, length)
        np.testing.assert_allclose(pwm.sum(axis=0), 1, atol=1e-5)


def test_synthetic_consensus_is_at_the_recorded_sites():
    adata = cs.datasets.synthetic(400, sharpen=1e3, random_state=3)  # huge sharpening: instances are the consensus
    truth = _truth(adata)
    for mid, sites in truth["sites"].groupby("matrix_id", observed=True):
        consensus = truth["pwms"][mid].argmax(axis=0)
        planted = _planted(adata, sites, consensus.size)
        assert (planted == consensus).all(), mid
        assert ((sites["end"] - sites["start"]) == consensus.size).all()


def test_synthetic_instances_score_high_under_their_pwm(synth):
    truth = _truth(synth)
    rng = np.random.default_rng(0)
    for mid, sites in truth["sites"].groupby("matrix_id", observed=True):
        logodds = np.log2(truth["pwms"][mid] / 0.25)
        cols = np.arange(logodds.shape[1])
        planted = logodds[_planted(synth, sites, cols.size), cols].sum(axis=1)
        random = logodds[rng.integers(0, 4, size=(2000, cols.size)), cols].sum(axis=1)
        assert np.median(planted) > np.percentile(random, 99), mid


def test_synthetic_sites_do_not_overlap(synth):
    sites = _truth(synth)["sites"].sort_values(["region", "start"])
    same = sites["region"].to_numpy()[1:] == sites["region"].to_numpy()[:-1]
    assert (sites["start"].to_numpy()[1:][same] >= sites["end"].to_numpy()[:-1][same]).all()
    assert sites["start"].min() >= 0 and sites["end"].max() <= 600


def test_synthetic_gc_does_not_predict_labels(synth):
    gc = synth.obs[K.GC].to_numpy()
    for j, ct in enumerate(synth.var_names):
        y = synth.X[:, j]
        assert abs(gc[y == 1].mean() - gc[y == 0].mean()) < 0.01, ct
        assert 0.42 < roc_auc_score(y, gc) < 0.58, ct
    assert 0.42 < roc_auc_score(synth.obs[K.OPEN], gc) < 0.58


def test_synthetic_gc_and_cpg_are_genome_like(synth):
    seq = synth.obsm[K.SEQUENCE]
    assert abs(float(synth.obs[K.GC].mean()) - 0.42) < 0.01
    np.testing.assert_allclose(synth.obs[K.GC], ((seq == 1) | (seq == 2)).mean(axis=1), atol=1e-6)
    background = seq[synth.obs[K.BACKGROUND].to_numpy()]
    cpg = ((background[:, :-1] == 1) & (background[:, 1:] == 2)).mean()
    expected = (background == 1).mean() * (background == 2).mean()
    assert cpg / expected < 0.45


def test_synthetic_accepts_tf_names_and_custom_celltypes():
    adata = cs.datasets.synthetic(
        200, width=300, motifs={"liver": "HNF1A", "blood": ["CEBPB"]}, shared_motifs=None, random_state=1
    )
    truth = _truth(adata)
    assert list(adata.var_names) == ["liver", "blood"]
    assert sorted(truth["motifs"]["name"].str.upper()) == ["CEBPB", "HNF1A"]
    assert set(truth["sites"]["group"]) == {"liver", "blood"}
    assert (adata.X.sum(axis=1) <= 1).all()  # no shared class


def test_synthetic_subset_of_default_celltypes():
    adata = cs.datasets.synthetic(100, celltypes=["GM12878"], random_state=1)
    assert list(adata.var_names) == ["GM12878"]


def test_synthetic_fractions(synth):
    counts = pd.Series(synth.X.sum(axis=1)).value_counts()
    assert counts[0.0] == 1200  # background, frac_background=0.4
    assert counts[3.0] == 300  # shared, frac_shared=0.1
    np.testing.assert_array_equal(synth.X[synth.X.sum(axis=1) == 1].sum(axis=0), [500, 500, 500])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"celltypes": ["Liver"]}, "no motifs for cell type"),
        ({"motifs": {"A": "NOT_A_TF"}}, "NOT_A_TF"),
        ({"motifs": {"A": "MA9999.1"}}, "MA9999.1"),
        ({"width": 20}, "increase width"),
        ({"frac_background": 0.8, "frac_shared": 0.5}, "frac_background"),
        ({"n_sites": (3, 1)}, "n_sites"),
        ({"jaspar_release": "JASPAR1999"}, "JASPAR2024"),
        ({"celltypes": ["K562", "K562"]}, "unique"),
        ({"motifs": {"A": "GATA1", "B": "GATA1"}}, "listed twice"),
    ],
)
def test_synthetic_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cs.datasets.synthetic(50, **kwargs)


def test_synthetic_round_trips_h5ad(synth, tmp_path):
    synth.write_h5ad(tmp_path / "synth.h5ad")
    back = ad.read_h5ad(tmp_path / "synth.h5ad")
    np.testing.assert_array_equal(back.obsm[K.SEQUENCE], synth.obsm[K.SEQUENCE])
    pd.testing.assert_frame_equal(back.obs, synth.obs)
    truth, back_truth = _truth(synth), _truth(back)
    pd.testing.assert_frame_equal(back_truth["sites"], truth["sites"])
    pd.testing.assert_frame_equal(back_truth["motifs"], truth["motifs"])
    for mid, pwm in truth["pwms"].items():
        np.testing.assert_array_equal(back_truth["pwms"][mid], pwm)
