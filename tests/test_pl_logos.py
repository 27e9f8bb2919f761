"""pl.contributions and pl.motifs: sequence logos drawn with tangermeme, on Agg."""

from __future__ import annotations

import anndata as ad
import matplotlib
import numpy as np
import pytest
import torch

import chromseq as cs
from chromseq import _keys as K

matplotlib.use("Agg")
import matplotlib.collections as mc
import matplotlib.pyplot as plt


class PWMScanner(torch.nn.Module):
    """Toy model scoring planted PWMs (both strands, ReLU above 70% of the best score) plus a weak dense term."""

    def __init__(self, pwms: list[np.ndarray]) -> None:
        super().__init__()
        width = max(p.shape[1] for p in pwms)
        filters = np.zeros((2 * len(pwms), 4, width))
        for i, p in enumerate(pwms):
            lo = np.log2(np.asarray(p, np.float64) / 0.25)
            filters[2 * i, :, : lo.shape[1]], filters[2 * i + 1, :, : lo.shape[1]] = lo, lo[::-1, ::-1]
        self.conv = torch.nn.Conv1d(4, len(filters), width)
        self.conv.weight.data = torch.tensor(filters, dtype=torch.float32)
        self.conv.bias.data = -0.7 * self.conv.weight.data.amax(dim=1).sum(dim=1)
        self.relu = torch.nn.ReLU()
        self.dense = torch.nn.Conv1d(4, 1, 5, padding=2, bias=False)
        self.dense.weight.data = 0.01 * torch.randn(1, 4, 5, generator=torch.Generator().manual_seed(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.relu(self.conv(x)).sum(dim=(1, 2)) + self.dense(x).sum(dim=(1, 2)))[:, None]


@pytest.fixture(scope="module")
def _explained():
    adata = cs.datasets.synthetic(
        400, width=400, n_sites=(1, 2), motifs={"HepG2": ("MA1494",), "GM12878": ("MA0080",)}, random_state=0
    )
    model = PWMScanner(list(adata.uns[K.UNS][K.UNS_SYNTHETIC]["pwms"].values())).eval()
    cs.tl.contributions(adata, "HepG2", model=model, mask=K.OPEN, method="grad_x_input")
    cs.tl.contributions(adata, "GM12878", model=model, mask=K.OPEN, method="grad_x_input")
    cs.tl.motifs(adata, "HepG2", min_metacluster_size=50, n_leiden_runs=4)
    return adata


@pytest.fixture
def explained(_explained):
    yield _explained.copy()
    plt.close("all")


def _n_logos(ax) -> int:
    return sum(isinstance(c, mc.PathCollection) for c in ax.collections)


def _region_with_seqlets(adata) -> str:
    seqlets = adata.uns[K.UNS][K.UNS_MOTIFS]["HepG2"][K.UNS_SEQLETS]
    return seqlets["region"].value_counts().index[0]


def test_contributions_draws_one_logo_per_celltype(explained, tmp_path):
    axes = cs.pl.contributions(
        explained, _region_with_seqlets(explained), ["HepG2", "GM12878"], save=tmp_path / "c.png"
    )
    assert len(axes) == 2
    assert [_n_logos(a) for a in axes] == [1, 1]
    assert (tmp_path / "c.png").stat().st_size > 0


def test_contributions_without_celltype_draws_every_computed_one(explained):
    axes = cs.pl.contributions(explained, _region_with_seqlets(explained))
    assert len(axes) == 2


def test_contributions_window_limits_the_positions(explained):
    ax = cs.pl.contributions(explained, _region_with_seqlets(explained), "HepG2", window=(100, 220))
    assert ax.get_xlim()[1] == pytest.approx(120)


def test_contributions_marks_each_seqlet_in_the_window(explained):
    region = _region_with_seqlets(explained)
    seqlets = explained.uns[K.UNS][K.UNS_MOTIFS]["HepG2"][K.UNS_SEQLETS]
    inside = seqlets[(seqlets["region"] == region) & (seqlets["start"] > 0) & (seqlets["end"] < 400)]
    ax = cs.pl.contributions(explained, region, "HepG2")
    assert len(ax.texts) == len(inside) > 0


def test_contributions_draws_into_given_axes(explained):
    fig, ax = plt.subplots()
    out = cs.pl.contributions(explained, _region_with_seqlets(explained), "GM12878", ax=ax, seqlets=False)
    assert out is ax and _n_logos(ax) == 1


def test_contributions_of_a_region_not_computed_raise(explained):
    closed = explained.obs_names[~explained.obs[K.OPEN].to_numpy()][0]
    with pytest.raises(ValueError, match="not computed for region"):
        cs.pl.contributions(explained, closed, "HepG2")


def test_motifs_draws_cwm_and_match_logo_per_pattern(explained, tmp_path):
    table = explained.uns[K.UNS][K.UNS_MOTIFS]["HepG2"][K.MOTIF_PATTERNS]
    axes = cs.pl.motifs(explained, "HepG2", save=tmp_path / "m.png")
    assert len(axes) == 2 * len(table)
    assert all(_n_logos(a) == 1 for a in axes)
    assert f"{table['n_seqlets'].iloc[0]} seqlets" in axes[0].get_title()
    assert "q=" in axes[1].get_title() and table["match_name"].iloc[0] in axes[1].get_title()


def test_motifs_top_n_picks_patterns_with_most_seqlets(explained):
    table = explained.uns[K.UNS][K.UNS_MOTIFS]["HepG2"][K.MOTIF_PATTERNS]
    axes = cs.pl.motifs(explained, "HepG2", patterns=1)
    assert len(axes) == 2
    assert axes[0].get_title().startswith(table["n_seqlets"].idxmax())
    expected = f"HepG2: 1 of {len(table)} patterns shown" if len(table) > 1 else ""
    assert axes[0].figure.get_suptitle() == expected  # a figure with fewer patterns than found says so


def test_motifs_plot_after_h5ad_round_trip(explained, tmp_path):
    explained.write_h5ad(tmp_path / "e.h5ad")
    axes = cs.pl.motifs(ad.read_h5ad(tmp_path / "e.h5ad"), "HepG2", patterns=1)
    assert [_n_logos(a) for a in axes] == [1, 1]


def test_motifs_without_results_name_the_call(explained):
    with pytest.raises(KeyError, match=r"chromseq\.tl\.motifs\(adata, 'GM12878'\)"):
        cs.pl.motifs(explained, "GM12878")


def test_contributions_tracks_of_one_method_share_the_y_scale(explained):
    axes = cs.pl.contributions(explained, _region_with_seqlets(explained))
    assert axes[0].get_ylim() == axes[1].get_ylim()


def _toy_logo_data():
    """A 600-bp region with stored scores and hand-made seqlets for K562 (no TF-MoDISco run: fast)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    names = [f"chr1:{i * 1000}-{i * 1000 + 600}" for i in range(3)]
    adata = ad.AnnData(
        np.zeros((3, 2), np.float32), obs=pd.DataFrame(index=names), var=pd.DataFrame(index=["K562", "HepG2"])
    )
    adata.obsm[K.SEQUENCE] = rng.integers(0, 4, (3, 600)).astype(np.uint8)
    scores = rng.normal(0, 0.02, (3, 4, 600)).astype(np.float32)
    starts = [50, 70, 250, 590]
    for s in starts:
        scores[:, :, s : s + 8] += 0.3
    stored = {"method": "deep_lift_shap", K.CONTRIB_OBS_NAMES: np.asarray(names), K.CONTRIB_SCORES: scores}
    adata.uns[K.UNS] = {K.UNS_CONTRIB: {"K562": dict(stored), "HepG2": dict(stored)}}
    seqlets = pd.DataFrame(
        {
            "region": names[0],
            "start": starts,
            "end": [s + 8 for s in starts],
            "sign": ["+", "-", "+", "-"],
            "pval": 1e-4,
            "motif_name": ["GATA1::TAL1", "ZNF675", "SP1", "CTCF"],
            "motif_padj": [1e-3, 1e-3, 0.5, 1e-3],
        }
    )
    adata.uns[K.UNS][K.UNS_MOTIFS] = {"K562": {K.UNS_SEQLETS: seqlets, K.UNS_PARAMS: {"seqlet_threshold": 0.01}}}
    return adata, names


def test_a_600_bp_logo_wraps_into_rows_with_names_under_the_letters_and_a_legend():
    adata, names = _toy_logo_data()
    axes = cs.pl.contributions(adata, names[0], "K562", wrap=200)
    assert len(axes) == 3 and [a.get_xlim()[1] for a in axes] == [pytest.approx(200)] * 3
    labels = [t.get_text() for a in axes for t in a.texts]
    assert labels == ["GATA1::TAL1", "ZNF675", "?", "CTCF"]  # SP1's match is not significant
    for a in axes:
        lowest_letter = -max(abs(v) for v in a.get_yticks() if a.get_ylim()[0] <= v)  # the logo's own range
        assert all(t.get_position()[1] < lowest_letter for t in a.texts)  # names never over the letters
    legend = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert legend == [
        "seqlet, positive contribution",
        "seqlet, negative contribution",
        "no JASPAR match (p_adj > 0.01)",
    ]
    plt.close("all")


def test_a_logo_without_seqlets_says_why():
    adata, names = _toy_logo_data()
    hepg2 = cs.pl.contributions(adata, names[0], "HepG2")
    assert "chromseq.tl.motifs(adata, 'HepG2') has not been run" in hepg2.texts[0].get_text()
    other = cs.pl.contributions(adata, names[1], "K562")
    assert "no stretch of this region's scores is significant at p < 0.01" in other.texts[0].get_text()
    window = cs.pl.contributions(adata, names[0], "K562", window=(300, 500))
    assert "no seqlets in this window (4 elsewhere in the region)" in window.texts[0].get_text()
    with pytest.raises(ValueError, match="wrap=5"):
        cs.pl.contributions(adata, names[0], "K562", wrap=5)
    plt.close("all")
