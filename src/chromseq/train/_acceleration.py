"""Speed settings of the training loop: the optimizer's kernel, cuDNN autotuning, ``torch.compile``.

What is on by default pays on CUDA and changes nothing elsewhere (CPU runs stay bit-identical):

- the fused Adam/AdamW kernel (one kernel for all parameters instead of a few per tensor);
- cuDNN autotuning (``torch.backends.cudnn.benchmark``) while training: batch shapes are fixed,
  so each convolution is tuned once; the caller's setting is restored afterwards.

Opt-in, with ``chromseq.settings.compile``: :func:`torch.compile` of the training step.

Channels-last memory format does not apply: it is defined for 4-d (N, C, H, W) tensors only
(``torch.channels_last`` raises for 3-d ones), and the network's tensors are 3-d (N, C, L);
cuDNN picks its own layout for the 1-d convolutions. bf16/fp16 autocast and pinned host memory
live in :mod:`chromseq.train._inference` and :mod:`chromseq.train._batches`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import torch
from torch import nn

from chromseq._settings import logger
from chromseq.train._distributed import _Step, data_parallel, dist_info

if TYPE_CHECKING:
    from chromseq.train._spec import TrainSpec


def make_optimizer(
    model: nn.Module, spec: TrainSpec, device: torch.device | None = None, *, fused: bool | None = None
) -> torch.optim.Optimizer:
    """Return Adam/AdamW of ``spec`` on the trainable parameters, the L2 penalty on convolution kernels only.

    Parameters
    ----------
    model
        The network being trained (its parameters already on ``device``).
    spec
        ``optimizer``, ``learning_rate`` and ``l2`` are used.
    device
        Training device.
    fused
        Use the fused kernel; ``None``: on CUDA only (elsewhere torch's default implementation).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    kernels = [m.weight for m in model.modules() if isinstance(m, nn.Conv1d) and m.weight.requires_grad]
    kernel_ids = {id(p) for p in kernels}
    others = [p for p in params if id(p) not in kernel_ids]
    if fused is None:
        fused = device is not None and device.type == "cuda"
    extra = {"fused": True} if fused else {}
    if spec.optimizer == "adam":  # gradient of l2 * sum(w^2) is 2 * l2 * w
        groups = [{"params": kernels, "weight_decay": 2 * spec.l2}, {"params": others, "weight_decay": 0.0}]
        return torch.optim.Adam([g for g in groups if g["params"]], lr=spec.learning_rate, **extra)
    groups = [{"params": kernels, "weight_decay": spec.l2}, {"params": others, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=spec.learning_rate, **extra)


def restore_fused(opt: torch.optim.Optimizer) -> None:
    """After ``opt.load_state_dict``: keep this run's kernel choice, not that of the checkpoint's device."""
    for group in opt.param_groups:
        group["fused"] = opt.defaults.get("fused")


@contextlib.contextmanager
def cuda_tuning(device: torch.device, *, cudnn_benchmark: bool = True) -> Iterator[None]:
    """Set ``torch.backends.cudnn.benchmark`` to ``cudnn_benchmark`` on CUDA, restoring the caller's value on exit.

    Does nothing on other devices.
    """
    if device.type != "cuda":
        yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


class CompiledStep:
    """``step`` compiled with :func:`torch.compile` (static shapes) for full batches, run eagerly otherwise.

    The size of the first batch is the one compiled; an epoch's smaller last batch runs eagerly
    instead of costing a second compilation (as long as the first).
    """

    def __init__(self, step: nn.Module, mode: str) -> None:
        self.eager = step
        self.compiled = torch.compile(step, mode=mode, dynamic=False)
        self.size: int | None = None

    def __call__(self, x: torch.Tensor, is_emb: bool) -> torch.Tensor:
        """Logits of one batch: (N, 4, L) one-hot, or (N, embed_dim) embeddings when ``is_emb``."""
        if self.size is None:
            self.size = len(x)
        return (self.compiled if len(x) == self.size else self.eager)(x, is_emb)


def training_step(model: nn.Module, device: torch.device, compile: bool | str = False) -> Callable | None:
    """Return what a training step calls as ``net(x, is_embedding)`` (``None``: call ``model`` itself).

    With several ranks it is the DistributedDataParallel wrapper. With ``compile`` (``True`` or a
    :func:`torch.compile` mode) that, or the plain step, is compiled (:class:`CompiledStep`).
    ``model`` itself is not replaced: its ``state_dict`` keeps its keys (no ``_orig_mod.``
    prefix), and it shares its weights with the compiled step.
    """
    net = data_parallel(model, device) if dist_info()[1] > 1 else None
    if not compile:
        return net
    mode = "default" if compile is True else compile
    logger.info("compiling the training step with torch.compile (mode %r): the first steps take longer", mode)
    return CompiledStep(net if net is not None else _Step(model), mode)
