"""Every registered model family through the same checks: train, fine-tune, predict, explain, save, load."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pyBigWig
import pytest
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import CODE_TO_ASCII, decode, one_hot
from chromseq._metrics import binary_metrics
from chromseq.models import (
    PRESETS,
    DilatedCNN,
    DilatedConfig,
    ModelConfig,
    SequenceModel,
    build,
    count_flops,
    load_model,
    save_model,
)
from chromseq.models._registry import FAMILIES, Family, config_from_dict, load_body
from chromseq.store import get_record, load_recorded

DATA = Path(__file__).parent / "data"
FAMILY_NAMES = sorted(FAMILIES)


def smallest_preset(arch: str) -> str:
    """The family's cheapest preset (fewest forward FLOPs on a 600-bp sequence)."""
    names = [n for n, c in PRESETS.items() if c.arch == arch]
    return min(names, key=lambda n: count_flops(PRESETS[n]))


def test_presets_span_three_families_each_with_a_gpu_and_a_cpu_size():
    assert {"chromtransfer", "dilated", "topic"} <= set(FAMILIES)
    for config in PRESETS.values():  # every preset follows the declared interface
        assert isinstance(config, ModelConfig) and isinstance(build(config), SequenceModel), config.preset
    for arch in FAMILIES:
        flops = sorted(count_flops(c) for c in PRESETS.values() if c.arch == arch)
        assert len(flops) >= 2 and flops[-1] > 20 * flops[0], arch  # a full-size and a CPU-size preset


@pytest.fixture(scope="module", params=FAMILY_NAMES)
def _trained(request, tmp_path_factory):
    """Planted-motif regions with a pretrained and a fine-tuned (K562) model of the family's smallest preset."""
    adata = cs.datasets.synthetic(
        n_regions=900, width=200, celltypes=["K562", "HepG2"], n_sites=(2, 4), sharpen=4.0, random_state=1
    )
    save_dir = tmp_path_factory.mktemp(request.param)
    fast = {"batch_size": 32, "learning_rate": 1e-2, "save_dir": save_dir}
    cs.tl.pretrain(adata, preset=smallest_preset(request.param), max_epochs=6, **fast)
    cs.tl.finetune(adata, "K562", max_epochs=6, **fast)
    return request.param, adata


@pytest.fixture
def trained(_trained):
    arch, adata = _trained
    return arch, adata.copy()


def test_smallest_preset_pretrains_fine_tunes_and_predicts_planted_motifs(trained):
    arch, adata = trained
    record = get_record(adata, "finetuned_K562")
    assert record.kind == "finetune" and record.base == "pretrained" and record.config["arch"] == arch
    assert record.network.arch == arch and "head" in record.history["stage"] and "full" in record.history["stage"]
    cs.tl.predict(adata, "finetuned_K562")
    test = (adata.obs[K.SPLIT] == "test").to_numpy()
    score = adata.obsm[K.PRED]["finetuned_K562"].to_numpy()
    assert binary_metrics(adata.X[test, 0], score[test])["auroc"] >= 0.85


def test_fine_tuned_body_starts_from_the_pretrained_body_of_its_family(trained):
    _, adata = trained
    base = load_recorded("pretrained", get_record(adata, "pretrained"))
    tuned = build(base.config.replace(head="finetune", outputs=("K562",)))
    load_body(tuned, base)
    for (name, a), b in zip(base.body.state_dict().items(), tuned.body.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_contributions_peak_on_the_planted_sites(trained):
    _, adata = trained
    sites = adata.uns[K.UNS][K.UNS_SYNTHETIC]["sites"]
    regions = sites.loc[sites["group"] == "K562", "region"].unique()
    test = (adata.obs[K.SPLIT] == "test").to_numpy() & adata.obs_names.isin(regions)
    adata = adata[test].copy()
    cs.tl.contributions(adata, "K562", n_shuffles=4, random_state=0)  # DeepLIFT/SHAP: tangermeme warns if inexact
    hyp, names = cs.tl.get_contributions(adata, "K562")
    observed = np.abs((hyp * one_hot(adata[names].obsm[K.SEQUENCE]).numpy()).sum(axis=1))  # (n, width)
    inside = np.zeros_like(observed, dtype=bool)
    row = {name: i for i, name in enumerate(names)}
    for site in sites[sites["region"].isin(names) & (sites["group"] == "K562")].itertuples():
        inside[row[site.region], site.start : site.end] = True
    assert observed[inside].mean() > 2 * observed[~inside].mean()


def test_reverse_complement_averaging_and_evaluate_run(trained):
    _, adata = trained
    cs.tl.predict(adata, "finetuned_K562", key_added="fwd", rc_average=False)
    cs.tl.predict(adata, "finetuned_K562")
    fwd, both = adata.obsm["fwd"].iloc[:, 0].to_numpy(), adata.obsm[K.PRED]["finetuned_K562"].to_numpy()
    assert np.all(np.isfinite(both)) and not np.allclose(fwd, both)
    cs.tl.evaluate(adata, "finetuned_K562", baselines=False)
    metrics = adata.uns[K.UNS][K.UNS_METRICS].set_index(["model", "split"])
    assert metrics.loc[("finetuned_K562", "test"), "auroc"] >= 0.85


def _genome_fasta(adata: anndata.AnnData, path: Path) -> Path:
    """A FASTA of the synthetic chromosomes: each region's sequence at its coordinates, random bases between."""
    rng = np.random.default_rng(0)
    with path.open("w") as fh:
        for chrom, obs in adata.obs.groupby("chrom", observed=True):
            codes = rng.integers(0, 4, int(obs["end"].max()) + 500).astype(np.uint8)
            rows = adata.obs_names.get_indexer(obs.index)
            for row, start, end in zip(rows, obs["start"], obs["end"], strict=True):
                codes[start:end] = adata.obsm[K.SEQUENCE][row]
            fh.write(f">{chrom}\n{CODE_TO_ASCII[codes].tobytes().decode()}\n")
    return path


def _test_rows(adata: anndata.AnnData, n: int) -> anndata.AnnData:
    return adata[(adata.obs[K.SPLIT] == "test").to_numpy()][:n].copy()


def test_variants_are_scored_with_the_familys_model(trained, tmp_path):
    _, adata = trained
    cs.tl.predict(adata, "finetuned_K562")
    regions = _test_rows(adata, 12)
    width = regions.obsm[K.SEQUENCE].shape[1]
    ref = regions.obsm[K.SEQUENCE][:, width // 2]  # the variant window of an SNV here is the region's window
    variants = pd.DataFrame(
        {
            "chrom": regions.obs["chrom"].astype(str).to_numpy(),
            "pos": regions.obs["start"].to_numpy() + width // 2 + 1,
            "ref": list(decode(ref)),
            "alt": list(decode((ref + 2) % 4)),
        }
    )
    vdata = cs.tl.score_variants(adata, variants, genome=_genome_fasta(adata, tmp_path / "g.fa"), celltype="K562")
    delta = vdata.layers["delta"][:, 0]
    assert vdata.n_obs == 12 and np.all(np.isfinite(delta)) and np.abs(delta).max() > 1e-4
    expected = regions.obsm[K.PRED]["finetuned_K562"].to_numpy()
    np.testing.assert_allclose(vdata.layers["ref"][:, 0], expected, rtol=1e-5)  # same windows as tl.predict


def test_predictions_and_contributions_become_tracks(trained, tmp_path):
    _, adata = trained
    regions = _test_rows(adata, 6)
    cs.tl.predict(regions, "finetuned_K562")
    cs.tl.contributions(regions, "K562", n_shuffles=2, random_state=0)
    genome = _genome_fasta(adata, tmp_path / "g.fa")
    pred_bw = cs.io.write_predictions(regions, tmp_path / "p.bw", "finetuned_K562", genome=genome)
    contrib_bw = cs.io.write_contributions(regions, tmp_path / "c.bw", "K562", genome=genome)
    hyp, names = cs.tl.get_contributions(regions, "K562")
    observed = (hyp * one_hot(regions[names].obsm[K.SEQUENCE]).numpy()).sum(axis=1)  # (n, width)
    with pyBigWig.open(str(pred_bw)) as pred, pyBigWig.open(str(contrib_bw)) as contrib:
        for i, (chrom, start, end) in enumerate(regions[names].obs[["chrom", "start", "end"]].itertuples(index=False)):
            centre = (start + end) // 2
            value = regions.obsm[K.PRED]["finetuned_K562"].loc[names[i]]
            assert pred.values(str(chrom), centre, centre + 1)[0] == pytest.approx(value, rel=1e-6)
            np.testing.assert_allclose(contrib.values(str(chrom), start, end), observed[i], rtol=1e-5, atol=1e-6)


def test_transfer_benchmark_runs_from_the_familys_pretrained_model(trained, tmp_path):
    arch, adata = trained
    cs.tl.transfer_benchmark(
        adata,
        "K562",
        fractions=[0.5],
        baselines=False,
        max_epochs=1,
        batch_size=64,
        save_dir=tmp_path,
        keep_models=True,
    )
    table = adata.uns[K.UNS][K.UNS_TRANSFER]
    assert sorted(table["kind"]) == ["finetune", "scratch"] and table["auroc"].between(0, 1).all()
    for name in table["model"]:
        assert load_model(tmp_path / name).config.arch == arch, name  # scratch too: the base's network


def test_report_lists_the_familys_preset(trained, tmp_path):
    from chromseq.cli import main

    arch, adata = trained
    cs.tl.predict(adata, "finetuned_K562")
    cs.tl.evaluate(adata, "finetuned_K562", baselines=False)
    adata.write_h5ad(tmp_path / "e.h5ad")
    main(["report", str(tmp_path / "e.h5ad"), "-o", str(tmp_path / "report")])
    text = (tmp_path / "report" / "report.md").read_text()
    assert f"`finetuned_K562` (finetune, preset `{smallest_preset(arch)}`" in text


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_saves_and_loads_through_the_registry(preset, tmp_path):
    config = PRESETS[preset].replace(head="finetune", outputs=("A", "B"))
    model = build(config, generator=torch.Generator().manual_seed(0)).eval()
    path = save_model(model, tmp_path / preset)
    stored = json.loads((path / "config.json").read_text())["config"]
    assert stored["arch"] == config.arch and config_from_dict(stored) == config
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.config == config
    x = one_hot(np.random.default_rng(0).integers(0, 4, (3, config.seq_len), dtype=np.uint8))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


class _Unregistered(DilatedConfig):
    arch = "transformer9000"


def test_a_folder_of_an_unknown_architecture_is_refused_naming_it(tmp_path, monkeypatch):
    config = _Unregistered(preset="custom", filters=8, n_layers=2)
    with pytest.raises(ValueError, match="unknown model architecture 'transformer9000'"):
        save_model(DilatedCNN(config), tmp_path / "m")  # it could not be loaded back
    with monkeypatch.context() as m:  # as if saved by a chromseq that has the family
        m.setitem(FAMILIES, "transformer9000", Family("transformer9000", _Unregistered, DilatedCNN, "a future family"))
        path = save_model(DilatedCNN(config), tmp_path / "m")
    with pytest.raises(ValueError, match=r"architecture 'transformer9000'.*known: \['chromtransfer', 'dilated'"):
        load_model(path)
    with pytest.raises(ValueError, match="unknown model architecture 'transformer9000'"):
        build(config)


def test_a_folder_saved_before_families_loads_as_chromtransfer(tmp_path):
    folder = shutil.copytree(DATA / "legacy_fast_model", tmp_path / "legacy")
    assert "arch" not in json.loads((folder / "config.json").read_text())["config"]
    model = load_model(folder)
    assert model.config.arch == "chromtransfer" and model.config.preset == "fast"
    x = one_hot(torch.randint(0, 4, (5, 200), generator=torch.Generator().manual_seed(0)).numpy().astype(np.uint8))
    with torch.no_grad():
        np.testing.assert_allclose(model(x).numpy(), np.load(DATA / "legacy_fast_model_logits.npy"), rtol=1e-5)


def test_an_h5ad_record_without_arch_reads_as_chromtransfer(tmp_path):
    from chromseq.store import ModelRecord

    stored = json.loads((DATA / "legacy_fast_model" / "config.json").read_text())["config"]
    adata = cs.datasets.synthetic(30, width=200, random_state=0)
    cs._validate.uns_chromseq(adata)[K.UNS_MODELS] = {"old": {"kind": "finetune", "config": stored}}
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = anndata.read_h5ad(tmp_path / "a.h5ad")
    record = ModelRecord.from_dict(back.uns[K.UNS][K.UNS_MODELS]["old"], "old")
    assert record.network.arch == "chromtransfer" and record.network == config_from_dict(stored)


def test_a_body_is_fine_tuned_only_into_its_own_family():
    dilated = build(PRESETS["dilated_fast"])
    topic = build(PRESETS["topic_fast"].replace(head="finetune", outputs=("K562",)))
    with pytest.raises(ValueError, match="'dilated' network .* cannot be fine-tuned into a 'topic' network"):
        load_body(topic, dilated, base_name="base model 'pretrained'")
    wider = build(dataclasses.replace(PRESETS["dilated_fast"], filters=16))
    with pytest.raises(ValueError, match=r"differs from the network's in \['filters'\]"):
        load_body(wider, dilated)


@pytest.mark.parametrize(
    "change, rule",
    [
        ({"seq_len": 0}, "seq_len must be a positive int, got 0."),
        ({"dropout": 1.5}, "dropout must be in [0, 1), got 1.5."),
        ({"l2": -1e-4}, "l2 must be >= 0 (an L2 penalty), got -0.0001."),
        ({"composition_k": (2, 2)}, "composition_k must hold distinct k-mer lengths 1..6, got (2, 2)."),
        ({"head": "x"}, "head must be 'pretrain' or 'finetune', got 'x'."),
        ({"outputs": ("a", "a")}, "outputs must be non-empty and unique, got ('a', 'a')."),
        ({"finetune_hidden": (64, 0)}, "finetune_hidden must hold positive ints, got (64, 0)."),
    ],
)
@pytest.mark.parametrize("arch", FAMILY_NAMES)
def test_every_familys_config_refuses_a_bad_shared_field_with_one_message(arch, change, rule):
    config = PRESETS[smallest_preset(arch)]
    with pytest.raises(ValueError) as error:
        config.replace(**change)
    assert str(error.value) == f"{type(config).__name__}.{rule}"


def test_stored_sizes_come_back_as_tuples_of_python_ints():
    stored = PRESETS["topic_fast"].to_dict() | {"conv_filters": np.array([32, 32, 32]), "finetune_hidden": [64, 16]}
    config = config_from_dict(stored)
    assert config == PRESETS["topic_fast"] and type(config.conv_filters[0]) is int
    with pytest.raises(ValueError, match=r"TopicConfig.conv_kernels must hold positive ints, got \(15, 9.5, 5\)"):
        config_from_dict(stored | {"conv_kernels": [15, 9.5, 5]})


def test_topic_network_names_the_width_it_was_built_for():
    model = build(PRESETS["topic_fast"]).eval()
    with pytest.raises(ValueError, match="built for 600-bp input.*got 500 bp"):
        model(torch.zeros(1, 4, 500))


@pytest.mark.parametrize("preset", ["dilated", "dilated_fast"])
def test_dilated_receptive_field_covers_the_window(preset):
    config = PRESETS[preset]
    assert config.receptive_field >= config.seq_len
    model = build(config).eval()
    x = one_hot(np.random.default_rng(0).integers(0, 4, (1, config.seq_len), dtype=np.uint8)).requires_grad_(True)
    fmap = model.body.feature_map(x)
    fmap[0, :, fmap.shape[-1] // 2].abs().sum().backward()
    seen = np.flatnonzero(x.grad.abs().sum(dim=1)[0].numpy())
    assert seen[0] == 0 and seen[-1] == config.seq_len - 1  # the centre position sees the whole window


@pytest.mark.parametrize("arch", FAMILY_NAMES)
def test_cli_pretrains_and_fine_tunes_a_familys_preset(arch, tmp_path):
    from chromseq.cli import main

    preset = smallest_preset(arch)
    cs.datasets.synthetic(n_regions=120, width=200, celltypes=["K562"], random_state=2).write_h5ad(tmp_path / "r.h5ad")
    common = ["--max-epochs", "1", "--batch-size", "32", "--save-dir", str(tmp_path / "models"), "--threads", "1"]
    main(["pretrain", str(tmp_path / "r.h5ad"), "-o", str(tmp_path / "p.h5ad"), "--preset", preset, *common])
    main(["finetune", str(tmp_path / "p.h5ad"), "-o", str(tmp_path / "f.h5ad"), "--celltype", "K562", *common])
    tuned = anndata.read_h5ad(tmp_path / "f.h5ad")
    for name in ("pretrained", "finetuned_K562"):
        record = get_record(tuned, name)
        assert record.preset == preset and load_recorded(name, record).config.arch == arch, name


def test_a_crafted_config_of_any_family_is_refused_before_allocating():
    from chromseq.models._costs import check_any_size

    check_any_size(PRESETS["dilated"], "config.json")  # the real presets pass
    with pytest.raises(ValueError, match=r"config.json: declares a 'dilated' network of [\d,]+ parameters, more"):
        check_any_size(DilatedConfig(filters=200_000), "config.json")  # 3.6e11 weights: counted on the meta device
