"""Losses and validation metrics of the training loop.

Classification: class-balanced BCE with logits, AUROC. Regression: masked MSE, Poisson NLL on
the log-rate output, MSE plus a cosine term over the outputs of one region (``mse_cosine``),
mean Pearson correlation. Every loss leaves NaN targets out and divides its sum by the number of
known targets of the batch, or by the ``denominator`` it is given (data-parallel training divides
by the global count over ranks instead, see :func:`step_loss`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from chromseq.train._distributed import all_reduce_sum

#: A batch loss: ``loss(outputs (n, k), targets (n, k), denominator=None) -> scalar``.
LossFn = Callable[..., torch.Tensor]


def class_weights(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Balanced class weights per output (``n / (2 n_c)``, NaN ignored) from ``(n, n_outputs)`` labels.

    Raises
    ------
    ValueError
        If an output has no positive or no negative label.
    """
    valid = ~np.isnan(labels)
    n_pos = np.nansum(labels > 0.5, axis=0).astype(float)
    n = valid.sum(axis=0).astype(float)
    n_neg = n - n_pos
    if (n_pos == 0).any() or (n_neg == 0).any():
        bad = [int(i) for i in np.flatnonzero((n_pos == 0) | (n_neg == 0))]
        raise ValueError(f"output(s) {bad} have no positive or no negative training label (n_pos={n_pos[bad]}).")
    return n / (2 * n_pos), n / (2 * n_neg)


def _mean(total: torch.Tensor, known: torch.Tensor, denominator: torch.Tensor | None) -> torch.Tensor:
    return total / (known.sum().clamp_min(1) if denominator is None else denominator)


def weighted_bce(
    logits: torch.Tensor,
    y: torch.Tensor,
    w_pos: torch.Tensor,
    w_neg: torch.Tensor,
    *,
    denominator: torch.Tensor | None = None,
) -> torch.Tensor:
    """Class-weighted BCE with logits averaged over known labels; NaN labels are ignored.

    ``denominator`` replaces the number of known labels of this batch (data-parallel
    training divides by the global count over ranks instead).
    """
    known = ~torch.isnan(y)
    y0 = torch.nan_to_num(y)
    w = torch.where(y0 > 0.5, w_pos, w_neg) * known
    loss = F.binary_cross_entropy_with_logits(logits.float(), y0, weight=w, reduction="sum")
    return _mean(loss, known, denominator)


def masked_mse(out: torch.Tensor, y: torch.Tensor, *, denominator: torch.Tensor | None = None) -> torch.Tensor:
    """Squared error of ``out`` against ``y`` ``(n, k)`` averaged over known targets (NaN left out)."""
    known = ~torch.isnan(y)
    err = torch.where(known, out.float() - torch.nan_to_num(y), 0.0)
    return _mean((err * err).sum(), known, denominator)


def poisson_nll(out: torch.Tensor, y: torch.Tensor, *, denominator: torch.Tensor | None = None) -> torch.Tensor:
    """Poisson negative log-likelihood of counts ``y`` given log-rates ``out``, averaged over known targets.

    ``exp(out) - y * out`` per target (the ``log(y!)`` term, constant in the weights, is left out);
    targets must be >= 0 (checked before training); NaN targets are left out.
    """
    known = ~torch.isnan(y)
    nll = F.poisson_nll_loss(out.float(), torch.nan_to_num(y), log_input=True, full=False, reduction="none")
    return _mean(torch.where(known, nll, 0.0).sum(), known, denominator)


def mse_cosine(
    out: torch.Tensor, y: torch.Tensor, *, denominator: torch.Tensor | None = None, weight: float = 1.0
) -> torch.Tensor:
    """MSE plus ``weight`` times the cosine distance between the output and target vectors of each region.

    The cosine term rewards the cell-type specificity of a region (its vector across outputs)
    whatever its scale: ``1 - cos(out_i, y_i)`` over the known outputs of region ``i``, counted
    once per known target of that region so that the sum shares the MSE's denominator. Regions
    with fewer than two known outputs, or whose known targets are all 0, add nothing: with one
    output the loss equals :func:`masked_mse`.
    """
    known = ~torch.isnan(y)
    o = torch.where(known, out.float(), 0.0)
    t = torch.nan_to_num(y)
    err = torch.where(known, o - t, 0.0)
    n_known = known.sum(dim=1)
    norms = o.norm(dim=1) * t.norm(dim=1)
    cos = (o * t).sum(dim=1) / norms.clamp_min(1e-8)
    used = (n_known >= 2) & (t.norm(dim=1) > 0)
    cosine = torch.where(used, (1 - cos) * n_known, 0.0).sum()
    return _mean((err * err).sum() + weight * cosine, known, denominator)


#: Regression losses by name (the network's outputs are the values, or their log for ``'poisson'``).
REGRESSION_LOSSES: dict[str, LossFn] = {"mse": masked_mse, "poisson": poisson_nll, "mse_cosine": mse_cosine}


def step_loss(outputs, y, loss_fn: LossFn, world: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, n)``: a training batch's loss, and the target count it stands for (this rank's share).

    ``loss_fn`` is one of the losses above (class weights bound for :func:`weighted_bce`).
    """
    n = (~torch.isnan(y)).sum()
    if world == 1:
        return loss_fn(outputs, y), n
    # DDP averages gradients over ranks: dividing each rank's sum by (global count / world)
    # gives the gradient of the loss of the whole global batch, whatever the NaN labels per rank
    share = all_reduce_sum(n.to(torch.float32)) / world
    return loss_fn(outputs, y, denominator=share.clamp_min(1 / world)), share


def auroc(y: np.ndarray, p: np.ndarray) -> float:
    """Mean AUROC over outputs (Mann-Whitney U with tied ranks averaged); NaN labels ignored."""
    scores = []
    for j in range(y.shape[1]):
        known = ~np.isnan(y[:, j])
        yj, pj = y[known, j] > 0.5, p[known, j]
        n_pos = int(yj.sum())
        n_neg = len(yj) - n_pos
        if n_pos and n_neg:
            _, inverse, counts = np.unique(pj, return_inverse=True, return_counts=True)
            ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]
            scores.append((ranks[yj].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(scores)) if scores else float("nan")


def mean_pearson(y: np.ndarray, p: np.ndarray) -> float:
    """Mean Pearson correlation over outputs of ``y`` and ``p`` ``(n, k)``; NaN targets left out.

    Outputs with fewer than two known targets, or no variance in targets or predictions, are
    skipped (NaN if every output is).
    """
    scores = []
    for j in range(y.shape[1]):
        known = ~np.isnan(y[:, j])
        yj, pj = y[known, j].astype(np.float64), p[known, j].astype(np.float64)
        if len(yj) < 2:
            continue
        yc, pc = yj - yj.mean(), pj - pj.mean()
        denom = np.sqrt((yc * yc).sum() * (pc * pc).sum())
        if denom > 0:
            scores.append(float((yc * pc).sum() / denom))
    return float(np.mean(scores)) if scores else float("nan")
