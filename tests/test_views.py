"""One write rule for every verb: a view is made an actual AnnData, its parent is never changed (issue 11)."""

import numpy as np
import pytest
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq.models import PRESETS, ChromTransfer

WIDTH = 60


@pytest.fixture
def parent(make_regions):
    adata = make_regions(width=WIDTH)
    adata.uns[K.UNS] = {"note": "kept"}
    return adata


def _snapshot(adata):
    """Names of everything a verb could write: uns['chromseq'] entries (two levels), obsm keys, obs columns."""
    uns = adata.uns.get(K.UNS, {})
    nested = {k: sorted(v) if isinstance(v, dict) else type(v).__name__ for k, v in uns.items()}
    return nested, sorted(adata.obsm), list(adata.obs.columns), adata.n_obs


def _net():
    return ChromTransfer(PRESETS["tiny"].replace(seq_len=WIDTH), generator=torch.Generator().manual_seed(0))


def test_pretrain_on_a_view_leaves_the_parent_untouched(parent, tmp_path):
    before = _snapshot(parent)
    view = parent[parent.obs[K.CHROM] == "chr1"]
    cs.tl.pretrain(view, preset="tiny", max_epochs=1, batch_size=16, save_dir=tmp_path)
    assert _snapshot(parent) == before
    assert not view.is_view and "pretrained" in view.uns[K.UNS][K.UNS_MODELS]


def test_contributions_on_a_view_leave_the_parent_untouched(parent):
    before = _snapshot(parent)
    view = parent[parent.obs[K.OPEN].to_numpy()]
    cs.tl.contributions(view, model=_net(), method="grad_x_input")
    assert _snapshot(parent) == before
    scores, names = cs.tl.get_contributions(view, "ChromTransfer")
    assert scores.shape == (view.n_obs, 4, WIDTH) and list(names) == list(view.obs_names)


def test_mask_keeps_contributions_of_some_rows_in_the_whole_anndata(parent):
    mask = parent.obs[K.OPEN].to_numpy()
    cs.tl.contributions(parent, model=_net(), mask=mask, method="grad_x_input")
    _, names = cs.tl.get_contributions(parent, "ChromTransfer")
    assert list(names) == list(parent.obs_names[mask])


@pytest.mark.parametrize(
    "verb",
    [
        lambda a, d: cs.tl.evaluate(a, kmer_k=1),
        lambda a, d: cs.tl.predict(a, models=d),
        lambda a, d: cs.tl.composition_baseline(a, k=1),
    ],
    ids=["evaluate", "predict", "composition_baseline"],
)
def test_other_writing_verbs_on_a_view_leave_the_parent_untouched(parent, tmp_path, verb):
    from chromseq.models import save_model

    folder = save_model(_net(), tmp_path / "m", card={"kind": "pretrain"})
    before = _snapshot(parent)
    view = parent[: parent.n_obs // 2]
    verb(view, folder)
    assert _snapshot(parent) == before
    assert not view.is_view


def test_motifs_on_a_view_leave_the_parent_untouched():
    adata = cs.datasets.synthetic(60, width=200, random_state=0)
    ct = adata.var_names[0]
    adata.obsm[K.contrib_key(ct)] = np.random.default_rng(0).normal(size=(adata.n_obs, 4, 200)).astype(np.float32)
    before = _snapshot(adata)
    view = adata[:40]
    cs.tl.motifs(view, ct, min_metacluster_size=10**6, n_leiden_runs=1)
    assert _snapshot(adata) == before
    assert view.uns[K.UNS][K.UNS_MOTIFS][ct][K.UNS_PARAMS]["n_regions"] == 40


def test_a_view_is_made_actual_with_a_warning_naming_mask(parent, caplog):
    import logging

    view = parent[:30]
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        cs.tl.contributions(view, model=_net(), method="grad_x_input")
    assert "contributions: adata is a view" in caplog.text and "mask=" in caplog.text
