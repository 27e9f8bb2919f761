"""Block-bootstrap AUROC intervals against known cases."""

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from chromseq._intervals import auroc_replicates, block_weights, interval_table, verdict, weighted_auroc


def _sample(n_pos, n_neg, shift, seed):
    """Scores N(shift, 1) for positives and N(0, 1) for negatives: true AUROC = Phi(shift / sqrt(2))."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)]
    return y, np.r_[rng.normal(shift, 1, n_pos), rng.normal(0, 1, n_neg)]


def test_weighted_auroc_matches_sklearn_with_ties_and_repeats():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = rng.integers(0, 8, 300).astype(float)  # many ties
    assert weighted_auroc(y, s)[0] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    w = rng.integers(0, 4, (3, 300)).astype(float)
    for row in w:
        repeated = np.repeat(np.arange(300), row.astype(int))
        assert weighted_auroc(y, s, row[None])[0] == pytest.approx(roc_auc_score(y[repeated], s[repeated]), abs=1e-12)
    assert np.isnan(weighted_auroc(np.ones(5), np.arange(5.0))[0])  # one class only


def test_block_weights_resample_whole_blocks():
    groups = np.repeat(np.arange(20), 7)
    w = block_weights(groups, 50, random_state=3)
    assert w.shape == (50, 140) and np.allclose(w.sum(axis=1), 140)  # 20 blocks drawn of 7 regions each
    assert all(np.ptp(w[:, groups == g], axis=1).max() == 0 for g in range(20))
    assert np.array_equal(w, block_weights(groups, 50, random_state=3))


def test_interval_matches_the_normal_approximation_and_covers_the_truth():
    shift, n_pos, n_neg = 0.8, 1500, 3000
    truth = norm.cdf(shift / np.sqrt(2))
    y, s = _sample(n_pos, n_neg, shift, seed=1)
    point, boot = auroc_replicates(y, s, block_weights(np.arange(len(y)), 2000, random_state=0))
    a = point  # Hanley & McNeil (1982) standard error
    q1, q2 = a / (2 - a), 2 * a**2 / (1 + a)
    se = np.sqrt((a * (1 - a) + (n_pos - 1) * (q1 - a**2) + (n_neg - 1) * (q2 - a**2)) / (n_pos * n_neg))
    assert np.std(boot) == pytest.approx(se, rel=0.1)
    lower, upper = np.quantile(boot, [0.025, 0.975])
    assert lower < truth < upper


def test_paired_difference_interval_and_verdicts():
    y, s = _sample(200, 400, 0.5, seed=2)
    w = block_weights(np.arange(600) // 10, 500, random_state=0)
    noise = np.random.default_rng(5).normal(0, 3, 600)
    estimates = {("A", "good"): auroc_replicates(y, s, w), ("A", "same"): auroc_replicates(y, s, w)}
    estimates[("A", "noisy")] = auroc_replicates(y, s + noise, w)
    table = interval_table(estimates, [("good-same", "good", ["same"]), ("good-noisy", "good", ["noisy", "same"])])
    same = table[(table["kind"] == "good-same") & (table["celltype"] == "A")].iloc[0]
    assert same["estimate"] == same["lower"] == same["upper"] == 0  # identical scores: no difference at all
    vs_best = table[(table["kind"] == "good-noisy") & (table["celltype"] == "A")].iloc[0]
    assert vs_best["estimate"] == 0  # the best of (noisy, same) is `same`
    diff = table[(table["kind"] == "good") & (table["celltype"] == "mean")].iloc[0]
    assert diff["lower"] < diff["estimate"] < diff["upper"]
    paired = interval_table(estimates, [("d", "good", ["noisy"])])
    d = paired[paired["kind"] == "d"].iloc[0]
    assert verdict(d["lower"], d["upper"]) == "better" and d["lower"] > 0
    assert verdict(-0.2, -0.1) == "worse" and verdict(-0.1, 0.1) == "no detectable difference"
