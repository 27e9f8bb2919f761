"""tl.design: in-silico evolution and motif implantation on planted-motif data (K562 <- GATA1), and its checks."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import torch

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import decode, encode

WIDTH = 100
STEPS = 15


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Synthetic regions (K562 <- GATA1, HepG2 <- HNF4A + FOXA2, GM12878 <- SPI1) with a tiny 3-output model."""
    adata = cs.datasets.synthetic(
        1500, width=WIDTH, n_sites=1, sharpen=2.0, shared_motifs=None, frac_shared=0.0, random_state=0
    )
    config = cs.models.get_config("tiny", stem_init="jaspar")
    options = cs.tl.TrainingOptions(device="cpu")
    folder = tmp_path_factory.mktemp("design_models")
    cs.tl.train(
        adata, multihead=True, preset=config, options=options, learning_rate=3e-3, max_epochs=8, save_dir=folder
    )
    return adata


@pytest.fixture(scope="module")
def background(trained):
    """Eight held-out background regions (nothing planted)."""
    keep = trained.obs[K.BACKGROUND].to_numpy() & (trained.obs[K.SPLIT] == "test").to_numpy()
    return trained[np.flatnonzero(keep)[:8]].copy()


@pytest.fixture(scope="module")
def evolved(trained, background):
    return cs.tl.design(trained, "K562", start=background, objective="specific", steps=STEPS, device="cpu")


def _planted(adata) -> np.ndarray:
    truth = adata.uns[K.UNS][K.UNS_SYNTHETIC]
    mid = truth["celltype_motifs"]["K562"][0]
    return np.asarray(truth["pwms"][mid], dtype=np.float64)


def _has_motif(codes: np.ndarray, ppm: np.ndarray, frac: float = 0.8) -> np.ndarray:
    """Whether each sequence holds a PWM hit (log-odds >= ``frac`` of the best possible) on either strand."""
    pwm = np.log2(ppm / 0.25)
    k = pwm.shape[1]
    threshold = frac * pwm.max(axis=0).sum()
    onehot = np.eye(5, 4)[codes]  # (n, L, 4)
    windows = np.lib.stride_tricks.sliding_window_view(onehot, k, axis=1)  # (n, L - k + 1, 4, k)
    fwd = (windows * pwm).sum(axis=(2, 3))
    rev = (windows * pwm[::-1, ::-1]).sum(axis=(2, 3))
    return np.maximum(fwd, rev).max(axis=1) >= threshold


# -- what the issue asks ------------------------------------------------------------------------------------
def test_evolution_from_background_reaches_high_k562_probability(evolved):
    assert evolved.obs[K.design_pred_key("K562")].mean() >= 0.9
    assert (evolved.obs[K.DESIGN_SCORE] > evolved.obs[K.DESIGN_SCORE_START]).all()


def test_specificity_keeps_the_other_celltypes_below_their_start(evolved):
    traj = evolved.obsm[K.DESIGN_TRAJECTORY]  # (n, steps + 1, outputs)
    for j, output in enumerate(evolved.var_names):
        if output != "K562":
            assert traj[:, -1, j].mean() < traj[:, 0, j].mean(), output


def test_planted_motif_is_found_in_designs_far_more_than_in_starts(trained, evolved):
    ppm = _planted(trained)
    designed = _has_motif(evolved.obsm[K.SEQUENCE], ppm).mean()
    started = _has_motif(evolved.obsm[K.DESIGN_START_SEQUENCE], ppm).mean()
    assert designed >= 0.5
    assert designed >= started + 0.4


def test_implanting_the_planted_motif_beats_a_shuffled_one(trained, background):
    consensus = "".join(K.ALPHABET[i] for i in _planted(trained).argmax(axis=0))
    shuffled = consensus
    rng = np.random.default_rng(0)
    while shuffled == consensus or shuffled == decode(encode(consensus)[::-1]):
        shuffled = "".join(rng.permutation(list(consensus)))
    gains = {}
    for motif in (consensus, shuffled):
        d = cs.tl.design(trained, "K562", start=background, method="implant", motif=motif, device="cpu")
        gains[motif] = (d.obs[K.DESIGN_SCORE] - d.obs[K.DESIGN_SCORE_START]).mean()
    assert gains[consensus] > gains[shuffled] + 0.5


def test_implant_by_jaspar_name_writes_the_motif_at_the_reported_position(trained, background):
    d = cs.tl.design(trained, "K562", start=background[:3], method="implant", motif="GATA1", device="cpu")
    consensus = d.uns[K.UNS][K.UNS_DESIGN]["motif_consensus"]
    for row, pos, strand in zip(d.obsm[K.SEQUENCE], d.obs[K.DESIGN_POSITION], d.obs[K.DESIGN_STRAND], strict=True):
        placed = decode(row[pos : pos + len(consensus)])
        want = consensus if strand == "+" else decode(cs._codes.reverse_complement_codes(encode(consensus)))
        assert placed == want
    scores = d.obsm[K.DESIGN_POSITION_SCORES]
    assert scores.shape == (3, WIDTH - len(consensus) + 1)
    np.testing.assert_allclose(scores.max(axis=1), d.obs[K.DESIGN_SCORE], rtol=1e-5)


# -- the result ---------------------------------------------------------------------------------------------
def test_design_is_ready_for_predict_and_round_trips_h5ad(evolved, tmp_path):
    d = evolved.copy()
    cs.tl.predict(d, device="cpu")
    pred = d.obsm[K.PRED]
    for j, output in enumerate(d.var_names):
        np.testing.assert_allclose(pred[f"scratch_{output}"], d.obsm[K.DESIGN_TRAJECTORY][:, -1, j], atol=1e-5)
    d.write_h5ad(tmp_path / "designs.h5ad")
    back = ad.read_h5ad(tmp_path / "designs.h5ad")
    np.testing.assert_array_equal(back.obsm[K.SEQUENCE], d.obsm[K.SEQUENCE])
    assert back.uns[K.UNS][K.UNS_DESIGN]["weights_sha256"].startswith("sha256:")


def test_changed_bases_match_the_step_count(evolved):
    changed = (evolved.obsm[K.SEQUENCE] != evolved.obsm[K.DESIGN_START_SEQUENCE]).sum(axis=1)
    assert (changed <= evolved.obs[K.DESIGN_STEPS].to_numpy()).all()
    assert (changed > 0).all()
    assert evolved.obsm[K.DESIGN_TRAJECTORY].shape == (8, STEPS + 1, 3)


def test_contributions_of_designs(evolved):
    d = evolved[:2].copy()
    cs.tl.contributions(d, "K562", model="scratch", method="grad_x_input", device="cpu")
    scores, names = cs.tl.get_contributions(d, "K562")
    assert scores.shape == (2, 4, WIDTH)


def test_beam_is_at_least_as_good_as_greedy_and_lower_lowers(trained, background):
    start = background[:3]
    greedy = cs.tl.design(trained, "K562", start=start, steps=3, device="cpu")
    beamed = cs.tl.design(trained, "K562", start=start, steps=3, beam=4, device="cpu")
    assert beamed.obs[K.DESIGN_SCORE].mean() >= greedy.obs[K.DESIGN_SCORE].mean() - 1e-5
    lowered = cs.tl.design(trained, "K562", start=start, objective="lower", steps=3, device="cpu")
    assert (lowered.obs[K.design_pred_key("K562")] < greedy.obsm[K.DESIGN_TRAJECTORY][:, 0, 0]).all()


def test_random_starts_are_seeded_gc_matched_and_batch_size_free(trained):
    a = cs.tl.design(trained, "HepG2", start=3, steps=2, device="cpu", random_state=5, batch_size=64)
    b = cs.tl.design(trained, "HepG2", start=3, steps=2, device="cpu", random_state=5, batch_size=1000)
    np.testing.assert_array_equal(a.obsm[K.SEQUENCE], b.obsm[K.SEQUENCE])
    np.testing.assert_allclose(a.obsm[K.DESIGN_TRAJECTORY], b.obsm[K.DESIGN_TRAJECTORY], atol=1e-5)
    gc = cs._codes.gc_fraction(a.obsm[K.DESIGN_START_SEQUENCE]).mean()
    assert abs(gc - trained.obs[K.GC][trained.obs[K.SPLIT] == "train"].mean()) < 0.08
    assert list(a.obs[K.DESIGN_SOURCE]) == ["random_0", "random_1", "random_2"]


def test_mutants_cover_every_single_substitution_once():
    from chromseq.tl._design_search import mutants

    parents = torch.tensor([[0, 1, 2, 3], [3, 3, 3, 3]], dtype=torch.uint8)
    out = mutants(parents, torch.arange(2 * 12))
    assert out.shape == (24, 4)
    for p in range(2):
        block = out[p * 12 : (p + 1) * 12]
        assert ((block != parents[p]).sum(1) == 1).all()
        assert len({tuple(r.tolist()) for r in block}) == 12


# -- bad input: clear errors before any work ----------------------------------------------------------------
@pytest.fixture
def no_work(monkeypatch):
    """Make loading the model fail loudly: errors must come before it."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr("chromseq.tl._design_result.load_recorded", refuse)


def test_unknown_celltype(trained, no_work):
    with pytest.raises(KeyError, match="unknown cell type 'Liver'"):
        cs.tl.design(trained, "Liver", start=2)


def test_start_of_another_width(trained, no_work):
    other = cs.datasets.synthetic(10, width=WIDTH + 20, random_state=1)
    with pytest.raises(ValueError, match=f"120 bp wide but the model takes {WIDTH} bp"):
        cs.tl.design(trained, "K562", start=other)


def test_start_with_n_bases(trained, background, no_work):
    start = background.copy()
    start.obsm[K.SEQUENCE][1, 5] = 4
    with pytest.raises(ValueError, match=r"1 start sequence\(s\) hold N bases"):
        cs.tl.design(trained, "K562", start=start)


def test_motif_not_in_jaspar(trained, background, no_work):
    with pytest.raises(ValueError, match="'MA9999' is not in JASPAR"):
        cs.tl.design(trained, "K562", start=background, method="implant", motif="MA9999")


def test_model_not_in_the_anndata(trained, no_work):
    with pytest.raises(KeyError, match="no model named 'finetuned_K562'"):
        cs.tl.design(trained, "K562", start=2, model="finetuned_K562")


def test_specific_needs_several_outputs_and_weights_name_outputs(trained, no_work):
    with pytest.raises(ValueError, match="not other outputs"):
        cs.tl.design(trained, "K562", start=2, objective="specific", weights={"Liver": 1.0})
    with pytest.raises(ValueError, match="only applies to random starts"):
        cs.tl.design(trained, "K562", start=trained[:2].copy(), gc=0.5)
    with pytest.raises(ValueError, match="method='implant' needs motif="):
        cs.tl.design(trained, "K562", start=2, method="implant")


# -- plots and command line ---------------------------------------------------------------------------------
def test_pl_design_draws_one_line_per_output_target_thickest(evolved):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = cs.pl.design(evolved, show=False)
    lines = [line for line in ax.get_lines() if line.get_label() and not line.get_label().startswith("_")]
    assert [line.get_label() for line in lines] == ["K562 (target)", "HepG2", "GM12878"]
    assert lines[0].get_linewidth() > lines[1].get_linewidth()
    np.testing.assert_allclose(lines[0].get_ydata(), evolved.obsm[K.DESIGN_TRAJECTORY][:, :, 0].mean(0), rtol=1e-6)
    plt.close("all")


def test_pl_design_logo_shades_the_changed_bases(evolved):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = evolved[:1].copy()
    cs.tl.contributions(d, "K562", model="scratch", method="grad_x_input", device="cpu")
    ax = cs.pl.design_logo(d, "design_0", "K562", show=False)
    changed = int((d.obsm[K.SEQUENCE][0] != d.obsm[K.DESIGN_START_SEQUENCE][0]).sum())
    spans = [p for p in ax.patches if type(p).__name__ == "Rectangle" and abs(p.get_width() - 1.0) < 1e-9]
    assert len(spans) == changed
    assert f"{changed} base(s) changed" in ax.get_title()
    plt.close("all")


def test_cli_design_writes_h5ad_and_fasta(trained, tmp_path):
    from chromseq.cli import main

    src = tmp_path / "trained.h5ad"
    trained.write_h5ad(src)
    out, fasta = tmp_path / "designs.h5ad", tmp_path / "designs.fa"
    argv = [str(src), "--celltype", "K562", "--start", "2", "--steps", "2", "-o", str(out), "--fasta", str(fasta)]
    assert main(["design", *argv, "--device", "cpu"]) == 0
    d = ad.read_h5ad(out)
    assert d.n_obs == 2
    records = fasta.read_text().split(">")[1:]
    assert [r.split()[0] for r in records] == list(d.obs_names)
    assert "".join(records[0].splitlines()[1:]) == decode(d.obsm[K.SEQUENCE][0])
    assert main(["design", *argv[:-4], "-o", str(out), "--celltype", "Liver"]) == 1
    assert main(["design", *argv[:-2], "--fasta", str(tmp_path)]) == 1  # a folder: refused before any work
