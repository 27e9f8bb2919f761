"""Downstream of a regression model: contributions of the raw output, variant deltas, design, tracks and plots.

The models are tiny networks trained for one epoch by ``tl.train`` as regression models (``mse`` and
``poisson`` on a made-up quantitative layer) beside a classifier: these tests check units and arithmetic,
not skill.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import decode
from chromseq.data import SequenceDataset
from chromseq.store import get_model, get_record
from chromseq.train import predict_logits, predict_values

WIDTH = 200
CELLTYPES = ["K562", "HepG2"]
#: model name -> (task, loss, link)
MODELS = {
    "reg_mse": ("regression", "mse", "identity"),
    "reg_poisson": ("regression", "poisson", "log"),
    "clf": ("classification", "bce", "logit"),
}
LINKS = {name: link for name, (_, _, link) in MODELS.items()}


@pytest.fixture(scope="module")
def _models(tmp_path_factory):
    adata = cs.datasets.chromtransfer_chr20(celltypes=CELLTYPES, width=WIDTH)
    rows = np.sort(np.random.default_rng(0).choice(adata.n_obs, 90, replace=False))
    adata = adata[rows].copy()
    adata.layers["signal"] = np.random.default_rng(1).gamma(2.0, 1.5, adata.shape).astype(np.float32)
    folder = tmp_path_factory.mktemp("regression_models")
    for name, (task, loss, _) in MODELS.items():
        cs.tl.train(
            adata, CELLTYPES, multihead=True, preset="tiny", task=task, layer="signal" if task == "regression" else None,
            options=cs.tl.TrainingOptions(loss=loss, device="cpu"), max_epochs=1, batch_size=32, save_dir=folder,
            key_added=name,
        )  # fmt: skip
        assert (get_record(adata, name).task, get_record(adata, name).link) == (task, LINKS[name])
    return adata


@pytest.fixture
def models(_models):
    """90 chr20 regions (200 bp, K562/HepG2) with models 'reg_mse', 'reg_poisson' (regression) and 'clf'."""
    return _models.copy()


def _values(adata, name: str, codes: np.ndarray, *, rc_average: bool = True) -> np.ndarray:
    """The model's predictions of ``codes`` in the target's units (probabilities for 'clf'), float64."""
    data = SequenceDataset(np.ascontiguousarray(codes, dtype=np.uint8))
    model = get_model(adata, name)
    out = predict_values(model, data, link=LINKS[name], rc_average=rc_average, batch_size=256, device="cpu")
    return out.astype(np.float64)


def _snvs(genome, n=6, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seq = genome.chromosome("20")
    pos = rng.integers(1_000_000, 60_000_000, 50 * n)
    pos = pos[seq[pos] < 4][:n]
    alt = (seq[pos] + rng.integers(1, 4, len(pos))) % 4
    return pd.DataFrame(
        {"chrom": "20", "pos": pos + 1, "ref": list(decode(seq[pos])), "alt": list(decode(alt.astype(np.uint8)))}
    )


# -- contributions ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "target"), [("reg_mse", "value"), ("reg_poisson", "log_rate")])
def test_ism_of_a_regression_model_is_the_change_of_its_raw_output(models, name, target):
    cs.tl.contributions(models, "HepG2", model=name, method="ism", mask=np.arange(models.n_obs) < 1)
    hyp, _ = cs.tl.get_contributions(models, "HepG2")
    params = models.uns[K.UNS][K.UNS_CONTRIB]["HepG2"]
    assert params["target"] == target and params["task"] == "regression"
    codes = models.obsm[K.SEQUENCE][:1]
    pos = np.arange(0, WIDTH, 7)
    mutants = np.repeat(codes, 4 * len(pos), axis=0)
    mutants[np.arange(len(mutants)), np.repeat(pos, 4)] = np.tile(np.arange(4), len(pos))
    raw = _values(models, name, mutants, rc_average=False)[:, 1].reshape(len(pos), 4)
    raw = np.log(raw) if name == "reg_poisson" else raw  # contributions explain the log-rate, before the exp
    expected = (raw - raw.mean(axis=1, keepdims=True)).T
    np.testing.assert_allclose(hyp[0][:, pos], expected, rtol=1e-3, atol=1e-5)
    assert np.abs(expected).max() > 1e-4


def test_deep_lift_shap_of_a_poisson_model_sums_to_its_log_rate_change(models):
    from tangermeme.ersatz import dinucleotide_shuffle

    from chromseq._codes import one_hot

    cs.tl.contributions(
        models, "K562", model="reg_poisson", n_shuffles=3, random_state=5, mask=np.arange(models.n_obs) < 4
    )
    hyp, _ = cs.tl.get_contributions(models, "K562")
    assert models.uns[K.UNS][K.UNS_CONTRIB]["K562"]["target"] == "log_rate"
    X = one_hot(models.obsm[K.SEQUENCE][:4])
    refs = [dinucleotide_shuffle(X, n=1, random_state=[5 + k] * len(X))[:, 0] for k in range(3)]
    rate = [_values(models, "reg_poisson", r.argmax(1).numpy().astype(np.uint8), rc_average=False) for r in refs]
    here = _values(models, "reg_poisson", models.obsm[K.SEQUENCE][:4], rc_average=False)
    delta = np.log(here[:, 0]) - np.mean([np.log(r[:, 0]) for r in rate], axis=0)  # of the log-rate, not the rate
    assert np.abs(delta).mean() > 1e-4
    np.testing.assert_allclose((hyp * X.numpy()).sum(axis=(1, 2)), delta, atol=1e-5 + 1e-3 * np.abs(delta).mean())


def test_a_classifier_still_explains_its_logit(models):
    cs.tl.contributions(models, "K562", model="clf", method="ism", mask=np.arange(models.n_obs) < 1)
    params = models.uns[K.UNS][K.UNS_CONTRIB]["K562"]
    assert params["target"] == "logit" and "task" not in params


# -- variants -----------------------------------------------------------------------------------------------------
def test_variant_delta_of_a_regression_model_is_alt_minus_ref_of_its_values(models, chr20_genome):
    vdata = cs.tl.score_variants(
        models, _snvs(chr20_genome), genome=chr20_genome, models="reg_mse", store_sequences=True
    )
    ref = _values(models, "reg_mse", vdata.obsm[K.SEQUENCE_REF])
    alt = _values(models, "reg_mse", vdata.obsm[K.SEQUENCE_ALT])
    np.testing.assert_allclose(vdata.layers["ref"], ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vdata.layers["alt"], alt, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vdata.layers["delta"], alt - ref, rtol=1e-4, atol=1e-6)
    assert np.abs(alt - ref).max() > 0
    assert vdata.var["task"].tolist() == ["regression"] * 2 and vdata.var["units"].tolist() == ["value"] * 2
    assert vdata.uns[K.UNS][K.UNS_VARIANTS]["delta"] == "alt - ref (the target's units)"
    assert vdata.uns[K.UNS][K.UNS_MODELS]["reg_mse"]["task"] == "regression"
    assert vdata.uns[K.UNS][K.UNS_MODELS]["reg_mse"]["loss"] == "mse"


def test_poisson_variant_predictions_are_nonnegative_rates(models, chr20_genome):
    vdata = cs.tl.score_variants(
        models, _snvs(chr20_genome, seed=2), genome=chr20_genome, models="reg_poisson", store_sequences=True
    )
    assert (vdata.layers["ref"] >= 0).all() and (vdata.layers["alt"] >= 0).all()
    rate = _values(models, "reg_poisson", vdata.obsm[K.SEQUENCE_REF])
    np.testing.assert_allclose(vdata.layers["ref"], rate, rtol=1e-5)
    np.testing.assert_allclose(vdata.layers["delta"], vdata.layers["alt"] - vdata.layers["ref"], rtol=1e-4, atol=1e-7)
    assert vdata.var["units"].tolist() == ["rate"] * 2


def test_a_classifier_beside_a_regression_model_keeps_its_logit_delta(models, chr20_genome):
    snvs = _snvs(chr20_genome, seed=3)
    both = cs.tl.score_variants(models, snvs, genome=chr20_genome, models=["clf", "reg_mse"], store_sequences=True)
    alone = cs.tl.score_variants(models, snvs, genome=chr20_genome, models="clf")
    cols = [c for c in both.var_names if c.startswith("clf")]
    for layer in ("ref", "alt", "delta"):
        np.testing.assert_array_equal(both[:, cols].layers[layer], alone.layers[layer])
    data = SequenceDataset(both.obsm[K.SEQUENCE_ALT])
    logit = predict_logits(get_model(models, "clf"), data, batch_size=64, device="cpu", precision="fp32")
    data = SequenceDataset(both.obsm[K.SEQUENCE_REF])
    logit -= predict_logits(get_model(models, "clf"), data, batch_size=64, device="cpu", precision="fp32")
    np.testing.assert_allclose(both[:, cols].layers["delta"], logit, rtol=1e-4, atol=1e-6)
    assert both.var["task"].tolist() == ["classification"] * 2 + ["regression"] * 2
    assert "logit(alt) - logit(ref) (classification outputs)" in both.uns[K.UNS][K.UNS_VARIANTS]["delta"]


def test_variant_plots_name_the_regression_units(models, chr20_genome):
    import matplotlib.pyplot as plt

    vdata = cs.tl.score_variants(
        models, _snvs(chr20_genome, n=2, seed=4), genome=chr20_genome, models="reg_mse", contributions=True,
        contrib_method="grad_x_input",
    )  # fmt: skip
    axes = cs.pl.variant_ranking(vdata, show=False)
    assert [a.get_xlabel() for a in axes] == ["delta (value, alt - ref)"] * 2
    axes = cs.pl.variant_effect(vdata, 0, "reg_mse_K562", show=False)
    assert "logit" not in axes[0].get_title() and f"{vdata.layers['delta'][0, 0]:+.3g} value" in axes[0].get_title()
    assert vdata.uns[K.UNS][K.UNS_VARIANTS]["contributions"]["target"] == dict.fromkeys(vdata.var_names, "value")
    plt.close("all")


# -- design -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["reg_mse", "reg_poisson"])
def test_design_raises_the_predicted_value_of_a_regression_model(models, name):
    import matplotlib.pyplot as plt

    designs = cs.tl.design(models, "K562", model=name, start=2, steps=2, batch_size=512, device="cpu")
    pred = _values(models, name, designs.obsm[K.SEQUENCE])
    np.testing.assert_allclose(designs.obs[["pred_K562", "pred_HepG2"]].to_numpy(), pred, rtol=1e-4, atol=1e-6)
    start = _values(models, name, designs.obsm[K.DESIGN_START_SEQUENCE])[:, 0]
    assert (pred[:, 0] > start).all()
    raw = np.log(pred[:, 0]) if name == "reg_poisson" else pred[:, 0]  # the objective is on the raw output
    np.testing.assert_allclose(designs.obs["score"], raw, rtol=1e-4, atol=1e-5)
    info = designs.uns[K.UNS][K.UNS_DESIGN]
    assert info["task"] == "regression"
    assert (info["scores"], info["objective_units"]) == (
        ("rate", "log_rate") if name == "reg_poisson" else ("value", "value")
    )
    ax = cs.pl.design(designs, show=False)
    assert ax.get_ylabel() == f"predicted {info['scores']}"
    plt.close("all")


# -- tracks and plots ---------------------------------------------------------------------------------------------
def test_regression_predictions_are_written_as_values(models, chr20_genome, tmp_path, caplog):
    import logging

    import pyBigWig

    cs.tl.predict(models, models="reg_mse")
    assert models.uns[K.UNS][K.UNS_PREDICTIONS]["reg_mse_K562"]["task"] == "regression"
    values = models.obsm[K.PRED]["reg_mse_K562"].to_numpy()
    np.testing.assert_allclose(values, _values(models, "reg_mse", models.obsm[K.SEQUENCE])[:, 0], rtol=1e-5)
    assert values.max() > 1  # values in the target's units, not probabilities
    with caplog.at_level(logging.INFO, logger="chromseq"):
        path = cs.io.write_predictions(models, tmp_path / "values.bw", "reg_mse_K562", genome=chr20_genome)
    assert "'reg_mse_K562' (value)" in caplog.text
    bw = pyBigWig.open(str(path))
    obs = models.obs
    centre = ((obs["start"] + obs["end"]) // 2).to_numpy()
    chrom = obs["chrom"].astype(str).to_numpy()
    read = np.array([bw.values(c, int(x), int(x) + 1)[0] for c, x in zip(chrom, centre, strict=True)])
    bw.close()
    np.testing.assert_allclose(read, values, rtol=1e-6)


def test_contribution_plot_names_the_units(models):
    import matplotlib.pyplot as plt

    cs.tl.contributions(models, "K562", model="reg_poisson", method="ism", mask=np.arange(models.n_obs) < 1)
    axes = cs.pl.contributions(models, 0, "K562", seqlets=False, show=False)
    assert axes.get_ylabel() == "K562\ncontribution (log_rate)"
    plt.close("all")
