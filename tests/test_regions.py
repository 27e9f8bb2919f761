"""Region names: one builder and one parser (``chromseq._regions``), used by pp, io and datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import chromseq as cs
from chromseq._regions import parse_region_names, region_names


def test_names_round_trip_and_other_tools_forms_parse():
    names = region_names(["chr1", "chrUn_gl000220"], [100, 0], [600, 5])
    assert list(names) == ["chr1:100-600", "chrUn_gl000220:0-5"]
    back = parse_region_names(list(names) + ["chr2-7-9", "chr3_1_4"])
    assert back["chrom"].tolist() == ["chr1", "chrUn_gl000220", "chr2", "chr3"]
    assert back["start"].tolist() == [100, 0, 7, 1] and back["end"].tolist() == [600, 5, 9, 4]


def test_a_name_that_does_not_parse_raises_naming_it():
    with pytest.raises(ValueError, match=r"1 of 2 index are not regions like 'chr1:100-600'.*'chr1:x-5'"):
        parse_region_names(["chr1:1-5", "chr1:x-5"], what="index")


def test_read_regions_table_index_uses_the_one_parser():
    table = pd.DataFrame({"A": [1, 0]}, index=["chr1-100-700", "chr1:900-1500"])
    adata = cs.pp.read_regions(table, width=600)
    assert adata.obs["start"].tolist() == [100, 900]
    assert list(adata.obs_names) == list(region_names(adata.obs["chrom"], adata.obs["start"], adata.obs["end"]))
    with pytest.raises(ValueError, match="cannot find the regions"):
        cs.pp.read_regions(pd.DataFrame({"A": [1]}, index=["nonsense"]), width=600)
    assert np.all(adata.obs["end"] - adata.obs["start"] == 600)
