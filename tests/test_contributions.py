"""tl.contributions: DeepLIFT/SHAP, ISM and gradient x input through tangermeme, written into AnnData."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pytest
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import one_hot
from chromseq.models import PRESETS, ChromTransfer, save_model


def _tiny_network(outputs=("open",), head="pretrain", seed=0) -> ChromTransfer:
    """The tiny ChromTransfer network with random weights and non-trivial batch-norm statistics."""
    g = torch.Generator().manual_seed(seed)
    model = ChromTransfer(PRESETS["tiny"].replace(outputs=tuple(outputs), head=head), generator=g)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.3, 0.3, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.uniform_(-0.3, 0.3, generator=g)
    return model.eval()


@pytest.fixture(scope="module")
def _synth():
    return cs.datasets.synthetic(40, width=100, random_state=0)


@pytest.fixture
def synth(_synth):
    return _synth.copy()


@pytest.fixture(scope="module")
def net():
    return _tiny_network()


@pytest.fixture
def registered(synth, tmp_path):
    """synth with a fine-tuned single-head HepG2 model recorded the way tl.finetune records it."""
    path = save_model(_tiny_network(("HepG2",), "finetune", seed=1), tmp_path / "finetuned_HepG2")
    cs._validate.uns_chromseq(synth)[K.UNS_MODELS] = {
        "finetuned_HepG2": {
            "kind": "finetune",
            "celltypes": ["HepG2"],
            "outputs": ["HepG2"],
            "target": "HepG2",
            "path": str(path),
            "preset": "tiny",
            "fingerprint": "abc",
            "base": "pretrained",
        }
    }
    return synth


def _references_mean_logit(model, X, n_shuffles, seed):
    from tangermeme.ersatz import dinucleotide_shuffle

    with torch.no_grad():
        refs = [dinucleotide_shuffle(X, n=1, random_state=[seed + k] * len(X))[:, 0] for k in range(n_shuffles)]
        return torch.stack([model(r)[:, 0] for r in refs]).mean(0).numpy()


def test_deep_lift_shap_sums_to_delta_on_chromtransfer(synth, net):
    # BatchNorm, ReLU, residual additions, concatenation and global average pooling: all exact in DeepLIFT
    synth = synth[:16].copy()
    cs.tl.contributions(synth, model=net, n_shuffles=4, random_state=3)
    hyp, _ = cs.tl.get_contributions(synth, "ChromTransfer")
    X = one_hot(synth.obsm[K.SEQUENCE])
    total = (hyp * X.numpy()).sum(axis=(1, 2))
    with torch.no_grad():
        delta = net(X)[:, 0].numpy() - _references_mean_logit(net, X, 4, seed=3)
    assert np.abs(delta).mean() > 1e-3  # the check is not vacuous
    np.testing.assert_allclose(total, delta, atol=1e-5 + 1e-3 * np.abs(delta).mean())


def test_default_model_is_the_celltypes_finetuned_model(registered):
    cs.tl.contributions(registered, "HepG2", method="grad_x_input")
    params = registered.uns[K.UNS][K.UNS_CONTRIB]["HepG2"]
    assert params["model"] == "finetuned_HepG2"
    assert cs.tl.get_contributions(registered, "HepG2")[0].shape == (registered.n_obs, 4, 100)


def test_missing_finetuned_model_names_the_fix_and_writes_nothing(registered):
    before = set(registered.obsm)
    with pytest.raises(KeyError, match=r"chromseq\.tl\.finetune\(adata, celltype='K562'\)"):
        cs.tl.contributions(registered, "K562")
    assert set(registered.obsm) == before
    assert K.UNS_CONTRIB not in registered.uns[K.UNS]


def test_mask_writes_into_the_whole_anndata_only_the_rows_computed(synth, net):
    mask = synth.obs[K.OPEN].to_numpy()
    cs.tl.contributions(synth, model=net, mask=mask, method="grad_x_input")
    scores, names = cs.tl.get_contributions(synth, "ChromTransfer")
    assert scores.shape == (mask.sum(), 4, 100) and np.isfinite(scores).all()
    assert list(names) == list(synth.obs_names[mask])
    assert synth.uns[K.UNS][K.UNS_CONTRIB]["ChromTransfer"]["n_computed"] == mask.sum()
    assert not [k for k in synth.obsm if k.startswith(K.CONTRIB_PREFIX)]  # no dense NaN array


def test_second_selection_with_same_method_keeps_earlier_rows(synth, net):
    half = np.arange(synth.n_obs) < synth.n_obs // 2
    cs.tl.contributions(synth, model=net, mask=half, method="grad_x_input")
    cs.tl.contributions(synth, model=net, mask=~half, method="grad_x_input")
    scores, names = cs.tl.get_contributions(synth, "ChromTransfer")
    assert list(names) == list(synth.obs_names) and np.isfinite(scores).all()


def test_other_method_replaces_the_field(synth, net):
    first, second = np.arange(synth.n_obs) < 3, np.arange(synth.n_obs) >= synth.n_obs - 2
    cs.tl.contributions(synth, model=net, mask=first, method="grad_x_input")
    cs.tl.contributions(synth, model=net, mask=second, method="ism")
    _, names = cs.tl.get_contributions(synth, "ChromTransfer")
    assert list(names) == list(synth.obs_names[second])
    assert synth.uns[K.UNS][K.UNS_CONTRIB]["ChromTransfer"]["method"] == "ism"


def test_empty_selection_raises_and_writes_nothing(synth, net):
    with pytest.raises(ValueError, match="selection is empty"):
        cs.tl.contributions(synth, model=net, mask=np.zeros(synth.n_obs, bool))
    assert K.UNS_CONTRIB not in synth.uns.get(K.UNS, {})


def test_batch_size_does_not_change_deep_lift_shap(synth, net):
    a = cs.tl.contributions(synth[:6].copy(), model=net, n_shuffles=3, batch_size=2, copy=True)
    b = cs.tl.contributions(synth[:6].copy(), model=net, n_shuffles=3, batch_size=64, copy=True)
    np.testing.assert_allclose(
        cs.tl.get_contributions(a, "ChromTransfer")[0], cs.tl.get_contributions(b, "ChromTransfer")[0], atol=1e-6
    )


def test_random_state_changes_references(synth, net):
    a = cs.tl.contributions(synth[:4].copy(), model=net, n_shuffles=2, random_state=0, copy=True)
    b = cs.tl.contributions(synth[:4].copy(), model=net, n_shuffles=2, random_state=1, copy=True)
    assert not np.allclose(
        cs.tl.get_contributions(a, "ChromTransfer")[0], cs.tl.get_contributions(b, "ChromTransfer")[0]
    )


def test_ism_scores_are_logit_changes_of_substitutions(synth, net):
    sub = cs.tl.contributions(synth[:2].copy(), model=net, method="ism", copy=True)
    hyp, _ = cs.tl.get_contributions(sub, "ChromTransfer")
    codes = sub.obsm[K.SEQUENCE].copy()
    pos, base = 37, (int(codes[0, 37]) + 1) % 4
    mutant = codes[:1].copy()
    mutant[0, pos] = base
    with torch.no_grad():
        change = (net(one_hot(mutant)) - net(one_hot(codes[:1])))[0, 0].item()
    np.testing.assert_allclose(hyp[0, base, pos] - hyp[0, codes[0, pos], pos], change, rtol=1e-3, atol=1e-6)


def test_grad_x_input_is_the_centred_gradient(synth, net):
    sub = cs.tl.contributions(synth[:3].copy(), model=net, method="grad_x_input", copy=True)
    X = one_hot(sub.obsm[K.SEQUENCE]).requires_grad_()
    (grad,) = torch.autograd.grad(net(X)[:, 0].sum(), X)
    expected = (grad - grad.mean(dim=1, keepdim=True)).numpy()
    np.testing.assert_allclose(cs.tl.get_contributions(sub, "ChromTransfer")[0], expected, atol=1e-6)


def test_regions_with_n_are_left_out_for_deep_lift_shap(synth, net, caplog):
    synth.obsm[K.SEQUENCE][1, 10:20] = 4
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        sub = cs.tl.contributions(synth[:4].copy(), model=net, n_shuffles=2, copy=True)
    _, names = cs.tl.get_contributions(sub, "ChromTransfer")
    assert list(names) == list(sub.obs_names[[0, 2, 3]])
    assert "contain N" in caplog.text


def test_float16_storage_and_h5ad_round_trip(synth, net, tmp_path):
    cs.tl.contributions(synth, model=net, method="grad_x_input", dtype="float16", mask=K.OPEN)
    synth.write_h5ad(tmp_path / "c.h5ad")
    back = ad.read_h5ad(tmp_path / "c.h5ad")
    stored = back.uns[K.UNS][K.UNS_CONTRIB]["ChromTransfer"][K.CONTRIB_SCORES]
    assert stored.dtype == np.float16 and len(stored) == synth.obs[K.OPEN].sum()
    (a, names_a), (b, names_b) = (
        cs.tl.get_contributions(back, "ChromTransfer"),
        cs.tl.get_contributions(synth, "ChromTransfer"),
    )
    np.testing.assert_array_equal(a, b)
    assert list(names_a) == list(names_b) == list(synth.obs_names[synth.obs[K.OPEN]])
    assert back.uns[K.UNS][K.UNS_CONTRIB]["ChromTransfer"]["method"] == "grad_x_input"


def test_unknown_method_is_rejected(synth, net):
    with pytest.raises(ValueError, match="method='shap'"):
        cs.tl.contributions(synth, model=net, method="shap")


def test_subsets_keep_their_own_regions_scores(synth, net, tmp_path):
    # obs-name rows follow the regions through subsetting, reordering and a file round trip
    mask = synth.obs[K.OPEN].to_numpy()
    cs.tl.contributions(synth, model=net, method="grad_x_input", mask=mask)
    full, names = cs.tl.get_contributions(synth, "ChromTransfer")
    sub = synth[::-1][:25].copy()
    sub.write_h5ad(tmp_path / "sub.h5ad")
    back = ad.read_h5ad(tmp_path / "sub.h5ad")
    scores, got = cs.tl.get_contributions(back, "ChromTransfer")
    expected = [n for n in sub.obs_names if n in set(names)]
    assert list(got) == expected and len(expected) > 0
    np.testing.assert_array_equal(scores, full[names.get_indexer(expected)])
    one, which = cs.tl.get_contributions(back, "ChromTransfer", regions=expected[-1])
    np.testing.assert_array_equal(one[0], full[names.get_loc(expected[-1])])
    with pytest.raises(KeyError, match="not computed for region"):
        cs.tl.get_contributions(back, "ChromTransfer", regions=[str(sub.obs_names[~sub.obs[K.OPEN].to_numpy()][0])])


def test_h5ad_holds_only_the_rows_computed(synth, net, tmp_path):
    few = np.arange(synth.n_obs) < 3
    cs.tl.contributions(synth, model=net, method="grad_x_input", mask=few)
    synth.write_h5ad(tmp_path / "c.h5ad")
    import h5py

    with h5py.File(tmp_path / "c.h5ad") as f:
        stored = f[f"uns/{K.UNS}/{K.UNS_CONTRIB}/ChromTransfer/{K.CONTRIB_SCORES}"]
        assert stored.shape == (3, 4, 100)
        assert not [k for k in f["obsm"] if k.startswith(K.CONTRIB_PREFIX)]


def test_legacy_dense_obsm_is_read_and_folded_in(synth, net):
    # AnnData files written by earlier chromseq: dense obsm['contrib_<name>'], NaN rows not computed
    dense = np.full((synth.n_obs, 4, 100), np.nan, np.float32)
    dense[:2] = 1.0
    synth.obsm[K.contrib_key("ChromTransfer")] = dense
    params = {"method": "grad_x_input", "model": "ChromTransfer", "output": 0, "width": 100}
    cs._validate.uns_chromseq(synth)[K.UNS_CONTRIB] = {"ChromTransfer": params}
    scores, names = cs.tl.get_contributions(synth, "ChromTransfer")
    assert list(names) == list(synth.obs_names[:2]) and (scores == 1).all()
    cs.tl.contributions(synth, model=net, method="grad_x_input", mask=np.arange(synth.n_obs) == 5)
    _, names = cs.tl.get_contributions(synth, "ChromTransfer")
    assert list(names) == list(synth.obs_names[[0, 1, 5]])
    assert K.contrib_key("ChromTransfer") not in synth.obsm


def test_duplicate_obs_names_are_rejected(synth, net):
    synth.obs_names = ["r"] * synth.n_obs
    with pytest.raises(ValueError, match="obs_names_make_unique"):
        cs.tl.contributions(synth, model=net, method="grad_x_input")
