"""What one training stage optimises and validates on: the loss of ``spec.loss`` and its metric.

Classification (``'bce'``): class-balanced BCE (weights from the training labels), validation
AUROC of the sigmoid of the outputs (history key ``val_auroc``). Regression (``'mse'``,
``'poisson'``, ``'mse_cosine'``): no class weights, validation mean Pearson over outputs of the
predictions in the target's units (the outputs, or their ``exp`` for ``'poisson'``; history key
``val_pearson``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from chromseq.train._loss import REGRESSION_LOSSES, LossFn, auroc, class_weights, mean_pearson, weighted_bce
from chromseq.train._spec import METRIC_OF_LOSS, TrainSpec

#: Per-epoch history keys; the metric column is ``val_auroc`` (classification) or ``val_pearson``.
BASE_KEYS = ("epoch", "stage", "train_loss", "val_loss", "{metric}", "lr", "seconds")


def history_keys(metric: str = "val_auroc") -> tuple[str, ...]:
    """Return the history keys of a stage whose validation metric is ``metric``."""
    return tuple(metric if k == "{metric}" else k for k in BASE_KEYS)


@dataclass(frozen=True)
class Objective:
    """The loss of a stage (class weights bound), its validation metric and how outputs become predictions."""

    loss: LossFn
    metric: str
    score: Callable[[np.ndarray, np.ndarray], float]
    predict: Callable[[torch.Tensor], torch.Tensor]

    @property
    def keys(self) -> tuple[str, ...]:
        """History keys of the stage."""
        return history_keys(self.metric)


def make_objective(spec: TrainSpec, train_labels: np.ndarray, device: torch.device) -> Objective:
    """Return the objective of ``spec.loss``; ``train_labels`` ``(n, k)`` give BCE's class weights.

    Raises
    ------
    ValueError
        ``'bce'`` and an output without both classes among its training labels.
    """
    if spec.loss == "bce":
        w_pos, w_neg = (torch.as_tensor(w, dtype=torch.float32, device=device) for w in class_weights(train_labels))
        loss = functools.partial(weighted_bce, w_pos=w_pos, w_neg=w_neg)
        return Objective(loss, METRIC_OF_LOSS["bce"], auroc, torch.sigmoid)
    inverse = torch.exp if spec.loss == "poisson" else (lambda t: t)
    return Objective(REGRESSION_LOSSES[spec.loss], METRIC_OF_LOSS[spec.loss], mean_pearson, inverse)
