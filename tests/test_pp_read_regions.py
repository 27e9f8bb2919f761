import gzip
import logging

import numpy as np
import pandas as pd
import pytest

import chromseq as cs
from chromseq import _keys as K

README_POSITIVES = {"A549": 361, "GM12878": 668, "HCT116": 238, "HepG2": 1702, "K562": 625, "MCF7": 3444}
README_NEGATIVES = {
    "A549": 254 + 7,
    "GM12878": 1408 + 7,
    "HCT116": 1269 + 7,
    "HepG2": 32 + 7,
    "K562": 2484 + 7,
    "MCF7": 763 + 7,
}


def _bed(path):
    return pd.read_csv(path, sep="\t", header=None, names=["chrom", "start", "end", "name", "score", "strand", "label"])


# ----------------------------------------------------------------------------- real ChromTransfer chr20 files


def test_every_distinct_chr20_region_is_one_row(chr20_regions, chr20_beds):
    rows = pd.concat([_bed(p) for p in chr20_beds.values()])
    expected = {f"{c}:{s}-{e}" for c, s, e in rows[["chrom", "start", "end"]].itertuples(index=False)}
    assert chr20_regions.n_obs == 12_061
    assert set(chr20_regions.obs_names) == expected


def test_labels_match_each_file_row_for_row(chr20_regions, chr20_beds):
    for ct, path in chr20_beds.items():
        bed = _bed(path)
        names = bed["chrom"] + ":" + bed["start"].astype(str) + "-" + bed["end"].astype(str)
        got = chr20_regions[names.to_numpy(), ct].X.ravel()
        np.testing.assert_array_equal(got, (bed["label"] == ct.upper()).astype(np.float32).to_numpy(), err_msg=ct)


def test_positive_and_negative_counts_match_the_readme(chr20_beds):
    adata = cs.pp.read_regions(chr20_beds, specific=False)
    assert dict(zip(adata.var_names, (adata.X == 1).sum(0).tolist(), strict=True)) == README_POSITIVES
    assert dict(zip(adata.var_names, (adata.X == 0).sum(0).tolist(), strict=True)) == README_NEGATIVES


def test_specific_fills_zero_only_where_another_cell_type_is_positive(chr20_regions, chr20_beds):
    plain = cs.pp.read_regions(chr20_beds, specific=False)
    filled = np.isnan(plain.X) & ~np.isnan(chr20_regions.X)
    assert (chr20_regions.X[filled] == 0).all()
    positive_elsewhere = (plain.X == 1).any(1, keepdims=True) & np.isnan(plain.X)
    np.testing.assert_array_equal(filled, positive_elsewhere)
    assert (chr20_regions.X == 1).sum(1).max() == 1  # positives are exclusive


def test_open_is_any_dhs_row_and_negative_only_rows_are_closed(chr20_regions, chr20_beds):
    rows = pd.concat([_bed(p) for p in chr20_beds.values()])
    rows["name"] = rows["chrom"] + ":" + rows["start"].astype(str) + "-" + rows["end"].astype(str)
    dhs = set(rows.loc[rows["label"] != "Negative", "name"])
    assert set(chr20_regions.obs_names[chr20_regions.obs[K.OPEN]]) == dhs
    assert (~chr20_regions.obs[K.OPEN]).sum() == 7
    assert not chr20_regions.obs[K.BACKGROUND].any()


def test_obs_and_x_follow_the_data_contract(chr20_regions):
    obs = chr20_regions.obs
    assert isinstance(obs[K.CHROM].dtype, pd.CategoricalDtype)
    assert obs[K.START].dtype == np.int64 and obs[K.END].dtype == np.int64
    assert obs[K.OPEN].dtype == bool and obs[K.BACKGROUND].dtype == bool
    assert chr20_regions.X.dtype == np.float32
    assert (obs[K.END] - obs[K.START] == 600).all()
    assert obs[K.START].is_monotonic_increasing
    assert chr20_regions.uns[K.UNS][K.UNS_PARAMS]["read_regions"]["merge"] == "exact"


def test_chromtransfer_csv_labels_are_read(shared_data):
    path = shared_data / "chromtransfer_grch38_labels" / "test" / "A549.csv.gz"
    adata = cs.pp.read_regions({"A549": path})
    assert adata.n_obs == 10_978
    assert (adata.X == 1).sum() == 1_910 and (adata.X == 0).sum() == 8_947 + 121
    assert set(adata.obs[K.CHROM].cat.categories) == {"chr2", "chr3"}


def test_wrong_cell_type_name_lists_the_labels_of_the_file(chr20_beds):
    with pytest.raises(ValueError, match=r"HEPG2.*read_regions\(\{'HEPG2'"):
        cs.pp.read_regions({"Liver": chr20_beds["HepG2"]})


# ----------------------------------------------------------------------------- peak files


def _write(path, lines, gz=False):
    text = "".join(line + "\n" for line in lines)
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_narrowpeak_window_is_centred_on_the_summit(tmp_path):
    path = _write(tmp_path / "a.narrowPeak", ["chr1\t1000\t2000\tp1\t0\t.\t5.0\t10.0\t-1\t100"])
    adata = cs.pp.read_regions({"A": path}, width=200)
    assert adata.obs_names.tolist() == ["chr1:1000-1200"]  # summit at 1100


def test_plain_bed_window_is_centred_and_gzip_is_read(tmp_path):
    path = _write(tmp_path / "a.bed.gz", ["track name=x", "chr1\t1000\t1100", "chr2\t50\t150"], gz=True)
    adata = cs.pp.read_regions({"A": path}, width=100)
    assert adata.obs_names.tolist() == ["chr1:1000-1100", "chr2:50-150"]
    assert (adata.X == 1).all()


def test_overlapping_peaks_of_two_cell_types_become_one_consensus_region(tmp_path):
    a = _write(tmp_path / "a.bed", ["chr1\t1000\t1200\tp\t90", "chr1\t5000\t5200\tp\t10"])
    b = _write(tmp_path / "b.bed", ["chr1\t1100\t1300\tq\t50", "chr1\t9000\t9200\tq\t50"])
    adata = cs.pp.read_regions({"A": a, "B": b}, width=200)
    # A's peak at 1000 ranks first in its file, B's at 1100 is tied with B's other peak: A's wins, B's summit
    # (1200) is not inside A's window [1000, 1200), so B is closed there.
    assert adata.obs_names.tolist() == ["chr1:1000-1200", "chr1:5000-5200", "chr1:9000-9200"]
    np.testing.assert_array_equal(adata.X, [[1, 0], [1, 0], [0, 1]])


def test_consensus_labels_a_cell_type_open_when_its_summit_is_inside(tmp_path):
    a = _write(tmp_path / "a.bed", ["chr1\t1000\t1200\tp\t90"])
    b = _write(tmp_path / "b.bed", ["chr1\t1050\t1250\tq\t10", "chr1\t3000\t3200\tq\t90"])
    adata = cs.pp.read_regions({"A": a, "B": b}, width=200)
    assert adata.obs_names.tolist() == ["chr1:1000-1200", "chr1:3000-3200"]
    np.testing.assert_array_equal(adata.X, [[1, 1], [0, 1]])
    assert adata.obs[K.OPEN].all()


def test_exact_merge_keeps_overlapping_peaks_apart(tmp_path):
    a = _write(tmp_path / "a.bed", ["chr1\t1000\t1200"])
    b = _write(tmp_path / "b.bed", ["chr1\t1050\t1250", "chr1\t1000\t1200"])
    adata = cs.pp.read_regions({"A": a, "B": b}, width=200, merge="exact")
    assert adata.obs_names.tolist() == ["chr1:1000-1200", "chr1:1050-1250"]
    np.testing.assert_array_equal(adata.X, [[1, 1], [0, 1]])


# ----------------------------------------------------------------------------- ready tables


def test_table_with_region_index_is_read_from_csv(tmp_path):
    frame = pd.DataFrame(
        {"K562": [1, 0, np.nan], "HepG2": [0, 1, 1]}, index=["chr1:0-600", "chr1:600-1200", "chr2:5-605"]
    )
    frame.to_csv(tmp_path / "t.csv")
    adata = cs.pp.read_regions(tmp_path / "t.csv")
    assert adata.var_names.tolist() == ["K562", "HepG2"]
    np.testing.assert_array_equal(adata.X, frame.to_numpy(np.float32))
    assert adata.obs[K.OPEN].tolist() == [True, True, True]


def test_table_with_coordinate_columns_is_resized(tmp_path):
    frame = pd.DataFrame({K.CHROM: ["chr1"], K.START: [1000], K.END: [1100], "A": [True]})
    adata = cs.pp.read_regions(frame, width=600)
    assert adata.obs_names.tolist() == ["chr1:750-1350"]
    assert adata.X.tolist() == [[1.0]]


def test_table_values_other_than_labels_raise():
    frame = pd.DataFrame({"A": [0.5, 1]}, index=["chr1:0-600", "chr1:600-1200"])
    with pytest.raises(ValueError, match=r"'A' holds \[0.5\]"):
        cs.pp.read_regions(frame)


# ----------------------------------------------------------------------------- bad input


def test_malformed_bed_line_names_file_and_line(tmp_path):
    path = _write(tmp_path / "a.bed", ["chr1\t0\t600", "chr1\tten\t700"])
    with pytest.raises(ValueError, match=r"a\.bed, line 2: start 'ten' is not an integer"):
        cs.pp.read_regions({"A": path})


def test_too_few_fields_names_file_and_line(tmp_path):
    path = _write(tmp_path / "a.bed", ["chr1\t0\t600", "chr1 5 700"])
    with pytest.raises(ValueError, match=r"line 2: expected at least 3 tab-separated fields"):
        cs.pp.read_regions({"A": path})


def test_start_not_before_end_is_rejected(tmp_path):
    path = _write(tmp_path / "a.bed", ["chr1\t0\t600", "chr1\t900\t900"])
    with pytest.raises(ValueError, match=r"line 2: start >= end"):
        cs.pp.read_regions({"A": path})


def test_negative_coordinates_are_rejected(tmp_path):
    path = _write(tmp_path / "a.bed", ["chr1\t-5\t600"])
    with pytest.raises(ValueError, match=r"line 1: negative start"):
        cs.pp.read_regions({"A": path})


def test_empty_file_is_rejected(tmp_path):
    path = _write(tmp_path / "a.bed", ["# nothing here"])
    with pytest.raises(ValueError, match="has no regions"):
        cs.pp.read_regions({"A": path})


def test_duplicate_cell_type_names_are_rejected(chr20_beds):
    with pytest.raises(ValueError, match="duplicate cell type names"):
        cs.pp.read_regions([("K562", chr20_beds["K562"]), ("k562", chr20_beds["K562"])])


def test_missing_region_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.bed"):
        cs.pp.read_regions({"A": tmp_path / "nope.bed"})


def test_bad_input_leaves_the_file_untouched(tmp_path):
    path = _write(tmp_path / "a.bed", ["chr1\t0\t600", "chr1\t900\t800"])
    before = path.read_bytes()
    with pytest.raises(ValueError):
        cs.pp.read_regions({"A": path})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bed"]


# ----------------------------------------------------------------------------- damaged files (issue 11)


def test_narrowpeak_summit_outside_its_peak_names_file_and_line(tmp_path):
    path = _write(
        tmp_path / "a.narrowPeak",
        ["chr20\t1000\t1400\tp\t0\t.\t5\t5\t5\t100", "chr20\t2000000\t2000400\tp\t0\t.\t5\t5\t5\t5000"],
    )
    with pytest.raises(ValueError, match=r"a\.narrowPeak, line 2: summit offset 5000 .* outside the 400-bp peak"):
        cs.pp.read_regions({"A": path})


def test_narrowpeak_summit_below_minus_one_is_rejected(tmp_path):
    path = _write(tmp_path / "a.narrowPeak", ["chr20\t1000\t1400\tp\t0\t.\t5\t5\t5\t-7"])
    with pytest.raises(ValueError, match=r"line 1: summit offset -7"):
        cs.pp.read_regions({"A": path})


@pytest.mark.parametrize(
    ("name", "reason"),
    [("chr20chr20", "names 'chr' twice"), ("1000000", "is a number"), ("chtrack xr20", "holds whitespace")],
)
def test_implausible_chromosome_name_is_warned_at_read_time(tmp_path, caplog, name, reason):
    path = _write(tmp_path / "a.bed", ["chr20\t1000\t1400", f"{name}\t5000\t5400"])
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        adata = cs.pp.read_regions({"A": path})
    assert adata.n_obs == 2  # a warning, not an error: the genome decides
    assert f"{name!r} (line 2) {reason}" in caplog.text and "a.bed" in caplog.text


def test_usual_contig_names_are_not_warned(tmp_path, caplog):
    names = ["chr1", "chrX", "MT", "chrUn_gl000220", "chr1_KI270706v1_random", "GL000220.1", "HLA-A*01:01:01:01", "2L"]
    path = _write(tmp_path / "a.bed", [f"{n}\t{1000 * (i + 1)}\t{1000 * (i + 1) + 400}" for i, n in enumerate(names)])
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        cs.pp.read_regions({"A": path})
    assert "contig names" not in caplog.text and "single region" not in caplog.text


def test_many_chromosomes_of_one_region_each_are_warned(tmp_path, caplog):
    lines = [f"chr20\t{1000 * i}\t{1000 * i + 400}" for i in range(1, 20)]
    lines += [f"c{i}r20\t5000\t5400" for i in range(12)]  # damaged names, one region each
    path = _write(tmp_path / "a.bed", lines)
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        cs.pp.read_regions({"A": path})
    assert "13 chromosomes, 12 of which hold a single region" in caplog.text
    assert "'c0r20' (line 20)" in caplog.text


def test_coordinate_above_int64_is_too_large_not_negative(tmp_path):
    path = _write(tmp_path / "a.bed", ["chr1\t0\t600", "chr1\t99999999999999999999\t99999999999999999999999"])
    with pytest.raises(ValueError, match=r"line 2: start 99999999999999999999 is too large for a coordinate"):
        cs.pp.read_regions({"A": path})


def test_directory_as_region_file_says_it_is_a_directory(tmp_path):
    with pytest.raises(ValueError, match="is a directory: pass the path of a BED"):
        cs.pp.read_regions({"A": tmp_path})


def test_binary_bytes_in_a_bed_file_name_the_line(tmp_path):
    path = tmp_path / "a.bed"
    path.write_bytes(b"chr1\t0\t600\nchr1\t700\t1300\n\x96\xff\t5\t9\n")
    with pytest.raises(ValueError, match=r"a\.bed, line 3: not UTF-8 text"):
        cs.pp.read_regions({"A": path})


def test_empty_chromosome_name_names_file_and_line(tmp_path):
    path = _write(tmp_path / "a.bed", ["chr1\t0\t600", "\t700\t1300"])
    with pytest.raises(ValueError, match=r"a\.bed, line 2: empty chromosome name"):
        cs.pp.read_regions({"A": path})


def test_huge_coordinate_in_a_label_csv_names_file_and_line(tmp_path):
    path = _write(tmp_path / "a.csv", ["chr1:0-600,A", "chr1:18446744073709551617-18446744073709552217,A"])
    with pytest.raises(ValueError, match=r"a\.csv, line 2: start 18446744073709551617 is too large"):
        cs.pp.read_regions({"A": path})
