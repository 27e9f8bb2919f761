"""How the training verbs train: one frozen options object (:class:`TrainingOptions`) and its stages."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from chromseq._keys import LOSSES
from chromseq._settings import settings
from chromseq.train import TrainSpec, check_settings

#: What a training verb does with what an earlier run of the same model left behind.
Existing = Literal["keep", "resume", "overwrite"]
EXISTING: tuple[str, ...] = ("keep", "resume", "overwrite")
#: Training kinds, as recorded in ``uns['chromseq']['models'][name]['kind']``.
TrainingKind = Literal["pretrain", "finetune", "scratch"]
#: The loss ``loss='auto'`` trains regression with (measured on planted dosage data: see ``TrainingOptions``).
DEFAULT_REGRESSION_LOSS = "mse"


@dataclass(frozen=True)
class TrainingOptions:
    """How :func:`~chromseq.tl.pretrain`, :func:`~chromseq.tl.finetune` and :func:`~chromseq.tl.train` train.

    One frozen object for the three verbs (and for every run of
    :func:`~chromseq.tl.transfer_benchmark`), so that a fine-tune and its from-scratch baseline
    are trained the same way by construction. ``max_epochs``, ``batch_size`` and
    ``learning_rate`` can also be passed to the verbs directly; those keywords win. Fields a
    verb does not use (``stage1_epochs`` and ``stage2_learning_rate`` outside fine-tuning,
    ``train_fraction`` in pretraining) are ignored by it. The defaults are the paper's.

    Parameters
    ----------
    max_epochs
        Epoch budget (fine-tuning: both stages together, the budget a scratch model gets).
    batch_size
        Sequences per optimisation step.
    learning_rate
        Initial Adam learning rate (fine-tuning: of stage 1, the frozen body); reduced 10x
        after 5 epochs without a lower validation loss.
    patience
        Early stopping: epochs without a better ``monitor`` value (per fine-tuning stage).
    stage1_epochs
        Fine-tuning only: most epochs of stage 1 (frozen body); ``None``: half the budget.
        Stage 2 (all layers) gets what is left.
    stage2_learning_rate
        Fine-tuning only: Adam learning rate of stage 2 (5e-6 in the paper).
    train_fraction
        Fine-tuning and scratch training: train on this random fraction of the labelled
        training rows (stratified by label, seeded by ``random_state``; validation rows
        unchanged), the paper's small-data experiment.
    rc_augment
        Reverse-complement half of the training sequences at random.
    max_shift
        Random shift of training sequences, in bp (0: none).
    optimizer
        ``'adam'`` (L2 penalty on the gradient, as Keras) or ``'adamw'`` (decoupled weight decay).
    precision
        ``'auto'`` (bf16/fp16 autocast on CUDA, fp32 on CPU), ``'fp32'``, ``'bf16'`` or ``'fp16'``.
    device
        Torch device, ``'cpu'``, ``'cuda'``, ... (``None``: :attr:`chromseq.settings.device`).
    random_state
        Seed of initialisation, sampling and augmentation (``None``: :attr:`chromseq.settings.seed`),
        an int from 0 to 2**63 - 1. A run is reproducible given the seed, the number of torch CPU
        threads (:func:`torch.get_num_threads`, ``--threads``), the device and the torch version;
        the record keeps the first two in ``params['torch_threads']`` and ``params['device']``.
    monitor
        What early stopping, the kept weights and the learning-rate schedule follow:
        ``'val_loss'`` (lower is better; the paper) or ``'val_auroc'`` (classification; higher is
        better, the mean over outputs; needs both classes among each output's validation labels),
        ``'val_pearson'`` (regression; the mean Pearson correlation over outputs). The
        class-weighted loss also rewards calibration on the validation split, which drifts
        when its class balance differs from training; AUROC follows ranking only.
    loss
        ``'auto'`` (default): ``'bce'`` (class-balanced binary cross-entropy) for classification and
        ``'mse'`` for regression. Regression also takes ``'poisson'`` (counts, >= 0: the network
        predicts the log-rate, predictions are its ``exp``) and ``'mse_cosine'`` (MSE plus a cosine
        term over the cell types of one region, which rewards getting the specificity right; with
        one output it is MSE). ``'mse'`` is the default because on planted-motif dosage data
        (``chromseq.datasets.synthetic(target='dosage')``, two seeds, two cell types) its fine-tuned
        models had the best mean test Pearson of the three (0.947 and 0.905; ``'mse_cosine'`` 0.934
        and 0.897; ``'poisson'`` 0.931 and 0.886).

    Examples
    --------
    >>> import chromseq as cs
    >>> quick = cs.tl.TrainingOptions(max_epochs=10, patience=3, batch_size=32)
    >>> quick.replace(train_fraction=0.2).train_fraction
    0.2
    """

    max_epochs: int = 100
    batch_size: int = 128
    learning_rate: float = 1e-3
    patience: int = 10
    stage1_epochs: int | None = None
    stage2_learning_rate: float = 5e-6
    train_fraction: float = 1.0
    rc_augment: bool = True
    max_shift: int = 0
    optimizer: Literal["adam", "adamw"] = "adam"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    device: str | None = None
    random_state: int | None = None
    monitor: Literal["val_loss", "val_auroc", "val_pearson"] = "val_loss"
    loss: Literal["auto", "bce", "mse", "poisson", "mse_cosine"] = "auto"

    def __post_init__(self) -> None:
        check_settings(self, "TrainingOptions")
        if self.loss != "auto" and self.loss not in LOSSES:
            raise ValueError(f"TrainingOptions: loss must be 'auto' or one of {list(LOSSES)}, got {self.loss!r}.")
        if isinstance(self.train_fraction, bool) or not 0 < self.train_fraction <= 1:
            raise ValueError(f"train_fraction must be in (0, 1], got {self.train_fraction!r}.")

    def replace(self, **changes: Any) -> TrainingOptions:
        """Return a copy with ``changes`` applied (checked like the constructor)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"TrainingOptions has no field(s) {unknown}; fields: {field_names()}.")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (``None`` values left out: h5ad cannot store them)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> TrainingOptions:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        unknown = sorted(set(fields) - set(field_names()))
        if unknown:
            raise TypeError(f"TrainingOptions has no field(s) {unknown}; fields: {field_names()}.")
        return cls(**fields)

    @property
    def seed(self) -> int:
        """The seed in effect: ``random_state``, else :attr:`chromseq.settings.seed`."""
        return int(settings.seed if self.random_state is None else self.random_state)

    @property
    def head_epochs(self) -> int:
        """Epochs of fine-tuning stage 1: ``stage1_epochs``, else half the budget (at least 1)."""
        return max(1, math.ceil(self.max_epochs / 2)) if self.stage1_epochs is None else int(self.stage1_epochs)


def training_stages(options: TrainingOptions, kind: TrainingKind, *, l2: float, loss: str = "bce") -> list[TrainSpec]:
    """Return the training stages of ``kind`` under ``options``, run in order on one model within ``max_epochs``.

    Pretraining and scratch training: one stage (``'train'``). Fine-tuning: ``'head'`` (frozen
    body, ``learning_rate``, at most :attr:`TrainingOptions.head_epochs`), then ``'full'`` (all
    layers, ``stage2_learning_rate``). ``loss`` is the loss in effect (``options.loss`` resolved
    for the task).
    """
    common = {
        "batch_size": options.batch_size,
        "patience": options.patience,
        "rc_augment": options.rc_augment,
        "max_shift": options.max_shift,
        "optimizer": options.optimizer,
        "precision": options.precision,
        "monitor": options.monitor,
        "l2": l2,
        "seed": options.seed,
        "num_workers": settings.n_workers,
        "loss": loss,
    }
    if kind != "finetune":
        return [TrainSpec(**common, max_epochs=options.max_epochs, learning_rate=options.learning_rate, stage="train")]
    return [
        TrainSpec(
            **common,
            max_epochs=options.head_epochs,
            learning_rate=options.learning_rate,
            stage="head",
            freeze_body=True,
        ),
        TrainSpec(**common, max_epochs=options.max_epochs, learning_rate=options.stage2_learning_rate, stage="full"),
    ]


def record_params(options: TrainingOptions, kind: TrainingKind, loss: str = "bce") -> dict[str, Any]:
    """Return what a model record keeps in ``params``: the options ``kind`` uses, with the seed in effect.

    ``loss`` is the loss in effect; it is kept (as ``params['loss']``) for regression only, so that a
    classification record is what it was before regression existed (its loss is the record's ``loss``).
    """
    skip = {"device", "random_state", "loss"}
    if kind != "finetune":
        skip |= {"stage1_epochs", "stage2_learning_rate"}
    if kind == "pretrain":
        skip.add("train_fraction")
    out = {k: v for k, v in options.to_dict().items() if k not in skip} | {"seed": options.seed}
    if kind == "finetune":
        out["stage1_epochs"] = options.head_epochs
    if loss != "bce":
        out["loss"] = loss
    return out


def field_names() -> list[str]:
    """Names of the :class:`TrainingOptions` fields, in order."""
    return [f.name for f in dataclasses.fields(TrainingOptions)]


def resolve_options(
    options: TrainingOptions | None,
    *,
    max_epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
) -> TrainingOptions:
    """``options`` (default: the paper's) with the verb's keyword shortcuts applied (they win)."""
    if options is None:
        options = TrainingOptions()
    elif not isinstance(options, TrainingOptions):
        raise TypeError(
            f"options must be a chromseq.tl.TrainingOptions, got {type(options).__name__}: "
            "build one with chromseq.tl.TrainingOptions(max_epochs=..., patience=...)."
        )
    shortcuts = {"max_epochs": max_epochs, "batch_size": batch_size, "learning_rate": learning_rate}
    changes = {k: v for k, v in shortcuts.items() if v is not None}
    return options.replace(**changes) if changes else options


def check_existing(existing: str) -> tuple[bool, bool]:
    """``(resume, overwrite)`` for ``existing``; raise naming the choices."""
    if existing not in EXISTING:
        raise ValueError(f"existing must be one of {list(EXISTING)}, got {existing!r}.")
    return existing == "resume", existing == "overwrite"
