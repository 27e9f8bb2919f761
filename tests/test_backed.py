"""Regions that stay on disk: AnnData opened backed (h5ad) or with chromseq.data.read_backed (h5ad, zarr)."""

from __future__ import annotations

import warnings

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
import zarr

import chromseq as cs
from chromseq import _keys as K
from chromseq.data import read_backed, read_columns, read_rows

TRAIN = {"max_epochs": 2, "batch_size": 32, "options": cs.tl.TrainingOptions(device="cpu")}
OPENERS = {
    "backed": lambda folder: ad.read_h5ad(folder / "regions.h5ad", backed="r"),
    "h5ad_on_disk": lambda folder: read_backed(folder / "regions.h5ad"),
    "zarr_on_disk": lambda folder: read_backed(folder / "regions.zarr"),
}


def _write_zarr(adata: ad.AnnData, path) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Writing zarr v2", category=UserWarning)
        adata.write_zarr(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Synthetic regions with a pretrained tiny model, written as .h5ad and .zarr."""
    folder = tmp_path_factory.mktemp("backed")
    adata = cs.datasets.synthetic(n_regions=300, width=100, random_state=2)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    cs.tl.pretrain(adata, preset="tiny", save_dir=folder / "models", **{**TRAIN, "max_epochs": 1})
    torch.set_num_threads(n)
    adata.write_h5ad(folder / "regions.h5ad")
    _write_zarr(adata, folder / "regions.zarr")
    return folder, adata


@pytest.mark.parametrize("how", OPENERS)
def test_predict_on_disk_equals_in_memory(trained, how):
    folder, adata = trained
    memory = adata.copy()
    cs.tl.predict(memory, device="cpu")
    disk = OPENERS[how](folder)
    cs.tl.predict(disk, device="cpu")
    pd.testing.assert_frame_equal(disk.obsm[K.PRED], memory.obsm[K.PRED])


@pytest.mark.parametrize("how", ["h5ad_on_disk", "zarr_on_disk"])
def test_read_backed_leaves_sequences_and_labels_on_disk(trained, how):
    folder, _ = trained
    disk = OPENERS[how](folder)
    assert isinstance(disk.obsm[K.SEQUENCE], h5py.Dataset | zarr.Array)
    assert isinstance(disk.X, h5py.Dataset | zarr.Array)


@pytest.mark.parametrize("how", ["backed", "h5ad_on_disk"])
def test_finetune_from_disk_equals_in_memory(trained, how, tmp_path):
    folder, adata = trained
    memory, disk = adata.copy(), OPENERS[how](folder)
    cs.tl.finetune(memory, "K562", save_dir=tmp_path / "memory", **TRAIN)
    cs.tl.finetune(disk, "K562", save_dir=tmp_path / "disk", **TRAIN)
    a, b = (x.uns[K.UNS][K.UNS_MODELS]["finetuned_K562"] for x in (memory, disk))
    assert a["fingerprint"] == b["fingerprint"]
    assert a["history"]["val_loss"] == b["history"]["val_loss"]


def test_copy_of_an_anndata_on_disk_is_in_memory_and_leaves_it_alone(trained):
    folder, _ = trained
    disk = read_backed(folder / "regions.h5ad")
    out = cs.tl.predict(disk, device="cpu", copy=True)
    assert K.PRED in out.obsm and K.PRED not in disk.obsm
    assert isinstance(out.obsm[K.SEQUENCE], np.ndarray)


@pytest.mark.parametrize("store", ["h5py", "zarr"])
def test_read_rows_matches_numpy_in_any_order_with_repeats(tmp_path, store):
    codes = np.random.default_rng(0).integers(0, 5, (500, 12), dtype=np.uint8)
    if store == "h5py":
        array = h5py.File(tmp_path / "a.h5", "w").create_dataset("codes", data=codes)
    else:
        array = zarr.create_array(tmp_path / "a.zarr", shape=codes.shape, dtype=codes.dtype, chunks=(64, 12))
        array[:] = codes
    for rows in (np.array([499, 3, 3, 250, 0]), np.arange(100, 180)[::-1], np.array([], dtype=np.int64)):
        np.testing.assert_array_equal(read_rows(array, rows), codes[rows])


def test_read_columns_reads_backed_sparse_x_in_blocks_in_any_column_order(tmp_path):
    x = sp.random(40, 5, density=0.3, format="csr", dtype=np.float32, rng=np.random.default_rng(1))
    ad.AnnData(x).write_h5ad(tmp_path / "s.h5ad")
    backed = ad.read_h5ad(tmp_path / "s.h5ad", backed="r")
    np.testing.assert_array_equal(read_columns(backed.X, [4, 0, 2], block=7), x.toarray()[:, [4, 0, 2]])


def test_read_backed_of_a_missing_path_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5ad"):
        read_backed(tmp_path / "nope.h5ad")
