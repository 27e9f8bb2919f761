"""The training core: the one training loop and its torch-only helpers.

Nothing here touches AnnData; the verbs in :mod:`chromseq.tl` turn AnnData into
:class:`~chromseq.data.SequenceDataset` objects and use only the names below (the private
modules are the core's own business): :func:`fit` and its :class:`FitResult`, the stage spec
:class:`TrainSpec` (and :func:`check_monitor`: a monitor of the loss's task), inference (:func:`predict_proba`, :func:`predict_logits`, :func:`predict_values`, :func:`embed`,
:func:`model_state`; :func:`autocast` and :func:`resolve_precision` for
verbs that run a network themselves, as ``tl.design`` does), the run folders (:func:`model_folder`, :func:`acquire`, :class:`RunLock`,
:func:`clear_checkpoints`, :func:`run_files`; :func:`model_saved` and :func:`keep_checkpoints_until_written`, which keep a
saved model's checkpoints until the command's output is written), ``torchrun`` (:func:`init_distributed`, :func:`barrier`,
:func:`is_main_process`) and the progress bars. Imports only :mod:`chromseq.data`,
:mod:`chromseq.models` and the shared helpers. Not part of the public API.
"""

from __future__ import annotations

from ._distributed import barrier, init_distributed, is_main_process
from ._engine import FitResult, fit
from ._inference import (
    LINKS,
    autocast,
    embed,
    forward_codes,
    mean_probability_logit,
    model_state,
    predict_logits,
    predict_proba,
    predict_values,
    progress_bar,
    progress_disabled,
    resolve_precision,
)
from ._pending import keep_checkpoints_until_written, model_saved
from ._runs import LOCK_FILE, RunLock, acquire, clear_checkpoints, model_folder, run_files
from ._spec import MONITORS, TrainSpec, check_monitor, check_settings

__all__ = [
    "LINKS",
    "LOCK_FILE",
    "FitResult",
    "RunLock",
    "TrainSpec",
    "MONITORS",
    "acquire",
    "autocast",
    "check_monitor",
    "check_settings",
    "barrier",
    "clear_checkpoints",
    "embed",
    "fit",
    "forward_codes",
    "init_distributed",
    "is_main_process",
    "keep_checkpoints_until_written",
    "mean_probability_logit",
    "model_folder",
    "model_saved",
    "model_state",
    "predict_logits",
    "predict_proba",
    "predict_values",
    "progress_bar",
    "progress_disabled",
    "resolve_precision",
    "run_files",
]
