"""Bootstrap confidence intervals of AUROC or Pearson r and of paired differences, resampling blocks.

Regions of one chromosome block are spatially correlated (shared flanks, shared local GC), so the
resampling unit is the block: a replicate draws as many blocks as there are, with replacement, and
each region weighs as often as its block was drawn. Every method and cell type is scored on the same
replicates, so differences between methods are paired. With one block per region this is the
ordinary (region) bootstrap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def block_weights(groups: np.ndarray, n_boot: int, random_state: int = 0) -> np.ndarray:
    """Draw block-bootstrap weights.

    Parameters
    ----------
    groups
        ``(n,)`` block label of every region (any hashable values).
    n_boot
        Number of replicates B.
    random_state
        Seed of the draws.

    Returns
    -------
    ``(B, n)`` float64 weights: how many times each region's block was drawn in each replicate.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}.")
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    n_blocks = int(inverse.max()) + 1 if len(inverse) else 0
    rng = np.random.default_rng(random_state)
    draws = rng.integers(0, n_blocks, size=(n_boot, n_blocks))
    counts = np.zeros((n_boot, n_blocks))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts[:, inverse]


def weighted_auroc(y: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """AUROC of ``scores`` for labels ``y`` under each row of ``weights`` (ties count one half).

    Parameters
    ----------
    y
        ``(n,)`` labels, positive where > 0.5.
    scores
        ``(n,)`` scores (higher: more likely positive).
    weights
        ``(B, n)`` non-negative region weights (e.g. :func:`block_weights`); ``None``: all ones, B = 1.

    Returns
    -------
    ``(B,)`` AUROC per replicate (NaN where a replicate has no positive or no negative weight). With
    integer weights it equals the AUROC of the data with each region repeated that many times.
    """
    y = np.asarray(y) > 0.5
    scores = np.asarray(scores, dtype=np.float64)
    w = np.ones((1, len(y))) if weights is None else np.atleast_2d(np.asarray(weights, dtype=np.float64))
    order = np.argsort(scores, kind="stable")
    s, pos, w = scores[order], y[order], w[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if len(s) else np.zeros(0, dtype=np.int64)
    w_pos = np.add.reduceat(w * pos, starts, axis=1) if len(s) else np.zeros((len(w), 0))
    w_neg = np.add.reduceat(w * ~pos, starts, axis=1) if len(s) else np.zeros((len(w), 0))
    below = np.cumsum(w_neg, axis=1) - w_neg  # negative weight strictly below each tie group
    total_pos, total_neg = w_pos.sum(axis=1), w_neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (w_pos * (below + 0.5 * w_neg)).sum(axis=1) / (total_pos * total_neg)
    return np.where((total_pos > 0) & (total_neg > 0), auc, np.nan)


def auroc_replicates(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """AUROC of ``scores`` (mean over seeds) on the data and on each bootstrap replicate.

    Parameters
    ----------
    y
        ``(n,)`` labels of the scored regions.
    scores
        ``(n_seeds, n)`` or ``(n,)`` scores; each seed is scored on its own, then averaged.
    weights
        ``(B, n)`` replicate weights.

    Returns
    -------
    The point estimate and the ``(B,)`` replicate values.
    """
    scores = np.atleast_2d(scores)
    point = float(np.mean([weighted_auroc(y, s)[0] for s in scores]))
    boot = np.mean([weighted_auroc(y, s, weights) for s in scores], axis=0)
    return point, boot


def weighted_pearson(y: np.ndarray, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Pearson r of ``values`` with ``y`` under each row of ``weights``.

    Parameters
    ----------
    y
        ``(n,)`` observed values.
    values
        ``(n,)`` predicted values (or any score).
    weights
        ``(B, n)`` non-negative region weights (e.g. :func:`block_weights`); ``None``: all ones, B = 1.

    Returns
    -------
    ``(B,)`` r per replicate (NaN where a side has no weighted variance). With integer weights it
    equals the Pearson r of the data with each region repeated that many times.
    """
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    w = np.ones((1, len(y))) if weights is None else np.atleast_2d(np.asarray(weights, dtype=np.float64))
    total = w.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        my, mx = (w @ y)[:, None] / total, (w @ x)[:, None] / total
        dy, dx = y[None, :] - my, x[None, :] - mx
        cov = (w * dy * dx).sum(axis=1)
        var = (w * dy * dy).sum(axis=1) * (w * dx * dx).sum(axis=1)
        r = cov / np.sqrt(var)
    return np.where(var > 0, np.clip(r, -1.0, 1.0), np.nan)


def pearson_replicates(y: np.ndarray, values: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Pearson r of ``values`` (mean over seeds) on the data and on each bootstrap replicate.

    The regression counterpart of :func:`auroc_replicates`, with the same arguments: ``y`` ``(n,)``
    observed values, ``values`` ``(n_seeds, n)`` or ``(n,)``, ``weights`` ``(B, n)``.
    """
    values = np.atleast_2d(values)
    point = float(np.mean([weighted_pearson(y, v)[0] for v in values]))
    boot = np.mean([weighted_pearson(y, v, weights) for v in values], axis=0)
    return point, boot


def interval_table(
    estimates: Mapping[tuple[str, str], tuple[float, np.ndarray]],
    differences: Sequence[tuple[str, str, Sequence[str]]],
    *,
    level: float = 0.95,
) -> pd.DataFrame:
    """Percentile intervals per cell type and for the mean over cell types, methods and differences.

    Parameters
    ----------
    estimates
        ``{(celltype, kind): (point, replicates (B,))}``, all on the same replicates.
    differences
        ``(name, kind, others)``: the difference ``kind`` minus the best of ``others`` (the maximum
        within each replicate, so choosing the best baseline is part of the interval).
    level
        Coverage of the intervals.

    Returns
    -------
    DataFrame with columns ``celltype`` (``'mean'`` for the mean over cell types), ``kind`` (a method
    or a difference name), ``estimate``, ``lower``, ``upper``, ``n_boot``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}.")
    celltypes = list(dict.fromkeys(ct for ct, _ in estimates))
    kinds = list(dict.fromkeys(k for _, k in estimates))
    values: dict[tuple[str, str], tuple[float, np.ndarray]] = dict(estimates)
    for name, kind, others in differences:
        for ct in celltypes:
            point = values[ct, kind][0] - max(values[ct, o][0] for o in others)
            boot = values[ct, kind][1] - np.max([values[ct, o][1] for o in others], axis=0)
            values[ct, name] = (point, boot)
    rows = []
    alpha = (1 - level) / 2
    for kind in [*kinds, *(d[0] for d in differences)]:
        per_ct = [values[ct, kind] for ct in celltypes]
        mean = (float(np.mean([p for p, _ in per_ct])), np.mean([b for _, b in per_ct], axis=0))
        for ct, (point, boot) in [*zip(celltypes, per_ct, strict=True), ("mean", mean)]:
            lower, upper = np.nanquantile(boot, [alpha, 1 - alpha]) if np.isfinite(boot).any() else (np.nan, np.nan)
            rows.append({"celltype": ct, "kind": kind, "estimate": point, "lower": lower, "upper": upper})
    table = pd.DataFrame(rows)
    table["n_boot"] = len(next(iter(values.values()))[1])
    return table


def verdict(lower: float, upper: float) -> str:
    """``'better'``, ``'worse'`` or ``'no detectable difference'`` from a difference's interval."""
    if lower > 0:
        return "better"
    if upper < 0:
        return "worse"
    return "no detectable difference"
