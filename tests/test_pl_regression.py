"""Plots and report of regression models: predicted vs observed, regression metrics, histories with val_pearson."""

import matplotlib

matplotlib.use("Agg")

import re

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from scipy.stats import pearsonr, spearmanr

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import gc_fraction

CELLTYPES = ["K562", "HepG2"]


def _history(n: int, regression: bool) -> dict:
    loss = list(0.5 * np.exp(-np.arange(n) / 3) + 0.1)
    metric = "val_pearson" if regression else "val_auroc"
    return {
        "epoch": list(range(1, n + 1)),
        "train_loss": loss,
        "val_loss": loss,
        metric: list(np.linspace(0.3, 0.8, n)),
    }


def regression_adata(n: int = 300, width: int = 40, *, pretrained: bool = False) -> ad.AnnData:
    """Regions with a signal layer per cell type, fine-tuned and from-scratch regression predictions of it, evaluated.

    ``pretrained``: also a classification model of ``obs['open']`` (a body pretrained on open/closed).
    """
    rng = np.random.default_rng(0)
    signal = rng.gamma(2.0, 1.0, (n, len(CELLTYPES))).astype(np.float32)
    signal[rng.random(signal.shape) < 0.05] = np.nan
    seq = rng.integers(0, 4, (n, width)).astype(np.uint8)
    split = np.tile(np.array(K.SPLITS), n // 3 + 1)[:n]
    obs = pd.DataFrame(
        {K.SPLIT: pd.Categorical(split, categories=K.SPLITS), K.GC: gc_fraction(seq)},
        index=[f"chr1:{i * 10_000}-{i * 10_000 + width}" for i in range(n)],
    )
    adata = ad.AnnData(X=(signal > 2).astype(np.float32), obs=obs, var=pd.DataFrame(index=CELLTYPES))
    adata.layers[K.SIGNAL] = signal
    adata.obsm[K.SEQUENCE] = seq
    columns, meta, models = {}, {}, {}
    truth = np.nan_to_num(signal, nan=2.0)
    for j, ct in enumerate(CELLTYPES):
        for kind, name, noise in (("finetune", f"finetuned_{ct}", 0.5), ("scratch", f"scratch_{ct}", 1.5)):
            columns[name] = truth[:, j] + rng.normal(0, noise, n)
            meta[name] = {"model": name, "kind": kind, "target": ct, "task": "regression", "layer": K.SIGNAL}
            models[name] = {
                "kind": kind,
                "celltypes": [ct],
                "history": _history(6, True),
                "task": "regression",
                "loss": "mse",
                "target_layer": K.SIGNAL,
                "target_transform": "log1p CPM",
            }
    if pretrained:
        is_open = np.nan_to_num(signal, nan=0.0).max(axis=1) > 3
        adata.obs[K.OPEN] = is_open
        columns["pretrained"] = 1 / (1 + np.exp(-(3 * (is_open - 0.5) + rng.normal(0, 1.0, n))))
        meta["pretrained"] = {"model": "pretrained", "kind": "pretrain", "target": K.OPEN}
        models["pretrained"] = {"kind": "pretrain", "history": _history(4, False)}
    adata.obsm[K.PRED] = pd.DataFrame(columns, index=adata.obs_names).astype(np.float32)
    adata.uns[K.UNS] = {K.UNS_PREDICTIONS: meta, K.UNS_MODELS: models}
    cs.tl.evaluate(adata)  # Pearson/Spearman/MSE rows, GC and k-mer ridge baselines, specificity rows
    return adata


@pytest.fixture
def adata():
    return regression_adata()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _expected(adata, column, celltype, split="test"):
    y = adata.layers[K.SIGNAL][:, adata.var_names.get_loc(celltype)].astype(float)
    pred = adata.obsm[K.PRED][column].to_numpy(float)
    keep = (adata.obs[K.SPLIT].to_numpy() == split) & np.isfinite(y) & np.isfinite(pred)
    return y[keep], pred[keep]


def test_scatter_draws_observed_against_predicted_with_scipy_correlations_in_the_title(adata):
    axes = cs.pl.predicted_vs_observed(adata, show=False)
    assert [a.get_title().split("\n")[0] for a in axes] == [
        "K562: finetuned",
        "K562: scratch",
        "HepG2: finetuned",
        "HepG2: scratch",
    ]
    y, pred = _expected(adata, "scratch_HepG2", "HepG2")
    points = axes[3].collections[0].get_offsets()
    np.testing.assert_allclose(points[:, 0], y, rtol=1e-6)  # x observed (from the model's layer), y predicted
    np.testing.assert_allclose(points[:, 1], pred, rtol=1e-6)
    title = axes[3].get_title()
    assert f"Pearson {pearsonr(y, pred)[0]:.3f}" in title
    assert f"Spearman {spearmanr(y, pred)[0]:.3f}" in title
    assert f"n={len(y)}, test" in title
    assert "layers['signal'], log1p CPM" in axes[3].get_xlabel()


def test_scatter_wraps_a_long_transform_description_to_the_panel(adata):
    description = "z-score within the cell type: (value - mean) / standard deviation over regions"
    for name in ("finetuned_K562", "scratch_K562"):
        adata.uns[K.UNS][K.UNS_MODELS][name]["target_transform"] = description
    label = cs.pl.predicted_vs_observed(adata, "K562", show=False)[0].get_xlabel()
    assert label.startswith("observed (layers['signal'], z-score") and len(label.splitlines()) > 1
    assert max(len(line) for line in label.splitlines()) <= 50
    assert " ".join(label.split()) == f"observed (layers['signal'], {description})"


def test_scatter_correlations_match_the_metrics_table(adata):
    panel = cs.pl.predicted_vs_observed(adata, "K562", models="finetuned_K562", show=False)
    row = adata.uns[K.UNS][K.UNS_METRICS].query("model == 'finetuned_K562' and split == 'test'").iloc[0]
    assert f"Pearson {row['pearson']:.3f}, Spearman {row['spearman']:.3f} (n={row['n']}" in panel.get_title()


def test_many_points_are_binned_and_every_region_is_counted(adata):
    panel = cs.pl.predicted_vs_observed(adata, "K562", models="finetuned_K562", split=None, style="hexbin", show=False)
    hexes = [c for c in panel.collections if isinstance(c, PolyCollection)]
    y, _ = _expected(adata, "finetuned_K562", "K562", split="train")
    n_all = sum(len(_expected(adata, "finetuned_K562", "K562", split=s)[0]) for s in K.SPLITS)
    assert len(hexes) == 1 and 0 < n_all == hexes[0].get_array().sum()  # bins=log keeps the counts in the array
    assert len(y) < n_all


def test_auto_style_bins_above_the_point_limit(adata, monkeypatch):
    from chromseq.pl import _scatter

    monkeypatch.setattr(_scatter, "AUTO_POINTS", 10)
    panel = cs.pl.predicted_vs_observed(adata, "K562", models="finetuned_K562", show=False)
    assert any(isinstance(c, PolyCollection) for c in panel.collections)


def test_density_colours_points_by_their_neighbourhood(adata):
    panel = cs.pl.predicted_vs_observed(adata, "K562", models="finetuned_K562", style="density", show=False)
    points = panel.collections[0]
    density = np.asarray(points.get_array())
    y, pred = _expected(adata, "finetuned_K562", "K562")
    assert len(density) == len(y) and density.sum() >= len(y)
    assert np.all(np.diff(density) >= 0)  # densest drawn last, on top
    assert sorted(map(tuple, points.get_offsets())) == sorted(zip(y, pred, strict=True))


def test_scatter_errors_name_what_is_missing(adata):
    with pytest.raises(KeyError, match=r"no regression prediction for cell type\(s\) \['MCF7'\]"):
        cs.pl.predicted_vs_observed(adata, "MCF7", show=False)
    with pytest.raises(ValueError, match="style must be one of"):
        cs.pl.predicted_vs_observed(adata, style="kde", show=False)
    del adata.layers[K.SIGNAL]
    with pytest.raises(KeyError, match=r"adata.layers\['signal'\] is missing"):
        cs.pl.predicted_vs_observed(adata, show=False)


def test_scatter_refuses_classification_only_predictions(adata):
    for entry in adata.uns[K.UNS][K.UNS_PREDICTIONS].values():
        del entry["task"]  # entries written before regression existed are classification
    with pytest.raises(ValueError, match="no regression prediction"):
        cs.pl.predicted_vs_observed(adata, show=False)


def test_roc_skips_regression_predictions_and_says_why_when_asked_for_one(adata):
    with pytest.raises(ValueError, match="are regression models.*predicted_vs_observed"):
        cs.pl.roc(adata, models="finetuned_K562", show=False)


def test_metrics_of_a_regression_table_draw_pearson_spearman_mse_beside_the_baselines(adata):
    axes = cs.pl.metrics(adata, show=False)
    assert [a.get_ylabel() for a in axes] == ["pearson (test)", "spearman (test)", "mse (test)"]
    table = adata.uns[K.UNS][K.UNS_METRICS].query("split == 'test'")
    bars = {c.get_label(): [b.get_height() for b in c] for c in axes[0].containers}
    assert [t.get_text() for t in axes[0].get_xticklabels()] == [*CELLTYPES, K.SPECIFICITY]
    expected = table.pivot(index="target", columns="model", values="pearson").loc[[*CELLTYPES, K.SPECIFICITY]]
    np.testing.assert_allclose(bars["baseline_ridge"], expected["baseline_ridge"])
    np.testing.assert_allclose(bars["baseline_gc"], expected["baseline_gc"].loc[CELLTYPES])  # no specificity row
    fine = [
        *(expected.loc[ct, f"finetuned_{ct}"] for ct in CELLTYPES),
        expected.loc[K.SPECIFICITY, "finetune_per_celltype"],
    ]
    np.testing.assert_allclose(bars["finetuned"], fine)  # the per-cell-type models' specificity in their series
    assert not [c for c in axes[0].containers if type(c).__name__ == "ErrorbarContainer"]


def test_metrics_draw_the_intervals_a_table_has(adata):
    table = adata.uns[K.UNS][K.UNS_METRICS].query("split == 'test' and target != 'specificity'")
    table = table.assign(pearson_lower=table["pearson"] - 0.1, pearson_upper=table["pearson"] + 0.05)
    pearson, mse = cs.pl.metrics(table, ["pearson", "mse"], show=False)
    errors = [c for c in pearson.containers if type(c).__name__ == "ErrorbarContainer"]
    segments = np.concatenate([c.lines[2][0].get_segments() for c in errors])
    spans = sorted(round(float(s[1, 1] - s[0, 1]), 6) for s in segments)
    assert spans == [0.15] * len(table)  # from r - 0.1 to r + 0.05
    assert not [c for c in mse.containers if type(c).__name__ == "ErrorbarContainer"]  # no mse interval


def test_metrics_keeps_auroc_for_classification_rows_of_a_mixed_table(adata):
    table = adata.uns[K.UNS][K.UNS_METRICS].query("split == 'test'")
    classification = table.iloc[:1].assign(task="classification", target="open", model="pretrained", kind="pretrain")
    mixed = pd.concat([table, classification.assign(auroc=0.7)], ignore_index=True)
    panel = cs.pl.metrics(mixed, show=False)
    assert panel.get_ylabel() == "auroc (test)"
    assert [b.get_height() for c in panel.containers for b in c] == [0.7]
    with pytest.raises(ValueError, match="describes regression rows but the metrics table has none"):
        cs.pl.metrics(classification, "pearson", show=False)


def test_history_draws_val_pearson_for_regression_models_asked_for_val_auroc(adata):
    adata.uns[K.UNS][K.UNS_MODELS]["pretrained"] = {"kind": "pretrain", "history": _history(4, False)}
    axes = cs.pl.history(adata, ["finetuned_K562", "pretrained"], keys="val_auroc", show=False)
    lines = {a.get_title(): {ln.get_label(): ln.get_ydata() for ln in a.get_lines()} for a in axes}
    np.testing.assert_allclose(lines["finetuned_K562"]["val pearson"], np.linspace(0.3, 0.8, 6))
    np.testing.assert_allclose(lines["pretrained"]["val auroc"], np.linspace(0.3, 0.8, 4))
    assert axes[0].get_ylabel() == "val pearson"


def test_weighted_pearson_equals_scipy_on_the_data_repeated_by_the_weights():
    from chromseq._report_regression import weighted_pearson

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.normal(size=50)
    y += x
    weights = rng.integers(0, 3, (4, 50)).astype(float)
    expected = [pearsonr(np.repeat(x, w.astype(int)), np.repeat(y, w.astype(int)))[0] for w in weights]
    np.testing.assert_allclose(weighted_pearson(x, y, weights), expected, rtol=1e-10)
    np.testing.assert_allclose(weighted_pearson(x, y), [pearsonr(x, y)[0]], rtol=1e-12)
    assert np.isnan(weighted_pearson(np.ones(5), np.arange(5.0))).all()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report of regression models on a body pretrained on open/closed, written once: folder, text, AnnData."""
    from chromseq._report import write_report

    data = regression_adata(pretrained=True)
    out = tmp_path_factory.mktemp("regression") / "report"
    return out, write_report(data, out).read_text(), data


def test_report_has_a_regression_section_with_table_scatter_and_verdicts(report):
    out, text, adata = report
    classification, section = text.split("## Regression: predicted vs observed", 1)
    # the pretrained open/closed model keeps its AUROC table and verdict; no regression target appears there
    assert "## Held-out performance" in classification and "| open | pretrained | pretrain |" in classification
    assert [v.split(" (")[0] for v in classification.splitlines() if v.startswith("- open")] == ["- open"]
    assert not any(ct in line for line in classification.splitlines() if line.startswith("|") for ct in CELLTYPES)
    assert "val AUROC 0.800" in classification  # the pretrained model's line
    table = adata.uns[K.UNS][K.UNS_METRICS].query("split == 'test'").set_index(["model", "target"])
    row = table.loc[("finetuned_K562", "K562")]
    assert (
        f"| K562 | finetuned_K562 | finetune | {row['n']} | {row['pearson']:.3f} | {row['spearman']:.3f} |" in section
    )
    assert "(K562, HepG2: `layers['signal']`, log1p CPM)" in section
    verdicts = [line for line in section.splitlines() if line.startswith("- ")]
    assert [v.split(" (")[0] for v in verdicts] == ["- K562", "- HepG2"]
    y, pred = _expected(adata, "finetuned_K562", "K562")
    assert f"test Pearson r fine-tuned {pearsonr(y, pred)[0]:.3f} [" in verdicts[0]
    assert re.search(
        r"vs best composition baseline: \+\d\.\d{3} \[\+\d\.\d{3}, \+\d\.\d{3}\], \*\*better\*\*", verdicts[0]
    )
    assert "vs from scratch:" in verdicts[0]
    assert re.search(r"best composition baseline \(baseline_(gc|ridge)\) -?\d\.\d{3}\.", verdicts[0])
    for name in ("predicted_vs_observed", "metrics_regression", "history_validation", "specificity", "history"):
        assert f"![{name}](figures/{name}.png)" in section
        assert (out / "figures" / f"{name}.png").stat().st_size > 0
    assert "val Pearson r 0.800" in text and "(finetune, regression (mse loss)" in text


def test_regression_verdict_interval_comes_from_the_paired_bootstrap_of_pearson(report):
    from chromseq._intervals import block_weights
    from chromseq._report_regression import N_BOOT, weighted_pearson
    from chromseq._report_verdicts import genome_blocks

    _, text, adata = report
    line = next(v for v in text.splitlines() if v.startswith("- HepG2"))
    y = adata.layers[K.SIGNAL][:, 1].astype(float)
    fine = adata.obsm[K.PRED]["finetuned_HepG2"].to_numpy(float)
    scratch = adata.obsm[K.PRED]["scratch_HepG2"].to_numpy(float)
    rows = (adata.obs[K.SPLIT].to_numpy() == "test") & np.isfinite(y)
    weights = block_weights(genome_blocks(adata)[rows], N_BOOT, 0)  # 100-kb blocks of the test regions
    diff = weighted_pearson(y[rows], fine[rows], weights) - weighted_pearson(y[rows], scratch[rows], weights)
    lower, upper = np.nanquantile(diff, [0.025, 0.975])
    estimate = pearsonr(y[rows], fine[rows])[0] - pearsonr(y[rows], scratch[rows])[0]
    assert f"vs from scratch: {estimate:+.3f} [{lower:+.3f}, {upper:+.3f}]" in line


def test_classification_predictions_get_no_regression_section(adata):
    from chromseq._report_regression import regression_lines

    for entry in adata.uns[K.UNS][K.UNS_PREDICTIONS].values():
        del entry["task"]  # entries written before regression existed are classification
    table = adata.uns[K.UNS][K.UNS_METRICS]
    assert regression_lines(adata, "test", table, figure=None, markdown=None) == []


# -- regression transfer benchmarks (tl.transfer_benchmark with task='regression') -----------------------------------
def _regression_transfer(adata, cv: bool) -> None:
    kinds = {"finetune": 0.8, "scratch": 0.6, "baseline_gc": 0.1, "baseline_ridge": 0.5}
    runs = [
        {"celltype": ct, "fraction": f, "kind": k, "seed": s, "pearson": r - 0.1 * (f < 1) + 0.01 * s, "mse": 1 - r}
        for ct in CELLTYPES
        for f in (1.0, 0.2)
        for k, r in kinds.items()
        for s in (0, 1)
    ]
    uns = adata.uns[K.UNS]
    uns[K.UNS_TRANSFER] = pd.DataFrame(runs)
    uns.setdefault(K.UNS_PARAMS, {})[K.UNS_TRANSFER] = {"task": "regression", "cv": 5, "unit": "block", "seeds": [0]}
    if cv:
        values = {**{k: (r, r - 0.05, r + 0.05) for k, r in kinds.items()}, "finetune-best_baseline": (0.3, 0.2, 0.4)}
        uns[K.UNS_TRANSFER_INTERVALS] = pd.DataFrame(
            [
                {"celltype": ct, "fraction": f, "kind": k, "estimate": e, "lower": lo, "upper": hi, "n_boot": 100}
                for ct in (*CELLTYPES, "mean")
                for f in (1.0, 0.2)
                for k, (e, lo, hi) in values.items()
            ]
        )


def test_transfer_plots_of_a_regression_benchmark_draw_pearson(adata):
    _regression_transfer(adata, cv=True)
    axes = cs.pl.transfer_curve(adata, show=False)
    assert axes[0].get_ylabel() == "pearson (test)"
    ridge = next(c for c in axes[0].containers if c.get_label() == "baseline_ridge").lines[0]
    np.testing.assert_allclose(sorted(ridge.get_ydata()), [0.405, 0.505])  # mean over seeds 0 and 1
    assert ridge.get_linestyle() == "--"
    axes = cs.pl.transfer_intervals(adata, differences=True, show=False)
    assert axes[0].get_ylabel() == "Pearson r difference (out of fold)"
    table = adata.uns[K.UNS][K.UNS_TRANSFER_INTERVALS]
    assert cs.pl.transfer_intervals(table, celltype="mean", show=False).get_ylabel() == "AUROC (out of fold)"
    assert cs.pl.transfer_intervals(table, celltype="mean", metric="Pearson r", show=False).get_ylabel() == (
        "Pearson r (out of fold)"
    )


def test_report_text_of_a_regression_transfer_benchmark_names_pearson():
    from chromseq._report import _cross_validated_lines, _transfer_curve_lines

    adata = regression_adata(n=30)
    _regression_transfer(adata, cv=True)
    uns = adata.uns[K.UNS]
    params = uns[K.UNS_PARAMS][K.UNS_TRANSFER]
    text = "\n".join(_cross_validated_lines(uns[K.UNS_TRANSFER_INTERVALS], params))
    assert "Pearson r of the pooled out-of-fold scores" in text and "AUROC" not in text
    assert "- finetune-best_baseline at fraction 1: +0.300 [+0.200, +0.400], **better**" in text
    text = "\n".join(_transfer_curve_lines(uns[K.UNS_TRANSFER], params))
    assert "split: Pearson r, mean over cell types" in text
    assert "| 1 | 0.805 (0.800-0.810) | 0.605 (0.600-0.610) | 0.105 (0.100-0.110) | 0.505 (0.500-0.510) |" in text


def test_specificity_draws_per_region_correlations_across_cell_types(adata):
    panel = cs.pl.specificity(adata, show=False)
    test = adata.obs[K.SPLIT].to_numpy() == "test"
    y = adata.layers[K.SIGNAL][test].astype(float)
    expected = {}
    for series in ("finetune", "scratch"):
        pred = adata.obsm[K.PRED][[f"{series}{'d' if series == 'finetune' else ''}_{ct}" for ct in CELLTYPES]]
        pred = pred.to_numpy(float)[test]
        keep = np.isfinite(y).all(axis=1)
        r = np.array(
            [pearsonr(a, b)[0] if len(set(a)) > 1 else np.nan for a, b in zip(y[keep], pred[keep], strict=True)]
        )
        expected[series] = r  # two cell types: every region's r is +1 or -1
    labels = [t.get_text() for t in panel.get_legend().get_texts()]
    table = adata.uns[K.UNS][K.UNS_METRICS].query("split == 'test' and target == 'specificity'").set_index("model")
    for series, r in expected.items():
        r = r[np.isfinite(r)]
        name = f"{series}_per_celltype"
        assert f"{name} (median {np.median(r):.3f}, n={r.size})" in labels  # as tl.evaluate groups and counts
        assert table.loc[name, "pearson_median"] == pytest.approx(np.median(r))
        assert table.loc[name, "n"] == r.size
    assert any(label.startswith("baseline_ridge (median") for label in labels)
    assert len(panel.patches) == 3  # one step histogram per group, the k-mer ridge baseline's too


def test_region_correlations_match_scipy_per_row():
    from scipy.stats import spearmanr

    from chromseq.pl._specificity import region_correlations

    rng = np.random.default_rng(3)
    y, pred = rng.normal(size=(20, 5)), rng.normal(size=(20, 5))
    pred[0] = 1.0  # constant: no correlation
    y[1, 2] = np.nan  # missing: left out
    r = region_correlations(y, pred)
    rho = region_correlations(y, pred, "spearman")
    assert np.isnan(r[:2]).all() and np.isnan(rho[:2]).all()
    np.testing.assert_allclose(r[2:], [pearsonr(a, b)[0] for a, b in zip(y[2:], pred[2:], strict=True)])
    np.testing.assert_allclose(rho[2:], [spearmanr(a, b)[0] for a, b in zip(y[2:], pred[2:], strict=True)])


def test_specificity_needs_two_cell_types_of_one_kind_or_model(adata):
    with pytest.raises(
        ValueError, match=r"two or more cell types: .* found \(model, cell type\) \[\('finetuned_K562', 'K562'\)\]"
    ):
        cs.pl.specificity(adata, "finetuned_K562", show=False)


def test_metrics_legend_lists_every_series_once_in_its_colour(adata):
    axes = cs.pl.metrics(adata, ["pearson", "mse"], show=False)
    legend = axes[-1].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["finetuned", "scratch", "baseline_gc", "baseline_ridge"]  # the GC baseline has no MSE bar
    gc = legend.legend_handles[labels.index("baseline_gc")]
    assert matplotlib.colors.to_hex(gc.get_facecolor()) == "#7f7f7f"
    assert "baseline_gc" not in [c.get_label() for c in axes[-1].containers]


def test_report_of_regression_models_alone_has_no_auroc_section(tmp_path):
    from chromseq._report import write_report

    text = write_report(regression_adata(n=60), tmp_path).read_text()
    assert "## Held-out performance" not in text and "AUROC and AUPRC" not in text
    assert "## Regression: predicted vs observed" in text and not (tmp_path / "figures" / "roc.png").exists()
