"""Damaged checkpoints and model folders: each gives an error naming the file and what to do (issue 11)."""

import json
import os

import numpy as np
import pytest
import torch

from chromseq.data import SequenceDataset
from chromseq.models import PRESETS, ChromTransfer, load_model, save_model
from chromseq.train._engine import fit
from chromseq.train._spec import TrainSpec

WIDTH = 100


def _tiny(seed=0, **change):
    return ChromTransfer(PRESETS["tiny"].replace(**change), generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- checkpoints


def _checkpointed(tmp_path):
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (96, WIDTH), dtype=np.uint8)
    y = (rng.random((96, 1)) < 0.5).astype(np.float32)
    train, val = SequenceDataset(codes, y, np.arange(64)), SequenceDataset(codes, y, np.arange(64, 96))
    ckpt = tmp_path / "train.pt"
    spec = TrainSpec(max_epochs=1, batch_size=32, seed=0)
    fit(_tiny(seq_len=WIDTH), train, val, spec, device="cpu", checkpoint=ckpt)
    return train, val, spec, ckpt


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: np.random.default_rng(0).bytes(4096), "is damaged or not a chromseq checkpoint"),
        (lambda b: np.random.default_rng(1).bytes(4096), "is damaged or not a chromseq checkpoint"),
        (lambda b: b"PK\x03\x04" + np.random.default_rng(2).bytes(4096), "is damaged or not a chromseq checkpoint"),
        (lambda b: b"", "is empty"),
        (lambda b: b[: len(b) // 2], "is damaged or not a chromseq checkpoint"),
    ],
    ids=["random-bytes", "random-bytes-2", "zip-header", "empty", "truncated"],
)
def test_damaged_checkpoint_names_the_file_and_never_advises_unsafe_loading(tmp_path, damage, message):
    train, val, spec, ckpt = _checkpointed(tmp_path)
    ckpt.write_bytes(damage(ckpt.read_bytes()))
    with pytest.raises(ValueError, match=message) as err:
        fit(_tiny(seq_len=WIDTH), train, val, spec, device="cpu", checkpoint=ckpt, resume=True)
    text = str(err.value)
    assert str(ckpt) in text and "delete it" in text
    assert "weights_only" not in text and err.value.__cause__ is None  # torch's advice is not shown, even chained
    assert err.value.__context__ is None or err.value.__suppress_context__


def test_checkpoint_that_is_a_plain_tensor_file_is_not_a_training_checkpoint(tmp_path):
    train, val, spec, ckpt = _checkpointed(tmp_path)
    torch.save({"weights": torch.zeros(3)}, ckpt)
    with pytest.raises(ValueError, match=r"not a chromseq training checkpoint \(no 'stage'\)"):
        fit(_tiny(seq_len=WIDTH), train, val, spec, device="cpu", checkpoint=ckpt, resume=True)


# ----------------------------------------------------------------------------- model folders


def _edit_config(path, edit):
    meta = json.loads((path / "config.json").read_text())
    edit(meta)
    (path / "config.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "config.json").write_text("{not json"), r"config\.json is not valid JSON \(.* line 1"),
        (lambda p: (p / "config.json").write_bytes(b"\xff\xfe\x00junk"), r"config\.json is not UTF-8 text"),
        (lambda p: (p / "config.json").write_text("[1, 2]"), r"config\.json holds a JSON list"),
        (lambda p: _edit_config(p, lambda m: m.pop("config")), r"config\.json has no 'config' entry"),
        (lambda p: _edit_config(p, lambda m: m["config"].update(inner_filters="x")), r"invalid 'config'"),
        (
            lambda p: (p / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(300)),
            r"model\.safetensors is not a readable",
        ),
        (lambda p: (p / "model.safetensors").write_bytes(b""), r"model\.safetensors is not a readable"),
    ],
    ids=["non-json", "binary", "json-list", "no-config-key", "bad-config-value", "random-weights", "empty-weights"],
)
def test_damaged_model_folder_names_the_file_and_the_fix(tmp_path, damage, message):
    path = save_model(_tiny(), tmp_path / "m")
    damage(path)
    with pytest.raises(ValueError, match=message) as err:
        load_model(path)
    assert str(path) in str(err.value) and "Save the model again" in str(err.value)


@pytest.mark.parametrize(
    "other", [{"inner_filters": 24}, {"head": "finetune", "outputs": ("a", "b")}], ids=["body", "head"]
)
def test_weights_of_another_model_do_not_fit_the_config(tmp_path, other):
    path = save_model(_tiny(), tmp_path / "m")
    stranger = save_model(_tiny(**other), tmp_path / "other")
    (path / "model.safetensors").write_bytes((stranger / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match=r"model\.safetensors' do not fit the config in config\.json"):
        load_model(path)


def test_damaged_model_folder_is_a_one_line_cli_error(tmp_path, capsys):
    import anndata as ad

    from chromseq.cli import main

    path = save_model(_tiny(), tmp_path / "m")
    (path / "config.json").write_text("{not json")
    regions = ad.AnnData(obs={"x": [0, 1]})
    regions.obsm["sequence"] = np.zeros((2, 600), np.uint8)
    regions.write_h5ad(tmp_path / "r.h5ad")
    assert main(["predict", str(tmp_path / "r.h5ad"), "-o", str(tmp_path / "p.h5ad"), "--models", str(path)]) == 1
    err = capsys.readouterr().err
    assert "config.json is not valid JSON" in err and str(path) in err and "Traceback" not in err
    assert not (tmp_path / "p.h5ad").exists()


# ----------------------------------------------------------------------------- replacing a model folder


def test_a_model_folder_is_in_place_at_every_instant_of_a_replacement(tmp_path, monkeypatch):
    import shutil

    path = save_model(_tiny(0), tmp_path / "m")
    seen = []

    def watch(real):
        def spy(*args, **kwargs):
            seen.append((path / "config.json").is_file())
            out = real(*args, **kwargs)
            seen.append((path / "config.json").is_file())
            return out

        return spy

    monkeypatch.setattr(os, "replace", watch(os.replace))
    monkeypatch.setattr(os, "rename", watch(os.rename))
    monkeypatch.setattr(shutil, "rmtree", watch(shutil.rmtree))
    second = _tiny(1)
    save_model(second, path)
    monkeypatch.undo()
    assert seen and all(seen)
    x = torch.rand(2, 4, 600)
    torch.testing.assert_close(load_model(path)(x), second.eval()(x))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_replacement_falls_back_to_rename_aside_where_exchange_is_unsupported(tmp_path, monkeypatch):
    from chromseq import _io_utils

    monkeypatch.setattr(_io_utils, "_exchange", lambda a, b: False)
    save_model(_tiny(0), tmp_path / "m")
    second = _tiny(1)
    save_model(second, tmp_path / "m")
    x = torch.rand(2, 4, 600)
    torch.testing.assert_close(load_model(tmp_path / "m")(x), second.eval()(x))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def _dead_pid():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(proc.stdout)


def test_next_save_removes_folders_of_killed_saves_and_keeps_running_ones(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    stale = [f".m.{dead}.abcd_123.tmp", ".m.k2j4h5g6.tmp", f".m.{dead}.old", ".m.old"]  # this and older versions
    kept = [f".m.{alive}.abcd_123.tmp", f".m2.{dead}.abcd_123.tmp", ".m.ckpt", ".m.x.abcd_123.tmp"]
    for name in stale + kept:
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"half")
    save_model(_tiny(), tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "m"])


def test_checkpoint_missing_its_weights_is_not_complete(tmp_path):
    train, val, spec, ckpt = _checkpointed(tmp_path)
    payload = torch.load(ckpt, weights_only=True)
    del payload["model"]
    torch.save(payload, ckpt)
    with pytest.raises(ValueError, match=r"not a complete chromseq training checkpoint \(no \['model'\]\)"):
        fit(_tiny(seq_len=WIDTH), train, val, spec, device="cpu", checkpoint=ckpt, resume=True)
