import anndata as ad
import numpy as np
import pytest

from chromseq._io_utils import atomic_path, read_h5ad_checked, write_h5ad_atomic


def test_failed_write_leaves_existing_file_untouched(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_folder_replaces_whole_folder(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.bin").write_text("x")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "weights.safetensors").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["weights.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_h5ad_round_trip_and_clear_errors(tmp_path):
    adata = ad.AnnData(np.ones((3, 2), dtype=np.float32))
    write_h5ad_atomic(adata, tmp_path / "a.h5ad")
    assert read_h5ad_checked(tmp_path / "a.h5ad").shape == (3, 2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_h5ad_checked(tmp_path / "missing.h5ad")
    (tmp_path / "bad.h5ad").write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable"):
        read_h5ad_checked(tmp_path / "bad.h5ad")


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_saved_model_folder_honours_the_umask(tmp_path, umask):
    import os

    from chromseq.models import PRESETS, ChromTransfer, save_model

    old = os.umask(umask)
    try:
        folder = save_model(ChromTransfer(PRESETS["tiny"]), tmp_path / "shared" / "model")
    finally:
        os.umask(old)
    assert (folder.stat().st_mode & 0o777) == 0o777 & ~umask  # was 0700 (tempfile.mkdtemp)
    for file in folder.iterdir():
        assert (file.stat().st_mode & 0o777) == 0o666 & ~umask, file.name  # weights were 0600 (safetensors)
