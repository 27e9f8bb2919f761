"""Data-parallel training under ``torchrun``: joining the process group, ranks, and reductions across ranks.

A process started by ``torchrun --nproc_per_node=N`` finds ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in its environment; the engine then joins
the process group itself (gloo on CPU, NCCL on CUDA, one GPU per process). Without those
variables nothing here does anything, and a run is the single-process one.

Every reduction that feeds a decision (validation loss for early stopping and the
learning-rate schedule) gathers the per-rank values and adds them up in rank order, so all
ranks hold bit-identical numbers and take the same decisions.
"""

from __future__ import annotations

import atexit
import inspect
import logging
import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist

from chromseq._settings import logger

_ENV = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def dist_info() -> tuple[int, int]:
    """``(rank, world_size)`` of this process (``(0, 1)`` unless torch.distributed is initialised)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """Whether this process writes files: rank 0, or the only process.

    Before the engine has joined the process group, ``RANK`` from ``torchrun``'s environment decides.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0") == "0"


def launched_world_size() -> int:
    """``WORLD_SIZE`` set by ``torchrun`` (1 when the process was not started by it)."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable WORLD_SIZE={value!r} is not an integer.") from None


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Join the process group ``torchrun`` describes (once); return ``(rank, world_size)``.

    Parameters
    ----------
    device
        The training device: CUDA selects the NCCL backend and GPU ``LOCAL_RANK``, anything
        else gloo.

    Raises
    ------
    ValueError
        If ``WORLD_SIZE`` > 1 but the other ``torchrun`` variables are missing.
    """
    if not dist.is_available():
        return 0, 1
    if dist.is_initialized():
        return dist_info()
    if launched_world_size() <= 1:
        return 0, 1
    missing = [k for k in _ENV if k not in os.environ]
    if missing:
        raise ValueError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']} is set but {missing} are not: start multi-process training "
            "with torchrun --nproc_per_node=N (or unset WORLD_SIZE for one process)."
        )
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(backend)
    atexit.register(_shutdown)
    rank, world = dist_info()
    if rank:
        logger.addFilter(_warnings_only)  # one log, from rank 0; warnings and errors from every rank
    logger.info("joined a process group of %d processes (%s backend): data-parallel training", world, backend)
    return rank, world


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def _shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """Return this process's GPU (``cuda:LOCAL_RANK``) when several processes share a node, else ``device``."""
    if device.type == "cuda" and device.index is None and dist_info()[1] > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", torch.cuda.current_device())))
    return device


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if dist_info()[1] > 1:
        dist.barrier()


def rank_seed(seed: int, rank: int) -> int:
    """Seed of rank ``rank``'s own draws (augmentation, dropout); ``seed`` itself for rank 0."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0] >> 1)


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def sum_across(values: Sequence[float]) -> list[float]:
    """Sum ``values`` over ranks (float64, added in rank order: identical on every rank)."""
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device())
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t)
    total = parts[0].clone()
    for part in parts[1:]:
        total += part
    return total.tolist()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """``t`` summed over ranks (in place; the tensor must be on the backend's device)."""
    dist.all_reduce(t)
    return t


def gather_rows(t: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's ``(n_r, ...)`` tensor (``n_r`` may differ), in rank order, on ``t``'s device."""
    dev = _comm_device()
    x = t.to(dev)
    n = torch.tensor([x.shape[0]], dtype=torch.int64, device=dev)
    sizes = [torch.zeros_like(n) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, n)
    sizes_ = [int(s) for s in sizes]
    padded = torch.zeros((max(sizes_), *x.shape[1:]), dtype=x.dtype, device=dev)
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in sizes_]
    dist.all_gather(parts, padded)
    return [p[:k].to(t.device) for p, k in zip(parts, sizes_, strict=True)]


def gather_array(a: np.ndarray) -> np.ndarray:
    """Concatenation of every rank's ``(n_r, ...)`` array, in rank order (on every rank)."""
    return torch.cat(gather_rows(torch.from_numpy(np.ascontiguousarray(a)))).numpy()


def gather_interleaved(part: torch.Tensor) -> torch.Tensor:
    """Undo a ``rows[rank::world]`` split: rank ``r``'s ``part`` holds rows ``r, r + world, ...``."""
    parts = gather_rows(part)
    world = len(parts)
    out = torch.empty((sum(len(p) for p in parts), *part.shape[1:]), dtype=part.dtype, device=part.device)
    for r, p in enumerate(parts):
        out[r::world] = p
    return out


@torch.no_grad()
def average_buffers(module: torch.nn.Module) -> None:
    """Average floating-point buffers (batch-norm running statistics) over ranks, in place.

    Rank 0's average is then broadcast, so that every rank holds bit-identical buffers.
    """
    world = dist.get_world_size()
    dev = _comm_device()
    for buf in module.buffers():
        if buf.is_floating_point():
            t = buf.to(dev, copy=True)
            dist.all_reduce(t)
            t /= world
            dist.broadcast(t, 0)
            buf.copy_(t)


class _Step(torch.nn.Module):
    """A model's training forward (sequences, or cached embeddings into the heads) as one ``forward``."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, is_emb: bool) -> torch.Tensor:
        return self.model.head_logits(x) if is_emb else self.model(x)


def data_parallel(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Wrap ``model`` in DistributedDataParallel; call the result as ``net(x, is_embedding)``.

    Only parameters that require gradients are synchronised (the heads, when the body is
    frozen). Buffers are not broadcast every step: :func:`average_buffers` runs once per epoch.
    """
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    params = inspect.signature(DistributedDataParallel).parameters
    no_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
    return DistributedDataParallel(_Step(model), device_ids=ids, **no_sync)
