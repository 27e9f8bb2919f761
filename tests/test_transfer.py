"""``tl.transfer_benchmark``: the fine-tune vs. scratch table on shrinking training data, and its plot."""

import matplotlib
import numpy as np
import pytest

import chromseq as cs
from chromseq import _keys as K
from chromseq.tl._transfer import TABLE_COLUMNS, transfer_benchmark

matplotlib.use("Agg")

FRACTIONS = [1.0, 0.5]
KINDS = {"finetune", "scratch", "baseline_gc", "baseline_kmer"}
FAST = {"max_epochs": 1, "batch_size": 64}


def _small_k562() -> "cs.AnnData":
    """~300 real chr20 regions (200-bp windows): per split, K562 positives, negatives and background windows."""
    full = cs.datasets.chromtransfer_chr20(celltypes=["K562"], width=200)
    rng = np.random.default_rng(0)
    y, split, bg = full.X[:, 0], full.obs[K.SPLIT].to_numpy(), full.obs[K.BACKGROUND].to_numpy()
    picked = []
    for name, n in (("train", 120), ("val", 40), ("test", 40)):
        in_split = split == name
        for mask, size in ((y == 1, n // 4), (y == 0, n - n // 4), (bg, n // 2)):
            picked.append(rng.choice(np.flatnonzero(in_split & mask), size, replace=False))
    return full[np.sort(np.concatenate(picked))].copy()


@pytest.fixture(scope="module")
def _benchmarked(tmp_path_factory):
    adata = _small_k562()
    save_dir = tmp_path_factory.mktemp("transfer_models")
    transfer_benchmark(adata, "K562", fractions=FRACTIONS, preset="tiny", save_dir=save_dir, **FAST)
    return adata, save_dir


@pytest.fixture
def benchmarked(_benchmarked):
    adata, save_dir = _benchmarked
    return adata.copy(), save_dir


def test_table_has_one_row_per_fraction_and_kind(benchmarked):
    table = benchmarked[0].uns[K.UNS][K.UNS_TRANSFER]
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert len(table) == len(FRACTIONS) * len(KINDS)
    assert set(table["kind"]) == KINDS and sorted(set(table["fraction"])) == sorted(FRACTIONS)
    assert (table["celltype"] == "K562").all() and (table["split"] == "test").all()


def test_runs_share_training_rows_and_test_rows(benchmarked):
    table = benchmarked[0].uns[K.UNS][K.UNS_TRANSFER]
    n_train = table.groupby("fraction")["n_train"].unique()
    assert n_train[1.0].tolist() == [120] and n_train[0.5].tolist() == [60]  # same subsample for every kind
    assert table.groupby("fraction")["n_train_pos"].nunique().eq(1).all()
    assert (table["n"] == 40).all() and (table["n_pos"] == 10).all()  # labelled test regions only
    assert table["auroc"].between(0, 1).all()


def test_models_record_their_training(benchmarked):
    table = benchmarked[0].uns[K.UNS][K.UNS_TRANSFER]
    trained = table[table["kind"].isin(["finetune", "scratch"])]
    assert (trained["epochs"] == 1).all() and (trained["seconds"] > 0).all()
    assert table.loc[table["kind"].str.startswith("baseline"), "epochs"].isna().all()


def test_pretrained_model_is_recorded_and_run_models_are_not_kept(benchmarked):
    adata, save_dir = benchmarked
    assert list(adata.uns[K.UNS][K.UNS_MODELS]) == ["pretrained"]
    assert sorted(p.name for p in save_dir.iterdir()) == ["pretrained"]
    assert adata.uns[K.UNS][K.UNS_PARAMS][K.UNS_TRANSFER]["fractions"] == FRACTIONS


def test_table_survives_h5ad_and_plots(benchmarked, tmp_path):
    import anndata as ad

    adata, _ = benchmarked
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    panel = cs.pl.transfer_curve(back, "auroc", show=False, save=tmp_path / "transfer.png")
    assert panel.get_title() == "K562" and len(panel.containers) == len(KINDS)
    assert (tmp_path / "transfer.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fractions": [0.0]}, ValueError, r"\(0, 1\]"),
        ({"split": "holdout"}, ValueError, "holdout"),
        ({"celltype": "T-cell"}, KeyError, "K562"),
        ({"options": {"patience": 3}}, TypeError, "TrainingOptions"),
    ],
)
def test_bad_input_raises_before_anything_is_written(benchmarked, kwargs, error, match):
    adata, save_dir = benchmarked
    before = set(adata.uns[K.UNS])
    del adata.uns[K.UNS][K.UNS_TRANSFER]
    call = {"celltype": "K562", **kwargs}
    with pytest.raises(error, match=match):
        transfer_benchmark(adata, call.pop("celltype"), save_dir=save_dir, **call, **FAST)
    assert set(adata.uns[K.UNS]) == before - {K.UNS_TRANSFER}
