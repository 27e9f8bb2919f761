"""Reading ChromTransfer Keras .h5 models: parity with Keras, topology errors, the AnnData workflow and the CLI."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - another backend was configured first
    pytest.skip("the Keras tests build models with the torch backend", allow_module_level=True)

import chromseq as cs  # noqa: E402
from chromseq._codes import one_hot  # noqa: E402
from chromseq.models import load_model, read_keras  # noqa: E402

_spec = importlib.util.spec_from_file_location("_keras_build", Path(__file__).with_name("_keras_build.py"))
kb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kb)

# Keras 3's torch backend converts tensors with np.array(x), which numpy 2 flags; not chromseq's to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

TINY_TRAIN = {
    "options": cs.tl.TrainingOptions(max_epochs=1, stage1_epochs=1, batch_size=64, device="cpu", random_state=0)
}


@pytest.fixture(scope="module")
def bundled():
    """400 bundled chr20 regions (K562 labels, every split), 600 bp."""
    adata = cs.datasets.chromtransfer_chr20(celltypes=["K562"])
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(adata.n_obs, size=400, replace=False))
    return adata[rows].copy()


@pytest.fixture(scope="module")
def sequences(bundled):
    """256 random and 256 chr20 sequences as one-hot (512, 4, 600) float32."""
    rng = np.random.default_rng(1)
    codes = np.concatenate([rng.integers(0, 4, (256, 600), dtype=np.uint8), np.asarray(bundled.obsm["sequence"][:256])])
    return one_hot(codes).numpy()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Keras 3 and TF1-style .h5 files of the pretraining and the fine-tuning network, with their Keras models."""
    folder = tmp_path_factory.mktemp("keras")
    out = {}
    for kind in ("pretrain", "finetune"):
        model = kb.build(kind, seed=1 if kind == "pretrain" else 2)
        (folder / kind).mkdir()
        k3 = kb.save(model, folder / kind / "model_compiled.h5", compiled=kind == "pretrain")
        out[kind] = (model, k3, kb.tf1_style(k3, folder / kind / "model_tf1.h5"))
    return out


@pytest.fixture(scope="module")
def reference(files, sequences):
    """Keras' sigmoid outputs on ``sequences``, per network kind."""
    return {kind: _keras_proba(files[kind][0], sequences) for kind in files}


def _keras_proba(model, x: np.ndarray) -> np.ndarray:
    return kb._numpy(model(np.ascontiguousarray(x.transpose(0, 2, 1)), training=False)).ravel()


@pytest.mark.parametrize("kind", ["pretrain", "finetune"])
@pytest.mark.parametrize("style", ["keras3", "tf1"])
def test_read_keras_matches_keras(files, sequences, reference, kind, style):
    """Sigmoid outputs of the read network equal Keras' on 256 random and 256 chr20 sequences."""
    model, k3, tf1 = files[kind]
    path = k3 if style == "keras3" else tf1
    if style == "tf1":
        with h5py.File(path) as f:  # the rewritten file really is in the TF1 form
            root = f["model_weights"]
            names = [
                n.decode() if isinstance(n, bytes) else str(n)
                for layer in root.values()
                for n in layer.attrs["weight_names"]
            ]
            assert len(names) > 100 and all(n.endswith(":0") for n in names)
    net = read_keras(path)
    assert not net.training
    cfg = net.config
    assert cfg.head == kind and cfg.bn_eps == 1e-3 and cfg.bn_momentum == pytest.approx(0.01)
    assert (cfg.stem_filters, cfg.inner_filters, cfg.n_blocks, cfg.block_kernels) == (16, 16, 3, (20, 15, 10, 5))
    assert cfg.outputs == (("open",) if kind == "pretrain" else (kind,))  # default: the file's folder
    assert cfg.l2 == pytest.approx(1e-4)
    want = reference[kind]
    with torch.no_grad():
        got = torch.sigmoid(net(torch.from_numpy(sequences))).numpy().ravel()
    assert want.std() > 0.05  # the outputs are spread, not saturated: the comparison means something
    assert np.abs(got[:256] - want[:256]).max() <= 1e-5
    assert np.abs(got[256:] - want[256:]).max() <= 1e-5


def _write(tmp_path, model, name="m.h5"):
    return kb.save(model, tmp_path / name)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"head_kw": {"extra_dense": True}}, r"expected a BatchNormalization \(head\) after it.*at layer 'dense_"),
        ({"stage2_blocks": 2}, r"stage-2 identity block 3"),
        ({"stage2_blocks": 4}, r"stage 2 has more identity blocks than stage 1 \(3\)"),
        ({"wide_stage2": 24}, r"second stage has 24 filters.*twice the first stage's \(8\)"),
        ({"head_kw": {"lambda_layer": True}}, r"layer 'lambda.*' is a Lambda layer.*never executes code"),
    ],
)
def test_read_keras_refuses_other_topologies(tmp_path, kwargs, message):
    """A layer too many or too few, a wrong width or a Lambda layer: an error naming the layer."""
    path = _write(tmp_path, kb.build("pretrain", **kwargs))
    with pytest.raises(ValueError, match=message):
        read_keras(path)


def test_read_keras_head_override(files):
    """``head=`` names a head the widths do not give away; a pretraining head's output is always 'open'."""
    net = read_keras(files["pretrain"][1], head="finetune", outputs=["HepG2"])
    assert (net.config.head, net.config.finetune_hidden, net.outputs) == ("finetune", (512, 128), ["HepG2"])
    assert read_keras(files["pretrain"][1], outputs=["HepG2"]).outputs == ["open"]
    with pytest.raises(ValueError, match="head must be"):
        read_keras(files["pretrain"][1], head="body")


def test_read_keras_refuses_weights_only_and_other_files(tmp_path):
    model = kb.build("pretrain")
    model.save_weights(str(tmp_path / "w.weights.h5"))
    with pytest.raises(ValueError, match="no model_config"):
        read_keras(tmp_path / "w.weights.h5")
    (tmp_path / "x.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        read_keras(tmp_path / "x.h5")
    with pytest.raises(FileNotFoundError):
        read_keras(tmp_path / "missing.h5")


def test_add_model_then_finetune_predict_evaluate_contributions(files, bundled, tmp_path, monkeypatch):
    """A read pretrained model is a finetune base whose result reloads; read models predict, evaluate, explain."""
    monkeypatch.setattr(cs.settings, "model_dir", tmp_path / "default")  # predict(models=<.h5>) saves there
    adata = bundled.copy()
    name = cs.tl.add_model(adata, files["pretrain"][1], save_dir=tmp_path)
    assert name == "chromtransfer_pretrained"
    record = adata.uns["chromseq"]["models"][name]
    assert record["kind"] == "pretrain" and record["source_sha256"].startswith("sha256:")
    assert record["weights_sha256"] == cs.models.read_model_card(record["path"])["weights_sha256"]
    with pytest.raises(ValueError, match="already has a different model named"):
        cs.tl.add_model(adata, files["finetune"][1], name=name, save_dir=tmp_path)
    assert load_model(record["path"]).config.head == "pretrain"  # the refused call left the folder alone
    cs.tl.finetune(adata, celltype="K562", base=name, save_dir=tmp_path, **TINY_TRAIN)
    tuned = adata.uns["chromseq"]["models"]["finetuned_K562"]
    assert tuned["base"] == name
    reloaded = load_model(tuned["path"])
    assert reloaded.config.body_key() == read_keras(files["pretrain"][1]).config.body_key()

    keras_k562 = cs.tl.add_model(adata, files["finetune"][1], celltype="K562", save_dir=tmp_path)
    assert keras_k562 == "chromtransfer_K562"
    cs.tl.predict(adata, models=["finetuned_K562", keras_k562, str(files["finetune"][2])])
    pred = adata.obsm["chromseq_pred"]
    assert {"finetuned_K562", keras_k562, "chromtransfer_finetune"} <= set(pred.columns)
    x = one_hot(np.asarray(adata.obsm["sequence"][:8])).numpy()
    model = files["finetune"][0]
    want = (_keras_proba(model, x) + _keras_proba(model, x[:, ::-1, ::-1].copy())) / 2  # reverse-complement average
    np.testing.assert_allclose(pred[keras_k562].to_numpy()[:8], want, atol=1e-5)
    np.testing.assert_allclose(pred["chromtransfer_finetune"].to_numpy()[:8], want, atol=1e-5)
    converted = adata.uns["chromseq"]["models"]["chromtransfer_finetune"]["path"]
    assert Path(converted).parent == tmp_path / "default"
    cs.tl.predict(adata, models=str(files["finetune"][2]))  # the same file again: its folder is reused
    assert sorted(p.name for p in (tmp_path / "default").iterdir()) == ["chromtransfer_finetune"]

    cs.tl.evaluate(adata, models=[keras_k562, "finetuned_K562"], baselines=False)
    metrics = adata.uns["chromseq"]["metrics"]
    assert set(metrics.loc[metrics["model"] == keras_k562, "split"]) >= {"train", "val", "test"}
    rows = np.zeros(adata.n_obs, bool)
    rows[:4] = True
    cs.tl.contributions(adata, celltype="K562", model=keras_k562, mask=rows, method="grad_x_input")
    scores, names = cs.tl.get_contributions(adata, "K562")
    assert list(names) == list(adata.obs_names[:4]) and np.abs(scores).sum() > 0
    adata.write_h5ad(tmp_path / "a.h5ad")  # the records are h5ad-safe


def test_cli_finetune_and_predict_from_h5(files, bundled, tmp_path, monkeypatch):
    from chromseq.cli import main

    monkeypatch.chdir(tmp_path)  # predict --models <.h5> saves the converted folder under ./chromseq_models

    regions = tmp_path / "regions.h5ad"
    bundled.write_h5ad(regions)
    out = tmp_path / "tuned.h5ad"
    args = ["--max-epochs", "1", "--batch-size", "64", "--save-dir", str(tmp_path / "models"), "--device", "cpu"]
    assert (
        main(
            ["finetune", str(regions), "-o", str(out), "--celltype", "K562", "--base", str(files["pretrain"][1]), *args]
        )
        == 0
    )
    pred = tmp_path / "pred.h5ad"
    assert main(["predict", str(out), "-o", str(pred), "--models", str(files["finetune"][2]), "finetuned_K562"]) == 0
    import anndata as ad

    result = ad.read_h5ad(pred)
    assert set(result.uns["chromseq"]["models"]) == {
        "chromtransfer_pretrained",
        "finetuned_K562",
        "chromtransfer_finetune",
    }
    assert result.obsm["chromseq_pred"]["chromtransfer_finetune"].between(0, 1).all()
    assert (tmp_path / "chromseq_models" / "chromtransfer_finetune" / "model.safetensors").is_file()
