"""chromseq.io: CREsted-style AnnData (cell types x regions) to chromseq's layout and back."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import chromseq as cs
from chromseq import _keys as K

REGIONS = ["chr1:100-600", "chr1:900-1400", "chr2:0-500", "chrX:50-550", "chr2:700-1200"]


def crested_like(x=None, *, split=True) -> ad.AnnData:
    """What crested.import_beds + crested.pp.train_val_test_split give: classes x regions, var chr/start/end/split."""
    var = pd.DataFrame(
        {
            "chr": ["chr1", "chr1", "chr2", "chrX", "chr2"],
            "start": [100, 900, 0, 50, 700],
            "end": [600, 1400, 500, 550, 1200],
            "n_classes": [1, 1, 2, 0, 1],
        },
        index=REGIONS,
    )
    if split:
        var["split"] = ["train", "val", "test", "train", "train"]
    if x is None:
        x = np.array([[1, 0, 1, 0, 1], [0, 1, 1, 0, 0], [0, 0, 0, 0, 1]])
    obs = pd.DataFrame(
        {"file_path": ["beds/K562.bed", "beds/HepG2.bed", "beds/A549.bed"]}, index=["K562", "HepG2", "A549"]
    )
    adata = ad.AnnData(x, obs=obs, var=var)
    adata.varm["weights"] = np.arange(10, dtype=np.float32).reshape(5, 2)
    adata.layers["model_pred"] = np.linspace(0, 1, 15, dtype=np.float32).reshape(3, 5)
    adata.uns["crested_params"] = {"target": "mean"}
    return adata


def chromseq_like() -> ad.AnnData:
    """A regions x cell types AnnData as chromseq.pp builds it, with sequences, signal, NaN labels and a model record."""
    rng = np.random.default_rng(0)
    n, width = 6, 20
    obs = pd.DataFrame(
        {
            K.CHROM: pd.Categorical(
                ["chr2", "chr2", "chr10", "chr10", "chr2", "chr10"], categories=["chr2", "chr10", "chr11"]
            ),
            K.START: np.arange(n, dtype=np.int64) * 1000,
            K.END: np.arange(n, dtype=np.int64) * 1000 + width,
            K.OPEN: [True, True, False, True, False, False],
            K.BACKGROUND: [False, False, True, False, True, False],
            K.GC: rng.random(n).astype(np.float32),
            K.SPLIT: pd.Categorical(["train", "train", "val", "test", "train", "val"], categories=list(K.SPLITS)),
        }
    )
    obs.index = [f"{c}:{s}-{e}" for c, s, e in zip(obs[K.CHROM], obs[K.START], obs[K.END], strict=True)]
    x = np.array([[1, 0], [0, 1], [0, 0], [1, np.nan], [0, 0], [np.nan, 0]], dtype=np.float32)
    adata = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=["K562", "HepG2"]))
    adata.layers[K.SIGNAL] = rng.random((n, 2)).astype(np.float32)
    adata.obsm[K.SEQUENCE] = rng.integers(0, 5, size=(n, width), dtype=np.uint8)
    adata.uns[K.UNS] = {K.UNS_MODELS: {"pretrained": {"kind": "pretrain", "celltypes": [], "target": "open"}}}
    return adata


def assert_same(a: ad.AnnData, b: ad.AnnData) -> None:
    """Exact equality: matrices with dtype and format, annotations with dtypes and column order, uns."""
    assert sparse.issparse(a.X) == sparse.issparse(b.X)
    xa, xb = (a.X.toarray(), b.X.toarray()) if sparse.issparse(a.X) else (a.X, b.X)
    assert xa.dtype == xb.dtype
    np.testing.assert_array_equal(xa, xb)
    pd.testing.assert_frame_equal(a.obs, b.obs)
    pd.testing.assert_frame_equal(a.var, b.var)
    for name in ("obsm", "varm", "layers"):
        ma, mb = getattr(a, name), getattr(b, name)
        assert set(ma) == set(mb), name
        for key in ma:
            assert ma[key].dtype == mb[key].dtype
            np.testing.assert_array_equal(ma[key], mb[key])
    assert_uns_equal(dict(a.uns), dict(b.uns))


def assert_uns_equal(a, b):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (a, b)
        for key in a:
            assert_uns_equal(a[key], b[key])
    else:
        np.testing.assert_array_equal(a, b)


def test_from_crested_transposes_to_regions_by_celltypes():
    crested = crested_like()
    adata = cs.io.from_crested(crested)
    assert adata.shape == (5, 3)
    assert list(adata.obs_names) == REGIONS and list(adata.var_names) == ["K562", "HepG2", "A549"]
    assert adata.X.dtype == np.float32
    np.testing.assert_array_equal(adata.X, crested.X.T)
    assert isinstance(adata.obs[K.CHROM].dtype, pd.CategoricalDtype)
    assert adata.obs[K.START].dtype == np.int64 and adata.obs[K.END].dtype == np.int64
    assert list(adata.obs[K.SPLIT].cat.categories) == list(K.SPLITS)
    assert adata.obsm["weights"].shape == (5, 2) and adata.layers["model_pred"].shape == (5, 3)


def test_from_crested_marks_regions_open_in_any_celltype():
    adata = cs.io.from_crested(crested_like())
    assert adata.obs[K.OPEN].tolist() == [True, True, True, False, True]
    assert not adata.obs[K.BACKGROUND].any()


@pytest.mark.parametrize("as_sparse", [False, True], ids=["dense-int", "csr-float"])
def test_crested_round_trip_is_exact(as_sparse):
    crested = crested_like()
    if as_sparse:
        crested.X = sparse.csr_matrix(crested.X.astype(np.float32))
    assert_same(cs.io.to_crested(cs.io.from_crested(crested)), crested)


def test_chromseq_round_trip_is_exact():
    adata = chromseq_like()
    crested = cs.io.to_crested(adata)
    assert crested.shape == (2, 6)
    assert crested.var["chr"].tolist() == adata.obs[K.CHROM].astype(str).tolist()
    assert crested.varm[K.SEQUENCE].shape == (6, 20)
    assert_same(cs.io.from_crested(crested), adata)


def test_to_crested_layer_puts_signal_in_x_and_keeps_labels():
    adata = chromseq_like()
    crested = cs.io.to_crested(adata, layer=K.SIGNAL)
    np.testing.assert_array_equal(crested.X, adata.layers[K.SIGNAL].T)
    np.testing.assert_array_equal(crested.layers[K.CRESTED_LABELS], adata.X.T)
    assert K.SIGNAL not in crested.layers
    assert_same(cs.io.from_crested(crested), adata)


def test_from_crested_keeps_continuous_x_as_quantitative_targets():
    signal = np.array(
        [[0.1, 5.0, 2.5, 0.0, 7.0], [3.0, 0.2, np.nan, 0.1, 1.0], [0.0, 0.0, 9.0, 0.0, 0.5]], dtype=np.float32
    )
    crested = crested_like(signal)
    adata = cs.io.from_crested(crested)
    np.testing.assert_array_equal(adata.X, signal.T)
    assert K.OPEN not in adata.obs and K.SIGNAL not in adata.layers  # no region is open or closed
    assert_same(cs.io.to_crested(adata), crested)
    inf = signal.copy()
    inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinite values"):
        cs.io.from_crested(crested_like(inf))


def test_a_crested_peak_regression_object_trains_a_regression_model(tmp_path):
    """CREsted's import_bigwigs layout (continuous X) -> from_crested -> tl.train detects regression."""
    data = cs.datasets.synthetic(n_regions=240, width=100, celltypes=["K562", "HepG2"], target="dosage", random_state=0)
    crested = cs.io.to_crested(data)
    del crested.uns[K.UNS]  # as CREsted made it, without chromseq's conversion record
    adata = cs.io.from_crested(crested)
    cs.tl.train(adata, "K562", preset="tiny", max_epochs=1, batch_size=32, save_dir=tmp_path)
    record = adata.uns[K.UNS][K.UNS_MODELS]["scratch_K562"]
    assert record["task"] == "regression" and record["loss"] == "mse"


def test_from_crested_threshold_labels_signal_and_keeps_nan():
    signal = np.array(
        [[0.1, 5.0, np.nan, 0.0, 7.0], [3.0, 0.2, 0.0, 0.1, 1.0], [0.0, 0.0, 9.0, 0.0, 0.5]], dtype=np.float32
    )
    adata = cs.io.from_crested(crested_like(signal), threshold=1.0)
    np.testing.assert_array_equal(adata.layers[K.SIGNAL], signal.T)
    expected = np.where(np.isnan(signal), np.nan, signal >= 1.0).T
    np.testing.assert_array_equal(adata.X, expected.astype(np.float32))


def test_thresholded_round_trip_gives_back_the_signal_only():
    crested = crested_like(np.array([[0.1, 5, 2.5, 0, 7], [3, 0.2, 0, 0.1, 1], [0, 0, 9, 0, 0.5]], dtype=np.float32))
    assert_same(cs.io.to_crested(cs.io.from_crested(crested, threshold=1.0)), crested)


def test_edited_labels_survive_the_trip_to_crested():
    crested = crested_like(np.array([[0.1, 5, 2.5, 0, 7], [3, 0.2, 0, 0.1, 1], [0, 0, 9, 0, 0.5]], dtype=np.float32))
    adata = cs.io.from_crested(crested, threshold=1.0)
    adata.X[0, 0] = np.nan  # a user marks a label unknown: it is no longer signal >= threshold
    back = cs.io.to_crested(adata)
    np.testing.assert_array_equal(back.layers[K.CRESTED_LABELS], adata.X.T)


def test_from_crested_parses_coordinates_from_var_names():
    crested = crested_like(split=False)
    crested.var = crested.var.drop(columns=["chr", "start", "end"])
    adata = cs.io.from_crested(crested)
    assert adata.obs[K.START].tolist() == [100, 900, 0, 50, 700]
    assert adata.obs[K.CHROM].tolist() == ["chr1", "chr1", "chr2", "chrX", "chr2"]
    assert_same(cs.io.to_crested(adata), crested)


def test_from_crested_leaves_its_input_alone():
    crested = crested_like()
    before = crested.copy()
    cs.io.from_crested(crested)
    assert_same(crested, before)


def test_conversion_record_survives_h5ad(tmp_path):
    crested = crested_like()
    cs.io.from_crested(crested).write_h5ad(tmp_path / "regions.h5ad")
    back = cs.io.to_crested(ad.read_h5ad(tmp_path / "regions.h5ad"))
    np.testing.assert_array_equal(back.X, crested.X)
    pd.testing.assert_frame_equal(back.var, crested.var, check_dtype=False)
    assert back.X.dtype == crested.X.dtype and K.UNS not in back.uns


def test_from_crested_rejects_chromseq_layout():
    with pytest.raises(ValueError, match="to_crested"):
        cs.io.from_crested(chromseq_like())


def test_from_crested_rejects_unknown_split_values():
    crested = crested_like()
    crested.var["split"] = ["train", "holdout", "test", "train", "train"]
    with pytest.raises(ValueError, match="holdout"):
        cs.io.from_crested(crested)


def test_from_crested_rejects_inverted_regions():
    crested = crested_like()
    crested.var["end"] = crested.var["start"]
    with pytest.raises(ValueError, match="end <= start"):
        cs.io.from_crested(crested)


def test_to_crested_needs_coordinates():
    adata = chromseq_like()
    del adata.obs[K.START]
    with pytest.raises(KeyError, match="start"):
        cs.io.to_crested(adata)


def test_to_crested_rejects_unknown_layer():
    with pytest.raises(KeyError, match="counts"):
        cs.io.to_crested(chromseq_like(), layer="counts")
