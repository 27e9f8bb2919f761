"""Settings of one training stage (:class:`TrainSpec`), shared by the loop and its helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


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
        ``'val_loss'`` (lower is better) or ``'val_auroc'`` (higher is better): what early
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
    """

    max_epochs: int = 100
    batch_size: int = 128
    learning_rate: float = 1e-3
    patience: int = 10
    lr_patience: int = 5
    lr_factor: float = 0.1
    min_delta: float = 1e-4
    monitor: Literal["val_loss", "val_auroc"] = "val_loss"
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

    def __post_init__(self) -> None:
        for name in ("max_epochs", "batch_size", "patience", "lr_patience"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < (0 if name == "max_epochs" else 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if not 0 < self.learning_rate < float("inf"):
            raise ValueError(f"learning_rate must be a finite number > 0, got {self.learning_rate!r}.")
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be 'adam' or 'adamw', got {self.optimizer!r}.")
        if self.max_shift < 0:
            raise ValueError(f"max_shift must be >= 0, got {self.max_shift}.")
