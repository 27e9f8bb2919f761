"""The ``chromseq`` command line, end to end on tiny data."""

from __future__ import annotations

import re
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import chromseq as cs
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
    scores, names = cs.tl.get_contributions(adata, "K562")
    expected = (adata.obs[K.SPLIT] == "test").to_numpy() & (adata[:, "K562"].X.ravel() == 1)
    assert list(names) == list(adata.obs_names[expected]) and np.isfinite(scores).all()
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| target |" in text
    assert (tmp_path / "report" / "figures" / "roc.png").stat().st_size > 0
    # the verdict against the composition baselines, read from the interval of the difference
    assert re.search(r"- K562 \(\d+ positives of \d+ test regions\): test AUROC fine-tuned", text)
    assert re.search(
        r"vs best composition baseline: [+-]\d\.\d{3} \[.*\], \*\*(better|worse|no detectable difference)\*\*", text
    )
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


# -- first contact: help, version, output checks, interrupts, wording (issue 10) ------------------------
def test_help_and_version_do_not_import_torch():
    code = (
        "import sys, contextlib, io\n"
        "from chromseq.cli import main\n"
        "for argv in (['--help'], ['pretrain', '--help'], ['--version']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "    assert out.getvalue(), argv\n"
        "heavy = sorted({'torch', 'anndata', 'scanpy', 'tangermeme'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_version_flag(capsys):
    import chromseq

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"chromseq {chromseq.__version__}"


def test_help_shows_each_default_once(capsys):
    for name in ("pretrain", "prepare", "demo", "predict"):
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "(default: None)" not in text and "(default: False)" not in text, name
        assert "chromseq.settings" not in text and "settings.model_dir" not in text, name
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "one epoch" in " ".join(capsys.readouterr().out.split())


def test_quick_demo_trains_one_epoch_as_its_help_says():
    from chromseq._demo import _RECIPES

    assert _RECIPES["quick"]["pretrain"]["max_epochs"] == 1 and _RECIPES["quick"]["celltype"]["max_epochs"] == 1


@pytest.fixture
def never_trains(monkeypatch):
    import chromseq.tl

    calls = []
    monkeypatch.setattr(chromseq.tl, "pretrain", lambda *a, **k: calls.append(1))
    return calls


def _one_error_line(capsys, command):
    text = capsys.readouterr().err
    err = [line for line in text.splitlines() if "error:" in line]
    assert len(err) == 1 and err[0].startswith(f"chromseq {command}: error:"), text
    assert "Traceback" not in text
    return err[0]


def test_output_that_is_a_folder_fails_before_training(pipeline, tmp_path, never_trains, capsys):
    assert main(["pretrain", str(pipeline / "regions.h5ad"), "-o", str(tmp_path), *TRAIN]) == 1
    assert "is a folder" in _one_error_line(capsys, "pretrain")
    assert never_trains == [] and list(tmp_path.iterdir()) == []


def test_save_dir_that_cannot_be_made_fails_before_training(pipeline, tmp_path, never_trains, capsys):
    (tmp_path / "file").write_text("x")
    argv = ["pretrain", str(pipeline / "regions.h5ad"), "-o", str(tmp_path / "o.h5ad"), "--save-dir"]
    assert main([*argv, str(tmp_path / "file" / "models"), *TRAIN]) == 1
    assert "--save-dir" in _one_error_line(capsys, "pretrain")
    assert never_trains == [] and not (tmp_path / "o.h5ad").exists()


@pytest.mark.skipif(sys.platform == "win32" or __import__("os").geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_folder_fails_before_training(pipeline, tmp_path, never_trains, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    for argv in (["-o", str(locked / "o.h5ad")], ["-o", str(tmp_path / "o.h5ad"), "--save-dir", str(locked / "m")]):
        assert main(["pretrain", str(pipeline / "regions.h5ad"), *argv, *TRAIN]) == 1
        assert "not writable" in _one_error_line(capsys, "pretrain")
    assert never_trains == []


def test_write_error_is_one_line(pipeline, tmp_path, monkeypatch, capsys):
    import chromseq._io_utils

    def refuse(adata, path, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(chromseq._io_utils, "write_h5ad_atomic", refuse)
    assert main(["evaluate", str(pipeline / "pred.h5ad"), "-o", str(tmp_path / "e.h5ad"), "--no-baselines"]) == 1
    assert "e.h5ad: Permission denied" in _one_error_line(capsys, "evaluate")


def test_ctrl_c_says_what_was_kept_and_how_to_resume(pipeline, tmp_path, monkeypatch, capsys):
    import chromseq.tl

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(chromseq.tl, "pretrain", interrupt)
    argv = ["pretrain", str(pipeline / "regions.h5ad"), "-o", str(tmp_path / "o.h5ad"), "--save-dir", str(tmp_path)]
    assert main([*argv, *TRAIN]) == 130
    text = capsys.readouterr().err
    (line,) = [line for line in text.splitlines() if "interrupted" in line]
    assert "Traceback" not in text
    assert "interrupted" in line and "checkpoint" in line and "--resume" in line and str(tmp_path) in line


def test_errors_name_subcommands_and_flags_not_python_calls(pipeline, tmp_path, capsys):
    adata = ad.read_h5ad(pipeline / "regions.h5ad")
    del adata.obs[K.SPLIT]
    adata.write_h5ad(tmp_path / "nosplit.h5ad")
    assert main(["pretrain", str(tmp_path / "nosplit.h5ad"), "-o", str(tmp_path / "o.h5ad"), *TRAIN]) == 1
    line = _one_error_line(capsys, "pretrain")
    assert "chromseq prepare" in line and "chromseq.pp" not in line and "(adata" not in line


def test_cli_message_rewords_python_calls():
    from chromseq._cli_checks import cli_message

    assert cli_message("run chromseq.tl.pretrain(adata) first.") == "run chromseq pretrain first."
    assert cli_message("Pass pad=True to fill") == "Pass --pad to fill"
    assert cli_message("delete it or pass resume=False.") == "delete it or rerun without --resume."
    assert cli_message("run chromseq.tl.contributions(adata, celltype='K562') first") == (
        "run chromseq contributions first"
    )
    assert cli_message("e.g. chromseq.pp.read_regions(..., width=600).") == "e.g. chromseq prepare --regions."
    assert cli_message("rerun with resume=True (--resume).") == "rerun with --resume."
    assert cli_message("rerun with existing='resume' (--resume).") == "rerun with --resume."
    assert cli_message("Pass resume=True (--resume) to continue, or overwrite=True (--overwrite) to") == (
        "Pass --resume to continue, or --overwrite to"
    )
    assert cli_message("(pass overwrite=True, --overwrite, to replace it)") == "(pass --overwrite to replace it)"
    assert cli_message("its own folder (save_dir=, --save-dir) or") == "its own folder (--save-dir) or"


def test_prepare_pad_fills_windows_past_a_chromosome_end(tmp_path, capsys):
    rng = np.random.default_rng(0)
    with open(tmp_path / "g.fa", "w") as fa:
        for chrom in ("chr1", "chr2", "chr3"):
            fa.write(f">{chrom}\n{''.join(rng.choice(list('ACGT'), 3000))}\n")
    rows = [f"{c}\t{s}\t{s + 100}\n" for c in ("chr1", "chr2", "chr3") for s in range(200, 2600, 300)]
    (tmp_path / "A.bed").write_text("".join([*rows, "chr1\t2900\t2920\n"]))  # its 200 bp window ends 10 bp past chr1
    argv = ["prepare", "--regions", f"A={tmp_path / 'A.bed'}", "--genome", str(tmp_path / "g.fa"), "--width", "200"]
    argv += ["--background", "0", "--val", "chr2", "--test", "chr3", "-o", str(tmp_path / "p.h5ad")]
    assert main(argv) == 1
    line = _one_error_line(capsys, "prepare")
    assert "--pad" in line and "pad=True" not in line
    assert main([*argv, "--pad"]) == 0
    codes = ad.read_h5ad(tmp_path / "p.h5ad").obsm[K.SEQUENCE]
    assert (codes == 4).any()  # N beyond the chromosome end


def test_demo_with_an_unknown_celltype_leaves_no_folder(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--celltype", "Neuron"]) == 1
    assert "Neuron" in _one_error_line(capsys, "demo")
    assert not (tmp_path / "demo").exists()


def test_bare_command_lists_the_subcommands(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "pretrain" in err and "demo" in err and "--version" in err


def test_auto_preset_is_fast_on_a_cpu_and_the_full_network_on_a_gpu(monkeypatch):
    import torch

    from chromseq.models import resolve_preset

    assert resolve_preset("auto", "cpu") == "fast"
    monkeypatch.setattr(cs.settings, "resolve_device", lambda device=None: torch.device("cuda"))
    assert resolve_preset("auto") == "chromtransfer"
    assert resolve_preset("tiny", "cpu") == "tiny"
