"""What a new user meets first: the network and thread count by default, and progress in a plain script."""

import inspect
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import chromseq as cs
from chromseq.models import get_config, resolve_preset
from chromseq.tl import _preset_warning
from chromseq.tl._preset_warning import warn_if_gpu_sized

SMALL = {"max_epochs": 1, "batch_size": 32, "learning_rate": 1e-2}


def test_pretrain_on_a_cpu_trains_the_cpu_recipe_by_default(make_regions, tmp_path, caplog):
    adata = make_regions(120, width=100)
    with cs.settings.override(device="cpu", verbosity=2), caplog.at_level(logging.INFO, "chromseq"):
        cs.tl.pretrain(adata, save_dir=tmp_path, **SMALL)
    record = adata.uns["chromseq"]["models"]["pretrained"]
    assert record["preset"] == "fast"
    assert record["config"]["stem_pool"] == 4  # the fast network, not chromtransfer's
    assert "preset 'auto' -> 'fast'" in caplog.text


def test_auto_is_the_default_of_every_training_verb():
    for verb in (cs.tl.pretrain, cs.tl.transfer_benchmark):
        assert inspect.signature(verb).parameters["preset"].default == "auto", verb.__name__
    assert inspect.signature(cs.tl.train).parameters["preset"].default is None  # the pretrained model's, else auto


def test_auto_resolves_by_device():
    assert resolve_preset("auto", "cpu") == "fast"
    assert resolve_preset("tiny", "cpu") == "tiny"
    assert get_config("auto").preset == ("fast" if cs.settings.resolve_device().type == "cpu" else "chromtransfer")
    with pytest.raises(ValueError, match=r"unknown preset 'foo'; choose one of \['auto'"):
        get_config("foo")


def test_train_accepts_auto_and_records_threads(make_regions, tmp_path):
    adata = make_regions(120, width=100)
    with cs.settings.override(device="cpu"):
        cs.tl.train(adata, "A", preset="auto", save_dir=tmp_path, **SMALL)
    record = adata.uns["chromseq"]["models"]["scratch_A"]
    assert record["preset"] == "fast"
    assert record["params"]["torch_threads"] == cs.settings.threads == 1


def test_thread_setting_is_applied_while_training_and_restored(make_regions, tmp_path):
    adata = make_regions(120, width=100)
    before = torch.get_num_threads()
    with cs.settings.override(threads=2, device="cpu"):
        cs.tl.pretrain(adata, preset="tiny", save_dir=tmp_path, **SMALL)
    assert adata.uns["chromseq"]["models"]["pretrained"]["params"]["torch_threads"] == 2
    assert torch.get_num_threads() == before
    with cs.settings.override(threads=None, device="cpu"):  # None: the user's own torch count
        cs.tl.pretrain(adata, preset="tiny", save_dir=tmp_path, key_added="own", **SMALL)
    assert adata.uns["chromseq"]["models"]["own"]["params"]["torch_threads"] == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValueError, match="threads must be a positive int or None"):
        cs.settings.threads = bad


def test_gpu_network_on_a_cpu_warns_once_with_the_time_per_epoch(monkeypatch, caplog):
    monkeypatch.setattr(_preset_warning, "_warned", set())
    config = get_config("chromtransfer")
    with caplog.at_level(logging.WARNING, "chromseq"):
        warn_if_gpu_sized(get_config("fast"), torch.device("cpu"), 12_000)
        assert not caplog.records
        warn_if_gpu_sized(config, torch.device("cpu"), 12_000)
        warn_if_gpu_sized(config, torch.device("cpu"), 12_000)
    assert len(caplog.records) == 1
    assert "about 20 min per epoch for 12000 training sequences" in caplog.text


def _script(tmp_path: Path, before: str = "") -> subprocess.CompletedProcess:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import chromseq as cs; from conftest import one_celltype_regions\n"
        f"{before}"
        "cs.tl.pretrain(one_celltype_regions(120, width=100), max_epochs=3, options=cs.tl.TrainingOptions(patience=5), "
        "save_dir=sys.argv[2], preset='tiny', batch_size=32)\n"
    )
    args = [sys.executable, "-c", code, str(Path(__file__).parent), str(tmp_path)]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def test_plain_script_at_default_verbosity_logs_one_line_per_epoch(tmp_path):
    proc = _script(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    epochs = [line for line in proc.stderr.splitlines() if " epoch " in line]
    assert len(epochs) == 3, proc.stderr
    assert all("val_auroc" in line and "train_loss" in line and line.endswith(" s)") for line in epochs)
    assert [line.split("epoch ")[1].split(":")[0] for line in epochs] == ["1/3", "2/3", "3/3"]
    assert proc.stdout == ""


def test_verbosity_zero_keeps_a_script_quiet(tmp_path):
    proc = _script(tmp_path, "cs.settings.verbosity = 0\n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert " epoch " not in proc.stderr


# -- command line and namespace ------------------------------------------------------------------------


def _parse(argv: list[str]):
    from chromseq.cli import _build_parser

    return _build_parser().parse_args(argv)


@pytest.mark.parametrize("flag", ["-o", "--output", "--out"])
def test_every_output_takes_both_spellings(flag):
    assert _parse(["predict", "in.h5ad", flag, "x.h5ad"]).output == "x.h5ad"
    assert _parse(["prepare", "--regions", "a.bed", "--genome", "g.fa", flag, "x.h5ad"]).output == "x.h5ad"
    assert _parse(["report", "in.h5ad", flag, "folder"]).out == "folder"
    assert _parse(["demo", flag, "folder"]).out == "folder"
    assert _parse(["tracks", "in.h5ad", flag, "folder"]).out == "folder"


@pytest.mark.parametrize("flag", ["--celltype", "--celltypes"])
def test_celltype_takes_both_spellings(flag):
    assert _parse(["pretrain", "in.h5ad", "-o", "x.h5ad", flag, "A", "B"]).celltypes == ["A", "B"]
    assert _parse(["finetune", "in.h5ad", "-o", "x.h5ad", flag, "A", "B"]).celltype == ["A", "B"]
    assert _parse(["contributions", "in.h5ad", "-o", "x.h5ad", flag, "A"]).celltype == "A"
    assert _parse(["demo", flag, "K562"]).celltype == ["K562"]


def test_help_shows_the_defaults(capsys):
    from chromseq._cli_steps import DEFAULT_OPTIONS

    options = cs.tl.TrainingOptions()
    assert DEFAULT_OPTIONS == {k: getattr(options, k) for k in DEFAULT_OPTIONS}
    for command, expected in (
        ("pretrain", ["patience in epochs (default: 10)", "(default: auto)", "batch size (default: 128)"]),
        ("prepare", ["(default: as many as open regions; 0: none)", "for 10% of the regions", "another 10%"]),
        ("contributions", ["in-silico mutagenesis", "(default: deep_lift_shap)"]),
    ):
        with pytest.raises(SystemExit):
            _parse([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert all(e in text for e in expected), (command, text)


def test_demo_with_an_unknown_preset_fails_at_once_and_leaves_no_folder(tmp_path, capsys):
    from chromseq.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["demo", "--out", str(tmp_path / "demo"), "--preset", "foo"])
    assert stop.value.code == 2
    assert "invalid choice: 'foo'" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_cli_preset_choices_are_the_presets():
    from chromseq._cli_steps import PRESET_CHOICES
    from chromseq.models import PRESETS

    assert sorted(PRESET_CHOICES) == sorted(["auto", *PRESETS])


def test_dir_of_the_package_shows_only_public_names():
    names = dir(cs)
    assert {"pp", "tl", "pl", "settings", "datasets", "__version__"} <= set(names)
    assert not {"Any", "TYPE_CHECKING", "importlib", "version", "annotations", "PackageNotFoundError"} & set(names)


def test_cli_pretrain_resolves_auto_and_records_the_thread_count(make_regions, tmp_path):
    from chromseq.cli import main

    make_regions(120, width=100).write_h5ad(tmp_path / "r.h5ad")
    argv = ["pretrain", str(tmp_path / "r.h5ad"), "--out", str(tmp_path / "p.h5ad"), "--device", "cpu"]
    argv += ["--max-epochs", "1", "--batch-size", "32", "--save-dir", str(tmp_path / "models")]
    assert main(argv) == 0
    import anndata as ad

    record = ad.read_h5ad(tmp_path / "p.h5ad").uns["chromseq"]["models"]["pretrained"]
    assert record["preset"] == "fast" and int(record["params"]["torch_threads"]) == 1
