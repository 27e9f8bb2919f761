"""Regression evaluation: Pearson/Spearman/MSE per target, specificity across cell types, ridge baseline."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr, spearmanr

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import gc_fraction
from chromseq._intervals import block_weights, pearson_replicates, weighted_pearson
from chromseq._metrics_regression import pearson, regression_metrics, spearman, specificity_metrics
from chromseq.tl._evaluate import COLUMNS
from chromseq.tl._evaluate_regression import REGRESSION_COLUMNS

CELLTYPES = ["K562", "HepG2", "GM12878"]


def _regions(n: int = 300, width: int = 60, seed: int = 0) -> ad.AnnData:
    """Binary labels in X; in layers['signal'] quantities driven by GC (K562), AT (HepG2) and noise (GM12878)."""
    rng = np.random.default_rng(seed)
    p_gc = rng.uniform(0.25, 0.75, n)
    is_gc = rng.random((n, width)) < p_gc[:, None]
    seq = np.where(is_gc, rng.choice([1, 2], (n, width)), rng.choice([0, 3], (n, width))).astype(np.uint8)
    gc = gc_fraction(seq)
    signal = np.column_stack([4 * gc, 4 * (1 - gc), np.zeros(n)]) + rng.normal(0, 0.3, (n, 3))
    signal[rng.random((n, 3)) < 0.1] = np.nan
    X = (np.nan_to_num(signal) > 2).astype(np.float32)
    split = rng.choice(list(K.SPLITS), n, p=[0.6, 0.2, 0.2])
    obs = pd.DataFrame(
        {K.SPLIT: pd.Categorical(split, categories=K.SPLITS), K.GC: gc},
        index=[f"chr1:{i * 100}-{i * 100 + width}" for i in range(n)],
    )
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=CELLTYPES), layers={"signal": signal.astype(np.float32)})
    adata.obsm[K.SEQUENCE] = seq
    return adata


def _predict(adata: ad.AnnData, seed: int = 1) -> ad.AnnData:
    """Regression predictions of a 3-head model ('multi', layer signal) and single-cell-type finetuned models."""
    rng = np.random.default_rng(seed)
    signal = np.asarray(adata.layers["signal"], dtype=np.float64)
    columns, meta = {}, {}
    for j, ct in enumerate(CELLTYPES):
        truth = np.nan_to_num(signal[:, j], nan=2.0)
        columns[f"multi_{ct}"] = truth + rng.normal(0, 0.5, adata.n_obs)
        meta[f"multi_{ct}"] = {
            "model": "multi",
            "kind": "scratch",
            "target": ct,
            "task": "regression",
            "layer": "signal",
        }
        columns[f"ft_{ct}"] = truth + rng.normal(0, 1.0, adata.n_obs)
        meta[f"ft_{ct}"] = {
            "model": f"ft_{ct}",
            "kind": "finetune",
            "target": ct,
            "task": "regression",
            "layer": "signal",
        }
    adata.obsm[K.PRED] = pd.DataFrame(columns, index=adata.obs_names).astype(np.float32)
    adata.uns[K.UNS] = {K.UNS_PREDICTIONS: meta}
    return adata


@pytest.fixture(scope="module")
def _base():
    return _predict(_regions())


@pytest.fixture
def adata(_base):
    return _base.copy()


# -- metric core ----------------------------------------------------------------------------------------------------
def test_pearson_spearman_match_scipy_with_ties_and_nan():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 200).astype(float)  # many ties
    s = y + rng.integers(0, 3, 200)  # ties too
    y[[3, 50]] = np.nan
    s[[7, 50, 90]] = np.nan
    keep = ~(np.isnan(y) | np.isnan(s))
    m = regression_metrics(y, s)
    assert m["n"] == keep.sum() == 196
    assert m["pearson"] == pytest.approx(pearsonr(y[keep], s[keep])[0], abs=1e-12)
    assert m["spearman"] == pytest.approx(spearmanr(y[keep], s[keep])[0], abs=1e-12)
    assert m["mse"] == pytest.approx(np.mean((y[keep] - s[keep]) ** 2))
    assert pearson(y, s) == m["pearson"] and spearman(y, s) == m["spearman"]


def test_regression_metrics_undefined_cases():
    assert np.isnan(regression_metrics([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])["pearson"])  # constant prediction
    one = regression_metrics([1.0, np.nan], [2.0, 3.0])
    assert one["n"] == 1 and np.isnan(one["pearson"]) and one["mse"] == 1.0
    assert np.isnan(regression_metrics([1.0, 2.0], [1.0, 3.0], mse=False)["mse"])
    with pytest.raises(ValueError, match="differ in length"):
        regression_metrics([1.0, 2.0], [1.0])


def test_specificity_is_the_mean_and_median_of_per_region_correlations():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, (50, 4)).astype(float)
    s = y + rng.normal(0, 1, (50, 4))
    y[0] = 1.0  # constant observed vector: no correlation, left out
    s[1, 2] = np.nan  # incomplete: left out
    m = specificity_metrics(y, s)
    rows = range(2, 50)
    r = [pearsonr(y[i], s[i])[0] for i in rows if np.ptp(y[i]) > 0]
    rho = [spearmanr(y[i], s[i])[0] for i in rows if np.ptp(y[i]) > 0]
    assert m["n"] == len(r) and m["n_targets"] == 4
    assert m["pearson"] == pytest.approx(np.mean(r)) and m["pearson_median"] == pytest.approx(np.median(r))
    assert m["spearman"] == pytest.approx(np.mean(rho)) and m["spearman_median"] == pytest.approx(np.median(rho))
    with pytest.raises(ValueError, match=">= 2 cell types"):
        specificity_metrics(y[:, :1], s[:, :1])


def test_weighted_pearson_equals_pearson_of_repeated_regions():
    rng = np.random.default_rng(3)
    y, s = rng.normal(size=40), rng.normal(size=40)
    w = block_weights(np.arange(40) // 4, 5, random_state=1)
    boot = weighted_pearson(y, s, w)
    for b in range(5):
        reps = np.repeat(np.arange(40), w[b].astype(int))
        assert boot[b] == pytest.approx(pearsonr(y[reps], s[reps])[0])
    point, replicates = pearson_replicates(y, np.stack([s, -s]), w)
    assert point == pytest.approx(0.0) and np.allclose(replicates, 0.0)


def test_ridge_fit_matches_sklearn_and_keeps_the_best_val_alpha():
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from chromseq.tl._baselines_ridge import fit_ridge_model

    rng = np.random.default_rng(6)
    x = rng.random((400, 12))
    x[:, 4] = 0.25  # a constant feature (scale 1, as sklearn)
    y = x[:, :3] @ [1.0, -2.0, 0.5] + rng.normal(0, 0.3, 400)
    train, val = np.arange(300), np.arange(300, 400)
    model, fit = fit_ridge_model(x, y, train, val, alphas=[0.1, 10.0, 1e4])
    for alpha, mse in zip(fit["alphas"], fit["val_mse"], strict=True):
        ref = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(x[train], y[train])
        assert mse == pytest.approx(np.mean((ref.predict(x[val]) - y[val]) ** 2))
        if alpha == fit["alpha"]:
            np.testing.assert_allclose(model.predict(x), ref.predict(x), rtol=1e-9, atol=1e-9)
    assert fit["alpha"] == fit["alphas"][int(np.argmin(fit["val_mse"]))] and fit["alpha"] != 1e4


# -- tl.evaluate ----------------------------------------------------------------------------------------------------
def test_evaluate_regression_rows_match_scipy_on_the_layer(adata):
    x_before = adata.X.copy()
    cs.tl.evaluate(adata)
    table = adata.uns[K.UNS][K.UNS_METRICS]
    assert list(table.columns) == [*COLUMNS, *REGRESSION_COLUMNS]
    row = table[(table.model == "ft_K562") & (table.split == "test")].iloc[0]
    test = (adata.obs[K.SPLIT] == "test").to_numpy()
    y = adata.layers["signal"][test, 0].astype(float)
    s = adata.obsm[K.PRED]["ft_K562"].to_numpy(float)[test]
    keep = ~np.isnan(y)
    assert (row.task, row.layer, row.n, row.n_pos) == ("regression", "signal", keep.sum(), (y[keep] > 0).sum())
    assert row.pearson == pytest.approx(pearsonr(y[keep], s[keep])[0])
    assert row.spearman == pytest.approx(spearmanr(y[keep], s[keep])[0])
    assert row.mse == pytest.approx(np.mean((y[keep] - s[keep]) ** 2), rel=1e-5)
    assert np.isnan(row.auroc) and row.n_targets == 1
    np.testing.assert_array_equal(adata.X, x_before)


def test_evaluate_regression_baselines_are_gc_and_ridge(adata):
    cs.tl.evaluate(adata)
    table = adata.uns[K.UNS][K.UNS_METRICS]
    per_target = table[table.target != K.SPECIFICITY]
    assert set(per_target.model[per_target.kind == "baseline"]) == {"baseline_gc", "baseline_ridge"}
    gc = per_target[(per_target.model == "baseline_gc") & (per_target.target == "HepG2") & (per_target.split == "test")]
    assert gc.pearson.iloc[0] < -0.8 and np.isnan(gc.mse.iloc[0])  # HepG2's signal falls with GC
    ridge = per_target[(per_target.model == "baseline_ridge") & (per_target.split == "test")].set_index("target")
    assert ridge.loc["K562", "pearson"] > 0.8 and ridge.loc["HepG2", "pearson"] > 0.8
    fit = adata.uns[K.UNS][K.UNS_BASELINES]["baseline_ridge_signal_K562"]
    assert fit["task"] == "regression" and fit["layer"] == "signal" and fit["alpha"] in fit["alphas"]
    assert fit["n_val"] > 0 and np.isfinite(fit["val_mse"]).all()
    assert "baseline_ridge_signal_K562" in adata.obsm[K.BASELINE]


def test_evaluate_specificity_rows(adata):
    cs.tl.evaluate(adata, splits=["test"])
    table = adata.uns[K.UNS][K.UNS_METRICS]
    spec = table[table.target == K.SPECIFICITY].set_index("model")
    assert list(table.target.iloc[-len(spec) :]) == [K.SPECIFICITY] * len(spec)  # after the per-target rows
    assert set(spec.index) == {"multi", "finetune_per_celltype", "baseline_ridge"}
    assert (spec.n_targets == 3).all() and (spec.task == "regression").all()
    test = (adata.obs[K.SPLIT] == "test").to_numpy()
    y = adata.layers["signal"][test].astype(float)
    s = adata.obsm[K.PRED][[f"multi_{ct}" for ct in CELLTYPES]].to_numpy(float)[test]
    expected = specificity_metrics(y, s)
    assert spec.loc["multi", "pearson"] == pytest.approx(expected["pearson"])
    assert spec.loc["multi", "spearman_median"] == pytest.approx(expected["spearman_median"])
    assert spec.loc["multi", "n"] == expected["n"]
    assert spec.loc["multi", "pearson"] > spec.loc["finetune_per_celltype", "pearson"]  # less noise


def test_evaluate_mixed_tasks_keeps_classification_rows(adata):
    """A classification prediction scored beside regression ones gets the same values as alone."""
    rng = np.random.default_rng(5)
    proba = np.clip(adata.X[:, 0] * 0.6 + rng.random(adata.n_obs) * 0.4, 0, 1)
    alone = _regions()
    for a in (adata, alone):
        frame = a.obsm.get(K.PRED, pd.DataFrame(index=a.obs_names))
        frame["clf_K562"] = proba
        a.obsm[K.PRED] = frame
        a.uns.setdefault(K.UNS, {}).setdefault(K.UNS_PREDICTIONS, {})["clf_K562"] = {
            "model": "clf_K562", "kind": "finetune", "target": "K562"
        }  # fmt: skip
    cs.tl.evaluate(alone)
    cs.tl.evaluate(adata)
    only = alone.uns[K.UNS][K.UNS_METRICS]
    assert list(only.columns) == list(COLUMNS)
    mixed = adata.uns[K.UNS][K.UNS_METRICS]
    mixed = mixed[mixed.task == "classification"].reset_index(drop=True)
    pd.testing.assert_frame_equal(mixed[list(COLUMNS)], only)
    assert (mixed.layer == "").all() and mixed.pearson.isna().all() and (mixed.n_targets == 1).all()


def test_evaluate_missing_layer_fails_before_any_change(adata):
    del adata.layers["signal"]
    with pytest.raises(KeyError, match=r"layers\['signal'\] is missing"):
        cs.tl.evaluate(adata)
    assert K.UNS_METRICS not in adata.uns[K.UNS] and K.BASELINE not in adata.obsm


def test_evaluate_without_predictions_detects_regression_from_x():
    adata = _regions()
    adata.X = np.asarray(adata.layers["signal"])
    cs.tl.evaluate(adata, splits=["test"])
    table = adata.uns[K.UNS][K.UNS_METRICS]
    assert set(table.task) == {"regression"} and "baseline_kmer" not in set(table.model)
    assert "baseline_ridge_K562" in adata.obsm[K.BASELINE]
    assert set(table.model[table.target == K.SPECIFICITY]) == {"baseline_ridge"}


def test_composition_baseline_ridge_checks():
    adata = _regions()
    with pytest.raises(ValueError, match="task='regression'"):
        cs.tl.composition_baseline(adata, "K562", task="classification", layer="signal")
    with pytest.raises(ValueError, match="alphas must be positive"):
        cs.tl.composition_baseline(adata, "K562", layer="signal", alphas=[0.0])
    assert K.BASELINE not in adata.obsm
    cs.tl.composition_baseline(adata, "K562", layer="signal", alphas=[7.0])
    assert adata.uns[K.UNS][K.UNS_BASELINES]["baseline_ridge_signal_K562"]["alpha"] == 7.0


# -- tl.transfer_benchmark plumbing ---------------------------------------------------------------------------------
def test_transfer_regression_baselines_fit_ridge_on_the_run_rows():
    from chromseq.tl._transfer_runs import Runs, _baseline_rows

    adata = _regions()
    values = np.asarray(adata.layers["signal"][:, :2], dtype=np.float32)
    split = adata.obs[K.SPLIT].to_numpy()
    rows = {s: np.flatnonzero(split == s) for s in K.SPLITS}
    runs = Runs(CELLTYPES[:2], [1.0, 0.5], [0], None, None, None, task="regression", layer="signal")
    table = _baseline_rows(adata, runs, values, rows, "test", [1, 2])
    assert set(table.kind) == {"baseline_gc", "baseline_ridge"} and len(table) == 8
    assert {"pearson", "spearman", "mse"} <= set(table.columns) and "auroc" not in table.columns
    gc = table[(table.kind == "baseline_gc") & (table.celltype == "K562")].iloc[0]
    test = rows["test"][~np.isnan(values[rows["test"], 0])]
    assert gc.pearson == pytest.approx(pearsonr(adata.obs[K.GC].to_numpy()[test], values[test, 0])[0])
    assert np.isnan(gc.mse) and gc.n == len(test)
    ridge = table[table.kind == "baseline_ridge"].set_index(["celltype", "fraction"])
    assert (
        ridge.loc[("K562", 1.0), "pearson"] > 0.8
        and ridge.loc[("K562", 0.5), "n_train"] < ridge.loc[("K562", 1.0), "n_train"]
    )


def test_transfer_regression_intervals_are_pearson_with_ridge_differences():
    from chromseq.tl._transfer_cv import _intervals

    rng = np.random.default_rng(4)
    n = 120
    y = rng.normal(size=(n, 1))
    units = np.repeat(np.arange(12), 10).astype(str)
    oof = {
        ("A", 1.0, "finetune"): (y[:, 0] + rng.normal(0, 0.3, n))[None],
        ("A", 1.0, "scratch"): (y[:, 0] + rng.normal(0, 1.0, n))[None],
        ("A", 1.0, "baseline_gc"): rng.normal(size=(1, n)),
        ("A", 1.0, "baseline_ridge"): (y[:, 0] + rng.normal(0, 2.0, n))[None],
    }
    table = _intervals(oof, y, ["A"], [1.0], units, 200, 0.9, 0, "regression").set_index(["celltype", "kind"])
    assert table.loc[("A", "finetune"), "estimate"] == pytest.approx(pearsonr(y[:, 0], oof["A", 1.0, "finetune"][0])[0])
    best = max(pearsonr(y[:, 0], oof["A", 1.0, k][0])[0] for k in ("baseline_gc", "baseline_ridge"))
    diff = table.loc[("A", "finetune-best_baseline")]
    assert diff.estimate == pytest.approx(table.loc[("A", "finetune"), "estimate"] - best)
    assert diff.lower > 0 and table.loc[("A", "finetune-scratch"), "lower"] > 0


def test_pretraining_options_drop_the_other_tasks_loss_and_monitor():
    from chromseq.tl._transfer_checks import pretraining_options

    runs = cs.tl.TrainingOptions(loss="poisson", monitor="val_pearson")
    opened = pretraining_options(runs, "classification")
    assert (opened.loss, opened.monitor) == ("auto", "val_loss")
    assert pretraining_options(runs, "regression") == runs
    classification = cs.tl.TrainingOptions(monitor="val_auroc")
    assert pretraining_options(classification, "classification") == classification
    assert pretraining_options(classification, "regression").monitor == "val_loss"


@pytest.mark.parametrize(
    ("value", "message"),
    [(np.inf, "infinite value"), ("constant", "no variance"), (-1.0, "negative value")],
)
def test_transfer_benchmark_refuses_bad_regression_values_before_training(tmp_path, value, message):
    adata = _regions()
    if value == "constant":
        adata.layers["signal"][:, 0] = 1.5
    else:
        adata.layers["signal"][5, 0] = value
    options = cs.tl.TrainingOptions(loss="poisson", max_epochs=1)
    with pytest.raises(ValueError, match=rf"targets of .K562. \(from layers\[.signal.\]\) .*{message}"):
        cs.tl.transfer_benchmark(adata, "K562", layer="signal", preset="tiny", options=options, save_dir=tmp_path)
    assert not list(tmp_path.iterdir()) and K.UNS_TRANSFER not in adata.uns.get(K.UNS, {})
    with pytest.raises(KeyError, match=r"layers\['counts'\] is missing"):
        cs.tl.transfer_benchmark(adata, "K562", layer="counts", preset="tiny", max_epochs=1, save_dir=tmp_path)


def test_regression_metrics_table_survives_h5ad(adata, tmp_path):
    cs.tl.evaluate(adata, splits=["test"])
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad").uns[K.UNS][K.UNS_METRICS]
    pd.testing.assert_frame_equal(back.reset_index(drop=True), adata.uns[K.UNS][K.UNS_METRICS], check_dtype=False)


def _chr20_signal() -> ad.AnnData:
    """~240 real chr20 200-bp regions with a quantity per cell type in layers['signal'] (GC and label driven)."""
    full = cs.datasets.chromtransfer_chr20(celltypes=["K562", "HepG2"], width=200)
    rng = np.random.default_rng(0)
    split = full.obs[K.SPLIT].to_numpy()
    picked = [
        rng.choice(np.flatnonzero(split == s), n, replace=False) for s, n in (("train", 140), ("val", 50), ("test", 50))
    ]
    adata = full[np.sort(np.concatenate(picked))].copy()
    gc = gc_fraction(np.asarray(adata.obsm[K.SEQUENCE]))
    signal = np.column_stack([3 * gc + adata.X[:, 0], 3 * (1 - gc) + adata.X[:, 1]]) + rng.normal(
        0, 0.2, (adata.n_obs, 2)
    )
    adata.layers["signal"] = signal.astype(np.float32)
    return adata


@pytest.mark.parametrize("pretrain_task", ["classification", "regression"])
def test_transfer_benchmark_regression_end_to_end(tmp_path, pretrain_task):
    """Regression heads fine-tuned from a body pretrained on open/closed, or on the pooled signal."""
    adata = _chr20_signal()
    options = cs.tl.TrainingOptions(loss="mse", monitor="val_pearson", max_epochs=1, batch_size=64)
    cs.tl.transfer_benchmark(
        adata, "K562", fractions=[1.0], layer="signal", preset="tiny", options=options, save_dir=tmp_path,
        pretrain_task=pretrain_task,
    )  # fmt: skip
    base = adata.uns[K.UNS][K.UNS_MODELS]["pretrained"]
    assert (base["task"], base["outputs"][0]) == (
        ("classification", "open") if pretrain_task == "classification" else ("regression", "signal")
    )
    table = adata.uns[K.UNS][K.UNS_TRANSFER]
    assert set(table.kind) == {"finetune", "scratch", "baseline_gc", "baseline_ridge"}
    assert {"pearson", "spearman", "mse"} <= set(table.columns) and "auroc" not in table.columns
    assert table.pearson.between(-1, 1).all() and table.n.nunique() == 1 and table.n_train.nunique() == 1
    assert adata.uns[K.UNS][K.UNS_PARAMS][K.UNS_TRANSFER]["task"] == "regression"


def test_evaluate_scores_a_trained_regression_model(tmp_path):
    adata = _chr20_signal()
    cs.tl.train(adata, ["K562", "HepG2"], multihead=True, layer="signal", preset="tiny", max_epochs=1, batch_size=64,
                save_dir=tmp_path, key_added="reg")  # fmt: skip
    cs.tl.predict(adata, "reg")
    cs.tl.evaluate(adata, splits=["test"])
    table = adata.uns[K.UNS][K.UNS_METRICS]
    rows = table[table.model == "reg"].set_index("target")
    assert set(rows.index) == {"K562", "HepG2", K.SPECIFICITY}
    assert (rows.task == "regression").all() and (rows.layer == "signal").all()
    s = adata.obsm[K.PRED]["reg_K562"].to_numpy()
    test = (adata.obs[K.SPLIT] == "test").to_numpy()
    y = adata.layers["signal"][test, 0]
    keep = ~np.isnan(y)
    assert rows.loc["K562", "pearson"] == pytest.approx(pearsonr(y[keep], s[test][keep])[0], abs=1e-6)


def test_evaluate_scores_regression_pretraining_on_the_pooled_signal(tmp_path):
    adata = _chr20_signal()
    cs.tl.pretrain(adata, layer="signal", preset="tiny", max_epochs=1, batch_size=64, save_dir=tmp_path)
    cs.tl.predict(adata)
    cs.tl.evaluate(adata, splits=["test"])
    table = adata.uns[K.UNS][K.UNS_METRICS]
    row = table[(table.kind == "pretrain")].iloc[0]
    assert (row.target, row.task, row.layer) == ("signal", "regression", "signal")
    test = (adata.obs[K.SPLIT] == "test").to_numpy()
    values = np.asarray(adata.layers["signal"][test], dtype=float)
    known = ~np.isnan(values)
    pooled = np.where(known, values, 0).sum(axis=1) / np.where(known.any(axis=1), known.sum(axis=1), np.nan)
    s = adata.obsm[K.PRED].iloc[:, 0].to_numpy()[test]
    keep = ~np.isnan(pooled)
    assert row.pearson == pytest.approx(pearsonr(pooled[keep], s[keep])[0], abs=1e-6)
    assert "baseline_ridge_signal_signal" in adata.obsm[K.BASELINE]
    assert K.SPECIFICITY not in set(table.target)  # one model, one cell-type-free target
