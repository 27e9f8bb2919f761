"""The ``chromseq`` command line, end to end on tiny data."""

from __future__ import annotations

import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from chromseq import _keys as K
from chromseq.cli import main

TRAIN = ["--preset", "tiny", "--max-epochs", "1", "--batch-size", "64"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Run prepare-free steps once on synthetic data: pretrain -> finetune -> train -> predict -> evaluate."""
    import chromseq as cs

    folder = tmp_path_factory.mktemp("cli")
    data = cs.datasets.synthetic(n_regions=240, width=200, celltypes=["K562", "HepG2"], random_state=1)
    data.write_h5ad(folder / "regions.h5ad")
    models = str(folder / "models")
    steps = [
        ["pretrain", str(folder / "regions.h5ad"), "-o", str(folder / "pre.h5ad"), "--save-dir", models, *TRAIN],
        [
            "finetune",
            str(folder / "pre.h5ad"),
            "-o",
            str(folder / "ft.h5ad"),
            "--save-dir",
            models,
            "--celltype",
            "K562",
            *TRAIN[2:],
        ],
        [
            "train",
            str(folder / "ft.h5ad"),
            "-o",
            str(folder / "tr.h5ad"),
            "--save-dir",
            models,
            "--celltype",
            "K562",
            *TRAIN,
        ],
        ["predict", str(folder / "tr.h5ad"), "-o", str(folder / "pred.h5ad")],
        ["evaluate", str(folder / "pred.h5ad"), "-o", str(folder / "eval.h5ad"), "--csv", str(folder / "metrics.csv")],
    ]
    for argv in steps:
        assert main(argv) == 0, argv
    return folder


def test_training_steps_record_models(pipeline):
    adata = ad.read_h5ad(pipeline / "tr.h5ad")
    assert set(adata.uns[K.UNS][K.UNS_MODELS]) == {"pretrained", "finetuned_K562", "scratch_K562"}


def test_predict_and_evaluate_write_keys_and_csv(pipeline):
    adata = ad.read_h5ad(pipeline / "eval.h5ad")
    assert {"pretrained", "finetuned_K562", "scratch_K562"} <= set(adata.obsm[K.PRED].columns)
    table = pd.read_csv(pipeline / "metrics.csv")
    assert {"model", "split", "auroc"} <= set(table.columns)
    assert {"baseline_gc", "finetuned_K562"} <= set(table["model"])


def test_predict_applies_models_of_another_h5ad(pipeline, tmp_path):
    import chromseq as cs

    new = cs.datasets.synthetic(n_regions=60, width=200, celltypes=["K562", "HepG2"], random_state=5)
    new.write_h5ad(tmp_path / "new.h5ad")
    argv = [
        "predict",
        str(tmp_path / "new.h5ad"),
        "-o",
        str(tmp_path / "out.h5ad"),
        "--models",
        str(pipeline / "tr.h5ad"),
    ]
    assert main(argv) == 0
    pred = ad.read_h5ad(tmp_path / "out.h5ad").obsm[K.PRED]
    assert "finetuned_K562" in pred.columns
    assert np.isfinite(pred["finetuned_K562"].to_numpy()).all()


def test_contributions_and_report(pipeline, tmp_path):
    out = tmp_path / "contrib.h5ad"
    argv = ["contributions", str(pipeline / "eval.h5ad"), "-o", str(out), "--celltype", "K562", "--split", "test"]
    argv += ["--positives", "--method", "grad_x_input"]
    assert main(argv) == 0
    adata = ad.read_h5ad(out)
    scores = adata.obsm[K.contrib_key("K562")]
    computed = ~np.isnan(scores.reshape(adata.n_obs, -1)).all(axis=1)
    expected = (adata.obs[K.SPLIT] == "test").to_numpy() & (adata[:, "K562"].X.ravel() == 1)
    np.testing.assert_array_equal(computed, expected)
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| target |" in text
    assert (tmp_path / "report" / "figures" / "roc.png").stat().st_size > 0
    assert "- K562: test AUROC fine-tuned" in text  # the verdict against the composition baselines
    # each cell type's logo sits under its own heading, after the section it belongs to
    assert text.index("### K562") < text.index("![contributions_K562]")


def test_bad_input_exits_nonzero_without_output(pipeline, tmp_path, capsys):
    out = tmp_path / "never.h5ad"
    assert main(["finetune", str(pipeline / "pre.h5ad"), "-o", str(out), "--celltype", "NOPE", *TRAIN[2:]]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "NOPE" in errors[0] and errors[0].startswith("chromseq finetune: error:")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_input_is_a_one_line_error(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing.h5ad"), "-o", str(tmp_path / "x.h5ad")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_console_script_help_lists_subcommands():
    result = subprocess.run(
        [sys.executable, "-m", "chromseq.cli", "--help"], capture_output=True, text=True, check=True
    )
    for name in (
        "demo",
        "prepare",
        "pretrain",
        "finetune",
        "train",
        "predict",
        "evaluate",
        "contributions",
        "motifs",
        "report",
    ):
        assert name in result.stdout


def test_prepare_from_real_files(chr20_beds, chr20_fasta, tmp_path):
    out = tmp_path / "chr20.h5ad"
    regions = [f"{ct}={path}" for ct, path in list(chr20_beds.items())[:2]]
    assert (
        main(["prepare", "--regions", *regions, "--genome", str(chr20_fasta), "--background", "500", "-o", str(out)])
        == 0
    )
    adata = ad.read_h5ad(out)
    assert list(adata.var_names) == list(chr20_beds)[:2]
    assert adata.obs[K.BACKGROUND].sum() == 500
    assert set(adata.obs[K.SPLIT].cat.categories) == set(K.SPLITS)
    assert adata.obsm[K.SEQUENCE].shape[1] == 600


def test_threads_option_applies_to_the_step_and_is_restored(pipeline, tmp_path, monkeypatch):
    import torch

    import chromseq._report

    seen = []
    monkeypatch.setattr(chromseq._report, "write_report", lambda adata, out: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert main(["report", str(pipeline / "eval.h5ad"), "--out", str(tmp_path), "--threads", "1"]) == 0
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(SystemExit) as exit_:  # argparse rejects it before anything runs
        main(["report", str(pipeline / "eval.h5ad"), "--out", str(tmp_path / "never"), "--threads", "0"])
    assert exit_.value.code == 2 and not (tmp_path / "never").exists()
