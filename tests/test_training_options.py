"""One options object for the three training verbs, and the typed model record they write."""

import dataclasses
import inspect

import anndata as ad
import numpy as np
import pytest

import chromseq as cs
from chromseq.store import ModelRecord, get_record
from chromseq.tl._options import resolve_options, training_stages

VERBS = (cs.tl.pretrain, cs.tl.finetune, cs.tl.train)


def test_options_are_frozen_and_checked_on_creation():
    options = cs.tl.TrainingOptions(max_epochs=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_epochs = 6
    for bad, match in (
        ({"max_epochs": 0}, "max_epochs"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"stage2_learning_rate": 0}, "stage2_learning_rate"),
        ({"train_fraction": 1.5}, "train_fraction"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"max_shift": -1}, "max_shift"),
        ({"monitor": "val_acc"}, "monitor must be one of"),
    ):
        with pytest.raises(ValueError, match=match):
            cs.tl.TrainingOptions(**bad)
    with pytest.raises(TypeError, match="no field"):
        options.replace(epochs=3)


def test_options_round_trip_through_a_dict():
    options = cs.tl.TrainingOptions(max_epochs=7, patience=2, stage1_epochs=3, optimizer="adamw", random_state=4)
    assert cs.tl.TrainingOptions.from_dict(options.to_dict()) == options
    with pytest.raises(TypeError, match="patiense"):
        cs.tl.TrainingOptions.from_dict({"patiense": 3})


def test_verb_shortcuts_win_over_options():
    options = cs.tl.TrainingOptions(max_epochs=7, batch_size=16, patience=2)
    merged = resolve_options(options, max_epochs=3, learning_rate=1e-2)
    assert (merged.max_epochs, merged.batch_size, merged.learning_rate, merged.patience) == (3, 16, 1e-2, 2)
    assert resolve_options(None) == cs.tl.TrainingOptions()
    with pytest.raises(TypeError, match="TrainingOptions"):
        resolve_options({"max_epochs": 3})


def test_finetuning_has_a_frozen_stage_then_all_layers_within_one_budget():
    options = cs.tl.TrainingOptions(max_epochs=9, learning_rate=1e-3, stage2_learning_rate=1e-5, random_state=3)
    head, full = training_stages(options, "finetune", l2=1e-4)
    assert (head.stage, head.freeze_body, head.max_epochs, head.learning_rate) == ("head", True, 5, 1e-3)
    assert (full.stage, full.freeze_body, full.max_epochs, full.learning_rate) == ("full", False, 9, 1e-5)
    assert head.seed == full.seed == 3 and head.l2 == 1e-4
    (scratch,) = training_stages(options, "scratch", l2=1e-4)
    assert (scratch.stage, scratch.max_epochs, scratch.learning_rate) == ("train", 9, 1e-3)
    assert training_stages(options.replace(stage1_epochs=2), "finetune", l2=0)[0].max_epochs == 2
    assert {s.monitor for s in training_stages(options.replace(monitor="val_auroc"), "finetune", l2=0)} == {"val_auroc"}


def test_the_three_verbs_share_one_options_object_and_few_parameters():
    for verb in VERBS:
        params = inspect.signature(verb).parameters
        assert len(params) <= 14, f"{verb.__name__} has {len(params)} parameters"  # 12, + task and layer (issue 22)
        assert {"options", "max_epochs", "batch_size", "learning_rate", "existing", "save_dir"} <= set(params)
        assert params["existing"].default == "keep"


def test_existing_must_be_one_of_its_choices(tmp_path):
    adata = cs.datasets.synthetic(60, width=100, random_state=0)
    with pytest.raises(ValueError, match="existing must be one of"):
        cs.tl.pretrain(adata, preset="tiny", max_epochs=1, save_dir=tmp_path, existing="yes")
    assert not any(tmp_path.iterdir())


def test_model_record_survives_an_h5ad_round_trip(tmp_path):
    record = ModelRecord.for_network(
        cs.models.get_config("tiny").replace(head="finetune", outputs=("A", "B")),
        name="finetuned",
        kind="finetune",
        path="/models/finetuned",
        history={"epoch": [1, 2], "stage": ["head", "full"], "val_loss": [0.7, 0.6]},
        params={"max_epochs": 2, "seed": 0},
        base="pretrained",
    )
    adata = ad.AnnData(np.zeros((2, 2), np.float32))
    adata.uns["chromseq"] = {"models": {"finetuned": record.to_dict()}}
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = get_record(ad.read_h5ad(tmp_path / "a.h5ad"), "finetuned")
    assert back == record
    assert back.target == ["A", "B"] and back.network.outputs == ("A", "B")
    assert ad.read_h5ad(tmp_path / "a.h5ad").uns["chromseq"]["models"]["finetuned"]["target"].tolist() == ["A", "B"]


def test_an_older_record_without_outputs_reads_and_a_foreign_one_is_named():
    config = cs.models.get_config("tiny").replace(head="finetune", outputs=("K562",)).to_dict()
    old = ModelRecord.from_dict(
        {"kind": "scratch", "config": config, "celltypes": ["K562"], "path": "x"}, "scratch_K562"
    )
    assert old.outputs == ("K562",) and old.target == "K562" and old.name == "scratch_K562"
    with pytest.raises(KeyError, match="'mine'.*no network config"):
        _ = ModelRecord.from_dict({"kind": "finetune", "path": "x"}, "mine").network
