"""Bad values inside arrays and empty inputs: clear errors naming rows, never wrong results (issue 11)."""

import logging

import h5py
import numpy as np
import pytest
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq.models import PRESETS, ChromTransfer, save_model

WIDTH = 60


@pytest.fixture
def regions(make_regions):
    """Regions maker whose sequences may hold code 4 (N)."""
    return lambda: make_regions(width=WIDTH, codes=5)


@pytest.fixture
def model_dir(tmp_path):
    net = ChromTransfer(PRESETS["tiny"].replace(seq_len=WIDTH), generator=torch.Generator().manual_seed(0))
    return save_model(net, tmp_path / "m", card={"kind": "pretrain"})


def _damage(adata, rows=(4, 31)):
    for r in rows:
        adata.obsm[K.SEQUENCE][r, 7] = 7
    return adata


VERBS = {
    "pretrain": lambda a, m, tmp: cs.tl.pretrain(a, preset="tiny", max_epochs=1, batch_size=16, save_dir=tmp),
    "predict": lambda a, m, tmp: cs.tl.predict(a, models=m),
    "contributions": lambda a, m, tmp: cs.tl.contributions(a, model=ChromTransfer(PRESETS["tiny"]), n_shuffles=2),
    "evaluate": lambda a, m, tmp: cs.tl.evaluate(a),
}


@pytest.mark.parametrize("verb", VERBS)
def test_codes_outside_0_to_4_name_their_rows(verb, model_dir, tmp_path, regions):
    adata = _damage(regions())
    with pytest.raises(
        ValueError, match=r"codes outside 0-4 .* in 2 row\(s\): \['chr1:4000-4060', 'chr1:31000-31060'\]"
    ):
        VERBS[verb](adata, model_dir, tmp_path)
    assert K.PRED not in adata.obsm and K.UNS_MODELS not in adata.uns.get(K.UNS, {})


@pytest.mark.parametrize("verb", ["pretrain", "predict"])
def test_string_sequences_are_not_read_as_a_1bp_width(verb, model_dir, tmp_path, regions):
    adata = regions()
    adata.obsm[K.SEQUENCE] = np.array(["ACGT" * 15] * adata.n_obs)  # anndata stores it as (n, 1) strings
    with pytest.raises(ValueError, match=r"holds <U60 strings of shape \(90, 1\), not sequence codes"):
        VERBS[verb](adata, model_dir, tmp_path)


def test_code_check_reads_codes_on_disk_chunk_by_chunk(tmp_path):
    from chromseq._codes import invalid_code_rows

    codes = np.random.default_rng(0).integers(0, 5, (1000, 20), dtype=np.uint8)
    codes[[3, 517, 999], [0, 5, 19]] = [5, 255, 9]
    array = h5py.File(tmp_path / "a.h5", "w").create_dataset("codes", data=codes)
    np.testing.assert_array_equal(invalid_code_rows(array, chunk=64), [3, 517, 999])
    np.testing.assert_array_equal(invalid_code_rows(codes), [3, 517, 999])
    assert invalid_code_rows(np.array([[-1, 0], [0, 4]], dtype=np.int8)).tolist() == [0]


def test_predict_on_zero_regions_is_an_error(model_dir, regions):
    with pytest.raises(ValueError, match=r"no regions \(n_obs == 0\): nothing to predict"):
        cs.tl.predict(regions()[:0].copy(), models=model_dir)


def test_evaluate_on_zero_regions_is_an_error(regions):
    adata = regions()[:0].copy()
    with pytest.raises(ValueError, match=r"no regions \(n_obs == 0\): nothing to evaluate"):
        cs.tl.evaluate(adata)
    assert K.UNS_METRICS not in adata.uns.get(K.UNS, {})


def test_evaluate_on_splits_without_regions_is_an_error(regions):
    with pytest.raises(ValueError, match=r"no region in split\(s\) \['test'\]"):
        cs.tl.evaluate(regions(), splits=["test"])


def test_evaluate_without_predictions_warns_and_names_unscored_models(model_dir, caplog, regions):
    adata = regions()
    adata.uns[K.UNS] = {K.UNS_MODELS: {"pretrained": {"path": str(model_dir), "kind": "pretrain"}}}
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        cs.tl.evaluate(adata, kmer_k=1)
    assert "no model predictions" in caplog.text and "models ['pretrained'] are not" in caplog.text
    assert set(adata.uns[K.UNS][K.UNS_METRICS]["kind"]) == {"baseline"}  # the baselines are still scored


def test_evaluate_warns_about_models_left_without_predictions(tmp_path, caplog, regions):
    adata = regions()
    nets = {}
    for name in ("pretrained", "other"):
        net = ChromTransfer(PRESETS["tiny"].replace(seq_len=WIDTH), generator=torch.Generator().manual_seed(0))
        nets[name] = {"path": str(save_model(net, tmp_path / name)), "kind": "pretrain", "config": net.config.to_dict()}
    adata.uns[K.UNS] = {K.UNS_MODELS: nets}
    cs.tl.predict(adata, models="pretrained")
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        cs.tl.evaluate(adata, kmer_k=1)
    assert "models ['other'] have no predictions" in caplog.text
