"""Quantitative targets (issue 22): regression training, its checks, its record and predictions."""

import copy
import logging
from pathlib import Path

import anndata
import numpy as np
import pytest
import torch
from scipy.stats import pearsonr

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import one_hot
from chromseq._tasks import check_targets, detect_task
from chromseq.data import SequenceDataset
from chromseq.models import PRESETS, ChromTransfer
from chromseq.store import get_record, load_recorded
from chromseq.train._engine import HISTORY_KEYS, fit
from chromseq.train._loss import masked_mse, mse_cosine, poisson_nll, step_loss
from chromseq.train._spec import TrainSpec

FAST = {"batch_size": 32, "learning_rate": 1e-2}
QUICK = {"preset": "tiny", "max_epochs": 1, "batch_size": 16}


def dosage_data(n=900, seed=1):
    return cs.datasets.synthetic(
        n, width=200, celltypes=["K562", "HepG2"], n_sites=(2, 4), sharpen=4.0, target="dosage", random_state=seed
    )


@pytest.fixture(scope="module")
def _tuned(tmp_path_factory):
    """Planted dosage data; a body pretrained on open/closed, fine-tuned into regression heads (default loss)."""
    adata = dosage_data()
    save_dir = tmp_path_factory.mktemp("regression")
    cs.tl.pretrain(adata, preset="tiny", task="classification", max_epochs=6, save_dir=save_dir, **FAST)
    options = cs.tl.TrainingOptions(max_epochs=10, stage1_epochs=5, stage2_learning_rate=1e-3)
    cs.tl.finetune(adata, multihead=True, options=options, save_dir=save_dir, **FAST)
    cs.tl.predict(adata)
    return adata, save_dir


@pytest.fixture
def tuned(_tuned):
    adata, save_dir = _tuned
    return adata.copy(), save_dir


@pytest.fixture
def small():
    return cs.datasets.synthetic(240, width=100, celltypes=["K562", "HepG2"], target="dosage", random_state=0)


# -- the planted-motif dosage ------------------------------------------------------------------------
def test_fine_tuned_regression_reaches_pearson_08_per_cell_type(tuned):
    adata, _ = tuned
    test = (adata.obs[K.SPLIT] == "test").to_numpy()
    pred = adata.obsm[K.PRED]
    for j, ct in enumerate(adata.var_names):
        r = pearsonr(adata.X[test, j], pred[f"finetuned_{ct}"].to_numpy()[test])[0]
        assert r >= 0.8, (ct, r)


def test_regression_record_history_and_predictions_meta(tuned):
    adata, _ = tuned
    record = get_record(adata, "finetuned")
    assert (record.task, record.loss, record.link, record.target_layer) == ("regression", "mse", "identity", "")
    assert record.params["loss"] == "mse" and record.base == "pretrained"
    assert "val_pearson" in record.history and "val_auroc" not in record.history
    assert get_record(adata, "pretrained").task == "classification"
    meta = adata.uns[K.UNS][K.UNS_PREDICTIONS]["finetuned_K562"]
    assert (meta["task"], meta["layer"]) == ("regression", "")
    assert "task" not in adata.uns[K.UNS][K.UNS_PREDICTIONS]["pretrained"]  # classification: as before
    # values in the target's units, not probabilities
    assert adata.obsm[K.PRED]["finetuned_K562"].max() > 1.5
    card = cs.models.read_model_card(record.path)["card"]
    assert (card["task"], card["loss"]) == ("regression", "mse")
    readme = (Path(record.path) / "README.md").read_text()
    assert "- task: regression; loss: mse;" in readme and "- targets: X; transform: as read" in readme


def test_add_model_of_a_regression_folder_keeps_task_and_loss(tuned):
    adata, _ = tuned
    path = get_record(adata, "finetuned").path
    other = dosage_data(60, seed=2)
    cs.tl.add_model(other, path, name="imported")
    record = get_record(other, "imported")
    assert (record.task, record.loss, record.link) == ("regression", "mse", "identity")
    cs.tl.predict(other, "imported")
    assert other.uns[K.UNS][K.UNS_PREDICTIONS]["imported_K562"]["task"] == "regression"


def test_synthetic_dosage_follows_the_planted_sites():
    adata = cs.datasets.synthetic(300, width=200, target="dosage", noise=0.0, random_state=0)
    truth = adata.uns[K.UNS][K.UNS_SYNTHETIC]
    assert adata.X.dtype == np.float32 and (adata.X >= 0).all()
    np.testing.assert_allclose(adata.X, truth["dosage"])
    sites = truth["sites"]
    assert ((sites["strength"] > 0) & (sites["strength"] <= 1)).all()
    k562 = sites[sites["group"].isin(["K562", "shared"])].groupby("region", observed=False)["strength"].sum()
    np.testing.assert_allclose(adata[k562.index, "K562"].X.ravel(), k562.to_numpy(), rtol=1e-5)
    binary = cs.datasets.synthetic(300, width=200, random_state=0)
    np.testing.assert_array_equal(binary.obsm[K.SEQUENCE], adata.obsm[K.SEQUENCE])
    with pytest.raises(ValueError, match="target must be one of"):
        cs.datasets.synthetic(50, target="counts")


# -- detection and checks ----------------------------------------------------------------------------
def test_detect_task_logs_which_and_an_explicit_task_wins(caplog):
    binary = np.array([[0, 1], [1, np.nan], [0, 0]], np.float32)
    values = np.linspace(0, 2, 300, dtype=np.float32).reshape(150, 2)
    with caplog.at_level(logging.INFO, logger="chromseq"):
        assert detect_task(binary, ["a", "b"]) == "classification"
        assert detect_task(values, ["a", "b"]) == "regression"
        assert detect_task(binary, ["a", "b"], "regression") == "regression"
    assert "task: classification (detected" in caplog.text and "task: regression (detected" in caplog.text
    with pytest.raises(ValueError, match="task must be one of"):
        detect_task(binary, ["a", "b"], "counts")


def test_training_logs_the_detected_task(small, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="chromseq"):
        cs.tl.train(small, "K562", **QUICK, save_dir=tmp_path)
    assert "task: regression (detected: targets from X" in caplog.text
    assert get_record(small, "scratch_K562").task == "regression"


def _bad_values(adata, case):
    x = adata.X
    train = np.flatnonzero((adata.obs[K.SPLIT] == "train").to_numpy())
    val = np.flatnonzero((adata.obs[K.SPLIT] == "val").to_numpy())
    if case == "inf":
        x[train[3], 0] = np.inf
        return {}, r"targets of 'K562' \(from X\) hold 1 infinite value"
    if case == "negative":
        x[train[:4], 0] = -1.0
        return {"options": cs.tl.TrainingOptions(loss="poisson", max_epochs=1)}, r"'K562' .* 4 negative value.*poisson"
    if case == "constant":
        x[train, 0] = 2.0
        return {}, r"targets of 'K562' \(from X\) are all 2 in the train split \(no variance\)"
    if case == "few_val":
        x[val[1:], 0] = np.nan
        return {}, r"targets of 'K562' \(from X\) have 1 known value\(s\) in the val split"
    if case == "classification":
        return {"task": "classification"}, r"labels of 'K562' hold .* other than 0, 1 and NaN"
    if case == "bce":
        return {"options": cs.tl.TrainingOptions(loss="bce", max_epochs=1)}, r"loss='bce' does not train regression"
    if case == "monitor":
        return {"options": cs.tl.TrainingOptions(monitor="val_auroc", max_epochs=1)}, r"monitor='val_auroc' is not"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["inf", "negative", "constant", "few_val", "classification", "bce", "monitor"])
def test_bad_targets_raise_before_training_and_leave_adata_unchanged(small, tmp_path, case):
    kwargs, message = _bad_values(small, case)
    before_x, before_uns = small.X.copy(), copy.deepcopy(small.uns)
    with pytest.raises(ValueError, match=message):
        cs.tl.train(small, "K562", preset="tiny", batch_size=16, save_dir=tmp_path, **{"max_epochs": 1, **kwargs})
    np.testing.assert_array_equal(small.X, before_x)
    assert K.UNS_MODELS not in small.uns[K.UNS] and small.uns.keys() == before_uns.keys()
    assert not list(tmp_path.iterdir())


def test_a_classification_monitor_is_refused_for_regression_and_vice_versa():
    with pytest.raises(ValueError, match="monitor='val_auroc' is not computed for regression"):
        TrainSpec(loss="mse", monitor="val_auroc")
    with pytest.raises(ValueError, match="monitor='val_pearson' is not computed for classification"):
        TrainSpec(monitor="val_pearson")
    with pytest.raises(ValueError, match="loss must be"):
        cs.tl.TrainingOptions(loss="huber")


def test_check_targets_names_the_column_and_layer():
    values = np.array([[1.0, 0.5], [2.0, np.nan], [3.0, 0.5]], np.float32)
    with pytest.raises(ValueError, match=r"'b' \(from layers\['signal'\]\) are all 0.5 in the train split"):
        check_targets(values, ["a", "b"], "regression", "mse", source="layers['signal']")


# -- classification unchanged --------------------------------------------------------------------------
def test_a_classification_run_keeps_its_history_and_record(tmp_path):
    adata = cs.datasets.synthetic(240, width=100, celltypes=["K562", "HepG2"], random_state=0)
    cs.tl.train(adata, "K562", **QUICK, save_dir=tmp_path)
    stored = adata.uns[K.UNS][K.UNS_MODELS]["scratch_K562"]
    assert tuple(stored["history"]) == HISTORY_KEYS and "val_auroc" in stored["history"]
    assert stored["task"] == "classification" and "loss" not in stored["params"]
    assert not {"loss", "target_layer", "target_transform"} & set(stored)
    cs.tl.predict(adata, "scratch_K562")
    p = adata.obsm[K.PRED]["scratch_K562"]
    assert ((p > 0) & (p < 1)).all()
    assert adata.uns[K.UNS][K.UNS_PREDICTIONS]["scratch_K562"] == {
        "model": "scratch_K562",
        "kind": "scratch",
        "target": "K562",
    }


# -- layers, pretraining, Poisson ------------------------------------------------------------------------
def test_poisson_predictions_are_exp_of_the_outputs(small, tmp_path):
    small.layers["counts"] = np.round(small.X * 3).astype(np.float32)
    small.uns[K.UNS][K.UNS_TRANSFORMS] = {"counts": {"method": "none", "description": "rounded dosage x 3"}}
    options = cs.tl.TrainingOptions(loss="poisson", max_epochs=1, batch_size=16)
    cs.tl.train(small, "K562", preset="tiny", layer="counts", options=options, save_dir=tmp_path)
    record = get_record(small, "scratch_K562")
    assert (record.loss, record.link, record.target_layer) == ("poisson", "log", "counts")
    assert record.target_transform == "rounded dosage x 3"
    cs.tl.predict(small, "scratch_K562", rc_average=False)
    pred = small.obsm[K.PRED]["scratch_K562"].to_numpy()
    model = load_recorded("scratch_K562", record).eval()
    with torch.no_grad():
        out = model(one_hot(small.obsm[K.SEQUENCE])).numpy()[:, 0]
    np.testing.assert_allclose(pred, np.exp(out), rtol=1e-4)
    assert (pred >= 0).all()
    assert small.uns[K.UNS][K.UNS_PREDICTIONS]["scratch_K562"]["layer"] == "counts"


def test_regression_pretraining_on_the_pooled_signal_then_classification_heads(small, tmp_path):
    small.X[5, 1] = np.nan
    cs.tl.pretrain(small, **QUICK, task="regression", save_dir=tmp_path)
    record = get_record(small, "pretrained")
    assert record.outputs == ("signal",) and record.task == "regression" and record.target == "signal"
    small.layers["open01"] = (small.X > 0.5).astype(np.float32)
    cs.tl.finetune(small, "K562", layer="open01", max_epochs=2, batch_size=16, save_dir=tmp_path)
    tuned = get_record(small, "finetuned_K562")
    assert (tuned.task, tuned.loss, tuned.target_layer) == ("classification", "", "open01")
    assert "val_auroc" in tuned.history


def test_pooled_signal_is_the_mean_over_cell_types_nan_left_out(small):
    from chromseq.tl._pretrain import pooled_signal

    small.X[0] = [1.0, np.nan]
    small.X[1] = [np.nan, np.nan]
    y = pooled_signal(small, None)[:, 0]
    assert y[0] == 1.0 and np.isnan(y[1])
    np.testing.assert_allclose(y[2:], small.X[2:].mean(axis=1), rtol=1e-6)


def test_classification_pretraining_refuses_a_layer(small, tmp_path):
    small.layers["signal"] = small.X.copy()
    with pytest.raises(ValueError, match="task='classification' pre-trains on obs\\['open'\\]"):
        cs.tl.pretrain(small, **QUICK, task="classification", layer="signal", save_dir=tmp_path)
    with pytest.raises(KeyError, match=r"adata.layers\['nope'\] is missing"):
        cs.tl.train(small, "K562", **QUICK, layer="nope", save_dir=tmp_path)
    assert not list(tmp_path.iterdir())


# -- the training core ----------------------------------------------------------------------------------
def _regression_sets(n=200, width=60, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, width), dtype=np.uint8)
    y = ((codes == 2).mean(axis=1, keepdims=True) * 4).astype(np.float32)
    cut = int(0.75 * n)
    return SequenceDataset(codes, y, np.arange(cut)), SequenceDataset(codes, y, np.arange(cut, n))


def _net(width=60):
    return ChromTransfer(PRESETS["tiny"].replace(seq_len=width), generator=torch.Generator().manual_seed(0))


def test_resume_refuses_a_changed_loss(tmp_path):
    train, val = _regression_sets()
    ckpt = tmp_path / "train.pt"
    spec = TrainSpec(max_epochs=1, batch_size=32, loss="mse")
    result = fit(_net(), train, val, spec, checkpoint=ckpt)
    assert set(result.history) == {*HISTORY_KEYS} - {"val_auroc"} | {"val_pearson"}
    again = TrainSpec(max_epochs=2, batch_size=32, loss="mse_cosine")
    with pytest.raises(ValueError, match="loss 'mse' -> 'mse_cosine'"):
        fit(_net(), train, val, again, checkpoint=ckpt, resume=True)


def test_losses_divide_by_the_known_count_or_the_given_denominator(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    out = torch.randn(6, 3, generator=gen)
    y = torch.rand(6, 3, generator=gen) * 3
    y[0, 1] = y[4, 2] = float("nan")
    known = ~torch.isnan(y)
    sq = ((out - torch.nan_to_num(y)) ** 2)[known].sum()
    torch.testing.assert_close(masked_mse(out, y), sq / 16)
    torch.testing.assert_close(masked_mse(out, y, denominator=torch.tensor(8.0)), sq / 8)
    nll = (torch.exp(out) - torch.nan_to_num(y) * out)[known].sum()
    torch.testing.assert_close(poisson_nll(out, y), nll / 16)
    # mse_cosine: one output is MSE; several add the cosine distance of each region, weighted by its known count
    torch.testing.assert_close(mse_cosine(out[:, :1], y[:, :1]), masked_mse(out[:, :1], y[:, :1]))
    cos = [
        (1 - torch.nn.functional.cosine_similarity(out[i, known[i]], y[i, known[i]], dim=0)) * known[i].sum()
        for i in range(6)
    ]
    torch.testing.assert_close(mse_cosine(out, y), (sq + sum(cos)) / 16)
    # world 1: the batch's own count; world 2: each rank divides by (global count / 2)
    for loss in (masked_mse, poisson_nll, mse_cosine):
        value, n = step_loss(out, y, loss, world=1)
        torch.testing.assert_close(value, loss(out, y))
        assert int(n) == 16
        monkeypatch.setattr("chromseq.train._loss.all_reduce_sum", lambda t: t + 20)  # the other rank: 20 targets
        value, share = step_loss(out, y, loss, world=2)
        assert float(share) == 18.0
        torch.testing.assert_close(value * 18, loss(out, y) * 16)
        monkeypatch.undo()


# -- the command line ----------------------------------------------------------------------------------
def test_cli_trains_regression_from_a_layer_with_a_loss(small, tmp_path):
    from chromseq.cli import main

    small.layers["counts"] = np.round(small.X * 3).astype(np.float32)
    path = tmp_path / "in.h5ad"
    small.write_h5ad(path)
    out = tmp_path / "out.h5ad"
    flags = ["--preset", "tiny", "--max-epochs", "1", "--batch-size", "16", "--save-dir", str(tmp_path / "m")]
    args = ["train", str(path), "-o", str(out), "--celltype", "K562", "--task", "regression", "--layer", "counts"]
    assert main([*args, "--loss", "poisson", *flags]) == 0
    record = get_record(anndata.read_h5ad(out), "scratch_K562")
    assert (record.task, record.loss, record.target_layer) == ("regression", "poisson", "counts")
    assert main([*args, "--loss", "bce", *flags, "--overwrite"]) == 1  # bce does not train regression


def test_regression_subsampling_is_plain_random():
    from chromseq.tl._fit_targets import subsample

    rows = np.arange(200)
    values = np.linspace(0, 1, 200, dtype=np.float32)[:, None]  # no value > 0.5 among the first half
    picked = subsample(rows, values, 0.25, seed=0, stratify=False)
    assert len(picked) == 50 and len(np.unique(picked)) == 50
    np.testing.assert_array_equal(picked, subsample(rows, values, 0.25, seed=0, stratify=False))
    stratified = subsample(rows, values, 0.25, seed=0)
    assert not np.array_equal(picked, stratified)


def test_pretraining_logs_why_it_is_classification(small, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="chromseq"):
        cs.tl.pretrain(small, **QUICK, save_dir=tmp_path)
    assert "task: classification (pretraining default: obs['open']" in caplog.text
    assert get_record(small, "pretrained").outputs == ("open",)


def test_transfer_baselines_use_the_rows_a_regression_fraction_trains_on(small, tmp_path):
    from chromseq.tl._fit_glue import fingerprint, split_array
    from chromseq.tl._transfer_runs import _train_subset

    options = cs.tl.TrainingOptions(train_fraction=0.5, random_state=4, max_epochs=1, batch_size=16)
    cs.tl.train(small, "K562", preset="tiny", task="regression", options=options, save_dir=tmp_path)
    record = get_record(small, "scratch_K562")
    y = small.X[:, 0].copy()
    split = split_array(small)
    sub = _train_subset(y, np.flatnonzero(split == "train"), 0.5, 4, "regression")
    val = np.flatnonzero(split == "val")
    assert record.params["n_train"] == len(sub)
    assert fingerprint(small.obsm[K.SEQUENCE], y[:, None], split, np.concatenate([sub, val])) == record.fingerprint
