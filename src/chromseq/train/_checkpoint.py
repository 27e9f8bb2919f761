"""Training checkpoints: plain tensors and dicts, written atomically, read with ``weights_only=True``."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from chromseq._io_utils import disk_errors
from chromseq._settings import logger

CHECKPOINT_FORMAT = 1


def state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU copy of ``model.state_dict()``."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` via a temporary file and :func:`os.replace` (never half-written).

    A failed write (a full disk: an :class:`OSError` naming ``path`` and "no space left") removes the
    temporary file and keeps the previous checkpoint.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        with disk_errors(path):
            with open(tmp, "wb") as handle:  # closed on a failed write too (torch's writer would wait for the GC)
                torch.save(payload, handle)
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, *, stage: str, fingerprint: str, config: str) -> dict[str, Any]:
    """Read a checkpoint (``weights_only=True``); raise if it is damaged or belongs to another stage, data or config."""
    ckpt = _read_checkpoint(path)
    for key, want in (("stage", stage), ("fingerprint", fingerprint), ("config", config)):
        if ckpt.get(key) != want:
            what = {"fingerprint": "other training data", "config": "another model config/preset"}.get(key, key)
            raise ValueError(
                f"checkpoint {str(path)!r} was written for {what} ({key} differs); delete it, or pass existing='overwrite' (--overwrite) to start over."
            )
    _check_complete(path, ckpt)
    return ckpt


#: Entries every checkpoint written by :func:`make_payload` holds.
_REQUIRED = ("stage", "epoch", "bad_epochs", "model", "optimizer", "scheduler", "best_state", "history")


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)``; a damaged file raises a :class:`ValueError` that names it.

    torch's own message for such files advises ``weights_only=False``, which would run whatever the
    file holds: it is not passed on.
    """
    fix = "delete it to start the stage over, or train without resume"
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint {str(path)!r} is empty (a write was cut short?): {fix}.")
    try:
        with warnings.catch_warnings():  # damaged bytes also make torch warn about odd pickle protocols
            warnings.simplefilter("ignore", UserWarning)
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (damaged bytes raise anything: UnpicklingError, IndexError, zip errors...)
        raise ValueError(
            f"checkpoint {str(path)!r} is damaged or not a chromseq checkpoint ({type(err).__name__}; truncated or "
            f"overwritten?): {fix}."
        ) from None
    if not isinstance(ckpt, dict) or "stage" not in ckpt:
        raise ValueError(f"checkpoint {str(path)!r} is not a chromseq training checkpoint (no 'stage'): {fix}.")
    return ckpt


def _check_complete(path: Path, ckpt: dict[str, Any]) -> None:
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise ValueError(
            f"checkpoint {str(path)!r} is not a complete chromseq training checkpoint (no {missing}): delete it to "
            "start the stage over, or train without resume."
        )


#: :class:`~chromseq.train._spec.TrainSpec` fields a resumed run may change: the epoch budget, the
#: patience, and how batches are loaded. Any other change (seed, learning rate, batch size, ...) is
#: refused: the epochs already run used the old value, and the record would name the new one.
RESUMABLE_CHANGES = ("max_epochs", "patience", "num_workers", "cache_embeddings")


def check_resumed_spec(path: Path, ckpt: dict[str, Any], spec: Any) -> None:
    """Raise if ``spec`` differs from the one checkpoint ``ckpt`` was trained with, beyond :data:`RESUMABLE_CHANGES`.

    Checkpoints written before chromseq stored the spec are not checked; one stored before the spec
    had a ``loss`` was trained with ``'bce'``.
    """
    try:
        old = json.loads(ckpt.get("spec") or "{}")
    except (TypeError, ValueError):
        old = {}
    if old:
        old.setdefault("loss", "bce")
    new = dataclasses.asdict(spec)
    changed = [k for k in new if k in old and k not in RESUMABLE_CHANGES and old[k] != new[k]]
    if not changed:
        return
    what = ", ".join(f"{k} {old[k]!r} -> {new[k]!r}" for k in changed)
    raise ValueError(
        f"checkpoint {str(path)!r} (stage {spec.stage!r}) was trained with other settings than this run asks for "
        f"({what}): the epochs already run used the old values. Resume with the interrupted run's settings, or "
        "pass existing='overwrite' (--overwrite) to start over with the new ones."
    )


def warn_thread_change(path: Path, ckpt: dict[str, Any]) -> None:
    """Log a warning when a run resumes with another number of torch CPU threads than it was interrupted with."""
    old, now = ckpt.get("torch_threads"), torch.get_num_threads()
    if old is not None and int(old) != now:
        logger.warning(
            "resuming from %s with %d torch CPU threads; the interrupted run used %d: CPU results then differ "
            "slightly from an uninterrupted run (set the thread count it had: --threads %d, torch.set_num_threads)",
            path, now, int(old), int(old),
        )  # fmt: skip


def make_payload(model, opt, sched, best_state, result, epoch, bad, spec, fingerprint, config) -> dict[str, Any]:
    """Everything needed to resume: weights, optimizer, scheduler, best weights, history, counters, thread count."""
    return {
        "format": CHECKPOINT_FORMAT,
        "torch_threads": torch.get_num_threads(),
        "stage": spec.stage,
        "fingerprint": fingerprint,
        "config": config,
        "spec": json.dumps(dataclasses.asdict(spec), sort_keys=True),
        "epoch": epoch,
        "bad_epochs": bad,
        "model": state_copy(model),
        "optimizer": copy.deepcopy(opt.state_dict()),
        "scheduler": sched.state_dict(),
        "best_state": best_state,
        "best_epoch": result.best_epoch,
        "best_score": result.best_score,
        "stopped_early": result.stopped_early,
        "history": {k: list(v) for k, v in result.history.items()},
    }
