"""Quantitative targets (issue 22): aggregate without threshold, values from region files, normalize_targets."""

from __future__ import annotations

import copy

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import chromseq as cs
from chromseq import _keys as K
from chromseq import store
from chromseq.cli import main

NARROWPEAK = [  # chrom start end name score strand signalValue pValue qValue summit
    "chr20\t1000\t1400\tp0\t50\t.\t5.5\t3\t2\t200",
    "chr20\t1100\t1500\tp1\t60\t.\t7.25\t4\t2\t150",  # summit inside p0's consensus region: max 7.25
    "chr20\t9000\t9400\tp2\t10\t.\t2\t1\t1\t100",
]
OTHER = ["chr20\t9100\t9500\tq0\t80\t.\t3.5\t-1\t-1\t100"]  # pValue/qValue -1: not assigned


def quantities(seed: int = 0, n: int = 40, nan: bool = True) -> ad.AnnData:
    """Regions x 3 cell types of counts-like values (no ties), a few NaN."""
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, [1.0, 5.0, 20.0], size=(n, 3)).astype(np.float32)
    if nan:
        x[[3, 7], 0] = np.nan
        x[11, 2] = np.nan
    return ad.AnnData(x, var=pd.DataFrame(index=["A", "B", "C"]), obs=pd.DataFrame(index=[f"r{i}" for i in range(n)]))


def snapshot(adata: ad.AnnData) -> dict:
    return {
        "X": np.array(adata.X, copy=True),
        "layers": {k: np.array(v, copy=True) for k, v in adata.layers.items()},
        "uns": copy.deepcopy(dict(adata.uns)),
    }


def assert_unchanged(adata: ad.AnnData, before: dict) -> None:
    np.testing.assert_array_equal(adata.X, before["X"])
    assert set(adata.layers) == set(before["layers"])
    for k, v in before["layers"].items():
        np.testing.assert_array_equal(adata.layers[k], v)
    assert dict(adata.uns) == before["uns"]


# ----------------------------------------------------------------------------- normalize_targets: the numbers


def test_cpm_columns_sum_to_a_million_over_known_rows_and_keep_nan():
    adata = quantities()
    nan = np.isnan(adata.X)
    cs.pp.normalize_targets(adata, "cpm")
    np.testing.assert_allclose(np.nansum(adata.X, axis=0), 1e6, rtol=1e-5)
    np.testing.assert_array_equal(np.isnan(adata.X), nan)
    assert adata.X.dtype == np.float32


def test_log1p_and_cpm_log1p_are_what_they_say():
    raw = quantities()
    cpm = raw.X / np.nansum(raw.X, axis=0) * 1e6
    log = cs.pp.normalize_targets(raw, "log1p", copy=True)
    both = cs.pp.normalize_targets(raw, "cpm_log1p", copy=True)
    np.testing.assert_allclose(log.X, np.log1p(raw.X), rtol=1e-6)
    np.testing.assert_allclose(both.X, np.log1p(cpm), rtol=1e-5)


def test_quantile_gives_every_cell_type_the_same_distribution():
    adata = quantities(nan=False)
    order = np.argsort(adata.X, axis=0)
    cs.pp.normalize_targets(adata, "quantile")
    columns = np.sort(adata.X, axis=0)
    np.testing.assert_allclose(columns[:, 0], columns[:, 1], rtol=1e-6)
    np.testing.assert_allclose(columns[:, 0], columns[:, 2], rtol=1e-6)
    np.testing.assert_array_equal(np.argsort(adata.X, axis=0), order)  # each cell type keeps its ranking


def test_quantile_with_unknown_values_keeps_nan_and_the_order():
    adata = quantities()
    raw = np.array(adata.X)
    cs.pp.normalize_targets(adata, "quantile")
    np.testing.assert_array_equal(np.isnan(adata.X), np.isnan(raw))
    for j in range(3):
        known = ~np.isnan(raw[:, j])
        np.testing.assert_array_equal(np.argsort(adata.X[known, j]), np.argsort(raw[known, j]))
    # the extremes of every cell type are the common distribution's extremes
    np.testing.assert_allclose(np.nanmin(adata.X, axis=0), np.nanmin(adata.X), rtol=1e-6)
    np.testing.assert_allclose(np.nanmax(adata.X, axis=0), np.nanmax(adata.X), rtol=1e-6)


def test_rank_is_in_zero_one_with_ties_averaged():
    adata = ad.AnnData(np.array([[1.0, 5.0], [3.0, 5.0], [2.0, np.nan], [3.0, 1.0]], dtype=np.float32))
    cs.pp.normalize_targets(adata, "rank")
    np.testing.assert_allclose(adata.X[:, 0], [0.0, 5 / 6, 1 / 3, 5 / 6], rtol=1e-6)  # ranks 1, 3.5, 2, 3.5 of 4
    np.testing.assert_allclose(adata.X[[0, 1, 3], 1], [0.75, 0.75, 0.0], rtol=1e-6)
    assert np.isnan(adata.X[2, 1])


def test_zscore_has_mean_zero_and_unit_sd_per_cell_type():
    adata = quantities()
    cs.pp.normalize_targets(adata, "zscore")
    np.testing.assert_allclose(np.nanmean(adata.X, axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(np.nanstd(adata.X, axis=0), 1, rtol=1e-5)


def test_sparse_counts_layer_is_normalized_into_dense_float32():
    from scipy import sparse

    adata = quantities(nan=False)
    adata.layers["counts"] = sparse.csr_matrix(np.round(adata.X))
    cs.pp.normalize_targets(adata, "cpm", layer="counts")
    assert isinstance(adata.layers["counts"], np.ndarray) and adata.layers["counts"].dtype == np.float32
    np.testing.assert_allclose(adata.layers["counts"].sum(axis=0), 1e6, rtol=1e-5)


# ----------------------------------------------------------------------------- where it writes, what it records


def test_key_added_writes_a_layer_and_never_changes_the_source():
    adata = quantities()
    raw = np.array(adata.X)
    cs.pp.normalize_targets(adata, "cpm_log1p", key_added="norm")
    np.testing.assert_array_equal(adata.X, raw)
    np.testing.assert_allclose(adata.layers["norm"], np.log1p(raw / np.nansum(raw, axis=0) * 1e6), rtol=1e-5)
    record = adata.uns[K.UNS][K.UNS_TRANSFORMS]["norm"]
    assert record["method"] == "cpm_log1p" and record["source"] == "X" and list(record["steps"]) == ["cpm", "log1p"]
    assert "X" not in adata.uns[K.UNS][K.UNS_TRANSFORMS]
    assert store.target_transform(adata, "") == ""  # X is as read


def test_layer_is_normalized_in_place_and_x_is_left_alone():
    adata = quantities()
    adata.layers["signal"] = np.array(adata.X) * 2
    labels = (np.nan_to_num(adata.X) > 2).astype(np.float32)
    adata.X = labels
    cs.pp.normalize_targets(adata, "zscore", layer="signal")
    np.testing.assert_array_equal(adata.X, labels)
    np.testing.assert_allclose(np.nanmean(adata.layers["signal"], axis=0), 0, atol=1e-5)
    assert store.target_transform(adata, "signal").startswith("z-score")
    assert adata.uns[K.UNS][K.UNS_TRANSFORMS]["signal"]["source"] == "signal"


def test_copy_returns_a_normalized_copy():
    adata = quantities()
    before = snapshot(adata)
    out = cs.pp.normalize_targets(adata, "rank", copy=True)
    assert_unchanged(adata, before)
    assert out is not adata and np.nanmax(out.X) == 1.0


def test_target_transform_reads_the_description_and_chains_steps():
    adata = quantities()
    assert store.target_transform(adata, "X") == ""
    cs.pp.normalize_targets(adata, "cpm")
    cs.pp.normalize_targets(adata, "log1p")
    text = store.target_transform(adata, None)
    assert text.startswith("log1p") and "counts per million" in text
    assert store.target_transform(adata, "X") == text == store.target_transform(adata, "")
    assert list(adata.uns[K.UNS][K.UNS_TRANSFORMS]["X"]["steps"]) == ["cpm", "log1p"]


def test_the_record_survives_h5ad_and_still_refuses_cpm_twice(tmp_path):
    adata = quantities()
    cs.pp.normalize_targets(adata, "cpm")
    adata.write_h5ad(tmp_path / "t.h5ad")
    back = ad.read_h5ad(tmp_path / "t.h5ad")
    assert store.target_transform(back, "X") == store.target_transform(adata, "X")
    with pytest.raises(ValueError, match="already normalized"):
        cs.pp.normalize_targets(back, "cpm_log1p")


# ----------------------------------------------------------------------------- refusals leave adata unchanged


@pytest.mark.parametrize(
    ("change", "kwargs", "error", "match"),
    [
        (lambda a: a.X.__setitem__((0, 1), -2.0), {"method": "cpm"}, ValueError, "negative values"),
        (lambda a: a.X.__setitem__((0, 1), -2.0), {"method": "log1p"}, ValueError, "zscore"),
        (lambda a: a.X.__setitem__((0, 1), np.inf), {"method": "zscore"}, ValueError, "infinite"),
        (lambda a: setattr(a, "X", (a.X > 3).astype(np.float32)), {"method": "rank"}, ValueError, "labels"),
        (lambda a: None, {"method": "cpm", "layer": "counts"}, KeyError, "not in adata.layers"),
        (lambda a: a.X.__setitem__((slice(None), 1), 4.0), {"method": "zscore"}, ValueError, "no variance"),
        (lambda a: a.X.__setitem__((slice(None), 2), 0.0), {"method": "cpm"}, ValueError, "sums to 0"),
        (lambda a: a.layers.__setitem__("mine", np.ones(a.shape)), {"key_added": "mine"}, ValueError, "not written"),
        (lambda a: None, {"key_added": "X"}, ValueError, "key_added"),
        (lambda a: None, {"method": "tpm"}, ValueError, "method must be one of"),
    ],
)
def test_bad_input_is_refused_before_anything_changes(change, kwargs, error, match):
    adata = quantities()
    change(adata)
    before = snapshot(adata)
    with pytest.raises(error, match=match):
        cs.pp.normalize_targets(adata, **kwargs)
    assert_unchanged(adata, before)


def test_cpm_twice_is_refused_and_names_the_fix():
    adata = quantities()
    cs.pp.normalize_targets(adata, "cpm")
    before = snapshot(adata)
    with pytest.raises(ValueError, match=r"already normalized with \['cpm'\].*key_added"):
        cs.pp.normalize_targets(adata, "cpm")
    assert_unchanged(adata, before)


def test_a_layer_written_by_normalize_targets_may_be_rewritten():
    adata = quantities()
    cs.pp.normalize_targets(adata, "cpm", key_added="norm")
    cs.pp.normalize_targets(adata, "rank", key_added="norm")
    assert adata.uns[K.UNS][K.UNS_TRANSFORMS]["norm"]["method"] == "rank"
    assert np.nanmax(adata.layers["norm"]) == 1.0


# ----------------------------------------------------------------------------- aggregate_celltypes(threshold=None)


def _cells() -> ad.AnnData:
    counts = np.array([[2, 0], [1, 0], [0, 0], [0, 1], [0, 3], [1, 1]])
    cells = ad.AnnData(counts, obs=pd.DataFrame({"ct": list("BBBTTT")}, index=[f"c{i}" for i in range(6)]))
    cells.var_names = ["chr1:100-600", "chr1:900-1400"]
    return cells


def test_aggregate_without_threshold_keeps_the_fraction_as_target():
    regions = cs.pp.aggregate_celltypes(_cells(), "ct", threshold=None, min_cells=1)
    expected = np.array([[2 / 3, 1 / 3], [0.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(regions.X, expected, rtol=1e-6)
    assert regions.X.dtype == np.float32
    np.testing.assert_array_equal(regions.layers[K.SIGNAL], regions.X)
    regions.X[0, 0] = 0.5
    assert regions.layers[K.SIGNAL][0, 0] != 0.5  # X and the signal layer are separate arrays
    assert regions.obs[K.OPEN].tolist() == [True, True]
    cs.pp.normalize_targets(regions, "rank")  # a quantity, not labels


def test_aggregate_default_still_thresholds():
    regions = cs.pp.aggregate_celltypes(_cells(), "ct", min_cells=1)
    assert np.isin(regions.X, [0, 1]).all()


# ----------------------------------------------------------------------------- read_regions(value=)


@pytest.fixture
def peak_files(tmp_path):
    (tmp_path / "A.narrowPeak").write_text("\n".join(NARROWPEAK) + "\n")
    (tmp_path / "B.narrowPeak").write_text("\n".join(OTHER) + "\n")
    return {"A": tmp_path / "A.narrowPeak", "B": tmp_path / "B.narrowPeak"}


def test_signal_value_is_read_from_the_file(peak_files):
    adata = cs.pp.read_regions(peak_files, value="signalValue", merge="exact", width=None)
    frame = adata.to_df()
    assert frame.loc["chr20:1000-1400", "A"] == 5.5
    assert frame.loc["chr20:1100-1500", "A"] == 7.25
    assert frame.loc["chr20:9000-9400", "A"] == 2.0
    assert frame.loc["chr20:9100-9500", "B"] == 3.5
    assert frame.loc["chr20:1000-1400", "B"] == 0.0  # absent from B's peaks: no signal
    assert adata.uns[K.UNS][K.UNS_PARAMS]["read_regions"]["value"] == "signalValue"


def test_a_consensus_region_takes_the_largest_value_of_its_peaks(peak_files):
    adata = cs.pp.read_regions(peak_files, value="signalValue", merge="overlap", width=600)
    frame = adata.to_df()
    assert frame.loc["chr20:950-1550", "A"] == 7.25  # p0 (5.5) and p1 (7.25) summits both inside
    assert frame.loc["chr20:950-1550", "B"] == 0.0
    assert frame.loc["chr20:8900-9500", "B"] == 3.5


def test_score_a_column_number_and_a_header_name_read_the_same_column(tmp_path):
    rows = ["chr20\t1000\t1600\tr0\t12\t+", "chr20\t5000\t5600\tr1\t0.5\t-"]
    (tmp_path / "plain.bed").write_text("\n".join(rows) + "\n")
    (tmp_path / "hash.bed").write_text("#chrom\tstart\tend\tname\tcounts\tstrand\n" + "\n".join(rows) + "\n")
    (tmp_path / "head.bed").write_text("chrom\tstart\tend\tname\tcounts\tstrand\n" + "\n".join(rows) + "\n")
    expected = [[12.0], [0.5]]
    for path, value in (("plain.bed", "score"), ("plain.bed", 5), ("hash.bed", "counts"), ("head.bed", "counts")):
        adata = cs.pp.read_regions({"A": tmp_path / path}, value=value, width=None)
        assert adata.X.tolist() == expected, (path, value)


@pytest.mark.parametrize(
    ("line", "value", "match"),
    [
        ("chr20\t1000\t1400\tp\t0\t.\t.\t3\t2\t200", "signalValue", r"line 2: value 'signalValue' \(column 7\) '\.'"),
        ("chr20\t1000\t1400\tp\t0\t.\t5\t-1\t2\t200", "pValue", "line 2: .*'-1' is negative"),
        ("chr20\t1000\t1400\tp\t0\t.\t1e400\t3\t2\t200", "signalValue", "line 2: .*not a number"),
        ("chr20\t1000\t1400\tp\t0\t.\t5\t3\t2\t200", "height", "no column named 'height'"),
    ],
)
def test_bad_values_name_the_file_the_line_and_the_fix(tmp_path, line, value, match):
    path = tmp_path / "A.narrowPeak"
    path.write_text(NARROWPEAK[2] + "\n" + line + "\n")
    with pytest.raises(ValueError, match=match) as err:
        cs.pp.read_regions({"A": path}, value=value)
    assert str(path) in str(err.value) and ("value=" in str(err.value) or "pass" in str(err.value))


def test_narrowpeak_columns_on_a_bed_file_and_label_files_are_refused(tmp_path, chr20_beds):
    (tmp_path / "A.bed").write_text("chr20\t1000\t1600\n")
    with pytest.raises(ValueError, match="narrowPeak column.*'score'"):
        cs.pp.read_regions({"A": tmp_path / "A.bed"}, value="signalValue")
    celltype, path = next(iter(chr20_beds.items()))
    with pytest.raises(ValueError, match="ChromTransfer label file"):
        cs.pp.read_regions({celltype: path}, value="score")


def test_a_table_of_quantities_is_read_with_unknowns_kept():
    frame = pd.DataFrame({"A": [0.5, np.nan, 3.0], "B": [2.0, 1.5, np.nan]}, index=["chr1:0-600", "chr1:600-1200", "x"])
    frame.index = ["chr1:0-600", "chr1:600-1200", "chr1:1200-1800"]
    adata = cs.pp.read_regions(frame, value="values")
    np.testing.assert_array_equal(adata.X, frame.to_numpy(np.float32))
    filled = cs.pp.read_regions(frame, value="values", specific=True)
    assert filled.X[1, 0] == 0.0 and filled.X[2, 1] == 0.0  # another cell type has signal there
    with pytest.raises(ValueError, match=r"'A' holds \[0.5"):
        cs.pp.read_regions(frame)  # without value=, a table holds labels, as before
    frame.iloc[0, 0] = -1.0
    with pytest.raises(ValueError, match="column 'A' holds a negative value"):
        cs.pp.read_regions(frame, value="values")
    with pytest.raises(ValueError, match="value='values'"):
        cs.pp.read_regions(frame, value="signalValue")


# ----------------------------------------------------------------------------- the command line


def _genome(tmp_path) -> str:
    rng = np.random.default_rng(0)
    with open(tmp_path / "g.fa", "w") as fa:
        for chrom in ("chr1", "chr2", "chr3"):
            fa.write(f">{chrom}\n{''.join(rng.choice(list('ACGT'), 4000))}\n")
    return str(tmp_path / "g.fa")


def test_prepare_reads_values_and_normalizes_them(tmp_path):
    rng = np.random.default_rng(1)
    lines = [
        f"{c}\t{s}\t{s + 100}\tp\t0\t.\t{rng.uniform(1, 50):.3f}\t3\t2\t50\n"
        for c in ("chr1", "chr2", "chr3")
        for s in range(300, 3500, 400)
    ]
    (tmp_path / "A.narrowPeak").write_text("".join(lines))
    argv = ["prepare", "--regions", f"A={tmp_path / 'A.narrowPeak'}", "--genome", _genome(tmp_path)]
    argv += ["--width", "200", "--background", "0", "--val", "chr2", "--test", "chr3", "-o", str(tmp_path / "p.h5ad")]
    assert main([*argv, "--value", "signalValue", "--normalize", "cpm_log1p"]) == 0
    adata = ad.read_h5ad(tmp_path / "p.h5ad")
    signal = np.array([float(line.split("\t")[6]) for line in lines])
    expected = np.log1p(signal / signal.sum() * 1e6)
    np.testing.assert_allclose(np.sort(adata.X[:, 0]), np.sort(expected), rtol=1e-5)
    assert store.target_transform(adata, "X").startswith("log1p of counts per million")


def test_prepare_normalize_without_value_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "A.bed").write_text("chr1\t300\t400\n")
    argv = ["prepare", "--regions", f"A={tmp_path / 'A.bed'}", "--genome", str(tmp_path / "g.fa")]
    assert main([*argv, "--normalize", "cpm", "-o", str(tmp_path / "p.h5ad")]) == 1
    assert "--value" in capsys.readouterr().err
    assert not (tmp_path / "p.h5ad").exists()


# ----------------------------------------------------------------------------- damaged numbers


def test_a_huge_exponent_is_an_error_not_a_crash(tmp_path):
    """pandas' parser crashed the process (segmentation fault) on '1e4002269400'; chromseq now names the line."""
    path = tmp_path / "A.bed"
    path.write_text("chr20\t1000\t1600\tp\t5\nchr20\t2000\t1e4002269400\tq\t6\n")
    with pytest.raises(ValueError, match=r"line 2: end '1e4002269400' is not an integer"):
        cs.pp.read_regions({"A": path})
    path.write_text("chr20\t1000\t1600\tp\t5\nchr20\t2000\t2600\tq\t1e4002269400\n")
    with pytest.raises(ValueError, match=r"line 2: value 'score' \(column 5\) '1e4002269400' is not a number"):
        cs.pp.read_regions({"A": path}, value="score")
    cells = _cells()
    coords = {"chrom": ["chr1", "chr1"], "start": ["100", "1e4002269400"], "end": [600, 1400]}
    cells.var = pd.DataFrame(coords, index=["p0", "p1"])
    with pytest.raises(ValueError, match=r"\['start'\] must hold whole numbers"):
        cs.pp.aggregate_celltypes(cells, "ct", min_cells=1)


def test_a_huge_exponent_in_a_variant_table_or_a_plotted_table_is_an_error_not_a_crash():
    from chromseq.io._vcf import as_variant_table

    table = pd.DataFrame(
        {"chrom": ["chr20", "chr20"], "pos": [5, "1e4002269400"], "ref": ["A", "C"], "alt": ["G", "T"]}
    )
    with pytest.raises(ValueError, match=r"'pos' must be whole numbers >= 1"):
        as_variant_table(table)
    transfer = pd.DataFrame(
        {"celltype": ["K562"], "kind": ["finetune"], "fraction": ["1e4002269400"], "seed": [0], "auroc": [0.7]}
    )
    with pytest.raises(ValueError, match=r"'fraction' must be in \(0, 1\]"):
        cs.pl.transfer_curve(transfer, show=False)
