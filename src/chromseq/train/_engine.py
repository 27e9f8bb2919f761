"""The one training loop of chromseq; ``tl.pretrain``, ``tl.finetune`` and ``tl.train`` all call :func:`fit`.

Adam/AdamW with the L2 penalty on convolution kernels, class-balanced BCE with logits or a
regression loss (``spec.loss``, see :mod:`chromseq.train._objective`; NaN targets masked),
early stopping on validation loss (or AUROC / Pearson), ReduceLROnPlateau, the best
weights kept, a checkpoint written atomically after every epoch (resumable, readable
with ``torch.load(weights_only=True)``), bf16/fp16 autocast on CUDA, reverse-complement
and shift augmentation on the device. On CPU a run is deterministic given ``spec.seed``, the
number of torch CPU threads (:func:`torch.get_num_threads`: convolutions and matrix products
split their sums by thread, and 1 and 2 threads give weights that drift apart over epochs), the
device and the torch version: epoch ``e`` draws its permutation, augmentation and dropout masks
from a seed derived from ``(seed, stage, e)``, so a resumed run repeats an uninterrupted one
exactly at the same thread count. The checkpoint keeps the thread count (a resume at another one
logs a warning) and the model record keeps it in ``params['torch_threads']``.

On CUDA, training also uses the fused Adam kernel and cuDNN autotuning, and
``chromseq.settings.compile`` compiles the training step (see :mod:`chromseq.train._acceleration`).

Under ``torchrun --nproc_per_node=N`` the same loop is data-parallel (one code path): the
process group is joined from torchrun's environment (gloo on CPU, NCCL on CUDA), the model is
wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`, every rank reads its share of
the same global batches (``spec.batch_size`` is the global batch), the loss is normalised by
the global number of labels, batch-norm statistics are averaged over ranks after each epoch,
validation is sharded and its sums and predictions gathered, so that every rank takes the
same early-stopping and learning-rate decisions; only rank 0 writes checkpoints.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from chromseq._settings import log_progress, logger, settings
from chromseq.data import SequenceDataset
from chromseq.train._acceleration import cuda_tuning, make_optimizer, restore_fused, training_step
from chromseq.train._batches import Batches
from chromseq.train._checkpoint import (
    check_resumed_spec,
    load_checkpoint,
    make_payload,
    save_checkpoint,
    state_copy,
    warn_thread_change,
)
from chromseq.train._distributed import (
    average_buffers,
    dist_info,
    gather_array,
    init_distributed,
    local_device,
    rank_seed,
    sum_across,
)
from chromseq.train._inference import autocast, progress_disabled, resolve_precision
from chromseq.train._loss import class_weights, step_loss, weighted_bce  # noqa: F401 (the loop's loss, re-exported)
from chromseq.train._objective import Objective, history_keys, make_objective
from chromseq.train._spec import TrainSpec

#: History keys of a classification stage (a regression stage has ``val_pearson`` for ``val_auroc``).
HISTORY_KEYS = history_keys("val_auroc")


@dataclass
class FitResult:
    """Outcome of :func:`fit`: per-epoch ``history`` (dict of equal-length lists) and the best epoch.

    The history keys are :data:`HISTORY_KEYS`, with ``val_pearson`` for ``val_auroc`` in regression.
    """

    history: dict[str, list] = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    best_epoch: int = 0
    #: Best value of the monitored quantity, as "lower is better" (``-val_auroc`` when it is AUROC, same for Pearson).
    best_score: float = math.inf
    stopped_early: bool = False


def _epoch_seed(seed: int, stage: str, epoch: int) -> int:
    stage_code = int.from_bytes(stage.encode()[:8].ljust(8, b"\0"), "little")
    return int(np.random.SeedSequence([seed, stage_code, epoch]).generate_state(1, np.uint64)[0] >> 1)


def _forward(model, x: torch.Tensor, is_emb: bool) -> torch.Tensor:
    return model.head_logits(x) if is_emb else model(x)


def _set_mode(model, *, train: bool, freeze_body: bool) -> None:
    model.train(train)
    if freeze_body:
        model.body.eval()


@torch.no_grad()
def _validate(model, batches: Batches, objective: Objective, precision) -> tuple[float, float]:
    _set_mode(model, train=False, freeze_body=False)
    rank, world = dist_info()
    loader, _ = batches.loader(None, rank, world)
    n_out = batches.data.labels.shape[1]
    total, count, ys, ps = 0.0, 0, [np.zeros((0, n_out), np.float32)], [np.zeros((0, n_out), np.float32)]
    for item in loader:
        x, y, is_emb = batches.inputs(item, None)
        with autocast(batches.device, precision):
            logits = _forward(model, x, is_emb)
        known = int((~torch.isnan(y)).sum())
        total += float(objective.loss(logits, y)) * known
        count += known
        ys.append(y.cpu().numpy())
        ps.append(objective.predict(logits.float()).cpu().numpy())
    y_all, p_all = np.concatenate(ys), np.concatenate(ps)
    if world > 1:  # every rank gets the same sums and the same predictions, so the same decisions
        total, count = sum_across([total, count])
        y_all, p_all = gather_array(y_all), gather_array(p_all)
    return total / max(count, 1), objective.score(y_all, p_all)


def _train_epoch(model, batches, opt, scaler, objective, spec, precision, epoch_seed, desc, *, net=None) -> float:
    """One epoch; ``net`` (from :func:`training_step`) runs the forward pass when not ``None``."""
    from ._inference import progress_bar

    tqdm = progress_bar()

    # permutation and augmentation: drawn alike on every rank, for the global batch (see Batches.inputs)
    generator = torch.Generator().manual_seed(epoch_seed)
    rank, world = dist_info()
    loader, n_batches = batches.loader(generator, rank, world)
    _set_mode(model, train=True, freeze_body=spec.freeze_body)
    # running sums stay on the device: no host synchronisation per step
    total = torch.zeros((), device=batches.device)
    count = torch.zeros((), device=batches.device)
    devices = [batches.device] if batches.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # dropout masks from the epoch seed; the caller's RNG is restored
        torch.manual_seed(rank_seed(epoch_seed, rank))  # each rank its own masks
        bar = tqdm(loader, total=n_batches, desc=desc, leave=False, disable=progress_disabled())
        for step, item in enumerate(bar):
            x, y, is_emb = batches.inputs(item, generator)
            with autocast(batches.device, precision):
                logits = net(x, is_emb) if net is not None else _forward(model, x, is_emb)
            loss, n = step_loss(logits, y, objective.loss, world)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            total += loss.detach() * n
            count += n
            if not bar.disable and step % 20 == 0:
                bar.set_postfix(loss=f"{float(total / count.clamp_min(1)):.4f}", refresh=False)
    if world > 1:
        total, count = (torch.tensor(v) for v in sum_across([float(total), float(count)]))
    return float(total / count.clamp_min(1))


@torch.no_grad()
def _recalibrate_bn(model, batches: Batches, spec: TrainSpec, precision, seed: int) -> None:
    """Recompute running statistics of the batch norms being trained, with dropout off (cumulative average)."""
    _set_mode(model, train=False, freeze_body=False)
    scope = model.heads if spec.freeze_body else model
    norms = [m for m in scope.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or spec.bn_recalibration == 0:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    generator = torch.Generator().manual_seed(seed)
    rank, world = dist_info()  # each rank sees its share of the same batches; fit() averages the statistics
    loader, _ = batches.loader(generator, rank, world)
    try:
        for i, item in enumerate(loader):
            if i == spec.bn_recalibration:
                break
            x, _, is_emb = batches.inputs(item, generator)
            with autocast(batches.device, precision):
                _forward(model, x, is_emb)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum


def fit(
    model: nn.Module,
    train: SequenceDataset,
    val: SequenceDataset,
    spec: TrainSpec,
    *,
    device: torch.device | str | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    fingerprint: str = "",
    epoch_offset: int = 0,
    callback: Callable[[int, dict[str, list]], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``train``, early-stopping on ``val``; the best weights are loaded at the end.

    Parameters
    ----------
    model
        A network of any registered family (:class:`~chromseq.models.SequenceModel`: ``body``, ``heads``, ``head_logits``).
    train, val
        Datasets of codes (n, L) and targets (n, n_outputs), NaN = unknown: 0/1 labels for
        ``spec.loss='bce'``, quantities for the regression losses.
    spec
        Stage settings (``spec.loss`` picks the loss and the validation metric).
    device
        Torch device (``None``: :attr:`chromseq.settings.device`).
    checkpoint
        File written (atomically) after every epoch; with ``resume`` an existing one is continued.
    resume
        Continue from ``checkpoint`` if it exists (it must match ``fingerprint``, config and stage).
    fingerprint
        Training-data fingerprint kept in the checkpoint.
    epoch_offset
        Added to epoch numbers in the history (for a second stage).
    callback
        Called as ``callback(epoch, history)`` after each epoch (on rank 0).

    Returns
    -------
    :class:`FitResult`; ``model`` holds the best weights, on ``device``, all parameters trainable again.
    Under ``torchrun`` every rank returns the same result and weights.

    Notes
    -----
    On a CPU, training runs with :attr:`chromseq.settings.threads` torch threads (restored
    afterwards). On CUDA, ``torch.backends.cudnn.benchmark`` is on during the call (restored afterwards) and
    Adam/AdamW use their fused kernel. With :attr:`chromseq.settings.compile` the training step
    (forward and backward) is compiled with :func:`torch.compile`; ``model`` stays the uncompiled
    module, so checkpoints and its ``state_dict`` have the usual keys.
    """
    device = settings.resolve_device(device) if not isinstance(device, torch.device) else device
    with cuda_tuning(device), settings.cpu_threads(device):
        return _fit(model, train, val, spec, device, checkpoint, resume, fingerprint, epoch_offset, callback)


def _fit(model, train, val, spec, device, checkpoint, resume, fingerprint, epoch_offset, callback) -> FitResult:
    rank, world = init_distributed(device)
    device = local_device(device)
    if spec.batch_size < 2 * world:
        raise ValueError(
            f"batch_size={spec.batch_size} is the global batch of {world} processes: it must be at least "
            f"{2 * world} (two sequences per process for batch norm)."
        )
    precision = resolve_precision(spec.precision, device)
    objective = make_objective(spec, _labels(train), device)
    if len(val) == 0:
        raise ValueError("the validation dataset is empty: fit needs at least one validation sequence.")
    if spec.monitor == "val_auroc":
        _check_auroc_defined(_labels(val))
    model.to(device)
    for p in model.body.parameters():
        p.requires_grad_(not spec.freeze_body)
    cache = spec.freeze_body and spec.max_shift == 0 and spec.cache_embeddings
    train_b = Batches(model, train, spec, device, cache=cache, train=True)
    val_b = Batches(model, val, spec, device, cache=cache, train=False)
    opt = make_optimizer(model, spec, device)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=spec.lr_factor, patience=spec.lr_patience, threshold=spec.min_delta, threshold_mode="abs"
    )
    scaler = torch.amp.GradScaler(device.type, enabled=precision == torch.float16)
    result, start, bad = FitResult({k: [] for k in objective.keys}), 0, 0
    best_state = state_copy(model)
    config = json.dumps(model.config.to_dict(), sort_keys=True) if hasattr(model, "config") else ""
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    if resume and ckpt_path is not None and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path, stage=spec.stage, fingerprint=fingerprint, config=config)
        check_resumed_spec(ckpt_path, ck, spec)
        warn_thread_change(ckpt_path, ck)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        restore_fused(opt)
        sched.load_state_dict(ck["scheduler"])
        best_state, start, bad = ck["best_state"], int(ck["epoch"]), int(ck["bad_epochs"])
        result = FitResult({k: list(v) for k, v in ck["history"].items()}, int(ck["best_epoch"]))
        result.best_score = float(ck["best_score"] if "best_score" in ck else ck["best_val_loss"])
        result.stopped_early = bool(ck["stopped_early"])
        logger.info("resuming stage %r from %s after epoch %d", spec.stage, ckpt_path, start)
    net = training_step(model, device, settings.compile)
    for epoch in range(start, spec.max_epochs):
        if result.stopped_early:
            break
        t0 = time.perf_counter()
        seed = _epoch_seed(spec.seed, spec.stage, epoch)
        desc = f"{spec.stage} {epoch + 1}/{spec.max_epochs}"
        train_loss = _train_epoch(model, train_b, opt, scaler, objective, spec, precision, seed, desc, net=net)
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss became {train_loss} in epoch {epoch + 1}: lower learning_rate.")
        _recalibrate_bn(model, train_b, spec, precision, seed + 1)
        if world > 1:
            average_buffers(model)
        val_loss, metric = _validate(model, val_b, objective, precision)
        lr = opt.param_groups[0]["lr"]
        score = val_loss if spec.monitor == "val_loss" else -metric  # lower is better
        sched.step(score)
        _append(
            result.history, objective.keys, (epoch + 1 + epoch_offset, spec.stage, train_loss, val_loss, metric, lr), t0
        )
        if score < result.best_score:
            result.best_score, result.best_epoch, bad = score, epoch + 1 + epoch_offset, 0
            best_state = state_copy(model)
        else:
            bad += 1
        result.stopped_early = bad >= spec.patience
        (log_progress if rank == 0 else logger.info)(  # an epoch line at the default verbosity too
            "%s epoch %d/%d: train_loss %.4f val_loss %.4f %s %.3f lr %.2g (%.1f s)",
            spec.stage,
            epoch + 1,
            spec.max_epochs,
            train_loss,
            val_loss,
            objective.metric,
            metric,
            lr,
            result.history["seconds"][-1],
        )
        if rank == 0 and ckpt_path is not None:
            save_checkpoint(
                ckpt_path,
                make_payload(model, opt, sched, best_state, result, epoch + 1, bad, spec, fingerprint, config),
            )
        if rank == 0 and callback is not None:
            callback(epoch + 1, result.history)
    model.load_state_dict(best_state)
    for p in model.body.parameters():
        p.requires_grad_(True)
    return result


def _check_auroc_defined(labels: np.ndarray) -> None:
    """Raise before training if an output lacks a class among its validation labels (AUROC undefined)."""
    for j in range(labels.shape[1]):
        y = labels[~np.isnan(labels[:, j]), j]
        if not (y > 0.5).any() or not (y <= 0.5).any():
            raise ValueError(
                f"monitor='val_auroc' but output {j} has {int((y > 0.5).sum())} positive and {int((y <= 0.5).sum())} "
                "negative validation labels, so its AUROC is undefined: use monitor='val_loss', or validation "
                "rows with both classes."
            )


def _labels(data: SequenceDataset) -> np.ndarray:
    if data.labels is None:
        raise ValueError("training data has no labels.")
    return data.labels[data.rows]


def _append(history, keys, values, t0) -> None:
    epoch, stage, *numbers = values
    row = (epoch, stage, *(float(v) for v in numbers), time.perf_counter() - t0)
    for key, value in zip(keys, row, strict=True):
        history[key].append(value)
