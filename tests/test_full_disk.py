"""A full disk: one line naming the path and "no space left", the previous file kept, nothing lost (issue 25).

Classes 3 and 12. Where the machine allows (root), a real 1 MiB tmpfs is filled up; elsewhere those
tests are skipped and the same paths are exercised by making the writers fail as they do on a full disk.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq._io_utils import write_h5ad_atomic
from chromseq.cli import main
from chromseq.train._checkpoint import save_checkpoint

TRAIN = ["--preset", "tiny", "--max-epochs", "2", "--batch-size", "64"]
SRC = str(Path(cs.__file__).parents[1])


# -- a small full file system -----------------------------------------------------------------------
@pytest.fixture
def disk(tmp_path):
    """A 1 MiB tmpfs (root only; skipped where it cannot be mounted), unmounted afterwards."""
    path = tmp_path / "disk"
    path.mkdir()
    if not shutil.which("mount") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield path
    done = subprocess.run(["umount", str(path)], capture_output=True, check=False)
    if done.returncode:  # busy: detach it anyway, then fail (a file chromseq wrote was left open)
        subprocess.run(["umount", "-l", str(path)], check=False)
    assert done.returncode == 0, f"the tmpfs stayed busy (a file left open?): {done.stderr.decode().strip()}"


def _fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` until ``leave`` bytes are free."""
    free = shutil.disk_usage(disk).free
    (disk / "filler").write_bytes(bytes(max(free - leave, 0)))


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def _run(*args: str) -> subprocess.CompletedProcess:
    """The command line in its own process: a crash (h5py at teardown) shows as a negative return code."""
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-m", "chromseq.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.fixture(scope="module")
def regions(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("regions")
    data = cs.datasets.synthetic(n_regions=240, width=100, celltypes=["K562"], random_state=1)
    data.write_h5ad(folder / "regions.h5ad")
    return folder / "regions.h5ad"


@pytest.fixture(scope="module")
def peaks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("peaks")
    rng = np.random.default_rng(0)
    fasta, bed = folder / "g.fa", folder / "A.bed"
    with open(fasta, "w") as fa, open(bed, "w") as peaks:
        for chrom in ("chr1", "chr2", "chr3"):
            seq = "".join(rng.choice(list("ACGT"), 20_000))
            fa.write(f">{chrom}\n" + "".join(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60)))
            peaks.writelines(f"{chrom}\t{s}\t{s + 100}\n" for s in range(200, 19_500, 150))
    return bed, fasta


# -- class 12: prepare -o, training checkpoints, -o after training --------------------------------------
def test_prepare_output_on_a_full_disk_is_one_line_and_leaves_nothing(disk, peaks):
    bed, fasta = peaks
    _fill(disk, leave=8192)
    out = disk / "p.h5ad"
    done = _run(
        "prepare",
        "--regions",
        f"A={bed}",
        "--genome",
        str(fasta),
        "--width",
        "100",
        "--background",
        "0",
        "-o",
        str(out),
    )
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"chromseq prepare: error: {out}: no space left on device"), last
    assert _leftovers(disk, {"filler"}) == []


def test_checkpoint_on_a_full_disk_keeps_the_previous_one_and_no_temp(disk):
    path = disk / "train.pt"
    save_checkpoint(path, {"stage": "pretrain", "w": torch.zeros(4)})
    _fill(disk, leave=4096)
    with pytest.raises(OSError, match=r"no space left on device") as err:
        save_checkpoint(path, {"stage": "pretrain", "w": torch.zeros(300_000)})
    assert err.value.filename == str(path) and err.value.errno == errno.ENOSPC
    assert _leftovers(disk, {"filler"}) == ["train.pt"]
    assert torch.load(path, weights_only=True)["w"].shape == (4,)


def test_training_checkpoints_on_a_full_disk_fail_in_one_line(disk, regions):
    _fill(disk, leave=4096)
    done = _run("pretrain", str(regions), "-o", str(regions.with_name("o.h5ad")), "--save-dir", str(disk), *TRAIN)
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "no space left on device" in last and str(disk) in last, last
    assert not list(disk.rglob("*.tmp"))


def test_output_failing_after_training_keeps_the_checkpoint_and_resume_finishes(disk, regions, tmp_path):
    models = tmp_path / "models"
    _fill(disk, leave=4096)
    out = disk / "o.h5ad"
    done = _run("pretrain", str(regions), "-o", str(out), "--save-dir", str(models), *TRAIN)
    assert done.returncode == 1, done.stderr[-2000:]
    assert f"{out}: no space left on device" in done.stderr.strip().splitlines()[-1]
    assert list((models / ".pretrained.ckpt").glob("*.pt")), "the checkpoint was deleted"
    assert not (models / "pretrained").exists()  # saved but unrecorded: removed again, the checkpoint finishes it
    good = tmp_path / "o.h5ad"
    done = _run("pretrain", str(regions), "-o", str(good), "--save-dir", str(models), *TRAIN, "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    record = ad.read_h5ad(good).uns[K.UNS][K.UNS_MODELS]["pretrained"]
    assert Path(record["path"]) == models / "pretrained" and list(record["history"]["epoch"]) == [1, 2]
    assert not list((models / ".pretrained.ckpt").glob("*.pt"))


# -- class 3: tracks ------------------------------------------------------------------------------------
def _tracks_data(n: int = 300, width: int = 1000) -> ad.AnnData:
    rng = np.random.default_rng(0)
    start = np.arange(n) * 2000 + 1_000_000
    obs = pd.DataFrame(
        {"chrom": pd.Categorical(["chr20"] * n), "start": start, "end": start + width},
        index=[f"chr20:{s}-{s + width}" for s in start],
    )
    adata = ad.AnnData(np.zeros((n, 1), np.float32), obs=obs, var=pd.DataFrame(index=["K562"]))
    adata.obsm[K.PRED] = pd.DataFrame({"m": rng.random(n)}, index=adata.obs_names)
    adata.uns[K.UNS] = {K.UNS_GENOME: {"name": "g", "chrom_map": {"chr20": "20"}, "sizes": {"20": 5_000_000}}}
    return adata


@pytest.mark.parametrize("leave", [0, 4096])  # 4096: the data fits, the zoom levels written at close do not
@pytest.mark.parametrize("name", ["t.bw", "t.bedgraph"])
def test_a_track_on_a_full_disk_fails_and_keeps_the_old_file(disk, leave, name):
    adata = _tracks_data()
    path = cs.io.write_predictions(adata, disk / name, "m")
    good = path.read_bytes()
    adata.obsm[K.PRED]["m"] = 1 - adata.obsm[K.PRED]["m"]
    _fill(disk, leave=leave)
    with pytest.raises(OSError, match=r"no space left on device"):
        cs.io.write_predictions(adata, path, "m")
    assert path.read_bytes() == good
    assert _leftovers(disk, {"filler"}) == [name]


# -- the same paths without a tmpfs: writers that fail as on a full disk ----------------------------------
def test_h5ad_write_failing_for_space_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.h5ad"
    adata = ad.AnnData(np.zeros((3, 2), np.float32))
    write_h5ad_atomic(adata, path)
    good = path.read_bytes()

    def full(self, filename, **kw):
        Path(filename).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "Can't synchronously write data (file write failed: errno = 28)")

    monkeypatch.setattr(ad.AnnData, "write_h5ad", full)
    with pytest.raises(OSError, match=r"no space left on device") as err:
        write_h5ad_atomic(adata, path)
    assert err.value.filename == str(path)
    assert path.read_bytes() == good and _leftovers(tmp_path, set()) == ["a.h5ad"]


def test_h5ad_larger_than_the_free_space_is_refused_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100))
    with pytest.raises(OSError, match=r"no space left on device: writing it needs at least [\d,]+ bytes but 100"):
        write_h5ad_atomic(ad.AnnData(np.zeros((100, 100), np.float32)), tmp_path / "a.h5ad")
    assert _leftovers(tmp_path, set()) == []


def test_torch_zip_writer_error_on_a_checkpoint_is_one_line_and_removes_the_temp(tmp_path, monkeypatch):
    path = tmp_path / "train.pt"
    save_checkpoint(path, {"stage": "s", "w": torch.zeros(4)})

    def full(obj, f, *a, **kw):
        f.write(b"PK\x03\x04 partial")  # save_checkpoint hands torch an open file
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError, match=r"no space left on device") as err:
        save_checkpoint(path, {"stage": "s", "w": torch.zeros(8)})
    assert err.value.filename == str(path)
    assert _leftovers(tmp_path, set()) == ["train.pt"]


def test_a_bigwig_cut_short_at_close_is_refused_and_the_old_file_kept(tmp_path, monkeypatch):
    from chromseq.io import _tracks

    adata = _tracks_data()
    path = cs.io.write_predictions(adata, tmp_path / "t.bw", "m")
    good = path.read_bytes()
    write = _tracks._write_bigwig

    def cut_short(tmp, *args):  # what pyBigWig leaves when its close fails: no error, a shorter file
        write(tmp, *args)
        with open(tmp, "r+b") as fh:
            fh.truncate(4096)

    monkeypatch.setattr(_tracks, "_write_bigwig", cut_short)
    with pytest.raises(OSError, match=r"the file written is incomplete .*no space left on device\?") as err:
        cs.io.write_predictions(adata, path, "m")
    assert err.value.filename == str(path)
    assert path.read_bytes() == good and _leftovers(tmp_path, set()) == ["t.bw"]


def test_output_failing_after_training_keeps_the_checkpoint(regions, tmp_path, monkeypatch):
    """As the tmpfs test above, in-process: the output writer fails for space after the model was saved."""
    import chromseq._io_utils as io_utils

    models = tmp_path / "models"

    def full(adata, path, **kwargs):
        raise io_utils.no_space(path)

    monkeypatch.setattr(io_utils, "write_h5ad_atomic", full)
    assert main(["pretrain", str(regions), "-o", str(tmp_path / "o.h5ad"), "--save-dir", str(models), *TRAIN]) == 1
    assert list((models / ".pretrained.ckpt").glob("*.pt")) and not (models / "pretrained").exists()
