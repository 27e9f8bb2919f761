import logging

import anndata as ad
import numpy as np
import pandas as pd
import pyfaidx
import pytest

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import encode, gc_fraction


def _regions(chrom, starts, width):
    starts = np.asarray(starts, dtype=np.int64)
    frame = pd.DataFrame({K.CHROM: chrom, K.START: starts, K.END: starts + width, "A": 1.0})
    return cs.pp.read_regions(frame, width=None)


def _snapshot(adata):
    return adata.copy()


def _assert_unchanged(adata, before):
    pd.testing.assert_frame_equal(adata.obs, before.obs)
    assert set(adata.obsm) == set(before.obsm)
    assert adata.uns.keys() == before.uns.keys()
    np.testing.assert_array_equal(adata.X, before.X)


# ----------------------------------------------------------------------------- real chr20


def test_sequences_equal_an_independent_pyfaidx_read(chr20_small, chr20_fasta):
    fasta = pyfaidx.Fasta(str(chr20_fasta), as_raw=True)
    try:
        expected = np.stack(
            [encode(fasta["20"][s:e]) for s, e in zip(chr20_small.obs[K.START], chr20_small.obs[K.END], strict=True)]
        )
    finally:
        fasta.close()
    seq = chr20_small.obsm[K.SEQUENCE]
    assert seq.dtype == np.uint8 and seq.shape == (300, 600)
    np.testing.assert_array_equal(seq, expected)


def test_gc_is_the_gc_fraction_of_the_sequence(chr20_small):
    assert chr20_small.obs[K.GC].dtype == np.float32
    np.testing.assert_allclose(chr20_small.obs[K.GC], gc_fraction(chr20_small.obsm[K.SEQUENCE]), rtol=1e-6)


def test_genome_and_params_are_recorded(chr20_small, chr20_fasta):
    info = chr20_small.uns[K.UNS][K.UNS_GENOME]
    assert info["chrom_map"] == {"chr20": "20"} and info["path"] == str(chr20_fasta.resolve())
    assert chr20_small.uns[K.UNS][K.UNS_PARAMS]["add_sequences"]["width"] == 600


def test_h5ad_round_trips_every_key(chr20_small, tmp_path):
    cs.pp.split_by_chromosome(chr20_small, random_state=0)
    chr20_small.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    pd.testing.assert_frame_equal(back.obs, chr20_small.obs)
    np.testing.assert_array_equal(back.X, chr20_small.X)
    np.testing.assert_array_equal(back.obsm[K.SEQUENCE], chr20_small.obsm[K.SEQUENCE])
    assert back.obsm[K.SEQUENCE].dtype == np.uint8
    uns, back_uns = chr20_small.uns[K.UNS], back.uns[K.UNS]
    assert back_uns[K.UNS_GENOME] == uns[K.UNS_GENOME]
    for func, params in uns[K.UNS_PARAMS].items():
        assert _plain(back_uns[K.UNS_PARAMS][func]) == _plain(params), func


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


# ----------------------------------------------------------------------------- behaviour on small FASTA files


def test_copy_returns_a_new_object_and_leaves_the_input(toy_fasta):
    adata = _regions(["chr1", "chr2"], [0, 100], 50)
    out = cs.pp.add_sequences(adata, toy_fasta, copy=True)
    assert K.SEQUENCE in out.obsm and K.SEQUENCE not in adata.obsm and K.GC not in adata.obs


def test_a_view_is_filled_without_warnings(toy_fasta, toy_records):
    adata = _regions(["chr1", "chr2", "MT"], [0, 100, 10], 50)
    view = adata[1:]
    cs.pp.add_sequences(view, cs.Genome(toy_fasta))
    assert not view.is_view
    np.testing.assert_array_equal(view.obsm[K.SEQUENCE][1], encode(toy_records["MT"][10:60]))


def test_n_rich_windows_are_dropped_with_a_logged_count(toy_fasta, caplog):
    adata = _regions(["2", "2", "chr1"], [0, 400, 0], 100)  # the second lies in the N run
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        cs.pp.add_sequences(adata, toy_fasta)
    assert adata.obs_names.tolist() == ["chr1:0-100", "2:0-100"]
    assert "dropped 1 region(s)" in caplog.text


def test_n_rich_windows_raise_on_request_and_leave_adata_untouched(toy_fasta):
    adata = _regions(["2", "2"], [0, 400], 100)
    before = _snapshot(adata)
    with pytest.raises(ValueError, match=r"1 of 2 region\(s\) have more than 10% N.*2:400-500"):
        cs.pp.add_sequences(adata, toy_fasta, too_many_n="error")
    _assert_unchanged(adata, before)


def test_n_rich_windows_can_be_kept(toy_fasta):
    adata = _regions(["2", "2"], [0, 400], 100)
    cs.pp.add_sequences(adata, toy_fasta, too_many_n="keep")
    assert adata.n_obs == 2 and np.isnan(adata.obs[K.GC].iloc[1])


def test_unknown_chromosome_raises_and_leaves_adata_untouched(toy_fasta):
    adata = _regions(["chr1", "chr9"], [0, 0], 100)
    before = _snapshot(adata)
    with pytest.raises(KeyError, match="chr9"):
        cs.pp.add_sequences(adata, toy_fasta)
    _assert_unchanged(adata, before)


def test_window_past_the_end_raises_or_pads(toy_fasta):
    adata = _regions(["MT", "MT"], [0, 200], 100)
    before = _snapshot(adata)
    with pytest.raises(ValueError, match=r"MT:200-300.*pad=True"):
        cs.pp.add_sequences(adata, toy_fasta)
    _assert_unchanged(adata, before)
    cs.pp.add_sequences(adata, toy_fasta, pad=True, max_n=0.5)
    assert (adata.obsm[K.SEQUENCE][1, 50:] == 4).all()


def test_regions_of_different_widths_are_rejected(toy_fasta):
    frame = pd.DataFrame({K.CHROM: ["chr1", "chr1"], K.START: [0, 100], K.END: [50, 200], "A": 1.0})
    adata = cs.pp.read_regions(frame, width=None)
    with pytest.raises(ValueError, match="different widths"):
        cs.pp.add_sequences(adata, toy_fasta)


def test_missing_genome_path_raises_before_any_change(tmp_path):
    adata = _regions(["chr1"], [0], 100)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cs.pp.add_sequences(adata, tmp_path / "missing.fa")
    assert K.SEQUENCE not in adata.obsm
