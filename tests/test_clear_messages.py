"""Inputs that gave raw tracebacks or wrong results now fail in one line naming the file or field (issue 25)."""

import gzip
import subprocess
import sys

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq.models import PRESETS, ChromTransfer, save_model

matplotlib.use("Agg")
WIDTH = 60
LINES = "chr20\t1000\t1600\nchr20\t5000\t5600\n"


def test_a_byte_order_mark_is_not_part_of_the_first_chromosome(tmp_path):
    bed = tmp_path / "bom.bed"
    bed.write_text("\ufeff" + LINES, encoding="utf-8")
    adata = cs.pp.read_regions({"A": bed})
    assert list(adata.obs[K.CHROM].cat.categories) == ["chr20"] and adata.n_obs == 2


def test_a_corrupt_gzip_bed_names_the_file(tmp_path):
    raw = gzip.compress(("".join(f"chr20\t{i}\t{i + 600}\n" for i in range(0, 60000, 700))).encode())
    bad = tmp_path / "peaks.bed.gz"
    bad.write_bytes(raw[:40] + bytes([raw[40] ^ 0xFF]) + raw[41:])
    with pytest.raises(ValueError, match=r"peaks\.bed\.gz is a damaged or truncated gzip file .*download it again"):
        cs.pp.read_regions({"A": bad})
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"peaks\.bed\.gz is a damaged or truncated gzip file"):
        cs.pp.read_regions({"A": bad})


def test_a_narrowpeak_without_signal_values_is_read_as_peaks(tmp_path):
    peaks = tmp_path / "a.narrowPeak"
    peaks.write_text("chr20\t100\t700\tp1\t0\t.\t.\t5.2\t3.1\t300\nchr20\t1000\t1600\tp2\t0\t.\t.\t4.0\t2.0\t200\n")
    adata = cs.pp.read_regions({"K562": peaks}, width=100)
    assert adata.uns[K.UNS][K.UNS_PARAMS]["read_regions"]["formats"] == {"K562": "narrowPeak"}
    assert adata.obs_names.tolist() == ["chr20:350-450", "chr20:1150-1250"]  # windows on the summits


@pytest.fixture
def model_dir(tmp_path):
    net = ChromTransfer(PRESETS["tiny"].replace(seq_len=WIDTH), generator=torch.Generator().manual_seed(0))
    return save_model(net, tmp_path / "m", card={"kind": "pretrain"})


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_predict_refuses_a_batch_size_below_one(batch_size, model_dir, make_regions):
    adata = make_regions(width=WIDTH)
    with pytest.raises(ValueError, match=rf"batch_size must be an int >= 1, got {batch_size!r}"):
        cs.tl.predict(adata, models=model_dir, batch_size=batch_size)
    assert K.PRED not in adata.obsm


def test_score_variants_refuses_a_batch_size_of_zero(model_dir, tmp_path):
    variants = pd.DataFrame({"chrom": ["chr1"], "pos": [30], "ref": ["A"], "alt": ["C"]})
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, got 0"):
        cs.tl.score_variants(None, variants, models=model_dir, genome=tmp_path / "none.fa", batch_size=0)


@pytest.mark.parametrize("command", ["predict", "variants"])
def test_cli_batch_size_zero_is_one_line_before_any_work(command, model_dir, tmp_path):
    first = ["predict", "missing.h5ad"] if command == "predict" else ["variants", "missing.vcf", "--genome", "g.fa"]
    run = subprocess.run(
        [sys.executable, "-m", "chromseq.cli", *first, "-o", str(tmp_path / "p.h5ad")]
        + ["--models", str(model_dir), "--batch-size", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and run.stderr.strip().splitlines() == [
        f"chromseq {command}: error: --batch-size must be 1 or more, got 0."
    ]


def test_variant_ranking_on_regions_says_what_it_needs(make_regions):
    with pytest.raises(KeyError, match=r"no layers\['delta'\]: it is not a variant AnnData.*score_variants"):
        cs.pl.variant_ranking(make_regions(), show=False)
    with pytest.raises(KeyError, match="not a variant AnnData"):
        cs.pl.variant_effect(make_regions(), 0, "A", show=False)


def test_predict_all_after_single_and_multi_head_fine_tunes_predicts_both(tmp_path, make_regions, caplog):
    one = make_regions(width=WIDTH)
    adata = ad.AnnData(np.hstack([one.X, one.X]), obs=one.obs, var=pd.DataFrame(index=["A", "B"]))
    adata.obsm[K.SEQUENCE] = one.obsm[K.SEQUENCE]
    quick = {"max_epochs": 1, "batch_size": 16, "save_dir": tmp_path}
    cs.tl.pretrain(adata, preset="tiny", **quick)
    cs.tl.finetune(adata, "A", **quick)
    cs.tl.finetune(adata, ["A", "B"], multihead=True, **quick)
    with caplog.at_level("INFO", logger="chromseq"):
        cs.tl.predict(adata)
    pred = adata.obsm[K.PRED]
    assert sorted(pred.columns) == ["finetuned:A", "finetuned_A", "finetuned_B", "pretrained"]
    meta = adata.uns[K.UNS][K.UNS_PREDICTIONS]
    assert meta["finetuned_A"]["model"] == "finetuned_A" and meta["finetuned:A"]["model"] == "finetuned"
    assert not np.allclose(pred["finetuned_A"], pred["finetuned:A"])
    assert "model 'finetuned' writes output 'A' to 'finetuned:A'" in caplog.text
    cs.tl.evaluate(adata, baselines=False)
    assert {"finetuned", "finetuned_A"} <= set(adata.uns[K.UNS][K.UNS_METRICS]["model"])
