import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq._metrics import binary_metrics
from chromseq.cli import main
from chromseq.store import get_model, get_record, model_name, output_index
from chromseq.tl import _transfer_cv, _transfer_runs
from chromseq.tl._pretrain import pretraining_targets

WIDTH = 100
MOTIFS = {"A": np.array([2, 0, 3, 0, 0, 2, 2, 1], np.uint8), "B": np.array([1, 1, 0, 0, 3, 3, 2, 2], np.uint8)}
FAST = {"preset": "tiny", "batch_size": 32, "learning_rate": 1e-2}


def toy_regions(n=480, seed=0, width=WIDTH):
    """Regions AnnData: open rows carry motif A or B (cell type A or B open), closed rows nothing."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, width), dtype=np.uint8)
    group = rng.choice(["A", "B", "closed"], n, p=[0.3, 0.3, 0.4])
    for i in np.flatnonzero(group != "closed"):
        for pos in rng.choice(np.arange(0, width - 8, 8), 3, replace=False):
            codes[i, pos : pos + 8] = MOTIFS[group[i]]
    x = np.stack([(group == "A"), (group == "B")], axis=1).astype(np.float32)
    x[rng.random((n, 2)) < 0.05] = np.nan  # some unknown labels
    start = np.arange(n, dtype=np.int64) * 1000
    obs = pd.DataFrame(
        {
            K.CHROM: pd.Categorical(["chr1"] * n),
            K.START: start,
            K.END: start + width,
            K.OPEN: group != "closed",
            K.BACKGROUND: group == "closed",
            K.SPLIT: pd.Categorical(
                np.where(np.arange(n) < 0.7 * n, "train", np.where(np.arange(n) < 0.85 * n, "val", "test"))
            ),
        },
        index=[f"chr1:{s}-{s + width}" for s in start],
    )
    adata = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=["A", "B"]))
    adata.obsm[K.SEQUENCE] = codes
    return adata


@pytest.fixture(scope="module")
def _pretrained(tmp_path_factory):
    adata = toy_regions()
    save_dir = tmp_path_factory.mktemp("models")
    cs.tl.pretrain(adata, max_epochs=4, save_dir=save_dir, **FAST)
    return adata, save_dir


@pytest.fixture
def pretrained(_pretrained):
    adata, save_dir = _pretrained
    return adata.copy(), save_dir


def test_pretrain_learns_open_vs_closed(pretrained):
    adata, _ = pretrained
    history = adata.uns["chromseq"]["models"]["pretrained"]["history"]
    assert max(history["val_auroc"]) > 0.85


def test_pretrain_records_the_model_by_contract(pretrained):
    adata, save_dir = pretrained
    rec = adata.uns["chromseq"]["models"]["pretrained"]
    assert rec["kind"] == "pretrain" and rec["target"] == "open" and list(rec["celltypes"]) == []
    assert rec["preset"] == "tiny" and rec["config"]["seq_len"] == WIDTH
    assert rec["fingerprint"].startswith("sha256:") and rec["base"] == ""
    lengths = {len(v) for v in rec["history"].values()}
    assert len(lengths) == 1 and set(rec["history"]) >= {"epoch", "stage", "train_loss", "val_loss", "val_auroc", "lr"}
    assert (save_dir / "pretrained" / "model.safetensors").is_file()
    assert not any(p.name.endswith(".ckpt") for p in save_dir.iterdir())  # checkpoints removed after success


def test_get_model_returns_eval_model_on_cpu(pretrained):
    adata, _ = pretrained
    model = get_model(adata, "pretrained")
    assert not model.training and next(model.parameters()).device.type == "cpu"
    assert model(torch.zeros(2, 4, WIDTH)).shape == (2, 1)
    assert output_index(adata, "pretrained", None) == 0


def test_model_names_follow_the_contract():
    assert model_name("pretrain") == "pretrained"
    assert model_name("finetune", "K562") == "finetuned_K562"
    assert model_name("scratch", "K562") == "scratch_K562"
    assert model_name("finetune", None) == "finetuned"


def test_finetune_writes_one_model_per_celltype_with_two_stages(pretrained):
    adata, save_dir = pretrained
    cs.tl.finetune(
        adata, ["A", "B"], max_epochs=2, save_dir=save_dir, **{k: v for k, v in FAST.items() if k != "preset"}
    )
    models = adata.uns["chromseq"]["models"]
    for ct in ("A", "B"):
        rec = models[f"finetuned_{ct}"]
        assert rec["kind"] == "finetune" and rec["base"] == "pretrained" and list(rec["celltypes"]) == [ct]
        assert list(rec["history"]["stage"]) == ["head", "full"]
        assert (save_dir / f"finetuned_{ct}").is_dir()


def test_finetune_keeps_pretrained_body_in_stage_one(pretrained):
    adata, save_dir = pretrained
    cs.tl.finetune(
        adata, "A", max_epochs=1, options=cs.tl.TrainingOptions(stage1_epochs=1), save_dir=save_dir, batch_size=32
    )
    base, tuned = get_model(adata, "pretrained"), get_model(adata, "finetuned_A")
    for (k, v), w in zip(base.body.state_dict().items(), tuned.body.state_dict().values(), strict=True):
        assert torch.equal(v, w), k


def test_multihead_finetune_trains_all_celltypes_in_one_model(pretrained):
    adata, save_dir = pretrained
    cs.tl.finetune(adata, None, multihead=True, max_epochs=2, save_dir=save_dir, batch_size=32, learning_rate=1e-2)
    rec = adata.uns["chromseq"]["models"]["finetuned"]
    assert list(rec["celltypes"]) == ["A", "B"] and list(rec["target"]) == ["A", "B"]
    assert output_index(adata, "finetuned", "B") == 1
    assert get_model(adata, "finetuned")(torch.zeros(3, 4, WIDTH)).shape == (3, 2)


def test_unlabelled_rows_are_left_out_and_logged(pretrained, caplog):
    adata, save_dir = pretrained
    with cs.settings.override(verbosity=2):
        cs.tl.train(adata, "A", max_epochs=1, save_dir=save_dir, **FAST)
    n_nan = int(np.isnan(adata.X[adata.obs[K.SPLIT] != "test", 0]).sum())
    assert f"{n_nan} of" in caplog.text and "no label (NaN)" in caplog.text


def test_train_from_scratch_uses_the_pretrained_network_config(pretrained):
    adata, save_dir = pretrained
    cs.tl.train(adata, "B", max_epochs=2, save_dir=save_dir, batch_size=32)
    rec = adata.uns["chromseq"]["models"]["scratch_B"]
    assert rec["kind"] == "scratch" and rec["preset"] == "tiny" and rec["target"] == "B"
    assert rec["config"]["head"] == "finetune"
    assert len(rec["history"]["epoch"]) <= 2


def test_train_fraction_subsamples_training_rows_only(pretrained):
    adata, save_dir = pretrained
    half_rows = cs.tl.TrainingOptions(train_fraction=0.5)
    cs.tl.train(adata, "A", max_epochs=1, options=half_rows, save_dir=save_dir, key_added="half", **FAST)
    cs.tl.train(adata, "A", max_epochs=1, save_dir=save_dir, key_added="all", **FAST)
    half, full = (adata.uns["chromseq"]["models"][k]["params"] for k in ("half", "all"))
    assert abs(half["n_train"] - full["n_train"] / 2) <= 2 and half["n_val"] == full["n_val"]
    with pytest.raises(ValueError, match="train_fraction"):
        cs.tl.train(adata, "A", options=cs.tl.TrainingOptions(train_fraction=0.0), save_dir=save_dir)


def test_predict_writes_probabilities_and_their_provenance(pretrained):
    adata, save_dir = pretrained
    cs.tl.finetune(adata, None, multihead=True, max_epochs=1, save_dir=save_dir, batch_size=32)
    cs.tl.predict(adata)
    pred = adata.obsm[K.PRED]
    assert list(pred.columns) == ["pretrained", "finetuned_A", "finetuned_B"]
    assert pred.index.equals(adata.obs_names)
    assert ((pred.to_numpy() >= 0) & (pred.to_numpy() <= 1)).all()
    meta = adata.uns["chromseq"][K.UNS_PREDICTIONS]
    assert meta["finetuned_B"] == {"model": "finetuned", "kind": "finetune", "target": "B"}
    assert meta["pretrained"]["target"] == "open"


def test_predictions_do_not_depend_on_batch_size(pretrained):
    adata, _ = pretrained
    a = cs.tl.predict(adata, "pretrained", batch_size=7, copy=True).obsm[K.PRED]
    b = cs.tl.predict(adata, "pretrained", batch_size=500, copy=True).obsm[K.PRED]
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-5, atol=1e-6)


def test_predict_mask_scores_only_the_selected_regions(pretrained):
    adata, _ = pretrained
    held_out = (adata.obs[K.SPLIT] != "train").to_numpy()
    full = cs.tl.predict(adata, "pretrained", copy=True).obsm[K.PRED]["pretrained"].to_numpy()
    part = cs.tl.predict(adata, "pretrained", mask=held_out, copy=True).obsm[K.PRED]["pretrained"].to_numpy()
    assert np.isnan(part[~held_out]).all()
    np.testing.assert_allclose(part[held_out], full[held_out], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="selection is empty"):
        cs.tl.predict(adata, "pretrained", mask=np.zeros(adata.n_obs, bool), copy=True)


def test_models_of_another_anndata_apply_to_new_regions(pretrained):
    adata, _ = pretrained
    new = toy_regions(60, seed=5)
    del new.uns  # fresh regions, no models
    cs.tl.predict(new, models=adata)
    with pytest.raises(ValueError, match=r"no regions \(n_obs == 0\): nothing to predict"):
        cs.tl.predict(adata[:0].copy(), "pretrained", copy=True)  # empty input: an error, not an empty result
    model = get_model(new, "pretrained")  # the model is now recorded in `new`
    x = cs._codes.one_hot(new.obsm[K.SEQUENCE])
    rc = cs._codes.reverse_complement_one_hot(x)
    with torch.no_grad():
        expected = (torch.sigmoid(model(x)) + torch.sigmoid(model(rc))) / 2
    np.testing.assert_allclose(new.obsm[K.PRED]["pretrained"], expected[:, 0].numpy(), rtol=1e-5, atol=1e-6)


def test_predict_accepts_a_model_folder(pretrained):
    adata, save_dir = pretrained
    new = toy_regions(40, seed=6)
    cs.tl.predict(new, models=save_dir / "pretrained", rc_average=False)
    assert new.uns["chromseq"][K.UNS_PREDICTIONS]["pretrained"]["kind"] == "pretrain"


def test_model_reproduces_its_predictions_after_h5ad_round_trip(pretrained, tmp_path):
    adata, _ = pretrained
    cs.tl.predict(adata, "pretrained")
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    before = back.obsm[K.PRED]["pretrained"].to_numpy()
    cs.tl.predict(back, "pretrained")
    np.testing.assert_array_equal(back.obsm[K.PRED]["pretrained"].to_numpy(), before)


def test_copy_returns_new_anndata_and_leaves_input_alone(pretrained):
    adata, save_dir = pretrained
    out = cs.tl.train(adata, "A", max_epochs=1, save_dir=save_dir, key_added="scratch_copy", copy=True, **FAST)
    assert "scratch_copy" in out.uns["chromseq"]["models"]
    assert "scratch_copy" not in adata.uns["chromseq"]["models"]


def test_pretrain_and_predict_run_on_real_chr20_regions(tmp_path):
    full = cs.datasets.chromtransfer_chr20()
    rows = np.sort(np.random.default_rng(0).choice(full.n_obs, 400, replace=False))
    adata = full[rows].copy()
    cs.tl.pretrain(adata, preset="tiny", max_epochs=1, batch_size=64, save_dir=tmp_path)
    cs.tl.predict(adata)
    assert adata.obsm[K.PRED]["pretrained"].between(0, 1).all()
    assert adata.uns["chromseq"]["models"]["pretrained"]["config"]["seq_len"] == 600


# -- bad input: clear errors, nothing half-written ---------------------------------------------


def _nothing_written(adata, save_dir, name):
    return name not in adata.uns.get("chromseq", {}).get("models", {}) and not (save_dir / name).exists()


def test_unknown_celltype_lists_var_names(pretrained):
    adata, save_dir = pretrained
    with pytest.raises(KeyError, match=r"\['A', 'B'\]"):
        cs.tl.finetune(adata, "K562", save_dir=save_dir)


def test_celltype_without_positives_in_train_raises(pretrained, tmp_path):
    adata, _ = pretrained
    adata.X[(adata.obs[K.SPLIT] == "train").to_numpy(), 0] = 0
    with pytest.raises(ValueError, match="'A' has 0 positive"):
        cs.tl.train(adata, ["B", "A"], save_dir=tmp_path, **FAST)
    assert _nothing_written(adata, tmp_path, "scratch_B")


def test_missing_sequences_name_the_pp_step(tmp_path):
    adata = toy_regions(50)
    del adata.obsm[K.SEQUENCE]
    with pytest.raises(KeyError, match="add_sequences"):
        cs.tl.pretrain(adata, save_dir=tmp_path, **FAST)


def test_missing_split_names_the_pp_step(tmp_path):
    adata = toy_regions(50)
    del adata.obs[K.SPLIT]
    with pytest.raises(KeyError, match="split_by_chromosome"):
        cs.tl.pretrain(adata, save_dir=tmp_path, **FAST)
    assert _nothing_written(adata, tmp_path, "pretrained")


def test_width_mismatch_is_refused(pretrained, tmp_path):
    adata, save_dir = pretrained
    wide = toy_regions(60, width=120)
    wide.uns["chromseq"] = {"models": dict(adata.uns["chromseq"]["models"])}
    with pytest.raises(ValueError, match="100-bp sequences but obsm\\['sequence'\\] is 120 bp"):
        cs.tl.predict(wide)
    assert K.PRED not in wide.obsm
    with pytest.raises(ValueError, match="120 bp"):
        cs.tl.finetune(wide, "A", save_dir=tmp_path)
    assert _nothing_written(wide, tmp_path, "finetuned_A")


def test_resume_refuses_a_checkpoint_of_another_preset(pretrained, tmp_path):
    adata, _ = pretrained
    ckpt_dir = tmp_path / ".scratch_A.ckpt"
    ckpt_dir.mkdir()
    other = cs.tl.train(adata, "A", max_epochs=1, save_dir=tmp_path / "x", preset="tiny", copy=True, batch_size=32)
    assert other is not None
    # a checkpoint written for a network of another preset
    from chromseq.models import PRESETS, ChromTransfer

    net = ChromTransfer(PRESETS["chromtransfer"].replace(seq_len=WIDTH, head="finetune", outputs=("A",)))
    torch.save({"stage": "train", "fingerprint": "?", "config": str(net.config)}, ckpt_dir / "train.pt")
    with pytest.raises(ValueError, match="delete it, or pass existing='overwrite'"):
        cs.tl.train(adata, "A", max_epochs=1, save_dir=tmp_path, existing="resume", **FAST)
    assert _nothing_written(adata, tmp_path, "scratch_A")


def test_predict_without_models_says_how_to_get_one():
    with pytest.raises(KeyError, match="pretrain"):
        cs.tl.predict(toy_regions(20))


def test_pretrain_learns_open_vs_gc_matched_background_on_real_chr20(tmp_path):
    # all 18,061 real chr20 regions (200-bp windows at the DHS centre): DHSs open in any of six cell lines
    # against GC-matched closed windows, so GC alone cannot separate them (see test_evaluate for the baselines)
    adata = cs.datasets.chromtransfer_chr20(width=200)
    config = cs.models.get_config("tiny", dropout=0.0)
    cs.tl.pretrain(adata, preset=config, max_epochs=1, batch_size=32, learning_rate=3e-3, save_dir=tmp_path)
    assert adata.uns["chromseq"]["models"]["pretrained"]["history"]["val_auroc"][-1] > 0.6


@pytest.mark.parametrize("widgets", ["installed", "hidden"])
def test_pretrain_runs_with_and_without_ipywidgets(widgets, monkeypatch, tmp_path):
    import sys

    if widgets == "installed":
        import ipywidgets  # noqa: F401  (dev extra; nearly every Jupyter user has it)
    else:
        monkeypatch.setitem(sys.modules, "ipywidgets", None)  # `import ipywidgets` raises ImportError
    adata = toy_regions(n=120)
    cs.tl.pretrain(adata, max_epochs=1, save_dir=tmp_path, **FAST)  # progress_bar() recursed with ipywidgets
    cs.tl.predict(adata)
    assert np.isfinite(adata.obsm[K.PRED]["pretrained"].to_numpy()).all()


def test_plain_script_at_verbosity_2_logs_a_line_per_epoch_to_stderr(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import chromseq as cs; from test_tl_training import toy_regions\n"
        "cs.settings.verbosity = 2\n"
        "cs.tl.pretrain(toy_regions(n=120), max_epochs=2, options=cs.tl.TrainingOptions(patience=5), save_dir=sys.argv[2], preset='tiny', batch_size=32)\n"
    )
    args = [sys.executable, "-c", code, str(Path(__file__).parent), str(tmp_path)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    epochs = [line for line in proc.stderr.splitlines() if " epoch " in line]
    assert len(epochs) == 2, proc.stderr
    assert all("val_auroc" in line and "train_loss" in line and line.endswith(" s)") for line in epochs)
    assert proc.stdout == ""


def test_user_logging_configuration_is_not_doubled(tmp_path):
    import subprocess
    import sys

    code = (
        "import logging, chromseq as cs\n"
        "logging.basicConfig(format='USER %(message)s')\n"
        "cs.settings.verbosity = 2\n"
        "logging.getLogger('chromseq').info('hello')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stderr.splitlines() == ["USER hello"]


# -- multi-task pretraining: cell types as extra outputs beside 'open' ---------------------------------


def _regions_with_unlabelled_background():
    adata = toy_regions()
    background = adata.obs[K.BACKGROUND].to_numpy()
    adata.X[background] = np.nan  # as in the ChromTransfer files: background windows have no cell-type label
    return adata


def test_background_rows_count_as_closed_in_every_celltype_output():
    adata = _regions_with_unlabelled_background()
    x_before = adata.X.copy()
    outputs, y = pretraining_targets(adata, ["B", "A"])
    background = adata.obs[K.BACKGROUND].to_numpy()
    assert outputs == ["open", "B", "A"] and y.shape == (adata.n_obs, 3) and y.dtype == np.float32
    assert np.array_equal(y[:, 0], adata.obs[K.OPEN].to_numpy().astype(np.float32))
    assert (y[background, 1:] == 0).all()
    np.testing.assert_array_equal(y[~background, 1:], x_before[~background][:, [1, 0]])  # NaN stay unknown
    np.testing.assert_array_equal(adata.X, x_before)  # the user's labels are untouched


def test_pretraining_with_celltypes_learns_each_output_and_fine_tunes(tmp_path):
    adata = _regions_with_unlabelled_background()
    cs.tl.pretrain(adata, celltypes=["A", "B"], max_epochs=4, save_dir=tmp_path, **FAST)
    record = get_record(adata, "pretrained")
    assert record.kind == "pretrain" and list(record.outputs) == ["open", "A", "B"]
    cs.tl.predict(adata, "pretrained")
    pred = adata.obsm[K.PRED]
    assert list(pred.columns) == ["pretrained_open", "pretrained_A", "pretrained_B"]
    test = (adata.obs[K.SPLIT] == "test").to_numpy() & ~np.isnan(adata.X[:, 0])
    # the motif of A marks A's regions: the A head must rank them above B's and the closed ones
    assert binary_metrics(adata.X[test, 0], pred["pretrained_A"].to_numpy()[test])["auroc"] > 0.8
    cs.tl.finetune(adata, "A", base="pretrained", max_epochs=2, save_dir=tmp_path, batch_size=32)
    assert list(get_record(adata, "finetuned_A").outputs) == ["A"]


def test_bad_pretraining_celltypes_are_refused(tmp_path):
    adata = toy_regions()
    with pytest.raises(KeyError, match="unknown cell type"):
        cs.tl.pretrain(adata, celltypes=["C"], save_dir=tmp_path, **FAST)
    adata.var_names = ["open", "B"]
    with pytest.raises(ValueError, match="name of the pretraining output"):
        cs.tl.pretrain(adata, celltypes=["open"], save_dir=tmp_path, **FAST)
    assert "models" not in adata.uns.get(K.UNS, {})


def test_cross_validated_others_pretrains_each_body_without_its_celltype(tmp_path, monkeypatch):
    adata = _regions_with_unlabelled_background()
    pretrained, finetuned = {}, []
    real_pretrain, real_finetune = _transfer_cv.pretrain, _transfer_runs.finetune

    def spy_pretrain(work, **kwargs):
        pretrained[kwargs["key_added"]] = kwargs["celltypes"]
        return real_pretrain(work, **kwargs)

    def spy_finetune(work, celltype, **kwargs):
        finetuned.append((celltype, kwargs["base"]))
        return real_finetune(work, celltype, **kwargs)

    monkeypatch.setattr(_transfer_cv, "pretrain", spy_pretrain)
    monkeypatch.setattr(_transfer_runs, "finetune", spy_finetune)
    cs.tl.transfer_benchmark(
        adata, fractions=[1.0], preset="tiny", cv=2, block_size=50_000, n_boot=50, save_dir=tmp_path,
        pretrain_celltypes="others", max_epochs=1, batch_size=64, keep_models=True,
    )  # fmt: skip
    assert pretrained == {f"pretrained_fold{k}_without_{a}": [b] for k in range(2) for a, b in (("A", "B"), ("B", "A"))}
    assert sorted(finetuned) == sorted((ct, f"pretrained_fold{k}_without_{ct}") for k in range(2) for ct in "AB")
    assert adata.uns[K.UNS][K.UNS_PARAMS][K.UNS_TRANSFER]["pretrain_celltypes"] == "others"
    # kept models: one folder per fold, each run under its own name (no renamed duplicates)
    for k in range(2):
        assert sorted(p.name for p in (tmp_path / f"fold{k}").iterdir()) == sorted(
            f"{kind}_{ct}_f1_s0" for kind in ("finetune", "scratch") for ct in "AB"
        )


def test_transfer_benchmark_refuses_a_base_pretrained_on_other_outputs(tmp_path):
    adata = toy_regions()
    cs.tl.pretrain(adata, max_epochs=1, save_dir=tmp_path, **FAST)  # 'open' only
    with pytest.raises(ValueError, match="extra outputs"):
        cs.tl.transfer_benchmark(adata, fractions=[1.0], pretrain_celltypes="all", save_dir=tmp_path, max_epochs=1)
    with pytest.raises(ValueError, match="pretrain_celltypes must be one of"):
        cs.tl.transfer_benchmark(adata, fractions=[1.0], pretrain_celltypes="some", save_dir=tmp_path, max_epochs=1)
    assert K.UNS_TRANSFER not in adata.uns[K.UNS]
    # the default uses a base in adata as it is, whatever it was pretrained on
    cs.tl.pretrain(adata, celltypes=["A"], max_epochs=1, save_dir=tmp_path, key_added="multi", **FAST)
    cs.tl.transfer_benchmark(adata, "B", fractions=[1.0], base="multi", save_dir=tmp_path, max_epochs=1)
    assert set(adata.uns[K.UNS][K.UNS_TRANSFER]["kind"]) >= {"finetune", "scratch"}


def test_cli_pretrain_celltypes(tmp_path):
    adata = toy_regions()
    adata.write_h5ad(tmp_path / "regions.h5ad")
    out = tmp_path / "pre.h5ad"
    train = ["--preset", "tiny", "--max-epochs", "1", "--batch-size", "64", "--save-dir", str(tmp_path / "models")]
    assert main(["pretrain", str(tmp_path / "regions.h5ad"), "-o", str(out), "--celltypes", "B", *train]) == 0
    assert list(get_record(ad.read_h5ad(out), "pretrained").outputs) == ["open", "B"]
