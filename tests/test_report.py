"""The report a person opens first: what produced it, verdicts, logos' legend, motif gaps, number format."""

from __future__ import annotations

import re

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import gc_fraction
from chromseq._report import write_report

matplotlib.use("Agg")

CELLTYPES = ["K562", "HepG2", "MCF7"]
RECIPE = {"config": {"dropout": 0.0}, "pretrain": {"max_epochs": 1}, "celltype": {"max_epochs": 1}}


def _history(n: int) -> dict:
    """Validation AUROC rises to the last epoch, but the validation loss is lowest at epoch 2 (the kept one)."""
    val_loss = [0.7, 0.6, *(0.6 + 0.01 * np.arange(1, n - 1))][:n]
    auroc = list(np.linspace(0.6, 0.7, n))
    return {"epoch": list(range(1, n + 1)), "val_auroc": auroc, "val_loss": val_loss, "lr": [1e-3] * n}


@pytest.fixture(scope="module")
def evaluated() -> ad.AnnData:
    """Regions with a fine-tuned, a from-scratch and a pretrained prediction, evaluated."""
    rng = np.random.default_rng(0)
    n, width = 240, 40
    y = rng.random((n, len(CELLTYPES))) < 0.4
    seq = rng.integers(0, 4, (n, width)).astype(np.uint8)
    split = np.tile(np.array(K.SPLITS), n // 3)[:n]
    obs = pd.DataFrame(
        {K.SPLIT: pd.Categorical(split, categories=K.SPLITS), K.OPEN: y.any(axis=1), K.GC: gc_fraction(seq)},
        index=[f"chr1:{i * 100}-{i * 100 + width}" for i in range(n)],
    )
    adata = ad.AnnData(X=y.astype(np.float32), obs=obs, var=pd.DataFrame(index=CELLTYPES))
    adata.obsm[K.SEQUENCE] = seq
    columns, meta, models = {}, {}, {}
    for j, ct in enumerate(CELLTYPES):
        for kind, name in (("finetune", f"finetuned_{ct}"), ("scratch", f"scratch_{ct}")):
            columns[name] = 1 / (1 + np.exp(-(3 * (y[:, j] - 0.5) + rng.normal(0, 1.5, n))))
            meta[name] = {"model": name, "kind": kind, "target": ct}
            models[name] = {"kind": kind, "preset": "tiny", "history": _history(3)}
    columns["pretrained"] = 1 / (1 + np.exp(-(3 * (y.any(axis=1) - 0.5) + rng.normal(0, 1.5, n))))
    meta["pretrained"] = {"model": "pretrained", "kind": "pretrain", "target": K.OPEN}
    models["pretrained"] = {"kind": "pretrain", "preset": "tiny", "history": _history(5)}
    adata.obsm[K.PRED] = pd.DataFrame(columns, index=adata.obs_names).astype(np.float32)
    adata.uns[K.UNS] = {K.UNS_PREDICTIONS: meta, K.UNS_MODELS: models}
    cs.tl.evaluate(adata)
    return adata


@pytest.fixture
def adata(evaluated):
    return evaluated.copy()


def _report(adata, tmp_path) -> str:
    return write_report(adata, tmp_path).read_text()


def test_quick_demo_report_is_marked_and_names_preset_and_recipe(adata, tmp_path):
    demo = {"preset": "tiny", "recipe_name": "quick", "recipe": RECIPE, "quick": True}
    adata.uns[K.UNS][K.UNS_PARAMS] = {K.PARAMS_DEMO: demo}
    text = _report(adata, tmp_path)
    assert "QUICK MODE" in text.split("## ")[0]  # before the first section
    assert "preset `tiny`, recipe `quick`" in text and "max_epochs=1" in text
    assert "- `pretrained` (pretrain, preset `tiny`): 5 epochs, kept epoch 2 (best val_loss): val AUROC 0.625" in text


def test_model_list_shows_the_kept_epoch_and_the_thread_count(adata, tmp_path):
    """The AUROC beside a model is the kept model's (the epoch history.png marks), not the best epoch's."""
    record = adata.uns[K.UNS][K.UNS_MODELS]["pretrained"]
    record["params"] = {"monitor": "val_auroc", "torch_threads": 1}
    text = _report(adata, tmp_path)
    assert "- `pretrained` (pretrain, preset `tiny`, 1 torch thread): 5 epochs, kept epoch 5 (best val_auroc)" in text
    record["params"] = {"monitor": "val_loss", "torch_threads": 2}
    text = _report(adata, tmp_path)
    assert "(pretrain, preset `tiny`, 2 torch threads): 5 epochs, kept epoch 2 (best val_loss): val AUROC 0.625" in text
    assert "0.700" not in next(line for line in text.splitlines() if line.startswith("- `pretrained`"))


def test_full_report_is_not_marked_quick(adata, tmp_path):
    adata.uns[K.UNS][K.UNS_PARAMS] = {K.PARAMS_DEMO: {"preset": "tiny", "recipe_name": "tiny", "quick": False}}
    text = _report(adata, tmp_path)
    assert "QUICK MODE" not in text and "quick mode off" in text


def test_pretrained_open_model_gets_a_verdict(adata, tmp_path):
    text = _report(adata, tmp_path)
    line = next(line for line in text.splitlines() if line.startswith("- open"))
    assert re.search(r"test AUROC pretrained 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\]", line)
    assert re.search(r"vs best composition baseline: [+-]0\.\d{3} \[[+-]0\.\d{3}, [+-]0\.\d{3}\], \*\*better\*\*", line)


def test_verdicts_come_from_intervals_of_the_paired_difference(adata, tmp_path):
    """A model no better than GC is 'no detectable difference', not 'beats composition' by a hair."""
    gc = adata.obs[K.GC].to_numpy()
    jitter = np.random.default_rng(2).normal(0, 1e-3, adata.n_obs)
    adata.obsm[K.PRED]["finetuned_K562"] = (gc + jitter).astype(np.float32)  # GC in disguise
    text = _report(adata, tmp_path)
    k562 = next(line for line in text.splitlines() if line.startswith("- K562"))
    assert "vs best composition baseline" in k562 and "**no detectable difference**" in k562
    assert "bootstrap over regions (too few genome blocks)" in text  # all fixture regions lie in one block
    hepg2 = next(line for line in text.splitlines() if line.startswith("- HepG2"))
    assert "vs from scratch:" in hepg2


def test_metrics_table_has_three_decimals(adata, tmp_path):
    text = _report(adata, tmp_path)
    header = next(line for line in text.splitlines() if line.startswith("| target |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    rows = [line for line in text.splitlines() if line.startswith("| ") and line != header]
    auroc = [row.strip("|").split("|")[columns.index("auroc")].strip() for row in rows if row.count("|") > 4]
    assert auroc and all(re.fullmatch(r"\d\.\d{3}", v) for v in auroc if v)


def test_logo_question_mark_and_celltypes_without_motifs_are_explained(adata, tmp_path):
    rows = adata.obs_names[adata.obs[K.SPLIT] == "test"][:5]
    scores = np.random.default_rng(1).normal(size=(len(rows), 4, 40)).astype(np.float32)
    params = {"method": "grad_x_input", K.CONTRIB_OBS_NAMES: np.asarray(rows), K.CONTRIB_SCORES: scores}
    adata.uns[K.UNS][K.UNS_CONTRIB] = {"K562": dict(params), "HepG2": dict(params)}
    patterns = pd.DataFrame({"sign": ["pos"], "n_seqlets": [30], "match_name": ["GATA1"], "match_qval": [1e-4]})
    empty = {K.MOTIF_PATTERNS: pd.DataFrame(), K.UNS_PARAMS: {"n_regions": 5, "modisco": {"min_metacluster_size": 20}}}
    adata.uns[K.UNS][K.UNS_MOTIFS] = {
        "K562": {K.MOTIF_PATTERNS: patterns.set_index(pd.Index(["pos_0"]))},
        "HepG2": empty,
    }
    adata.uns[K.UNS][K.UNS_PARAMS] = {K.PARAMS_DEMO: {"no_motifs": {"MCF7": "no test-split positive to explain."}}}
    text = _report(adata, tmp_path)
    assert "`?` marks a seqlet whose best match is not significant" in text
    assert "| 1.00e-04 |" in text  # q-values in scientific notation
    gaps = text.split("### Cell types without motif patterns")[1]
    assert "- HepG2: TF-MoDISco found no pattern among the seqlets of 5 regions" in gaps
    assert "- MCF7: no test-split positive to explain." in gaps
    assert "K562" not in gaps


def test_cross_validated_transfer_is_reported_with_intervals_and_verdicts(adata, tmp_path):
    values = {  # kind: (estimate, lower, upper)
        "finetune": (0.61, 0.60, 0.63),
        "scratch": (0.58, 0.57, 0.60),
        "baseline_gc": (0.55, 0.53, 0.57),
        "baseline_kmer": (0.60, 0.59, 0.61),
        "finetune-scratch": (0.03, 0.01, 0.05),
        "finetune-best_baseline": (0.01, -0.01, 0.02),
    }
    rows = [
        {"celltype": ct, "fraction": f, "kind": kind, "estimate": e, "lower": lo, "upper": hi, "n_boot": 100}
        for ct in ("K562", "mean")
        for f in (1.0, 0.2)
        for kind, (e, lo, hi) in values.items()
    ]
    uns = adata.uns[K.UNS]
    uns[f"{K.UNS_TRANSFER}_intervals"] = pd.DataFrame(rows)
    uns[K.UNS_TRANSFER] = pd.DataFrame({"celltype": ["K562"], "fraction": [1.0], "kind": ["finetune"], "auroc": [0.6]})
    uns.setdefault(K.UNS_PARAMS, {})[K.UNS_TRANSFER] = {"cv": 5, "unit": "block", "seeds": [0, 1], "level": 0.9}
    text = _report(adata, tmp_path)
    assert "Cross-validated (5 folds of blocks, seeds [0, 1])" in text and "[90% block-bootstrap interval]" in text
    assert "| 1 | 0.610 [0.600, 0.630] | 0.580 [0.570, 0.600] |" in text
    assert "- finetune-scratch at fraction 0.2: +0.030 [+0.010, +0.050], **better**" in text
    assert "- finetune-best_baseline at fraction 1: +0.010 [-0.010, +0.020], **no detectable difference**" in text
    assert (tmp_path / "figures" / "transfer_intervals.png").is_file()
    assert (tmp_path / "figures" / "transfer_differences.png").is_file()


def test_a_demo_report_cites_the_shipped_cross_validated_reference_of_its_preset(adata, tmp_path):
    from chromseq.datasets._chromtransfer import cv_reference

    reference = cv_reference("fast")
    mean = pd.DataFrame(reference["intervals"]).query("celltype == 'mean' and kind == 'finetune' and fraction == 1")
    adata.uns[K.UNS][K.UNS_PARAMS] = {K.PARAMS_DEMO: {"preset": "fast", "recipe_name": "fast", "quick": False}}
    text = _report(adata, tmp_path)
    section = text.split("## Cross-validated reference")[1].split("\n## ")[0]
    assert "preset `fast`" in section and f"{reference['settings']['cv']} folds of blocks" in section
    assert f"{mean['estimate'].iloc[0]:.3f} [{mean['lower'].iloc[0]:.3f}, {mean['upper'].iloc[0]:.3f}]" in section
    assert "finetune-best_baseline at fraction 1" in section
    # no reference for a preset without one, nor for a quick run
    adata.uns[K.UNS][K.UNS_PARAMS] = {K.PARAMS_DEMO: {"preset": "fast", "recipe_name": "quick", "quick": True}}
    assert "## Cross-validated reference" not in _report(adata, tmp_path)
    assert cv_reference("tiny") is None


def _with_motifs(adata, patterns: pd.DataFrame) -> None:
    rows = adata.obs_names[adata.obs[K.SPLIT] == "test"][:5]
    scores = np.random.default_rng(1).normal(size=(len(rows), 4, 40)).astype(np.float32)
    params = {"method": "grad_x_input", K.CONTRIB_OBS_NAMES: np.asarray(rows), K.CONTRIB_SCORES: scores}
    adata.uns[K.UNS][K.UNS_CONTRIB] = {"K562": params}
    adata.uns[K.UNS][K.UNS_MOTIFS] = {"K562": {K.MOTIF_PATTERNS: patterns}}


def test_motif_table_never_calls_a_non_significant_match_beyond_composition(adata, tmp_path):
    """q = 1.00 beside match_beyond_composition True contradicted itself (HepG2 ZBTB32, MCF7 ZKSCAN1)."""
    n = 14
    patterns = pd.DataFrame(
        {
            "sign": ["pos"] * n,
            "n_seqlets": np.arange(100, 100 - n, -1),
            "match_name": [f"M{i}" for i in range(n)],
            "match_qval": [1.0, 1e-4, *([1e-3] * (n - 2))],
            "match_beyond_composition": [True] * n,  # as stored by the old rule
        },
        index=pd.Index([f"pos_{i}" for i in range(n)]),
    )
    _with_motifs(adata, patterns)
    text = _report(adata, tmp_path)
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| pos_")}
    assert rows["pos_0"].rstrip(" |").endswith("| 1.00e+00 | False")
    assert rows["pos_1"].rstrip(" |").endswith("| 1.00e-04 | True")
    assert len(rows) == 12
    assert (
        "TF-MoDISco found 14 patterns: the table lists the 12 with most seqlets of 14; "
        "the figure shows the 6 with most seqlets of the table's 12." in text
    )


def test_single_split_transfer_section_has_text_and_a_table(adata, tmp_path):
    rows = [
        {"celltype": ct, "fraction": f, "kind": kind, "seed": 0, "split": "test", "auroc": a}
        for ct, shift in (("K562", 0.0), ("HepG2", 0.02))
        for f in (1.0, 0.1)
        for kind, a in (("finetune", 0.62 + shift), ("scratch", 0.58 + shift))
    ]
    adata.uns[K.UNS][K.UNS_TRANSFER] = pd.DataFrame(rows)
    text = _report(adata, tmp_path)
    section = text.split("## Transfer learning vs training from scratch")[1].split("\n## ")[0]
    assert "(HepG2, K562), scored on the `test` split" in section and "cv=5" in section
    assert "| 1 | 0.630 (0.620-0.640) | 0.590 (0.580-0.600) |" in section
