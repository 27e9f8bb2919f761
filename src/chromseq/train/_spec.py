"""Settings of one training stage (:class:`TrainSpec`), shared by the loop and its helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from chromseq._keys import LOSSES
from chromseq._settings import check_device
from chromseq._validate import check_seed, positive_number

#: What early stopping may follow, the optimisers and the precisions a stage accepts.
MONITORS = ("val_loss", "val_auroc", "val_pearson")
OPTIMIZERS = ("adam", "adamw")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: The one rule of each training setting (``TrainSpec`` and ``tl.TrainingOptions`` share it):
#: whole numbers with their lowest value, numbers > 0, and settings with a fixed set of values.
_LOWEST = {"max_epochs": 1, "batch_size": 1, "patience": 1, "lr_patience": 1, "stage1_epochs": 1, "max_shift": 0}
_POSITIVE = ("learning_rate", "stage2_learning_rate")
_CHOICES = {"optimizer": OPTIMIZERS, "monitor": MONITORS, "precision": PRECISIONS}
#: The validation metric of each loss: AUROC for the binary loss, mean Pearson for the regression losses.
METRIC_OF_LOSS = {"bce": "val_auroc", "mse": "val_pearson", "poisson": "val_pearson", "mse_cosine": "val_pearson"}


def check_monitor(monitor: str, loss: str, what: str) -> None:
    """Raise if ``monitor`` is a metric ``loss``'s task does not compute (``val_auroc`` needs ``'bce'``, ...)."""
    if monitor in ("val_auroc", "val_pearson") and METRIC_OF_LOSS[loss] != monitor:
        task = "classification" if loss == "bce" else "regression"
        raise ValueError(
            f"{what}: monitor={monitor!r} is not computed for {task} (loss={loss!r}): use monitor='val_loss' or "
            f"monitor={METRIC_OF_LOSS[loss]!r}."
        )


def check_settings(settings: object, what: str) -> None:
    """Raise a :class:`ValueError` naming the first training setting of ``settings`` that breaks its rule.

    The one validator of training settings: :class:`TrainSpec` and ``chromseq.tl.TrainingOptions``
    both call it (``what`` names the object in the message); settings ``settings`` lacks are skipped,
    and ``None`` is accepted for ``stage1_epochs`` (half the budget).
    """
    for name, low in _LOWEST.items():
        value = getattr(settings, name, 0 if low == 0 else 1)
        if value is None and name == "stage1_epochs":
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{what}: {name} must be an int >= {low}, got {value!r}.")
    for name in _POSITIVE:  # finite too: learning_rate=inf would fail only after an epoch ("loss became nan")
        positive_number(getattr(settings, name, 1.0), f"{what}: {name}")
    for name, choices in _CHOICES.items():
        value = getattr(settings, name, choices[0])
        if value not in choices:
            raise ValueError(f"{what}: {name} must be one of {list(choices)}, got {value!r}.")
    name = "random_state" if hasattr(settings, "random_state") else "seed"  # torch generators take < 2**64
    if getattr(settings, name, None) is not None:
        check_seed(getattr(settings, name), f"{what}: {name}")
    if getattr(settings, "device", None) is not None:
        check_device(settings.device)


@dataclass(frozen=True)
class TrainSpec:
    """Settings of one training stage.

    Parameters
    ----------
    max_epochs
        Epoch budget of the stage (a resumed run counts the epochs already done).
    batch_size
        Sequences per optimisation step.
    learning_rate
        Initial learning rate.
    patience
        Stop after this many epochs without a better ``monitor`` value.
    lr_patience, lr_factor
        ReduceLROnPlateau: multiply the rate by ``lr_factor`` after ``lr_patience`` epochs
        without a ``monitor`` improvement of at least ``min_delta``.
    monitor
        ``'val_loss'`` (lower is better), ``'val_auroc'`` (classification, higher is better) or
        ``'val_pearson'`` (regression: mean Pearson over outputs, higher is better): what early
        stopping, the kept weights and the schedule follow.
    min_delta
        Smallest improvement counted by the scheduler (absolute, as in Keras).
    optimizer
        ``'adam'`` (L2 penalty added to the gradient, as Keras' ``kernel_regularizer``) or
        ``'adamw'`` (decoupled weight decay).
    l2
        Penalty ``l2 * sum(w**2)`` on convolution kernels.
    rc_augment
        Reverse-complement each training sequence with probability 1/2.
    max_shift
        Random shift of training sequences, in bp (0: none).
    precision
        ``'auto'`` (bf16 on CUDA where supported, else fp16; fp32 on CPU), or explicit.
    seed
        Seed of the stage's randomness.
    stage
        Name recorded in the history (``'train'``, ``'head'``, ``'full'``).
    freeze_body
        Train only the heads; the body stays in eval mode (its batch-norm statistics
        frozen). Embeddings are then computed once per strand and reused every epoch.
    num_workers
        DataLoader worker processes.
    bn_recalibration
        After each epoch, recompute batch-norm running statistics on this many training
        batches with dropout off (0: keep the running averages of training). Dropout
        before batch norm otherwise shifts eval-mode activations (the "variance shift"),
        which in narrow networks made validation loss useless for early stopping.
    cache_embeddings
        With ``freeze_body`` and no shift, compute the body's embeddings once (both strands)
        instead of every epoch; the result is the same, only faster.
    loss
        ``'bce'`` (classification: class-balanced binary cross-entropy on logits), or a
        regression loss: ``'mse'``, ``'poisson'`` (outputs are log-rates; targets >= 0) or
        ``'mse_cosine'`` (MSE plus a cosine term over the outputs of one region); see
        :mod:`chromseq.train._loss`. NaN targets are left out by every loss.
    """

    max_epochs: int = 100
    batch_size: int = 128
    learning_rate: float = 1e-3
    patience: int = 10
    lr_patience: int = 5
    lr_factor: float = 0.1
    min_delta: float = 1e-4
    monitor: Literal["val_loss", "val_auroc", "val_pearson"] = "val_loss"
    optimizer: Literal["adam", "adamw"] = "adam"
    l2: float = 1e-4
    rc_augment: bool = True
    max_shift: int = 0
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    seed: int = 0
    stage: str = "train"
    freeze_body: bool = False
    num_workers: int = 0
    bn_recalibration: int = 32
    cache_embeddings: bool = True
    loss: Literal["bce", "mse", "poisson", "mse_cosine"] = "bce"

    def __post_init__(self) -> None:
        check_settings(self, "TrainSpec")
        if self.loss not in LOSSES:
            raise ValueError(f"TrainSpec: loss must be one of {list(LOSSES)}, got {self.loss!r}.")
        check_monitor(self.monitor, self.loss, "TrainSpec")
