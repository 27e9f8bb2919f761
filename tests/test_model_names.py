"""A model name is a plain name, never a path; no folder chromseq did not write is replaced (issue 25, class 1)."""

import os

import pytest
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq.models import PRESETS, ChromTransfer, save_model

WIDTH = 60
QUICK = {"preset": "tiny", "max_epochs": 1, "batch_size": 16}
PATHS = ["", ".", "..", "../x", "/tmp/elsewhere", "a/b", "a\\b", "a b", "-x", ".hidden", "x" * 101, "é"]


@pytest.fixture
def workdir(tmp_path):
    """A user's working folder: ``save/`` for models beside a file of theirs."""
    (tmp_path / "save").mkdir()
    (tmp_path / "thesis.tex").write_text("years of work")
    return tmp_path


def _untouched(workdir) -> bool:
    return (workdir / "thesis.tex").read_text() == "years of work" and os.listdir(workdir / "save") == []


@pytest.mark.parametrize("name", PATHS)
def test_pretrain_refuses_a_name_that_is_a_path_before_any_work(name, workdir, make_regions):
    adata = make_regions(width=WIDTH)
    with pytest.raises(ValueError, match=r"is not a plain name: .*letters, digits, '_', '\.', '\+' or '-'"):
        cs.tl.pretrain(adata, **QUICK, save_dir=workdir / "save", key_added=name, existing="overwrite")
    assert _untouched(workdir) and K.UNS_MODELS not in adata.uns.get(K.UNS, {})


@pytest.mark.parametrize("verb", ["train", "finetune"])
@pytest.mark.parametrize("name", ["", "..", "../x"])
def test_finetune_and_train_refuse_path_names(verb, name, workdir, make_regions):
    adata = make_regions(width=WIDTH)
    with pytest.raises(ValueError, match="is not a plain name"):  # before the (missing) base model is looked up
        getattr(cs.tl, verb)(adata, "A", max_epochs=1, save_dir=workdir / "save", key_added=name, existing="overwrite")
    assert _untouched(workdir)


def test_a_cell_type_that_would_make_a_path_needs_key_added(workdir, make_regions):
    adata = make_regions(width=WIDTH)
    adata.var_names = ["../../etc"]
    with pytest.raises(ValueError, match=r"made from cell type '\.\./\.\./etc'.*pass key_added="):
        cs.tl.train(adata, **QUICK, save_dir=workdir / "save")
    assert _untouched(workdir)


def test_plain_names_are_accepted_and_suggested():
    from chromseq._validate import check_name

    for name in ["pretrained", "ft_K562_10pct", "CD4+", "v1.2-b", "a" * 100]:
        assert check_name(name) == name
    with pytest.raises(ValueError, match="pass e.g. key_added='my_run'"):
        check_name("../my run")


def test_predict_evaluate_and_add_model_check_their_names(tmp_path, make_regions):
    adata = make_regions(width=WIDTH)
    net = ChromTransfer(PRESETS["tiny"].replace(seq_len=WIDTH), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"name='\.\./evil' is not a plain name"):
        cs.tl.add_model(adata, net, name="../evil", save_dir=tmp_path / "m")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "m").exists()
    folder = save_model(net, tmp_path / "model")
    with pytest.raises(ValueError, match=r"key_added='' is not a plain name"):
        cs.tl.predict(adata, models=folder, key_added="")
    with pytest.raises(ValueError, match=r"key_added='a/b' is not a plain name"):
        cs.tl.evaluate(adata, key_added="a/b")
    assert K.PRED not in adata.obsm


def test_transfer_benchmark_checks_base_and_run_names_before_training(workdir, make_regions):
    adata = make_regions(width=WIDTH)
    with pytest.raises(ValueError, match=r"base='\.\./x' is not a plain name"):
        cs.tl.transfer_benchmark(adata, "A", base="../x", preset="tiny", max_epochs=1, save_dir=workdir / "save")
    assert _untouched(workdir)


def test_overwrite_never_replaces_a_folder_chromseq_did_not_write(workdir, make_regions):
    theirs = workdir / "save" / "pretrained"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    adata = make_regions(width=WIDTH)
    with pytest.raises(ValueError, match=r"did not write as a model folder .*not replaced: move it away"):
        cs.tl.pretrain(adata, **QUICK, save_dir=workdir / "save", existing="overwrite")
    assert (theirs / "notes.txt").read_text() == "mine"
    assert not (workdir / "save" / ".pretrained.ckpt").exists()  # refused before training


def test_overwrite_still_replaces_a_model_folder(tmp_path, make_regions):
    adata = make_regions(width=WIDTH)
    cs.tl.pretrain(adata, **QUICK, save_dir=tmp_path)
    first = adata.uns[K.UNS][K.UNS_MODELS]["pretrained"]["weights_sha256"]
    cs.tl.pretrain(adata, **QUICK, save_dir=tmp_path, existing="overwrite", learning_rate=1e-2)
    record = adata.uns[K.UNS][K.UNS_MODELS]["pretrained"]
    assert record["path"] == str((tmp_path / "pretrained").absolute()) and record["weights_sha256"] != first


def test_save_model_refuses_to_replace_a_users_folder_or_file(tmp_path):
    net = ChromTransfer(PRESETS["tiny"])
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("1,2")
    (tmp_path / "file").write_text("keep")
    for target in (tmp_path / "data", tmp_path / "file"):
        with pytest.raises(ValueError, match="did not write as a model folder"):
            save_model(net, target)
    assert (tmp_path / "data" / "x.csv").read_text() == "1,2" and (tmp_path / "file").read_text() == "keep"
    assert sorted(os.listdir(tmp_path)) == ["data", "file"]


def test_checkpoint_cleanup_deletes_only_checkpoint_files(tmp_path):
    from chromseq.train._runs import clear_checkpoints

    folder = tmp_path / ".m.ckpt"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "keep.txt").write_text("x")
    (folder / "other.txt").write_text("x")
    (folder / "train.pt").write_bytes(b"0")
    (folder / "train.pt.tmp").write_bytes(b"0")
    clear_checkpoints(folder, name="m", resume=False, overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == ["other.txt", "sub"]


@pytest.mark.parametrize("name", ["", "..", "../x", "/abs", "chromtransfer_my cells"])
def test_every_model_path_is_built_from_a_plain_name(name, tmp_path):
    from chromseq.tl._fit_glue import model_paths

    with pytest.raises(ValueError, match=r"model name .* is not a plain name: .*key_added= .*name= "):
        model_paths(tmp_path, name)
    assert model_paths(tmp_path, "m")[0] == (tmp_path / "m").absolute()
