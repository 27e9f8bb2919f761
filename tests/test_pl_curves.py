import matplotlib

matplotlib.use("Agg")

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import gc_fraction

CELLTYPES = ["K562", "HepG2", "MCF7"]


def _history(rng, stages):
    n = sum(k for _, k in stages)
    loss = 0.7 * np.exp(-np.arange(n) / 6) + 0.2
    return {
        "epoch": list(range(1, n + 1)),
        "stage": [s for s, k in stages for _ in range(k)],
        "train_loss": list(loss - 0.05),
        "val_loss": list(loss + rng.normal(0, 0.01, n)),
        "val_auroc": list(1 - loss),
        "lr": [1e-3] * n,
    }


def _adata(n: int = 240, width: int = 40) -> ad.AnnData:
    rng = np.random.default_rng(0)
    y = rng.random((n, len(CELLTYPES))) < 0.4
    seq = rng.integers(0, 4, (n, width)).astype(np.uint8)
    X = y.astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    split = np.tile(np.array(K.SPLITS), n // 3 + 1)[:n]
    obs = pd.DataFrame(
        {K.SPLIT: pd.Categorical(split, categories=K.SPLITS), K.OPEN: y.any(axis=1), K.GC: gc_fraction(seq)},
        index=[f"chr1:{i * 100}-{i * 100 + width}" for i in range(n)],
    )
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=CELLTYPES))
    adata.obsm[K.SEQUENCE] = seq
    columns, meta, models = {}, {}, {}
    for j, ct in enumerate(CELLTYPES):
        for kind, name in (("finetune", f"finetuned_{ct}"), ("scratch", f"scratch_{ct}")):
            columns[name] = 1 / (1 + np.exp(-(3 * (y[:, j] - 0.5) + rng.normal(0, 1.5, n))))
            meta[name] = {"model": name, "kind": kind, "target": ct}
            stages = [("stage1", 4), ("stage2", 6)] if kind == "finetune" else [("train", 8)]
            models[name] = {"kind": kind, "celltypes": [ct], "target": ct, "history": _history(rng, stages)}
    columns["pretrained"] = 1 / (1 + np.exp(-(3 * (y.any(axis=1) - 0.5) + rng.normal(0, 1.5, n))))
    meta["pretrained"] = {"model": "pretrained", "kind": "pretrain", "target": K.OPEN}
    models["pretrained"] = {
        "kind": "pretrain",
        "celltypes": [],
        "target": K.OPEN,
        "history": _history(rng, [("pretrain", 12)]),
    }
    adata.obsm[K.PRED] = pd.DataFrame(columns, index=adata.obs_names).astype(np.float32)
    adata.uns[K.UNS] = {K.UNS_PREDICTIONS: meta, K.UNS_MODELS: models}
    cs.tl.evaluate(adata)
    return adata


def _transfer_table() -> pd.DataFrame:
    rows = [
        {
            "celltype": ct,
            "fraction": f,
            "kind": kind,
            "seed": seed,
            "auroc": 0.8 - (0.02 if kind == "finetune" else 0.1) * np.log10(1 / f) + 0.01 * seed,
        }
        for ct in CELLTYPES[:2]
        for f in (1.0, 0.5, 0.2, 0.1, 0.05)
        for kind in ("finetune", "scratch")
        for seed in range(3)
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def _base():
    return _adata()


@pytest.fixture
def adata(_base):
    return _base.copy()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _metric(adata, model: str, column: str, split: str = "test") -> float:
    table = adata.uns[K.UNS][K.UNS_METRICS]
    (value,) = table.loc[(table["model"] == model) & (table["split"] == split), column]
    return value


def _curve_labels(panel) -> list[str]:
    return [line.get_label() for line in panel.get_lines() if not line.get_label().startswith("_")]


# -- roc / pr -------------------------------------------------------------------------------------------------------
def test_roc_draws_one_panel_per_target_with_models_and_baselines(adata):
    axes = cs.pl.roc(adata, show=False)
    assert [a.get_title().split(" ")[0] for a in axes] == [*CELLTYPES, K.OPEN]
    labels = _curve_labels(axes[0])
    assert len(labels) == 4  # finetuned, scratch, baseline_gc, baseline_kmer
    assert [label.split(" ")[0] for label in labels] == ["finetuned", "scratch", "baseline_gc", "baseline_kmer"]


def test_roc_legend_gives_the_evaluate_auroc(adata):
    panel = cs.pl.roc(adata, "K562", baselines=False, show=False)
    expected = _metric(adata, "finetuned_K562", "auroc")
    assert _curve_labels(panel)[0] == f"finetuned ({expected:.3f})"


@pytest.mark.parametrize("plot", [cs.pl.roc, cs.pl.pr])
def test_legend_sits_outside_the_curves(adata, tmp_path, plot):
    # the report's ROC panel had its legend over the curves of weak models (near the diagonal)
    axes = plot(adata, show=False, save=tmp_path / "c.png")
    fig = axes[0].figure
    renderer = fig.canvas.get_renderer()
    boxes = [a.get_window_extent(renderer) for a in axes]
    for panel in axes:
        legend = panel.get_legend().get_window_extent(renderer)
        assert not any(legend.overlaps(box) for box in boxes)
        assert fig.bbox.contains(legend.x0, legend.y0) and fig.bbox.contains(legend.x1, legend.y1)
    plt.close(fig)


def test_roc_curve_runs_from_origin_to_one(adata):
    panel = cs.pl.roc(adata, "HepG2", models="finetuned_HepG2", baselines=False, show=False)
    line = panel.get_lines()[0]
    assert (line.get_xdata()[0], line.get_ydata()[0]) == (0, 0)
    assert (line.get_xdata()[-1], line.get_ydata()[-1]) == (1, 1)


def test_pr_draws_chance_line_at_positive_rate(adata):
    panel = cs.pl.pr(adata, "MCF7", baselines=False, show=False)
    test = (adata.obs[K.SPLIT] == "test").to_numpy()
    rate = np.nanmean(adata[test, "MCF7"].X)
    chance = [line for line in panel.get_lines() if line.get_label().startswith("_")]
    assert chance and np.allclose(chance[-1].get_ydata(), rate)
    assert len(_curve_labels(panel)) == 2


def test_roc_draws_into_given_axes(adata):
    fig, axes = plt.subplots(1, 2)
    out = cs.pl.roc(adata, ["K562", "HepG2"], ax=axes, show=False)
    assert out == list(axes) and len(fig.axes) == 2


def test_roc_rejects_too_few_axes(adata):
    _, panel = plt.subplots()
    with pytest.raises(ValueError, match="3 panel"):
        cs.pl.roc(adata, CELLTYPES, ax=panel, show=False)


def test_roc_baselines_only_before_any_model(adata):
    del adata.obsm[K.PRED]
    del adata.uns[K.UNS][K.UNS_PREDICTIONS]
    axes = cs.pl.roc(adata, show=False)
    assert len(axes) == 4 and all(len(_curve_labels(a)) == 2 for a in axes)


def test_roc_save_writes_the_file(adata, tmp_path):
    cs.pl.roc(adata, "K562", show=False, save=tmp_path / "figs" / "roc.png")
    assert (tmp_path / "figs" / "roc.png").stat().st_size > 1000
    assert not list((tmp_path / "figs").glob(".*"))  # no temporary file left behind


# -- history --------------------------------------------------------------------------------------------------------
def test_history_one_panel_per_model_with_stage_boundaries(adata):
    axes = cs.pl.history(adata, ["pretrained", "finetuned_K562"], show=False)
    assert [a.get_title() for a in axes] == ["pretrained", "finetuned_K562"]
    assert _curve_labels(axes[0])[:2] == ["train loss", "val loss"]
    texts = [t.get_text() for t in axes[1].texts]
    assert texts == ["stage1", "stage2"]
    boundary = [line for line in axes[1].get_lines() if line.get_linestyle() == ":"]
    assert len(boundary) == 1 and boundary[0].get_xdata()[0] == pytest.approx(4.5)


def test_history_marks_the_best_epoch(adata):
    panel = cs.pl.history(adata, "scratch_K562", show=False)
    best = int(np.argmin(adata.uns[K.UNS][K.UNS_MODELS]["scratch_K562"]["history"]["val_loss"])) + 1
    assert any(label == f"best (epoch {best})" for label in _curve_labels(panel))


def test_history_all_models_by_default(adata):
    assert len(cs.pl.history(adata, show=False)) == 1 + 2 * len(CELLTYPES)


def test_history_survives_h5ad(adata, tmp_path):
    adata.write_h5ad(tmp_path / "a.h5ad")
    panel = cs.pl.history(ad.read_h5ad(tmp_path / "a.h5ad"), "finetuned_MCF7", keys="val_auroc", show=False)
    assert len(panel.get_lines()[0].get_xdata()) == 10


def test_history_unknown_model_lists_recorded_ones(adata):
    with pytest.raises(KeyError, match="finetuned_K562"):
        cs.pl.history(adata, "finetuned_A549", show=False)


def test_history_unknown_key_lists_the_history_keys(adata):
    with pytest.raises(KeyError, match="val_loss"):
        cs.pl.history(adata, keys="val_f1", show=False)


# -- metrics --------------------------------------------------------------------------------------------------------
def test_metrics_bars_per_target_and_series(adata):
    panel = cs.pl.metrics(adata, show=False)
    containers = [c for c in panel.containers if isinstance(c, BarContainer)]
    assert [c.get_label() for c in containers] == ["pretrained", "finetuned", "scratch", "baseline_gc", "baseline_kmer"]
    assert (
        sum(len(c) for c in containers) == 1 + 3 * 2 + 4 * 2
    )  # open: pretrained; cell types: 2 models; 4 targets x 2 baselines
    assert [t.get_text() for t in panel.get_xticklabels()] == [*CELLTYPES, K.OPEN]


def test_metrics_bar_heights_are_the_table_values(adata):
    panel = cs.pl.metrics(adata, "auprc", targets="HepG2", models=["finetuned_HepG2"], show=False)
    assert panel.patches[0].get_height() == pytest.approx(_metric(adata, "finetuned_HepG2", "auprc"))


def test_metrics_dot_style_from_a_dataframe(adata):
    panel = cs.pl.metrics(adata.uns[K.UNS][K.UNS_METRICS], style="dot", split="val", show=False)
    assert not panel.patches
    assert len(_curve_labels(panel)) == 5


def test_metrics_unknown_split_lists_the_splits(adata):
    with pytest.raises(ValueError, match="train"):
        cs.pl.metrics(adata, split="holdout", show=False)


# -- transfer curve -------------------------------------------------------------------------------------------------
def test_transfer_curve_one_panel_per_celltype_mean_over_seeds():
    table = _transfer_table()
    axes = cs.pl.transfer_curve(table, show=False)
    assert [a.get_title() for a in axes] == CELLTYPES[:2]
    means = [c.lines[0].get_ydata() for c in axes[0].containers]
    assert len(means) == 2 and len(means[0]) == 5
    expected = table[(table.celltype == "K562") & (table.kind == "finetune")].groupby("fraction")["auroc"].mean()
    np.testing.assert_allclose(np.sort(means[0]), np.sort(expected.to_numpy()))


def test_transfer_curve_reads_uns(adata):
    adata.uns[K.UNS][K.UNS_TRANSFER] = _transfer_table()
    panel = cs.pl.transfer_curve(adata, celltype="HepG2", kinds=["finetune"], show=False)
    assert panel.get_xscale() == "log" and len(panel.containers) == 1


def test_transfer_curve_names_missing_columns():
    with pytest.raises(KeyError, match="fraction"):
        cs.pl.transfer_curve(_transfer_table().drop(columns="fraction"), show=False)


def test_transfer_curve_rejects_fractions_outside_0_1():
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        cs.pl.transfer_curve(_transfer_table().assign(fraction=2.0), show=False)
