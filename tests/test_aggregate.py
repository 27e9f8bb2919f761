"""pp.aggregate_celltypes: a cells x peaks matrix to regions x cell types labels."""

import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import chromseq as cs
from chromseq import _keys as K

PEAKS = ["chr1:100-600", "chr1:1000-1500", "chr2:50-550"]


def peak_matrix(*, as_sparse=False) -> ad.AnnData:
    """10 cells (4 B, 6 T) x 3 peaks: peak 0 B-specific, peak 1 T-specific, peak 2 rarely open anywhere."""
    counts = np.array(
        [
            [2, 0, 0],
            [1, 0, 0],
            [3, 0, 1],
            [0, 0, 0],  # B cells: peak 0 open in 3/4
            [0, 1, 0],
            [0, 4, 0],
            [0, 1, 0],
            [1, 1, 0],
            [0, 0, 0],
            [0, 2, 0],  # T cells: peak 1 open in 5/6, peak 0 in 1/6
        ],
        dtype=np.float32,
    )
    obs = pd.DataFrame({"cell_type": ["B"] * 4 + ["T"] * 6}, index=[f"cell{i}" for i in range(10)])
    var = pd.DataFrame({"gene": ["CD19", "CD3E", "ACTB"]}, index=PEAKS)
    return ad.AnnData(sparse.csr_matrix(counts) if as_sparse else counts, obs=obs, var=var)


def test_fraction_of_cells_open_per_celltype():
    regions = cs.pp.aggregate_celltypes(peak_matrix(), "cell_type", min_cells=1)
    assert regions.shape == (3, 2) and list(regions.var_names) == ["B", "T"]
    expected = np.array([[3 / 4, 1 / 6], [0, 5 / 6], [1 / 4, 0]], dtype=np.float32)
    np.testing.assert_allclose(regions.layers[K.SIGNAL], expected)
    assert regions.var[K.N_CELLS].tolist() == [4, 6]


def test_labels_follow_the_threshold():
    regions = cs.pp.aggregate_celltypes(peak_matrix(), "cell_type", threshold=0.2, min_cells=1)
    np.testing.assert_array_equal(regions.X, [[1, 0], [0, 1], [1, 0]])
    assert regions.X.dtype == np.float32


def test_threshold_pair_leaves_ambiguous_fractions_unknown():
    regions = cs.pp.aggregate_celltypes(peak_matrix(), "cell_type", threshold=(0.1, 0.5), min_cells=1)
    np.testing.assert_array_equal(regions.X, [[1, np.nan], [0, 1], [np.nan, 0]])


def test_sparse_and_dense_counts_agree():
    dense = cs.pp.aggregate_celltypes(peak_matrix(), "cell_type", min_cells=1)
    csr = cs.pp.aggregate_celltypes(peak_matrix(as_sparse=True), "cell_type", min_cells=1)
    np.testing.assert_array_equal(dense.layers[K.SIGNAL], csr.layers[K.SIGNAL])
    np.testing.assert_array_equal(dense.X, csr.X)


def test_regions_get_chromseq_coordinates_and_annotations():
    regions = cs.pp.aggregate_celltypes(peak_matrix(), "cell_type", threshold=0.2, min_cells=1)
    assert list(regions.obs_names) == PEAKS
    assert isinstance(regions.obs[K.CHROM].dtype, pd.CategoricalDtype)
    assert regions.obs[K.START].tolist() == [100, 1000, 50] and regions.obs[K.END].dtype == np.int64
    assert regions.obs[K.OPEN].all() and not regions.obs[K.BACKGROUND].any()
    assert regions.obs["gene"].tolist() == ["CD19", "CD3E", "ACTB"]


def test_signac_style_names_and_coordinate_columns_are_read():
    cells = peak_matrix()
    cells.var_names = ["chr1-100-600", "chr1-1000-1500", "chr2-50-550"]
    assert list(cs.pp.aggregate_celltypes(cells, "cell_type", min_cells=1).obs_names) == PEAKS
    cells.var_names = ["p1", "p2", "p3"]
    cells.var["chr"], cells.var["start"], cells.var["end"] = ["chr1", "chr1", "chr2"], [100, 1000, 50], [600, 1500, 550]
    assert list(cs.pp.aggregate_celltypes(cells, "cell_type", min_cells=1).obs_names) == PEAKS


def test_cells_without_celltype_are_left_out():
    cells = peak_matrix()
    cells.obs.loc["cell0", "cell_type"] = np.nan
    regions = cs.pp.aggregate_celltypes(cells, "cell_type", min_cells=1)
    assert regions.var[K.N_CELLS].tolist() == [3, 6]
    np.testing.assert_allclose(regions.layers[K.SIGNAL][0, 0], 2 / 3)


def test_small_celltypes_are_dropped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        regions = cs.pp.aggregate_celltypes(peak_matrix(), "cell_type", min_cells=5)
    assert list(regions.var_names) == ["T"]
    np.testing.assert_allclose(regions.layers[K.SIGNAL][:, 0], [1 / 6, 5 / 6, 0])
    assert "['B']" in caplog.text


def test_celltype_order_follows_categories():
    cells = peak_matrix()
    cells.obs["cell_type"] = pd.Categorical(cells.obs["cell_type"], categories=["T", "NK", "B"])
    regions = cs.pp.aggregate_celltypes(cells, "cell_type", min_cells=1)
    assert list(regions.var_names) == ["T", "B"]
    np.testing.assert_allclose(regions.layers[K.SIGNAL][1], [5 / 6, 0])


def test_layer_is_counted_instead_of_x():
    cells = peak_matrix()
    cells.layers["binary"] = (cells.X > 0).astype(np.int8)
    cells.X = np.zeros_like(cells.X)
    regions = cs.pp.aggregate_celltypes(cells, "cell_type", layer="binary", min_cells=1)
    np.testing.assert_allclose(regions.layers[K.SIGNAL][1], [0, 5 / 6])
    assert regions.uns[K.UNS][K.UNS_PARAMS]["aggregate_celltypes"]["layer"] == "binary"


def test_result_survives_h5ad(tmp_path):
    regions = cs.pp.aggregate_celltypes(peak_matrix(), "cell_type", threshold=(0.1, 0.5), min_cells=1)
    regions.write_h5ad(tmp_path / "regions.h5ad")
    back = ad.read_h5ad(tmp_path / "regions.h5ad")
    np.testing.assert_array_equal(back.X, regions.X)
    np.testing.assert_array_equal(back.uns[K.UNS][K.UNS_PARAMS]["aggregate_celltypes"]["threshold"], [0.1, 0.5])


def test_input_is_left_alone():
    cells = peak_matrix()
    before = cells.copy()
    cs.pp.aggregate_celltypes(cells, "cell_type", min_cells=1)
    np.testing.assert_array_equal(cells.X, before.X)
    pd.testing.assert_frame_equal(cells.obs, before.obs)
    pd.testing.assert_frame_equal(cells.var, before.var)


def test_missing_groupby_names_the_columns():
    with pytest.raises(KeyError, match="cell_type"):
        cs.pp.aggregate_celltypes(peak_matrix(), "leiden")


def test_negative_values_are_rejected():
    cells = peak_matrix()
    cells.X[0, 0] = -1
    with pytest.raises(ValueError, match="negative"):
        cs.pp.aggregate_celltypes(cells, "cell_type", min_cells=1)


@pytest.mark.parametrize("threshold", [0, 1.5, (0.5, 0.1)])
def test_bad_threshold_is_rejected(threshold):
    with pytest.raises(ValueError, match="threshold"):
        cs.pp.aggregate_celltypes(peak_matrix(), "cell_type", threshold=threshold)


def test_duplicated_peaks_are_rejected():
    cells = peak_matrix()
    cells.var_names = ["chr1:100-600", "chr1-100-600", "chr2:50-550"]
    with pytest.raises(ValueError, match="duplicated"):
        cs.pp.aggregate_celltypes(cells, "cell_type", min_cells=1)


def test_unparseable_peak_names_say_how_to_fix():
    cells = peak_matrix()
    cells.var_names = ["peak1", "peak2", "peak3"]
    with pytest.raises(ValueError, match="columns 'chrom'"):
        cs.pp.aggregate_celltypes(cells, "cell_type", min_cells=1)
