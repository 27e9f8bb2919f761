"""Loss and validation metric of the training loop: class-balanced BCE with NaN labels masked, AUROC."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from chromseq.train._distributed import all_reduce_sum


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
    return loss / (known.sum().clamp_min(1) if denominator is None else denominator)


def step_loss(logits, y, weights, world: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, n)``: a training batch's loss, and the label count it stands for (this rank's share)."""
    n = (~torch.isnan(y)).sum()
    if world == 1:
        return weighted_bce(logits, y, *weights), n
    # DDP averages gradients over ranks: dividing each rank's sum by (global count / world)
    # gives the gradient of the loss of the whole global batch, whatever the NaN labels per rank
    share = all_reduce_sum(n.to(torch.float32)) / world
    return weighted_bce(logits, y, *weights, denominator=share.clamp_min(1 / world)), share


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
