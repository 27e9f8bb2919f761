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
