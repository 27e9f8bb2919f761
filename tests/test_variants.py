"""tl.score_variants and io.read_vcf: windows, REF checks, naming, skips, and agreement with ISM and tl.predict."""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import decode, encode

DATA = Path(__file__).parent / "data" / "vcf"
VCF_INDELS = DATA / "vt_normalize_01_IN.vcf.gz"
VCF_MULTI = DATA / "vt_decompose_01_IN_multi.vcf"
WIDTH = 200
TRAIN = {"max_epochs": 1, "batch_size": 64}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """400 bundled chr20 regions (200 bp) with a tiny pretrained model and K562/HepG2 fine-tuned models."""
    adata = cs.datasets.chromtransfer_chr20(celltypes=["K562", "HepG2"], width=WIDTH)
    rows = np.sort(np.random.default_rng(0).choice(adata.n_obs, 400, replace=False))
    adata = adata[rows].copy()
    folder = tmp_path_factory.mktemp("variant_models")
    cs.tl.pretrain(adata, preset="tiny", options=cs.tl.TrainingOptions(device="cpu"), save_dir=folder, **TRAIN)
    ft = cs.tl.TrainingOptions(stage1_epochs=1, device="cpu")
    cs.tl.finetune(adata, ["K562", "HepG2"], options=ft, save_dir=folder, **TRAIN)
    return adata


def _snvs(genome, n=6, seed=1) -> pd.DataFrame:
    """SNVs at random ACGT positions of chr20 with the genome's REF and another base as ALT (1-based pos)."""
    rng = np.random.default_rng(seed)
    seq = genome.chromosome("20")
    pos = rng.integers(1_000_000, 60_000_000, 50 * n)
    pos = pos[seq[pos] < 4][:n]
    ref = seq[pos]
    alt = (ref + rng.integers(1, 4, len(pos))) % 4
    return pd.DataFrame(
        {"chrom": "20", "pos": pos + 1, "ref": list(decode(ref)), "alt": list(decode(alt.astype(np.uint8)))}
    )


def _regions(windows: pd.DataFrame, genome, models_of: ad.AnnData) -> ad.AnnData:
    """A regions AnnData over the given windows, with the models of ``models_of``."""
    obs = pd.DataFrame(
        {
            "chrom": windows["chrom"].astype(str).to_numpy(),
            "start": windows["start"].to_numpy(),
            "end": windows["end"].to_numpy(),
        }
    )
    obs.index = [f"r{i}" for i in range(len(obs))]
    regions = ad.AnnData(np.zeros((len(obs), 2), np.float32), obs=obs, var=pd.DataFrame(index=["K562", "HepG2"]))
    cs.pp.add_sequences(regions, genome)
    regions.uns[K.UNS][K.UNS_MODELS] = dict(models_of.uns[K.UNS][K.UNS_MODELS])
    return regions


# -- reading VCFs -------------------------------------------------------------------------------------------------
def test_read_vcf_real_indels_plain_gzip():
    table = cs.io.read_vcf(VCF_INDELS)
    assert len(table) == 194
    assert list(table.columns) == ["chrom", "pos", "ref", "alt", "id"]
    assert (table["chrom"] == "20").all()
    assert table.iloc[0][["pos", "ref", "alt"]].tolist() == [421808, "A", "ACCA"]


def test_read_vcf_bgzip_region_with_index(tmp_path):
    import gzip

    import pysam

    plain = tmp_path / "indels.vcf"
    plain.write_bytes(gzip.decompress(VCF_INDELS.read_bytes()))
    indexed = pysam.tabix_index(str(plain), preset="vcf")  # bgzip + .tbi
    full = cs.io.read_vcf(VCF_INDELS)
    pd.testing.assert_frame_equal(cs.io.read_vcf(indexed), full)
    part = cs.io.read_vcf(indexed, region="20:1000000-2000000")
    inside = full[(full["pos"] >= 1_000_000) & (full["pos"] <= 2_000_000)]
    assert len(inside) > 0
    pd.testing.assert_frame_equal(part.reset_index(drop=True), inside.reset_index(drop=True))


def test_multi_allelic_record_gives_one_row_per_alt():
    table = cs.io.read_vcf(VCF_MULTI)
    assert table[["chrom", "pos", "ref", "alt"]].values.tolist() == [
        ["1", 1219477, "TG", "TGG"],
        ["1", 1219477, "TG", "T"],
    ]


def test_multi_allelic_scored_rows_share_the_reference(trained, chr20_genome, tmp_path):
    ref = decode(chr20_genome.fetch("20", 2_000_099, 2_000_101))
    alts = [b for b in "ACGT" if b != ref[0]][:2]
    vcf = tmp_path / "multi.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        f"20\t2000100\trs1\t{ref}\t{alts[0]}{ref[1]},{alts[1]}{ref[1]},{ref[0]}\t.\tPASS\t.\n"
    )
    vdata = cs.tl.score_variants(trained, vcf, genome=chr20_genome, celltype="K562")
    assert vdata.n_obs == 3 and (vdata.obs["id"] == "rs1").all()
    assert vdata.obs["kind"].tolist() == ["mnv", "mnv", "deletion"]
    ref_p = vdata.layers["ref"][:, 0]
    assert np.all(ref_p == ref_p[0])
    assert len(np.unique(vdata.layers["delta"][:, 0])) == 3


# -- agreement with ISM and predict --------------------------------------------------------------------------------
def test_snv_delta_equals_ism_at_that_base(trained, chr20_genome):
    snvs = _snvs(chr20_genome)
    vdata = cs.tl.score_variants(trained, snvs, genome=chr20_genome, celltype="K562", rc_average=False)
    windows = vdata.obs.rename(columns={"window_start": "start", "window_end": "end"})
    regions = _regions(windows, chr20_genome, trained)
    cs.tl.contributions(regions, "K562", method="ism")
    ism, _ = cs.tl.get_contributions(regions, "K562")
    idx = np.arange(len(snvs))
    ref_code, alt_code = encode("".join(snvs["ref"])), encode("".join(snvs["alt"]))
    expected = ism[idx, alt_code, WIDTH // 2] - ism[idx, ref_code, WIDTH // 2]
    np.testing.assert_allclose(vdata.layers["delta"][:, 0], expected, rtol=1e-4, atol=1e-5)
    assert np.abs(expected).max() > 1e-3  # the model does respond to these bases


def test_probabilities_equal_tl_predict_on_the_windows(trained, chr20_genome):
    snvs = _snvs(chr20_genome, seed=2)
    vdata = cs.tl.score_variants(trained, snvs, genome=chr20_genome, store_sequences=True)
    assert list(vdata.var_names) == ["pretrained", "finetuned_K562", "finetuned_HepG2"]
    windows = vdata.obs.rename(columns={"window_start": "start", "window_end": "end"})
    regions = _regions(windows, chr20_genome, trained)
    np.testing.assert_array_equal(regions.obsm[K.SEQUENCE], vdata.obsm[K.SEQUENCE_REF])
    cs.tl.predict(regions)
    np.testing.assert_allclose(vdata.layers["ref"], regions.obsm[K.PRED][vdata.var_names].to_numpy(), rtol=1e-5)
    regions.obsm[K.SEQUENCE] = vdata.obsm[K.SEQUENCE_ALT]
    cs.tl.predict(regions)
    alt = regions.obsm[K.PRED][vdata.var_names].to_numpy()
    np.testing.assert_allclose(vdata.layers["alt"], alt, rtol=1e-5)
    logit = np.log(alt / (1 - alt)) - np.log(vdata.layers["ref"] / (1 - vdata.layers["ref"]))
    np.testing.assert_allclose(vdata.layers["delta"], logit, rtol=1e-3, atol=1e-4)


def test_contributions_of_ref_and_alt_windows(trained, chr20_genome):
    snvs = _snvs(chr20_genome, n=3, seed=3)
    vdata = cs.tl.score_variants(
        trained, snvs, genome=chr20_genome, celltype="K562", rc_average=False, contributions=True, contrib_method="ism"
    )
    ref_c = vdata.obsm[K.variant_contrib_key("ref", "K562")]
    alt_c = vdata.obsm[K.variant_contrib_key("alt", "K562")]
    assert ref_c.shape == alt_c.shape == (3, 4, WIDTH)
    idx, off = np.arange(3), WIDTH // 2
    ref_code, alt_code = encode("".join(snvs["ref"])), encode("".join(snvs["alt"]))
    np.testing.assert_allclose(
        ref_c[idx, alt_code, off] - ref_c[idx, ref_code, off], vdata.layers["delta"][:, 0], rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        alt_c[idx, ref_code, off] - alt_c[idx, alt_code, off], -vdata.layers["delta"][:, 0], rtol=1e-4, atol=1e-5
    )


# -- indel windows ------------------------------------------------------------------------------------------------
def test_indel_windows_have_model_width_and_the_hand_built_alt(trained, chr20_genome):
    seq = chr20_genome.chromosome("20")
    p_del, p_ins, off = 3_000_000, 3_100_000, WIDTH // 2  # 0-based first REF base
    deletion = decode(seq[p_del : p_del + 5])  # REF of 5 bases -> ALT its first base
    insertion = decode(seq[p_ins : p_ins + 1])
    table = pd.DataFrame(
        {
            "chrom": "20",
            "pos": [p_del + 1, p_ins + 1],
            "ref": [deletion, insertion],
            "alt": [deletion[0], insertion + "GATTACA"],
        }
    )
    vdata = cs.tl.score_variants(trained, table, genome=chr20_genome, celltype="K562", store_sequences=True)
    alt = vdata.obsm[K.SEQUENCE_ALT]
    assert alt.shape == (2, WIDTH) and vdata.obs["kind"].tolist() == ["deletion", "insertion"]
    s = p_del - off
    hand_del = decode(seq[s : p_del + 1]) + decode(seq[p_del + 5 : p_del + 5 + WIDTH - off - 1])
    s = p_ins - off
    hand_ins = decode(seq[s:p_ins]) + insertion + "GATTACA" + decode(seq[p_ins + 1 : p_ins + 1 + WIDTH - off - 8])
    assert decode(alt[0]) == hand_del and len(hand_del) == WIDTH
    assert decode(alt[1]) == hand_ins and len(hand_ins) == WIDTH
    assert decode(vdata.obsm[K.SEQUENCE_REF][0]) == decode(seq[p_del - off : p_del - off + WIDTH])


def test_real_indel_vcf_end_to_end(trained, chr20_genome):
    vdata = cs.tl.score_variants(trained, VCF_INDELS, genome=chr20_genome, celltype=["K562", "HepG2"])
    assert vdata.shape == (194, 2) and vdata.obs["scored"].all() and vdata.obs["ref_match"].all()
    assert vdata.obs["kind"].value_counts()[["deletion", "insertion"]].tolist() == [105, 89]
    assert np.isfinite(vdata.layers["delta"]).all() and vdata.obs_names.is_unique
    assert (vdata.obs["window_end"] - vdata.obs["window_start"] == WIDTH).all()
    assert vdata.uns[K.UNS][K.UNS_VARIANTS]["width"] == WIDTH


# -- REF checks, naming, skips -------------------------------------------------------------------------------------
def test_ref_mismatch_errors_by_default_or_is_flagged(trained, chr20_genome):
    snvs = _snvs(chr20_genome, n=4, seed=4)
    wrong = snvs.copy()
    wrong.loc[1, "ref"] = {"A": "C", "C": "G", "G": "T", "T": "A"}[wrong.loc[1, "ref"]]
    wrong.loc[1, "alt"] = snvs.loc[1, "ref"] if wrong.loc[1, "ref"] != snvs.loc[1, "ref"] else "A"
    with pytest.raises(ValueError, match="REF allele that differs from the genome"):
        cs.tl.score_variants(trained, wrong, genome=chr20_genome, celltype="K562")
    flagged = cs.tl.score_variants(trained, wrong, genome=chr20_genome, celltype="K562", ref_mismatch="flag")
    assert flagged.obs["flag"].tolist() == ["ok", "ref_mismatch", "ok", "ok"]
    assert flagged.obs["scored"].all() and flagged.obs["ref_match"].tolist() == [True, False, True, True]
    skipped = cs.tl.score_variants(trained, wrong, genome=chr20_genome, celltype="K562", ref_mismatch="skip")
    assert skipped.obs["scored"].tolist() == [True, False, True, True]
    assert np.isnan(skipped.layers["delta"][1]).all()
    np.testing.assert_allclose(skipped.layers["delta"][[0, 2, 3]], flagged.layers["delta"][[0, 2, 3]], rtol=1e-4)


def test_chr20_and_20_give_the_same_result(trained, chr20_genome):
    snvs = _snvs(chr20_genome, n=4, seed=5)
    a = cs.tl.score_variants(trained, snvs, genome=chr20_genome, celltype="K562")
    b = cs.tl.score_variants(trained, snvs.assign(chrom="chr20"), genome=chr20_genome, celltype="K562")
    np.testing.assert_array_equal(a.layers["delta"], b.layers["delta"])
    np.testing.assert_array_equal(a.layers["ref"], b.layers["ref"])
    assert (b.obs["chrom"] == "chr20").all()


def test_symbolic_star_and_chromosome_end_are_skipped_and_flagged(trained, chr20_genome, caplog):
    snv = _snvs(chr20_genome, n=1, seed=6).iloc[0]
    end = chr20_genome.size("20")
    last = decode(chr20_genome.fetch("20", end - 20, end - 19))
    table = pd.DataFrame(
        {
            "chrom": ["20", "20", "20", "20", "chrX", "20"],
            "pos": [snv.pos, snv.pos, snv.pos, end - 19, 100_000, snv.pos],
            "ref": [snv.ref, snv.ref, snv.ref, last, "A", snv.ref],
            "alt": [snv.alt, "<DEL>", "*", "A" if last != "A" else "C", "G", "R"],
        }
    )
    with caplog.at_level(logging.WARNING, logger="chromseq"):
        vdata = cs.tl.score_variants(trained, table, genome=chr20_genome, celltype="K562")
    assert vdata.obs["flag"].tolist() == ["ok", "symbolic", "star", "chrom_end", "not_in_genome", "invalid_allele"]
    assert vdata.obs["scored"].tolist() == [True] + [False] * 5
    assert np.isnan(vdata.layers["delta"][1:]).all() and np.isfinite(vdata.layers["delta"][0]).all()
    assert "skipped 5 of 6 variants" in caplog.text
    assert vdata.uns[K.UNS][K.UNS_VARIANTS]["flag_counts"]["symbolic"] == 1


def test_bad_input_is_named(trained, chr20_genome):
    with pytest.raises(KeyError, match="lacks column"):
        cs.tl.score_variants(trained, pd.DataFrame({"chrom": ["20"], "pos": [5]}), genome=chr20_genome)
    with pytest.raises(ValueError, match="ref_mismatch="):
        cs.tl.score_variants(trained, VCF_INDELS, genome=chr20_genome, ref_mismatch="warn")
    table = pd.DataFrame({"chrom": ["chrX"], "pos": [100], "ref": ["A"], "alt": ["G"]})
    with pytest.raises(ValueError, match="no variant could be scored"):
        cs.tl.score_variants(trained, table, genome=chr20_genome, celltype="K562")


def test_variant_anndata_round_trips_through_h5ad(trained, chr20_genome, tmp_path):
    vdata = cs.tl.score_variants(trained, VCF_INDELS, genome=chr20_genome, celltype="K562", store_sequences=True)
    vdata.write_h5ad(tmp_path / "v.h5ad")
    back = ad.read_h5ad(tmp_path / "v.h5ad")
    np.testing.assert_array_equal(back.layers["delta"], vdata.layers["delta"])
    assert back.uns[K.UNS][K.UNS_VARIANTS]["width"] == WIDTH


# -- plots ---------------------------------------------------------------------------------------------------------
def test_variant_effect_stacks_ref_and_alt_logos_with_delta_in_title(trained, chr20_genome, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pd.concat([_snvs(chr20_genome, n=2, seed=7), cs.io.read_vcf(VCF_INDELS).head(2)], ignore_index=True)
    vdata = cs.tl.score_variants(
        trained, table, genome=chr20_genome, celltype="K562", contributions=True, contrib_method="grad_x_input"
    )
    axes = cs.pl.variant_effect(vdata, 2, "K562", window=30, save=tmp_path / "v.png", show=False)
    assert len(axes) == 2 and (tmp_path / "v.png").stat().st_size > 0
    assert f"delta {vdata.layers['delta'][2, 0]:+.3f}" in axes[0].get_title()
    assert axes[0].get_ylim() == axes[1].get_ylim()
    shaded = [p for p in axes[1].patches if p.get_alpha() == 0.35]
    assert len(shaded) == 1 and shaded[0].get_width() == pytest.approx(len(table.loc[2, "alt"]))
    plt.close("all")
    with pytest.raises(KeyError, match="contributions=True"):
        cs.pl.variant_effect(cs.tl.score_variants(trained, table, genome=chr20_genome, celltype="K562"), 0, "K562")


def test_variant_ranking_shows_the_strongest_variants_per_output(trained, chr20_genome):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vdata = cs.tl.score_variants(trained, VCF_INDELS, genome=chr20_genome, celltype=["K562", "HepG2"])
    axes = cs.pl.variant_ranking(vdata, n=5, show=False)
    assert [a.get_title() for a in axes] == ["K562", "HepG2"]
    for a, ct in zip(axes, ["K562", "HepG2"], strict=True):
        widths = [p.get_width() for p in a.patches]
        top = np.sort(np.abs(vdata[:, ct].layers["delta"].ravel()))[-5:]
        np.testing.assert_allclose(np.sort(np.abs(widths)), top, rtol=1e-6)
        assert np.abs(widths[-1]) == pytest.approx(top[-1])  # strongest on top
    plt.close("all")


# -- command line --------------------------------------------------------------------------------------------------
def test_cli_variants_writes_h5ad_and_tsv(trained, chr20_fasta, tmp_path, capsys):
    from chromseq.cli import main

    trained.write_h5ad(tmp_path / "models.h5ad")
    out, tsv = tmp_path / "v.h5ad", tmp_path / "v.tsv"
    argv = ["variants", str(VCF_INDELS), "--models", str(tmp_path / "models.h5ad"), "--genome", str(chr20_fasta)]
    assert main([*argv, "--celltype", "K562", "HepG2", "-o", str(out), "--tsv", str(tsv), "--threads", "1"]) == 0
    vdata = ad.read_h5ad(out)
    assert vdata.shape == (194, 2)
    table = pd.read_csv(tsv, sep="\t", index_col="variant")
    assert list(table.index) == list(vdata.obs_names)
    np.testing.assert_allclose(table["K562_delta"], vdata.layers["delta"][:, 0], rtol=1e-5)
    assert {"chrom", "pos", "ref", "alt", "flag", "HepG2_ref", "HepG2_alt"} <= set(table.columns)

    bad = tmp_path / "bad.vcf"
    bad.write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n20\t421808\t.\tG\tT\t.\t.\t.\n"
    )
    assert main([*argv[:1], str(bad), *argv[2:], "-o", str(tmp_path / "bad.h5ad")]) == 1
    assert "differs from the genome" in capsys.readouterr().err
    assert not (tmp_path / "bad.h5ad").exists()


def test_cli_tracks_writes_bigwigs_that_read_back(trained, tmp_path):
    import pyBigWig

    from chromseq.cli import main

    regions = trained.copy()
    cs.tl.predict(regions, ["finetuned_K562"])
    regions.write_h5ad(tmp_path / "pred.h5ad")
    assert main(["tracks", str(tmp_path / "pred.h5ad"), "--out", str(tmp_path / "tracks"), "--threads", "1"]) == 0
    path = tmp_path / "tracks" / "pred_finetuned_K562.bw"
    row = regions.obs.iloc[0]
    with pyBigWig.open(str(path)) as bw:
        assert bw.chroms() == {"chr20": 63025520}
        value = bw.values("chr20", int(row["start"]) + WIDTH // 2, int(row["start"]) + WIDTH // 2 + 1)[0]
    assert value == pytest.approx(regions.obsm[K.PRED]["finetuned_K562"].iloc[0], rel=1e-6)


def test_a_variant_listed_twice_gets_unique_names_without_warning(trained, chr20_genome, recwarn):
    snvs = _snvs(chr20_genome, n=2, seed=8)
    vdata = cs.tl.score_variants(trained, pd.concat([snvs, snvs.head(1)]), genome=chr20_genome, celltype="K562")
    assert vdata.obs_names.is_unique and vdata.n_obs == 3
    assert not [w for w in recwarn if "not unique" in str(w.message)]
    assert vdata.layers["delta"][0, 0] == vdata.layers["delta"][2, 0]
