"""Labels, options and resumed runs checked before training (issue 25, classes 7 and 9; determinism)."""

import dataclasses
import logging
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq.data import SequenceDataset
from chromseq.models import PRESETS, ChromTransfer
from chromseq.train._engine import fit
from chromseq.train._spec import TrainSpec

WIDTH = 60
QUICK = {"preset": "tiny", "max_epochs": 1, "batch_size": 16}


# -- labels (class 7) ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [5.0, -2.0, 0.5, np.inf, -np.inf])
def test_train_refuses_labels_other_than_0_1_nan_naming_the_column(value, tmp_path, make_regions):
    adata = make_regions(width=WIDTH)
    adata.X[[3, 7], 0] = value
    with pytest.raises(ValueError, match=rf"labels of 'A' hold 2 value\(s\) other than 0, 1 and NaN \({value:g}\)"):
        cs.tl.train(adata, "A", **QUICK, save_dir=tmp_path)
    assert not list(tmp_path.iterdir()) and K.UNS_MODELS not in adata.uns.get(K.UNS, {})


def test_pretrain_with_extra_cell_types_refuses_continuous_labels(tmp_path, make_regions):
    adata = make_regions(width=WIDTH)
    adata.X[:, 0] = np.linspace(0, 3, adata.n_obs)
    with pytest.raises(ValueError, match=r"labels of 'A' .*\(0\.0337079, .*layers\['signal'\]"):
        cs.tl.pretrain(adata, **QUICK, save_dir=tmp_path, celltypes="A")
    assert not list(tmp_path.iterdir())


def test_transfer_benchmark_refuses_bad_labels_before_pretraining(tmp_path, make_regions):
    adata = make_regions(width=WIDTH)
    adata.obs[K.SPLIT] = adata.obs[K.SPLIT].cat.add_categories("test")
    adata.obs.loc[adata.obs_names[::6], K.SPLIT] = "test"
    adata.X[0, 0] = 2
    with pytest.raises(ValueError, match=r"labels of 'A' hold 1 value\(s\) other than 0, 1 and NaN \(2\)"):
        cs.tl.transfer_benchmark(adata, "A", fractions=[1.0], preset="tiny", max_epochs=1, save_dir=tmp_path)
    assert not list(tmp_path.iterdir())


# -- options ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("learning_rate", float("inf"), "learning_rate must be a finite number > 0, got inf"),
        ("learning_rate", float("nan"), "learning_rate must be a finite number > 0, got nan"),
        ("stage2_learning_rate", float("inf"), "stage2_learning_rate must be a finite number > 0"),
        ("device", "bogus", "device='bogus' is not a device: use 'auto', 'cpu'"),
        ("random_state", 2**70, r"random_state must be an int from 0 to 2\*\*63 - 1"),
        ("random_state", -1, r"random_state must be an int from 0 to 2\*\*63 - 1"),
    ],
)
def test_training_options_refuse_values_that_would_fail_later(field, value, message):
    with pytest.raises(ValueError, match=message):
        cs.tl.TrainingOptions(**{field: value})


def test_settings_refuse_a_bogus_device_and_a_huge_seed():
    with pytest.raises(ValueError, match="device='gpu' is not a device"):
        cs.settings.device = "gpu"
    with pytest.raises(ValueError, match=r"seed must be an int from 0 to 2\*\*63 - 1"):
        cs.settings.seed = 2**70
    assert cs.settings.device == "auto" and cs.settings.seed == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--learning-rate", "inf"], "--learning-rate must be a finite number > 0, got inf"),
        (["--learning-rate", "nan"], "--learning-rate must be a finite number > 0, got nan"),
        (["--batch-size", "0"], "--batch-size must be 1 or more, got 0"),
        (["--device", "bogus"], "device='bogus' is not a device"),
        (["--seed", str(2**70)], r"seed must be an int from 0 to 2\*\*63 - 1"),
    ],
)
def test_cli_training_options_fail_in_one_line_before_training(flags, message, tmp_path, make_regions):
    make_regions(width=WIDTH).write_h5ad(tmp_path / "r.h5ad")
    args = ["pretrain", str(tmp_path / "r.h5ad"), "-o", str(tmp_path / "o.h5ad"), "--preset", "tiny"]
    run = subprocess.run(
        [sys.executable, "-m", "chromseq.cli", *args, "--save-dir", str(tmp_path / "m"), *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in run.stderr.splitlines() if "INFO" not in line]
    assert run.returncode == 1 and len(lines) == 1, run.stderr
    assert re.search(message, lines[0])
    assert not (tmp_path / "m").exists() and not (tmp_path / "o.h5ad").exists()


# -- resume (class 9) and thread count -------------------------------------------------------------
def _data():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (64, WIDTH), dtype=np.uint8)
    y = rng.integers(0, 2, (64, 1)).astype(np.float32)
    return SequenceDataset(codes, y, np.arange(48)), SequenceDataset(codes, y, np.arange(48, 64))


def _net():
    return ChromTransfer(PRESETS["tiny"].replace(seq_len=WIDTH), generator=torch.Generator().manual_seed(0))


def _interrupted(tmp_path, spec):
    def stop(epoch, history):
        raise KeyboardInterrupt

    ckpt = tmp_path / "train.pt"
    with pytest.raises(KeyboardInterrupt):
        fit(_net(), *_data(), spec, device="cpu", checkpoint=ckpt, callback=stop)
    return ckpt


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("seed", 5, "seed 0 -> 5"),
        ("learning_rate", 1e-2, "learning_rate 0.001 -> 0.01"),
        ("batch_size", 32, "batch_size 16 -> 32"),
    ],
)
def test_resume_refuses_another_seed_learning_rate_or_batch_size(field, value, shown, tmp_path):
    spec = TrainSpec(max_epochs=3, batch_size=16)
    ckpt = _interrupted(tmp_path, spec)
    with pytest.raises(ValueError, match=rf"trained with other settings .*\({shown}\).*existing='overwrite'"):
        fit(_net(), *_data(), dataclasses.replace(spec, **{field: value}), device="cpu", checkpoint=ckpt, resume=True)


def test_resume_may_extend_the_epoch_budget_and_patience(tmp_path):
    spec = TrainSpec(max_epochs=2, batch_size=16)
    ckpt = _interrupted(tmp_path, spec)
    more = dataclasses.replace(spec, max_epochs=3, patience=20)
    assert fit(_net(), *_data(), more, device="cpu", checkpoint=ckpt, resume=True).history["epoch"] == [1, 2, 3]


def test_resume_at_another_thread_count_warns(tmp_path, caplog):
    spec = TrainSpec(max_epochs=2, batch_size=16)
    ckpt = _interrupted(tmp_path, spec)  # the tests run on one thread (conftest)
    assert torch.load(ckpt, weights_only=True)["torch_threads"] == 1
    with caplog.at_level(logging.WARNING, logger="chromseq"), cs.settings.override(threads=2):
        fit(_net(), *_data(), spec, device="cpu", checkpoint=ckpt, resume=True)
    assert "with 2 torch CPU threads; the interrupted run used 1" in caplog.text


def test_record_keeps_thread_count_and_device(tmp_path, make_regions):
    adata = make_regions(width=WIDTH)
    cs.tl.pretrain(adata, **QUICK, save_dir=tmp_path)
    params = adata.uns[K.UNS][K.UNS_MODELS]["pretrained"]["params"]
    assert params["torch_threads"] == torch.get_num_threads() == 1 and params["device"] == "cpu"


def test_tl_resume_with_another_seed_is_refused_and_the_checkpoint_kept(tmp_path, make_regions, monkeypatch):
    from chromseq.train import _engine

    save = _engine.save_checkpoint

    def save_then_stop(path, payload):  # the run is killed right after its first checkpoint
        save(path, payload)
        raise KeyboardInterrupt

    adata = make_regions(width=WIDTH)
    options = cs.tl.TrainingOptions(max_epochs=2, batch_size=16, random_state=0)
    monkeypatch.setattr(_engine, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        cs.tl.pretrain(adata, preset="tiny", options=options, save_dir=tmp_path)
    monkeypatch.setattr(_engine, "save_checkpoint", save)
    with pytest.raises(ValueError, match=r"\(seed 0 -> 3\)"):
        cs.tl.pretrain(
            adata, preset="tiny", options=options.replace(random_state=3), save_dir=tmp_path, existing="resume"
        )
    assert (tmp_path / ".pretrained.ckpt" / "train.pt").exists() and K.UNS_MODELS not in adata.uns.get(K.UNS, {})
