import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import encode, gc_fraction
from chromseq._metrics import binary_metrics
from chromseq.tl._baselines import composition_baseline, kmer_counts, kmer_features, kmer_names
from chromseq.tl._evaluate import COLUMNS

CELLTYPES = ["K562", "HepG2"]


def _regions(n: int = 300, width: int = 50, seed: int = 0) -> ad.AnnData:
    """Regions whose K562 positives are GC-rich (HepG2 labels are unrelated to composition), 20% NaN labels."""
    rng = np.random.default_rng(seed)
    y = rng.random((n, 2)) < 0.4
    is_gc = rng.random((n, width)) < np.where(y[:, 0], 0.6, 0.4)[:, None]
    seq = np.where(is_gc, rng.choice([1, 2], (n, width)), rng.choice([0, 3], (n, width))).astype(np.uint8)
    X = y.astype(np.float32)
    X[rng.random((n, 2)) < 0.2] = np.nan
    split = rng.choice(list(K.SPLITS), n, p=[0.6, 0.2, 0.2])
    obs = pd.DataFrame(
        {K.SPLIT: pd.Categorical(split, categories=K.SPLITS), K.OPEN: y.any(axis=1), K.GC: gc_fraction(seq)},
        index=[f"chr1:{i * 100}-{i * 100 + width}" for i in range(n)],
    )
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=CELLTYPES))
    adata.obsm[K.SEQUENCE] = seq
    return adata


def _add_predictions(adata: ad.AnnData, seed: int = 1) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    columns, meta = {}, {}
    for ct in CELLTYPES:
        y = np.nan_to_num(adata[:, ct].X.ravel())
        for kind, name in (("finetune", f"finetuned_{ct}"), ("scratch", f"scratch_{ct}")):
            columns[name] = 1 / (1 + np.exp(-(4 * (y - 0.5) + rng.normal(0, 1.5, adata.n_obs))))
            meta[name] = {"model": name, "kind": kind, "target": ct}
    columns["pretrained"] = rng.random(adata.n_obs)
    meta["pretrained"] = {"model": "pretrained", "kind": "pretrain", "target": K.OPEN}
    adata.obsm[K.PRED] = pd.DataFrame(columns, index=adata.obs_names).astype(np.float32)
    adata.uns.setdefault(K.UNS, {})[K.UNS_PREDICTIONS] = meta
    return adata


@pytest.fixture(scope="module")
def _base():
    return _add_predictions(_regions())


@pytest.fixture
def adata(_base):
    return _base.copy()


# -- metric core ----------------------------------------------------------------------------------------------------
def test_binary_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    m = binary_metrics(y, s)
    assert m["auroc"] == pytest.approx(roc_auc_score(y, s))
    assert m["auprc"] == pytest.approx(average_precision_score(y, s))
    assert m["f1_at_05"] == pytest.approx(f1_score(y, s >= 0.5))
    assert m["accuracy"] == pytest.approx(np.mean((s >= 0.5) == y))
    assert (m["n"], m["n_pos"]) == (200, int(y.sum()))


def test_best_threshold_reaches_best_f1():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = y * 0.2 + rng.random(300)
    m = binary_metrics(y, s)
    brute = max(f1_score(y, s >= t) for t in np.unique(s))
    assert m["f1_best"] == pytest.approx(brute)
    assert f1_score(y, s >= m["best_threshold"]) == pytest.approx(brute)


def test_binary_metrics_leave_out_nan_labels_and_scores():
    m = binary_metrics([0, 1, np.nan, 1, 0], [0.1, 0.9, 0.5, np.nan, 0.2])
    assert (m["n"], m["n_pos"], m["auroc"]) == (3, 1, 1.0)


def test_binary_metrics_one_class_gives_nan_ranking_metrics():
    m = binary_metrics([1, 1, 1], [0.2, 0.7, 0.9])
    assert np.isnan(m["auroc"]) and np.isnan(m["auprc"])
    assert m["accuracy"] == pytest.approx(2 / 3)


def test_binary_metrics_reject_non_binary_labels():
    with pytest.raises(ValueError, match="labels must be 0, 1 or NaN"):
        binary_metrics([0, 2], [0.1, 0.2])


# -- k-mer counting -------------------------------------------------------------------------------------------------
def test_kmer_counts_match_a_naive_count_and_skip_n():
    seq = "ACGTTNACGA"
    counts = kmer_counts(encode(seq)[None], 2, rc_collapse=False)[0]
    names = kmer_names(2, rc_collapse=False)
    naive = {}
    for i in range(len(seq) - 1):
        if "N" not in seq[i : i + 2]:
            naive[seq[i : i + 2]] = naive.get(seq[i : i + 2], 0) + 1
    assert {n: c for n, c in zip(names, counts, strict=True) if c} == naive


def test_kmer_counts_rc_collapse_merges_reverse_complements():
    names = kmer_names(3)
    assert len(names) == 32 and "AAA" in names and "TTT" not in names
    counts = kmer_counts(encode("AAATTT")[None], 3)[0]
    assert counts[names.index("AAA")] == 2  # AAA and its reverse complement TTT


def test_kmer_counts_do_not_depend_on_chunk_size():
    codes = np.random.default_rng(0).integers(0, 5, (37, 40)).astype(np.uint8)
    np.testing.assert_array_equal(kmer_counts(codes, 3, chunk_size=5), kmer_counts(codes, 3, chunk_size=1000))


def test_kmer_features_are_frequencies_per_k():
    codes = np.random.default_rng(0).integers(0, 4, (5, 30)).astype(np.uint8)
    features, names = kmer_features(codes, [1, 2])
    assert features.shape == (5, len(names)) == (5, 2 + 10)
    np.testing.assert_allclose(features[:, :2].sum(axis=1), 1, rtol=1e-6)


# -- evaluate -------------------------------------------------------------------------------------------------------
def test_evaluate_writes_one_row_per_prediction_and_split(adata):
    cs.tl.evaluate(adata, baselines=False)
    table = adata.uns[K.UNS][K.UNS_METRICS]
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 5 * 3  # 4 fine-tuned/scratch columns + pretrained, 3 splits each
    assert set(table["kind"]) == {"finetune", "scratch", "pretrain"}
    assert set(table.loc[table["model"] == "pretrained", "target"]) == {K.OPEN}


def test_evaluate_counts_only_labelled_regions(adata):
    cs.tl.evaluate(adata, "finetuned_K562", baselines=False)
    table = adata.uns[K.UNS][K.UNS_METRICS].set_index("split")
    labelled = ~np.isnan(adata[:, "K562"].X.ravel())
    for split in K.SPLITS:
        in_split = (adata.obs[K.SPLIT] == split).to_numpy()
        assert table.loc[split, "n"] == (labelled & in_split).sum()
        assert table.loc[split, "n_pos"] == np.nansum(adata[in_split, "K562"].X)


def test_evaluate_metrics_equal_the_metric_core(adata):
    cs.tl.evaluate(adata, "finetuned_HepG2", splits=["test"], baselines=False)
    row = adata.uns[K.UNS][K.UNS_METRICS].iloc[0]
    test = (adata.obs[K.SPLIT] == "test").to_numpy()
    expected = binary_metrics(adata[test, "HepG2"].X.ravel(), adata.obsm[K.PRED]["finetuned_HepG2"].to_numpy()[test])
    assert row["auroc"] == pytest.approx(expected["auroc"])
    assert row["auroc"] > 0.8  # the fake predictions are informative


def test_evaluate_single_class_split_gives_nan_auroc_and_warns(adata, caplog):
    adata.X[(adata.obs[K.SPLIT] == "val").to_numpy(), 0] = 0
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        cs.tl.evaluate(adata, "finetuned_K562", baselines=False)
    table = adata.uns[K.UNS][K.UNS_METRICS].set_index("split")
    assert np.isnan(table.loc["val", "auroc"]) and not np.isnan(table.loc["test", "auroc"])
    assert "only one class" in caplog.text


def test_evaluate_without_predictions_gives_baselines_for_every_target():
    adata = _regions()
    cs.tl.evaluate(adata)
    table = adata.uns[K.UNS][K.UNS_METRICS]
    assert set(table["model"]) == {"baseline_gc", "baseline_kmer"}
    assert set(table["kind"]) == {"baseline"}
    assert set(table["target"]) == {K.OPEN, *CELLTYPES}
    assert len(table) == 2 * 3 * 3


def test_evaluate_adds_baselines_beside_each_target_of_the_models(adata):
    cs.tl.evaluate(adata, ["finetuned_K562", "scratch_K562"])
    table = adata.uns[K.UNS][K.UNS_METRICS]
    assert set(table["target"]) == {"K562"}
    assert set(table["model"]) == {"finetuned_K562", "scratch_K562", "baseline_gc", "baseline_kmer"}


def test_gc_baseline_sees_the_gc_confound(adata):
    cs.tl.evaluate(adata, splits=["test"])
    auroc = adata.uns[K.UNS][K.UNS_METRICS].set_index(["model", "target"])["auroc"]
    assert auroc["baseline_gc", "K562"] > 0.85  # K562 positives are GC-rich in this fixture
    assert auroc["baseline_kmer", "K562"] > 0.85
    assert 0.3 < auroc["baseline_gc", "HepG2"] < 0.7  # HepG2 labels do not depend on composition


def test_kmer_baseline_is_fitted_on_the_train_split_only(adata):
    composition_baseline(adata, "K562")
    before = adata.obsm[K.BASELINE]["baseline_kmer_K562"].to_numpy().copy()
    held_out = (adata.obs[K.SPLIT] != "train").to_numpy()
    adata.X[held_out, 0] = 1 - np.nan_to_num(adata.X[held_out, 0])  # change every val/test label
    composition_baseline(adata, "K562")
    np.testing.assert_array_equal(adata.obsm[K.BASELINE]["baseline_kmer_K562"].to_numpy(), before)


def test_composition_baseline_keeps_other_targets_columns(adata):
    composition_baseline(adata, "K562")
    composition_baseline(adata, "HepG2", k=2)
    assert set(adata.obsm[K.BASELINE].columns) == {"baseline_kmer_K562", "baseline_kmer_HepG2"}
    record = adata.uns[K.UNS][K.UNS_BASELINES]
    assert record["baseline_kmer_HepG2"]["k"] == [2] and record["baseline_kmer_K562"]["k"] == [1, 2, 3, 4]


def test_evaluate_splits_none_uses_all_regions_without_obs_split(adata):
    del adata.obs[K.SPLIT]
    cs.tl.evaluate(adata, "finetuned_K562", splits=None, baselines=False)
    table = adata.uns[K.UNS][K.UNS_METRICS]
    assert list(table["split"]) == ["all"]
    assert table["n"].iloc[0] == (~np.isnan(adata[:, "K562"].X)).sum()


def test_evaluate_without_split_names_the_fix(adata):
    del adata.obs[K.SPLIT]
    with pytest.raises(KeyError, match="split_by_chromosome"):
        cs.tl.evaluate(adata)


def test_evaluate_unknown_model_lists_the_predicted_ones(adata):
    with pytest.raises(KeyError, match="finetuned_K562"):
        cs.tl.evaluate(adata, "finetuned_GM12878")


def test_evaluate_unknown_target_lists_var_names(adata):
    with pytest.raises(KeyError, match="HepG2"):
        cs.tl.evaluate(adata, targets="A549")


def test_evaluate_predictions_without_metadata_name_the_fix(adata):
    del adata.uns[K.UNS][K.UNS_PREDICTIONS]
    with pytest.raises(KeyError, match="tl.predict"):
        cs.tl.evaluate(adata)


def test_evaluate_bad_input_leaves_adata_untouched(adata):
    del adata.obsm[K.SEQUENCE]
    with pytest.raises(KeyError, match="add_sequences"):
        cs.tl.evaluate(adata)
    assert K.UNS_METRICS not in adata.uns[K.UNS] and K.BASELINE not in adata.obsm


def test_evaluate_copy_leaves_the_input_alone(adata):
    out = cs.tl.evaluate(adata, baselines=False, copy=True)
    assert K.UNS_METRICS in out.uns[K.UNS] and K.UNS_METRICS not in adata.uns[K.UNS]


def test_evaluate_key_added_and_params(adata):
    cs.tl.evaluate(adata, "pretrained", baselines=False, key_added="metrics_open")
    assert "metrics_open" in adata.uns[K.UNS]
    assert adata.uns[K.UNS][K.UNS_PARAMS]["metrics_open"]["models"] == ["pretrained"]


def test_metrics_and_baselines_survive_h5ad(adata, tmp_path):
    cs.tl.evaluate(adata)
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    pd.testing.assert_frame_equal(back.uns[K.UNS][K.UNS_METRICS], adata.uns[K.UNS][K.UNS_METRICS])
    pd.testing.assert_frame_equal(back.obsm[K.BASELINE], adata.obsm[K.BASELINE])
    assert back.uns[K.UNS][K.UNS_BASELINES]["baseline_kmer_K562"]["target"] == "K562"


def test_composition_baselines_on_real_chr20_k562():
    adata = cs.datasets.chromtransfer_chr20(celltypes=["K562"])
    cs.tl.evaluate(adata, targets="K562", splits=["test"])
    auroc = adata.uns[K.UNS][K.UNS_METRICS].set_index("model")["auroc"]
    # K562-specific DHSs are GC-rich: composition alone ranks them well above chance on held-out chr20 blocks
    assert auroc["baseline_gc"] > 0.65 and auroc["baseline_kmer"] > 0.65
