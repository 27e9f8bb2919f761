"""chromseq.io tracks: predictions and contributions as bigWig/bedGraph (pyBigWig), seqlets as BED."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pyBigWig
import pytest

import chromseq as cs
from chromseq import _keys as K

SIZE = 5_000_000
WIDTH = 200


@pytest.fixture
def regions() -> ad.AnnData:
    """150 windows of 200 bp on 'chr20' (genome name '20'), many overlapping, with predictions and contributions."""
    rng = np.random.default_rng(0)
    start = np.sort(rng.integers(1_000_000, 1_030_000, 150))
    obs = pd.DataFrame({"chrom": pd.Categorical(["chr20"] * 150), "start": start, "end": start + WIDTH})
    obs.index = [f"chr20:{s}-{s + WIDTH}" for s in start]
    obs = obs[~obs.index.duplicated()]
    adata = ad.AnnData(np.zeros((len(obs), 1), np.float32), obs=obs, var=pd.DataFrame(index=["K562"]))
    n = adata.n_obs
    adata.obsm[K.SEQUENCE] = rng.integers(0, 5, (n, WIDTH)).astype(np.uint8)
    pred = rng.random(n)
    pred[::17] = np.nan
    adata.obsm[K.PRED] = pd.DataFrame({"finetuned_K562": pred, "pretrained": rng.random(n)}, index=adata.obs_names)
    hyp = rng.normal(size=(n, 4, WIDTH)).astype(np.float32)
    hyp[::5] = np.nan  # rows not computed
    adata.obsm[K.contrib_key("K562")] = hyp
    adata.uns[K.UNS] = {K.UNS_GENOME: {"name": "GRCh37", "chrom_map": {"chr20": "20"}, "sizes": {"20": SIZE}}}
    return adata


def _nearest_centre(adata: ad.AnnData, valid: np.ndarray, x: int) -> int | None:
    """Brute force: the row of the window covering base x with the nearest centre (ties: earlier start, then row)."""
    s, e = adata.obs["start"].to_numpy(), adata.obs["end"].to_numpy()
    cover = np.flatnonzero(valid & (s <= x) & (x < e))
    if not len(cover):
        return None
    dist = np.abs(2 * x + 1 - (s[cover] + e[cover]))
    return int(cover[np.lexsort((cover, s[cover], dist))][0])


def _positions(adata, n=100, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(adata.obs["start"].min() - 50, adata.obs["end"].max() + 50, n)


def test_prediction_bigwig_reads_back_at_100_random_positions(regions, tmp_path):
    path = cs.io.write_predictions(regions, tmp_path / "pred.bw", "finetuned_K562")
    pred = regions.obsm[K.PRED]["finetuned_K562"].to_numpy()
    with pyBigWig.open(str(path)) as bw:
        assert bw.chroms() == {"chr20": SIZE}
        checked = 0
        for x in _positions(regions):
            row = _nearest_centre(regions, np.isfinite(pred), int(x))
            got = bw.values("chr20", int(x), int(x) + 1)[0]
            if row is None:
                assert np.isnan(got)
            else:
                assert got == pytest.approx(pred[row], rel=1e-6)
                checked += 1
    assert checked > 50


def test_bedgraph_holds_the_same_values_as_the_bigwig(regions, tmp_path):
    bw_path = cs.io.write_predictions(regions, tmp_path / "p.bw", "pretrained")
    bg_path = cs.io.write_predictions(regions, tmp_path / "p.bedgraph", "pretrained")
    bg = pd.read_csv(bg_path, sep="\t", header=None, names=["chrom", "start", "end", "value"])
    assert (bg["start"].to_numpy()[1:] >= bg["end"].to_numpy()[:-1]).all()  # sorted, no overlaps
    with pyBigWig.open(str(bw_path)) as bw:
        got = [bw.values("chr20", int(s), int(s) + 1)[0] for s in bg["start"]]
    np.testing.assert_allclose(got, bg["value"], rtol=1e-5)


def test_contribution_bigwig_is_the_observed_base_value(regions, tmp_path):
    path = cs.io.write_contributions(regions, tmp_path / "contrib.bw", "K562")
    hyp = regions.obsm[K.contrib_key("K562")]
    codes = regions.obsm[K.SEQUENCE]
    computed = ~np.isnan(hyp[:, 0, 0])
    starts = regions.obs["start"].to_numpy()
    with pyBigWig.open(str(path)) as bw:
        checked = 0
        for x in _positions(regions, seed=2):
            row = _nearest_centre(regions, computed, int(x))
            got = bw.values("chr20", int(x), int(x) + 1)[0]
            if row is None:
                assert np.isnan(got)
                continue
            i = int(x) - starts[row]
            expected = hyp[row, codes[row, i], i] if codes[row, i] < 4 else 0.0
            assert got == pytest.approx(expected, rel=1e-5, abs=1e-7)
            checked += 1
    assert checked > 50


def test_chromosome_sizes_come_from_the_genome(regions, tmp_path):
    genome = cs.Genome.from_arrays({"20": np.zeros(2_000_000, np.uint8)})
    path = cs.io.write_predictions(regions, tmp_path / "p.bw", "pretrained", genome=genome)
    with pyBigWig.open(str(path)) as bw:
        assert bw.chroms() == {"chr20": 2_000_000}
    del regions.uns[K.UNS][K.UNS_GENOME]
    with pytest.raises(KeyError, match="no chromosome size"):
        cs.io.write_predictions(regions, tmp_path / "q.bw", "pretrained")
    short = cs.Genome.from_arrays({"20": np.zeros(1_010_000, np.uint8)})
    with pytest.raises(ValueError, match="past the chromosome's end"):
        cs.io.write_predictions(regions, tmp_path / "q.bw", "pretrained", genome=short)
    assert not (tmp_path / "q.bw").exists()


def test_bad_requests_are_named(regions, tmp_path):
    with pytest.raises(ValueError, match="several prediction columns"):
        cs.io.write_predictions(regions, tmp_path / "p.bw")
    with pytest.raises(ValueError, match=".bw/.bigwig"):
        cs.io.write_predictions(regions, tmp_path / "p.txt", "pretrained")
    with pytest.raises(KeyError, match="tl.contributions"):
        cs.io.write_contributions(regions, tmp_path / "c.bw", "HepG2")


def test_seqlets_bed_names_the_motif_and_its_strand(regions, tmp_path):
    from chromseq._codes import reverse_complement_codes
    from chromseq._jaspar import load_motif_database

    db = load_motif_database(None)
    j = db.names.index("CTCF")
    consensus = db.ppms[j].argmax(axis=0).astype(np.uint8)
    w = len(consensus)
    regions.obsm[K.SEQUENCE][0, 20 : 20 + w] = consensus
    regions.obsm[K.SEQUENCE][1, 60 : 60 + w] = reverse_complement_codes(consensus)
    seqlets = pd.DataFrame(
        {
            "region": regions.obs_names[[0, 1, 2]],
            "start": [20, 60, 5],
            "end": [20 + w, 60 + w, 15],
            "sign": ["+", "+", "-"],
            "attribution": [2.0, 1.0, -0.5],
            "pval": [1e-4, 1e-3, 1e-2],
            "motif_id": [db.ids[j], db.ids[j], ""],
            "motif_name": ["CTCF", "CTCF", ""],
            "motif_pval": [1e-6, 1e-6, np.nan],
            "motif_padj": [1e-3, 1e-3, np.nan],
        }
    )
    regions.uns[K.UNS][K.UNS_MOTIFS] = {"K562": {K.UNS_SEQLETS: seqlets, K.UNS_PARAMS: {"motif_db": db.source}}}
    path = cs.io.write_seqlets(regions, tmp_path / "seqlets.bed", "K562")
    bed = pd.read_csv(path, sep="\t", header=None, names=["chrom", "start", "end", "name", "score", "strand"])
    starts = regions.obs["start"].to_numpy()
    by_start = bed.set_index("start")
    assert by_start.loc[starts[0] + 20, ["name", "score", "strand"]].tolist() == [f"CTCF {db.ids[j]}", 1000, "+"]
    assert by_start.loc[starts[1] + 60, ["score", "strand"]].tolist() == [500, "-"]
    assert by_start.loc[starts[2] + 5, ["name", "strand"]].tolist() == ["unmatched", "."]
    assert (bed["chrom"] == "chr20").all()
    only = cs.io.write_seqlets(regions, tmp_path / "matched.bed", "K562", max_padj=0.01)
    assert len(pd.read_csv(only, sep="\t", header=None)) == 2
