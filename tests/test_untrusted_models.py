"""Model folders and records that were edited, broken or crafted are refused before they are used (issue 25).

Classes 4 (variants load through the checked record path), 10 (non-finite weights and predictions),
11 (config covered by the checksum; records agree with their folder), 13 (declared sizes checked before
anything is allocated) and the format_version message. Keras .h5 files: tests/test_untrusted_keras.py.
"""

from __future__ import annotations

import json
import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

import chromseq as cs
from chromseq import _keys as K
from chromseq.models import PRESETS, ChromTransfer, load_model, save_model
from chromseq.models._io import weights_sha256
from chromseq.store import ModelRecord

WIDTH = 100
CONFIG = PRESETS["tiny"].replace(seq_len=WIDTH)


def _net(seed: int = 0, **change) -> ChromTransfer:
    return ChromTransfer(CONFIG.replace(**change), generator=torch.Generator().manual_seed(seed))


def _meta(path) -> dict:
    return json.loads((path / "config.json").read_text())


def _write_meta(path, meta: dict, *, rehash: bool) -> None:
    """Write config.json; with ``rehash`` recompute both checksums, as a crafted folder would."""
    if rehash:
        meta["weights_sha256"] = weights_sha256(path / "model.safetensors")
        try:
            from chromseq.models._guards import config_sha256
        except ImportError:  # chromseq before the config checksum
            pass
        else:
            meta["sha256"] = config_sha256(meta["config"], meta["weights_sha256"])
    (path / "config.json").write_text(json.dumps(meta))


@pytest.fixture
def folder(tmp_path):
    return save_model(_net(), tmp_path / "m", card={"kind": "pretrain"})


# -- class 10: non-finite weights and predictions -------------------------------------------------------
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_in_a_folder_are_refused_naming_the_tensor(folder, value):
    state = load_file(folder / "model.safetensors")
    name = "body.stem.0.weight"
    state[name][0, 0, 0] = value
    save_file(state, folder / "model.safetensors")
    _write_meta(folder, _meta(folder), rehash=True)  # consistent checksums: only the values are wrong
    with pytest.raises(ValueError, match=rf"weight '{name}' holds 1 NaN or infinite value"):
        load_model(folder)


def _regions_with_model(folder, n: int = 40, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    obs = pd.DataFrame(
        {
            K.CHROM: pd.Categorical(["chr1"] * n),
            K.START: np.arange(n) * 200,
            K.END: np.arange(n) * 200 + WIDTH,
            K.SPLIT: pd.Categorical(rng.choice(["train", "val", "test"], n), categories=K.SPLITS),
        },
        index=[f"chr1:{i * 200}-{i * 200 + WIDTH}" for i in range(n)],
    )
    adata = ad.AnnData((rng.random((n, 1)) < 0.5).astype(np.float32), obs=obs, var=pd.DataFrame(index=["K562"]))
    adata.obsm[K.SEQUENCE] = rng.integers(0, 4, (n, WIDTH)).astype(np.uint8)
    record = ModelRecord.for_network(
        CONFIG, name="pretrained", kind="pretrain", path=str(folder), weights_sha256=_meta(folder)["weights_sha256"]
    )
    adata.uns[K.UNS] = {K.UNS_MODELS: {"pretrained": record.to_dict()}}
    return adata


def test_predict_refuses_non_finite_predictions_and_leaves_adata_unchanged(folder, monkeypatch):
    adata = _regions_with_model(folder)
    monkeypatch.setattr(
        "chromseq.tl._predict.predict_values", lambda model, data, **kw: np.full((len(data), 1), np.nan, np.float32)
    )
    with pytest.raises(ValueError, match=r"model 'pretrained' .* predicted NaN or infinity for 40 of 40 values"):
        cs.tl.predict(adata)
    assert K.PRED not in adata.obsm


def test_evaluate_warns_when_no_labelled_region_has_a_finite_score(folder, caplog):
    adata = _regions_with_model(folder)
    adata.obsm[K.PRED] = pd.DataFrame({"finetuned_K562": np.nan}, index=adata.obs_names, dtype=np.float32)
    adata.uns[K.UNS][K.UNS_PREDICTIONS] = {
        "finetuned_K562": {"model": "finetuned_K562", "kind": "finetune", "target": "K562"}
    }
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        cs.tl.evaluate(adata, baselines=False)
    assert "AUROC and AUPRC are NaN: none of the" in caplog.text
    assert adata.uns[K.UNS][K.UNS_METRICS]["auroc"].isna().all()


# -- class 11: the config is covered by the checksum --------------------------------------------------
@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["config"].update(bn_eps=0.5),
        lambda m: m["config"].update(stem_pool=2),
        lambda m: m["config"].update(outputs=["K562"]),
        lambda m: m.pop("weights_sha256"),
    ],
    ids=["bn_eps", "stem_pool", "outputs-renamed", "weights_sha256-deleted"],
)
def test_an_edited_config_json_is_refused(folder, edit):
    meta = _meta(folder)
    edit(meta)
    _write_meta(folder, meta, rehash=False)
    with pytest.raises(ValueError, match=r"config\.json' was edited after the model was saved"):
        load_model(folder)


def test_a_folder_saved_before_the_checksum_loads_with_one_warning(folder, caplog):
    meta = _meta(folder)
    meta.pop("sha256")
    _write_meta(folder, meta, rehash=False)
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        load_model(folder)
        load_model(folder)
    warned = [r for r in caplog.records if "cannot be verified" in r.getMessage()]
    assert len(warned) == 1 and str(folder) in warned[0].getMessage()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("outputs", ["K562"], r"outputs \['K562'\] vs \['open'\]"),
        ("kind", "finetune", r"kind 'finetune' vs 'pretrain'"),
        ("config", {**CONFIG.to_dict(), "bn_eps": 0.5}, r"config fields \['bn_eps'\]"),
    ],
)
def test_a_record_that_disagrees_with_its_folder_is_refused(folder, field, value, message):
    adata = _regions_with_model(folder)
    adata.uns[K.UNS][K.UNS_MODELS]["pretrained"][field] = value
    with pytest.raises(ValueError, match=rf"does not agree with its folder .*{message}"):
        cs.tl.predict(adata)
    assert K.PRED not in adata.obsm


# -- class 13: sizes declared in config.json are checked before allocating ------------------------------
def test_a_huge_declared_config_is_refused_before_anything_is_built(folder, monkeypatch):
    meta = _meta(folder)
    meta["config"].update(inner_filters=2_000_000)
    _write_meta(folder, meta, rehash=True)

    def never(*args, **kwargs):
        raise AssertionError("a network was built from a crafted config")

    monkeypatch.setattr("chromseq.models._io.build", never)
    with pytest.raises(ValueError, match=r"declares a network of about [\d,]+ weights .* more than chromseq's limit"):
        load_model(folder)


@pytest.mark.parametrize("value", ["1", 1.5, None, [1]])
def test_format_version_of_the_wrong_type_names_the_field(folder, value):
    meta = _meta(folder)
    meta["format_version"] = value
    _write_meta(folder, meta, rehash=False)
    with pytest.raises(ValueError, match=r"config\.json has format_version .*, expected an integer \(1\)"):
        load_model(folder)


# -- class 4: variants load through the same checked path as predict -------------------------------------
def _variants(genome, n: int = 4) -> pd.DataFrame:
    codes = genome.chromosome("chr1")
    pos = np.arange(n) * 300 + 500
    ref = ["ACGTN"[codes[p - 1]] for p in pos]
    alt = ["A" if r != "A" else "C" for r in ref]
    return pd.DataFrame({"chrom": "chr1", "pos": pos, "ref": ref, "alt": alt})


def test_score_variants_refuses_a_folder_whose_weights_changed_and_records_the_hash(folder):
    adata = _regions_with_model(folder)
    genome = cs.Genome.from_arrays({"chr1": np.random.default_rng(0).integers(0, 4, 3000).astype(np.uint8)})
    vdata = cs.tl.score_variants(adata, _variants(genome), genome=genome)
    assert vdata.uns[K.UNS][K.UNS_MODELS]["pretrained"]["weights_sha256"] == _meta(folder)["weights_sha256"]
    save_model(_net(seed=1), folder)  # another model in the same folder, a valid one of its own
    with pytest.raises(ValueError, match=r"model 'pretrained' .* now holds other weights"):
        cs.tl.score_variants(adata, _variants(genome), genome=genome)
    with pytest.raises(ValueError, match=r"now holds other weights"):
        cs.tl.predict(adata)  # the same rule as predict
