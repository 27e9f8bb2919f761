"""Checkpoints kept until the output is written: a command that fails after training can be resumed.

The command line trains, then writes ``-o``. If that write fails (a full disk), the model must not
be lost: within :func:`keep_checkpoints_until_written` a saved model's training checkpoints stay
until the block succeeds, and a model folder the block saved for the first time is removed again
on failure, so that rerunning the command with ``--resume`` continues from the checkpoint and
records the model, instead of training from scratch.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from chromseq._settings import logger

from ._runs import LOCK_FILE

#: ``(checkpoint folder, model folder, whether the block created the model folder)`` of models saved in the block.
_PENDING: ContextVar[list[tuple[Path, Path, bool]] | None] = ContextVar("chromseq_pending_checkpoints", default=None)


def drop_checkpoints(ckpt_dir: Path) -> None:
    """Delete the checkpoints of a finished run (the run's lock file stays until it is released)."""
    for item in ckpt_dir.glob("*"):
        if item.name != LOCK_FILE and item.is_file():
            item.unlink(missing_ok=True)


def model_saved(ckpt_dir: Path, path: Path, created: bool) -> None:
    """Drop the checkpoints of a model just saved to ``path``: now, or when the enclosing block succeeds."""
    pending = _PENDING.get()
    if pending is None:
        drop_checkpoints(ckpt_dir)
    else:
        pending.append((ckpt_dir, path, created))


@contextlib.contextmanager
def keep_checkpoints_until_written() -> Iterator[None]:
    """Keep the checkpoints of models saved in the block until it succeeds (see the module's text).

    On failure a model folder the block created is removed (its checkpoint stays, for ``--resume``);
    a folder that replaced an older one is kept.
    """
    pending: list[tuple[Path, Path, bool]] = []
    token = _PENDING.set(pending)
    try:
        yield
    except BaseException:
        for ckpt_dir, path, created in pending:
            if created:
                shutil.rmtree(path, ignore_errors=True)
            logger.warning(
                "model %s was not recorded (the command failed after training); its checkpoint is kept in %s: run "
                "the same command again with --resume to finish it without training again",
                path.name,
                ckpt_dir,
            )
        raise
    else:
        for ckpt_dir, _, _ in pending:
            drop_checkpoints(ckpt_dir)
            with contextlib.suppress(OSError):  # the run's lock is gone; another run's lock keeps the folder
                ckpt_dir.rmdir()
    finally:
        _PENDING.reset(token)
