"""Runs never share a folder silently: run locks, kept checkpoints, kept model folders, weights' sha256."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import pytest
import torch
from safetensors.torch import load_file

import chromseq as cs
from chromseq import _keys as K
from chromseq.models import ChromTransfer, get_config, load_model, save_model
from chromseq.train._runs import LOCK_FILE, acquire

QUICK_FT = {"batch_size": 32, "learning_rate": 1e-2, "max_epochs": 1}  # fine-tuning: the base model's network
QUICK = {"preset": "tiny", **QUICK_FT}
CLI_TRAIN = ["--preset", "tiny", "--max-epochs", "3", "--batch-size", "32", "--patience", "50", "--threads", "1"]


def toy_regions(n: int = 200, seed: int = 0):
    return cs.datasets.synthetic(n_regions=n, width=100, celltypes=["K562", "HepG2"], random_state=seed)


def _record(adata, name="pretrained"):
    return adata.uns[K.UNS][K.UNS_MODELS][name]


def slice_mask(adata):
    return [i < 4 for i in range(adata.n_obs)]


def _folder_sha(path) -> str:
    return json.loads((Path(path) / "config.json").read_text())["weights_sha256"]


# -- model folders and the weights' sha256 ----------------------------------------------------------
def test_record_keeps_the_weights_sha256_and_a_second_run_keeps_the_first_folder(tmp_path):
    first, second = toy_regions(200, seed=0), toy_regions(200, seed=1)
    cs.tl.pretrain(first, save_dir=tmp_path, **QUICK)
    cs.tl.pretrain(second, save_dir=tmp_path, **QUICK)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pretrained", "pretrained-2"]
    assert _record(first)["path"] == str(tmp_path / "pretrained")
    assert _record(second)["path"] == str(tmp_path / "pretrained-2")
    for adata in (first, second):
        assert _record(adata)["weights_sha256"] == _folder_sha(_record(adata)["path"])
    cs.tl.predict(first)  # the first AnnData's model is still where its record says
    assert "pretrained" in first.obsm[K.PRED]


def test_overwrite_replaces_the_folder_and_the_older_record_refuses_it(tmp_path):
    first, second = toy_regions(200, seed=0), toy_regions(200, seed=1)
    cs.tl.pretrain(first, save_dir=tmp_path, **QUICK)
    cs.tl.pretrain(second, save_dir=tmp_path, existing="overwrite", **QUICK)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pretrained"]
    for verb in (
        lambda: cs.tl.predict(first),
        lambda: cs.tl.finetune(first, "K562", base="pretrained", save_dir=tmp_path / "ft", **QUICK_FT),
        lambda: cs.tl.contributions(first, model="pretrained", mask=slice_mask(first), method="grad_x_input"),
    ):
        with pytest.raises(ValueError, match=r"model 'pretrained' .*saved with weights sha256:.*now holds other"):
            verb()
    cs.tl.predict(second)


def test_predict_refuses_weights_replaced_behind_the_anndatas_back(tmp_path):
    adata = toy_regions(200)
    cs.tl.pretrain(adata, save_dir=tmp_path, **QUICK)
    folder = Path(_record(adata)["path"])
    other = ChromTransfer(get_config("tiny").replace(seq_len=100, head="pretrain", outputs=("open",)))
    save_model(other, folder)  # e.g. another job saving its own model to the same place
    with pytest.raises(ValueError) as err:
        cs.tl.predict(adata)
    assert "model 'pretrained'" in str(err.value) and str(folder) in str(err.value)
    assert K.PRED not in adata.obsm


def test_one_flipped_byte_in_the_weights_is_an_error_naming_the_file(tmp_path):
    folder = save_model(ChromTransfer(get_config("tiny")), tmp_path / "m")
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model\.safetensors.*changed or damaged.*sha256"):
        load_model(folder)


def test_save_model_without_overwrite_keeps_an_existing_folder(tmp_path):
    folder = save_model(ChromTransfer(get_config("tiny")), tmp_path / "m")
    before = _folder_sha(folder)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_model(ChromTransfer(get_config("tiny").replace(inner_filters=8)), folder, overwrite=False)
    assert _folder_sha(folder) == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folder left


# -- the run lock and interrupted runs --------------------------------------------------------------
def test_a_second_run_on_a_locked_folder_fails_at_once_naming_the_options(tmp_path):
    adata = toy_regions(200)
    with acquire(tmp_path / ".pretrained.ckpt", "pretrained"):  # another run holds it
        with pytest.raises(ValueError) as err:
            cs.tl.pretrain(adata, save_dir=tmp_path, **QUICK)
    text = str(err.value)
    for part in (
        str(tmp_path / ".pretrained.ckpt"),
        f"pid {os.getpid()}",
        "save_dir=",
        "key_added=",
        "existing='resume'",
    ):
        assert part in text
    assert K.UNS_MODELS not in adata.uns.get(K.UNS, {})
    assert not (tmp_path / "pretrained").exists()
    assert not (tmp_path / ".pretrained.ckpt").exists()  # released: nothing left behind


def test_the_lock_of_a_dead_process_is_taken_over_with_a_log_line(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ckpt = tmp_path / ".pretrained.ckpt"
    ckpt.mkdir()
    info = {"pid": dead.pid, "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}
    (ckpt / LOCK_FILE).write_text(json.dumps(info))
    adata = toy_regions(200)
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        cs.tl.pretrain(adata, save_dir=tmp_path, **QUICK)
    assert f"pid {dead.pid}" in caplog.text and "no longer running" in caplog.text
    assert not ckpt.exists()
    assert (tmp_path / "pretrained").is_dir()


def test_a_lock_from_another_host_is_not_taken_over(tmp_path):
    ckpt = tmp_path / ".pretrained.ckpt"
    ckpt.mkdir()
    (ckpt / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "some-other-node", "started": "x"}))
    with pytest.raises(ValueError, match=r"some-other-node.*delete .*run\.lock"):
        cs.tl.pretrain(toy_regions(200), save_dir=tmp_path, **QUICK)
    assert (ckpt / LOCK_FILE).is_file()


def test_an_interrupted_runs_checkpoint_is_kept_without_resume_or_overwrite(tmp_path):
    adata = toy_regions(200)
    ckpt = tmp_path / ".finetuned_K562.ckpt"
    ckpt.mkdir()
    (ckpt / "stage1.pt").write_bytes(b"checkpoint of an interrupted run")
    cs.tl.pretrain(adata, save_dir=tmp_path, **QUICK)
    with pytest.raises(
        ValueError, match=r"interrupted run of model 'finetuned_K562'.*existing='resume'.*existing='overwrite'"
    ):
        cs.tl.finetune(adata, "K562", save_dir=tmp_path, **QUICK_FT)
    assert (ckpt / "stage1.pt").read_bytes() == b"checkpoint of an interrupted run"
    assert not (ckpt / LOCK_FILE).exists()
    cs.tl.finetune(adata, "K562", save_dir=tmp_path, existing="overwrite", **QUICK_FT)
    assert not ckpt.exists()
    assert _record(adata, "finetuned_K562")["path"] == str(tmp_path / "finetuned_K562")


# -- the command line, in separate processes --------------------------------------------------------
@pytest.fixture(scope="module")
def regions(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("runs") / "regions.h5ad"
    cs.datasets.synthetic(n_regions=400, width=200, celltypes=["K562"], random_state=1).write_h5ad(path)
    return path


def _cli(regions: Path, out: Path, save_dir: Path) -> list[str]:
    return [sys.executable, "-m", "chromseq.cli", "pretrain", str(regions), "-o", str(out), "--save-dir", str(save_dir)]


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test():
    """A failed assertion must not leave a run going (or its pipe open for the garbage collector)."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def _start(argv: list[str], *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(cs.__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*argv, *CLI_TRAIN, *extra], env=env, stderr=subprocess.PIPE, text=True)
    _STARTED.append(proc)
    return proc


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < end, f"{path} did not appear"
        time.sleep(0.02)


def test_two_processes_pretraining_in_one_folder_the_second_fails_at_once(regions, tmp_path):
    models = tmp_path / "models"
    first = _start(_cli(regions, tmp_path / "first.h5ad", models))
    _wait_for(models / ".pretrained.ckpt" / LOCK_FILE, first)
    first.send_signal(signal.SIGSTOP)  # holds its lock, alive, for as long as the second one needs to start
    try:
        second = _start(_cli(regions, tmp_path / "second.h5ad", models))
        _, err = second.communicate(timeout=120)
        assert first.poll() is None, "the second run must fail while the first is still training"
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 1
    assert str(models / ".pretrained.ckpt") in err and "--save-dir" in err and "key_added=" in err
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert not (tmp_path / "second.h5ad").exists()
    assert sorted(p.name for p in models.iterdir()) == ["pretrained"]
    record = _record(ad.read_h5ad(tmp_path / "first.h5ad"))
    assert record["weights_sha256"] == _folder_sha(models / "pretrained")  # its own weights


def test_cli_resume_after_kill_9_gives_the_weights_of_an_uninterrupted_run(regions, tmp_path):
    whole = _start(_cli(regions, tmp_path / "whole.h5ad", tmp_path / "whole"))
    killed = _start(_cli(regions, tmp_path / "out.h5ad", tmp_path / "models"))
    ckpt = tmp_path / "models" / ".pretrained.ckpt"
    _wait_for(ckpt / "train.pt", killed)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "models" / "pretrained").exists(), "killed after the run had finished: slow it down"
    rerun = _start(_cli(regions, tmp_path / "out.h5ad", tmp_path / "models"))
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 1 and "--resume" in err and "--overwrite" in err
    assert "no longer running" in err  # it took over the dead run's lock (and released it)
    assert (ckpt / "train.pt").is_file()  # the interrupted run's checkpoint is kept
    epoch = int(torch.load(ckpt / "train.pt", weights_only=True)["epoch"])  # 1, or 2 if the kill came late
    resumed = _start(_cli(regions, tmp_path / "out.h5ad", tmp_path / "models"), "--resume")
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err
    assert "resuming stage 'train'" in err and f"after epoch {epoch}" in err
    _, err = whole.communicate(timeout=180)
    assert whole.returncode == 0, err
    a = load_file(tmp_path / "whole" / "pretrained" / "model.safetensors")
    b = load_file(tmp_path / "models" / "pretrained" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    history = _record(ad.read_h5ad(tmp_path / "out.h5ad"))["history"]
    assert list(history["epoch"]) == [1, 2, 3]
