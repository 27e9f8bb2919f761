"""Cross-validated ``tl.transfer_benchmark``: folds of whole chromosome blocks, every region scored out of fold."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from anndata import AnnData

import chromseq as cs
from chromseq import _keys as K
from chromseq.tl import _transfer_cv, _transfer_runs
from chromseq.tl._crossval import assign_folds, fold_split, fold_units
from chromseq.tl._transfer import transfer_benchmark

matplotlib.use("Agg")

FAST = {"max_epochs": 1, "batch_size": 64}
CV = 3


def _spread_k562() -> "cs.AnnData":
    """~360 real chr20 regions (200 bp) spread along the chromosome: K562 positives, negatives, background."""
    full = cs.datasets.chromtransfer_chr20(celltypes=["K562"], width=200)
    rng = np.random.default_rng(1)
    y, bg = full.X[:, 0], full.obs[K.BACKGROUND].to_numpy()
    picked = [
        rng.choice(np.flatnonzero(mask), n, replace=False) for mask, n in ((y == 1, 90), (y == 0, 150), (bg, 120))
    ]
    return full[np.sort(np.concatenate(picked))].copy()


def test_folds_keep_blocks_whole_and_balanced():
    obs = pd.DataFrame({"chrom": "chr20", "start": np.arange(0, 30_000_000, 10_000), "end": 0})
    obs["end"] = obs["start"] + 600
    adata = AnnData(obs=obs.set_axis(obs.index.astype(str)))
    units, kind = fold_units(adata, 5, block_size=1_000_000)
    folds = assign_folds(units, 5, random_state=0)
    assert kind == "block" and len(np.unique(units)) == 30
    assert all(len(np.unique(folds[units == u])) == 1 for u in np.unique(units))  # a block is never split
    assert np.bincount(folds).tolist() == [600] * 5
    assert not np.array_equal(folds, assign_folds(units, 5, random_state=1))  # seeded dealing
    assert np.array_equal(folds, assign_folds(units, 5, random_state=0))


def test_whole_chromosomes_are_the_units_when_there_are_enough():
    obs = pd.DataFrame({"chrom": np.repeat([f"chr{i}" for i in range(1, 7)], 10), "start": 0, "end": 600})
    adata = AnnData(obs=obs.set_axis(obs.index.astype(str)))
    units, kind = fold_units(adata, 3)
    assert kind == "chromosome" and set(units) == {f"chr{i}" for i in range(1, 7)}


def test_no_region_or_block_is_both_trained_on_and_scored():
    units = np.repeat([f"chr20:{i}" for i in range(40)], 25)
    folds = assign_folds(units, 5, random_state=0)
    for fold in range(5):
        split = np.asarray(fold_split(units, folds, fold, val_fraction=0.1, random_state=0))
        assert np.array_equal(split == "test", folds == fold)
        assert set(units[split == "test"]).isdisjoint(units[split != "test"])
        assert set(units[split == "val"]).isdisjoint(units[split == "train"])
        assert 0.05 < (split == "val").sum() / (split != "test").sum() < 0.2


def test_bad_fold_counts_raise():
    units = np.repeat(["chr20:0", "chr20:1"], 5)
    with pytest.raises(ValueError, match="at least as many"):
        assign_folds(units, 3)
    with pytest.raises(ValueError, match="cv must be an int >= 2"):
        assign_folds(units, 1)


@pytest.fixture(scope="module")
def cross_validated(tmp_path_factory):
    adata = _spread_k562()
    seen = {"pretrain": [], "runs": []}
    real_pretrain, real_finetune, real_train = _transfer_cv.pretrain, _transfer_runs.finetune, _transfer_runs.train

    def spy(store, real):
        def wrapped(work, *args, **kwargs):
            store.append(work.obs[K.SPLIT].astype(str).to_numpy().copy())
            return real(work, *args, **kwargs)

        return wrapped

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_transfer_cv, "pretrain", spy(seen["pretrain"], real_pretrain))
        mp.setattr(_transfer_runs, "finetune", spy(seen["runs"], real_finetune))
        mp.setattr(_transfer_runs, "train", spy(seen["runs"], real_train))
        save_dir = tmp_path_factory.mktemp("cv_models")
        transfer_benchmark(
            adata, "K562", fractions=[1.0, 0.5], preset="fast", cv=CV, block_size=5_000_000, n_boot=200,
            save_dir=save_dir, **FAST,
        )  # fmt: skip
    return adata, seen


def test_pretraining_and_runs_never_see_the_scored_fold(cross_validated):
    adata, seen = cross_validated
    params = adata.uns[K.UNS][K.UNS_PARAMS][K.UNS_TRANSFER]
    units, _ = fold_units(adata, CV, block_size=5_000_000)
    folds = assign_folds(units, CV, random_state=0)
    assert len(seen["pretrain"]) == CV and params["cv"] == CV  # one pretraining per fold
    for fold, split in enumerate(seen["pretrain"]):
        assert np.array_equal(split == "test", folds == fold)  # the fold is only ever the test split
    assert len(seen["runs"]) == CV * 2 * 2  # per fold: 2 fractions x (finetune, scratch)
    for split in seen["runs"]:
        assert any(np.array_equal(split == "test", folds == f) for f in range(CV))
    assert np.array_equal(np.asarray(adata.obs[K.SPLIT]), np.asarray(_spread_k562().obs[K.SPLIT]))  # untouched


def test_every_labelled_region_is_scored_once_per_run(cross_validated):
    adata, _ = cross_validated
    table = adata.uns[K.UNS][K.UNS_TRANSFER]
    n_labelled = int((~np.isnan(adata.X[:, 0])).sum())
    per_run = table.groupby(["kind", "fraction"])["n"].sum()
    assert (per_run == n_labelled).all() and sorted(table["fold"].unique()) == list(range(CV))


def test_intervals_cover_methods_and_paired_differences(cross_validated, tmp_path):
    adata, _ = cross_validated
    intervals = adata.uns[K.UNS][f"{K.UNS_TRANSFER}_intervals"]
    kinds = {"finetune", "scratch", "baseline_gc", "baseline_kmer", "finetune-scratch", "finetune-best_baseline"}
    assert kinds <= set(intervals["kind"]) and set(intervals["celltype"]) == {"K562", "mean"}
    assert (intervals["lower"] <= intervals["estimate"]).all() and (intervals["estimate"] <= intervals["upper"]).all()
    row = intervals.set_index(["celltype", "fraction", "kind"])["estimate"]
    diff = row["K562", 1.0, "finetune"] - row["K562", 1.0, "scratch"]
    assert row["K562", 1.0, "finetune-scratch"] == pytest.approx(diff)
    axes = cs.pl.transfer_intervals(adata, differences=True, show=False, save=tmp_path / "ci.png")
    assert len(axes) == 2 and (tmp_path / "ci.png").stat().st_size > 0


def test_cv_refuses_a_body_pretrained_on_every_fold(cross_validated):
    adata, _ = cross_validated
    adata = adata.copy()
    adata.uns[K.UNS].setdefault(K.UNS_MODELS, {})["pretrained"] = {}
    with pytest.raises(ValueError, match="has seen every fold"):
        transfer_benchmark(adata, "K562", cv=CV, preset="fast", **FAST)
