"""tl.motifs: TF-MoDISco on stored contributions, TOMTOM against JASPAR (offline), per-region seqlets."""

from __future__ import annotations

import os
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq._jaspar import jaspar, read_meme

#: Planted motifs whose JASPAR matrices have no near-twin in JASPAR 2024 CORE vertebrates. GATA1 and
#: FOXA2 are left out: their matrices are near-identical to GATA2/4/6 and FOXI1/FOXA3, which TOMTOM
#: ranks first about as often as the planted one (the patterns still match the right family).
PLANTED = {"HepG2": ("MA1494",), "GM12878": ("MA0080",)}  # HNF4A; SPI1
SHARED = ("MA0139",)  # CTCF


class PWMScanner(torch.nn.Module):
    """Toy model: log-odds filters of the planted PWMs (both strands) -> ReLU above 70% of the best score -> sum.

    A weak random linear filter adds the dense low-level signal every trained network has; without
    it, nearly all windows score exactly zero and TF-MoDISco's Laplacian null is fitted to the motifs.
    """

    def __init__(self, pwms: list[np.ndarray], noise: float = 0.01) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.dense = torch.nn.Conv1d(4, 1, 5, padding=2, bias=False)
        self.dense.weight.data = noise * torch.randn(1, 4, 5, generator=g)
        width = max(p.shape[1] for p in pwms)
        filters = np.zeros((2 * len(pwms), 4, width))
        for i, p in enumerate(pwms):
            lo = np.log2(np.asarray(p, np.float64) / 0.25)
            filters[2 * i, :, : lo.shape[1]] = lo
            filters[2 * i + 1, :, : lo.shape[1]] = lo[::-1, ::-1]
        self.conv = torch.nn.Conv1d(4, len(filters), width)
        self.conv.weight.data = torch.tensor(filters, dtype=torch.float32)
        self.conv.bias.data = -0.7 * self.conv.weight.data.amax(dim=1).sum(dim=1)
        self.relu = torch.nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.relu(self.conv(x)).sum(dim=(1, 2)) + self.dense(x).sum(dim=(1, 2)))[:, None]


@pytest.fixture(scope="module")
def _discovered():
    adata = cs.datasets.synthetic(
        400, width=400, n_sites=(1, 2), motifs=PLANTED, shared_motifs=SHARED, frac_background=0.3, random_state=0
    )
    truth = adata.uns[K.UNS][K.UNS_SYNTHETIC]
    model = PWMScanner(list(truth["pwms"].values())).eval()
    cs.tl.contributions(adata, "HepG2", model=model, mask=K.OPEN, n_shuffles=2)
    cs.tl.motifs(adata, "HepG2", min_metacluster_size=50, n_leiden_runs=4)
    return adata


@pytest.fixture
def discovered(_discovered):
    return _discovered.copy()


def _result(adata):
    return adata.uns[K.UNS][K.UNS_MOTIFS]["HepG2"]


def test_each_planted_motif_is_a_pattern_whose_top_match_is_it(discovered):
    truth = discovered.uns[K.UNS][K.UNS_SYNTHETIC]["motifs"]
    top = set(_result(discovered)[K.MOTIF_PATTERNS]["match_id"])
    assert set(truth["matrix_id"]) <= top, _result(discovered)[K.MOTIF_PATTERNS]


def test_top_matches_are_significant(discovered):
    table = _result(discovered)[K.MOTIF_PATTERNS]
    truth = set(discovered.uns[K.UNS][K.UNS_SYNTHETIC]["motifs"]["matrix_id"])
    assert (table.loc[table["match_id"].isin(truth), "match_qval"] < 0.01).all()


def test_pattern_matrices_agree_with_the_table(discovered):
    res = _result(discovered)
    for name, row in res[K.MOTIF_PATTERNS].iterrows():
        assert res[K.MOTIF_CWM][name].shape == (4, row["length"])
        np.testing.assert_allclose(res[K.MOTIF_PPM][name].sum(axis=0), 1, atol=1e-4)
        assert 0 <= row["trim_start"] < row["trim_end"] <= row["length"]


def test_matches_keep_n_best_per_pattern_sorted(discovered):
    matches = _result(discovered)[K.MOTIF_MATCHES]
    for _, group in matches.groupby("pattern"):
        assert list(group["rank"]) == [0, 1, 2]
        assert group["pval"].is_monotonic_increasing


def test_region_seqlets_lie_on_planted_sites(discovered):
    sites = discovered.uns[K.UNS][K.UNS_SYNTHETIC]["sites"].astype({"region": str})
    seqlets = _result(discovered)[K.UNS_SEQLETS]
    pos = seqlets[seqlets["sign"] == "+"].reset_index()
    pairs = pos.merge(sites, on="region", suffixes=("", "_site"))
    on_site = pairs.loc[(pairs["start"] < pairs["end_site"]) & (pairs["end"] > pairs["start_site"]), "index"]
    assert len(pos) > 100
    assert on_site.nunique() / len(pos) > 0.9


def test_results_survive_h5ad(discovered, tmp_path):
    discovered.write_h5ad(tmp_path / "m.h5ad")
    back = _result(ad.read_h5ad(tmp_path / "m.h5ad"))
    res = _result(discovered)
    for key in (K.MOTIF_PATTERNS, K.MOTIF_MATCHES, K.UNS_SEQLETS):
        pd.testing.assert_frame_equal(back[key], res[key], check_dtype=False, check_index_type=False)
    for name, cwm in res[K.MOTIF_CWM].items():
        np.testing.assert_array_equal(back[K.MOTIF_CWM][name], cwm)
    assert back[K.UNS_PARAMS]["motif_db"] == "JASPAR2024 CORE vertebrates"


_THREADS_SCRIPT = """
import numpy as np, torch
torch.set_num_threads(1)
import chromseq as cs
from chromseq import _keys as K
adata = cs.datasets.synthetic(60, width=200, random_state=0)
ct = adata.var_names[0]
rng = np.random.default_rng(0)
adata.obsm[K.contrib_key(ct)] = rng.normal(size=(adata.n_obs, 4, 200)).astype(np.float32)
cs.tl.motifs(adata, ct, min_metacluster_size=10**6, n_leiden_runs=1)
print(torch.get_num_threads())
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a second core to tell thread counts apart")
def test_torch_thread_count_is_left_as_the_user_set_it():
    # numba's OpenMP pool, started on first use inside memelite/modisco-lite, resets the OpenMP
    # thread count that torch shares; only a fresh process shows it
    out = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "1", out.stderr[-2000:]


def test_missing_contributions_name_the_call_and_write_nothing(discovered):
    with pytest.raises(KeyError, match=r"chromseq\.tl\.contributions\(adata, celltype='GM12878'\)"):
        cs.tl.motifs(discovered, "GM12878")
    assert "GM12878" not in discovered.uns[K.UNS][K.UNS_MOTIFS]


def test_selection_without_contributions_raises(discovered):
    with pytest.raises(ValueError, match="no selected region has contributions"):
        cs.tl.motifs(discovered, "HepG2", mask=discovered.obs[K.BACKGROUND].to_numpy())


def test_unknown_jaspar_release_raises_before_any_work(discovered):
    before = _result(discovered)[K.MOTIF_PATTERNS].copy()
    with pytest.raises(ValueError, match="JASPAR1999.*not available"):
        cs.tl.motifs(discovered, "HepG2", motif_db="JASPAR1999")
    pd.testing.assert_frame_equal(_result(discovered)[K.MOTIF_PATTERNS], before)


def test_non_meme_motif_file_is_rejected(discovered, tmp_path):
    path = tmp_path / "motifs.fa"
    path.write_text(">seq\nACGT\n")
    with pytest.raises(ValueError, match="not a MEME motif file"):
        cs.tl.motifs(discovered, "HepG2", motif_db=path)


def test_meme_file_round_trips_jaspar_motifs(tmp_path):
    from memelite.io import write_meme

    db = jaspar("JASPAR2024")
    write_meme(
        str(tmp_path / "j.meme"),
        {f"{i} {n}": p for i, n, p in zip(db.ids[:30], db.names[:30], db.ppms[:30], strict=True)},
    )
    back = read_meme(tmp_path / "j.meme")
    assert back.ids == db.ids[:30] and back.names == db.names[:30]
    np.testing.assert_allclose(back.ppms[5], db.ppms[5], atol=1e-9)


def test_meme_file_without_motifs_is_rejected(tmp_path):
    path = tmp_path / "empty.meme"
    path.write_text("MEME version 4\n\nALPHABET= ACGT\n")
    with pytest.raises(ValueError, match="holds no motif"):
        read_meme(path)


def test_planted_motifs_match_beyond_composition(discovered):
    table = _result(discovered)[K.MOTIF_PATTERNS]
    truth = set(discovered.uns[K.UNS][K.UNS_SYNTHETIC]["motifs"]["matrix_id"])
    planted = table[table["match_id"].isin(truth)]
    assert len(planted) and planted["match_beyond_composition"].all(), planted
    assert (planted["info_content"] > 0.5).all()


def test_a_flat_pattern_matches_only_as_composition():
    from chromseq._jaspar import load_motif_database
    from chromseq.tl._motif_patterns import tomtom_matches

    db = load_motif_database(None)
    gc_rich = np.repeat(np.array([[0.15], [0.35], [0.35], [0.15]]), 12, axis=1)  # no position carries information
    matches = tomtom_matches([gc_rich], ["flat"], db, 3, control_factor=100.0)
    assert len(matches) == 3 and not matches["beyond_composition"].any(), matches


def test_a_match_that_is_not_significant_is_never_beyond_composition():
    """q = 1.00 beside match_beyond_composition True contradicted itself (issue 26): significance comes first."""
    from chromseq._jaspar import load_motif_database
    from chromseq.tl._motif_patterns import MATCH_QVAL, tomtom_matches

    db = load_motif_database(None)
    sharp = np.eye(4)[np.random.default_rng(5).integers(0, 4, 10)].T * 0.9 + 0.025  # informative, matches nothing
    matches = tomtom_matches([sharp], ["random"], db, 3, control_factor=100.0)
    assert (matches["qval"] > MATCH_QVAL).all(), matches
    assert (matches["pval"] * 100 < matches["control_pval"]).any()  # the old rule called it beyond composition
    assert not matches["beyond_composition"].any(), matches
