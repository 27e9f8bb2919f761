"""The one inference loop (training, ``tl.predict``, variants, contributions): precision, autocast, embeddings, probabilities, logits."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from chromseq._codes import COMPLEMENT_TENSOR as _COMPLEMENT
from chromseq._settings import settings
from chromseq.data import BatchSampler, SequenceDataset, make_loader, to_one_hot
from chromseq.train._distributed import is_main_process


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """Compute dtype for ``precision`` on ``device``: ``'auto'`` is bf16 (else fp16) on CUDA and fp32 elsewhere."""
    table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision not in table:
        raise ValueError(f"precision must be 'auto', 'fp32', 'bf16' or 'fp16', got {precision!r}.")
    return table[precision]


def autocast(device: torch.device, dtype: torch.dtype):
    """Autocast context for ``dtype`` (a no-op for fp32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def progress_bar() -> type:
    """Return tqdm's class: notebook widgets where ipywidgets is installed, else plain text bars.

    ``tqdm.auto`` alone warns in every Jupyter kernel without ipywidgets ("IProgress not found").
    On a terminal that reports no size (0 x 0: a pseudo-terminal opened without a size, as
    ``script`` or some job runners do) tqdm would hide every bar: such bars get 80 x 24.
    """
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm  # widgets in a notebook kernel, text bars on a terminal
    return _sized(tqdm)


@functools.cache
def _sized(base: type) -> type:
    """Return ``base`` with 80 columns and 24 rows filled in when stderr is a terminal of zero size."""

    class Bar(base):
        def __init__(self, *args, **kwargs):
            if kwargs.get("file") is None and _zero_size_terminal():
                kwargs.setdefault("ncols", 80)
                kwargs.setdefault("nrows", 24)
            super().__init__(*args, **kwargs)

    Bar.__name__ = Bar.__qualname__ = base.__name__
    return Bar


def _zero_size_terminal() -> bool:
    try:
        return sys.stderr.isatty() and 0 in os.get_terminal_size(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # no real file behind stderr (a notebook kernel, a test)
        return False


def progress_disabled() -> bool | None:
    """``disable=`` argument for tqdm: off below verbosity 1 and on ranks > 0, else tqdm's rule (off if not a TTY)."""
    return True if settings.verbosity < 1 or not is_main_process() else None


def _rc(codes: torch.Tensor) -> torch.Tensor:
    return _COMPLEMENT.to(codes.device)[codes.long()].flip(-1)


def _batches(data: SequenceDataset, batch_size: int, device: torch.device):
    sampler = BatchSampler(len(data), batch_size, shuffle=False)
    for codes, _ in make_loader(data, sampler, pin_memory=device.type == "cuda"):
        yield codes.to(device, non_blocking=True)


@contextlib.contextmanager
def model_state(model: nn.Module, device: torch.device | str | None = None) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode (on ``device`` if given); restore its device and every module's mode on exit.

    Parameters
    ----------
    model
        The network; its first parameter tells the device it is restored to.
    device
        Where to move the model for the block (``None``: leave it where it is).

    Yields
    ------
    ``model``, in eval mode on ``device``.
    """
    first = next(model.parameters(), None)
    old_device = first.device if first is not None else None
    modes = [(m, m.training) for m in model.modules()]
    if device is not None:
        model.to(device)
    model.eval()
    try:
        yield model
    finally:
        if device is not None and old_device is not None:
            model.to(old_device)
        for m, training in modes:
            m.training = training


@torch.no_grad()
def embed(model: nn.Module, data: SequenceDataset, *, rc: bool, batch_size: int, device: torch.device) -> torch.Tensor:
    """Body embeddings ``(n, embed_dim)`` float32 of ``data`` (reverse-complemented if ``rc``), in eval mode."""
    out = []
    with model_state(model.body):
        for codes in _batches(data, batch_size, device):
            out.append(model.body(to_one_hot(_rc(codes) if rc else codes)).float())
    return torch.cat(out) if out else torch.zeros(0, model.config.embed_dim, device=device)


def forward_codes(
    model: nn.Module, codes: torch.Tensor, *, rc: bool, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Float32 logits ``(n, n_outputs)`` of one batch of codes, and of its reverse complement when ``rc``.

    The step of the one inference loop (:func:`predict_proba`, :func:`predict_logits`), for callers
    that build their batches on the device themselves (``tl.design``'s mutants): ``codes`` ``(n, L)``
    are on the model's device, the model is already in eval mode (:func:`model_state`), and
    ``dtype`` is the autocast dtype (:func:`resolve_precision`).
    """
    with autocast(codes.device, dtype):
        forward = model(to_one_hot(codes)).float()
        reverse = model(to_one_hot(_rc(codes))).float() if rc else None
    return forward, reverse


def mean_probability_logit(forward: torch.Tensor, reverse: torch.Tensor) -> torch.Tensor:
    """Return the logit of the mean of ``sigmoid(forward)`` and ``sigmoid(reverse)``, without overflow (same shape)."""
    log_p = torch.logaddexp(torch.nn.functional.logsigmoid(forward), torch.nn.functional.logsigmoid(reverse))
    log_q = torch.logaddexp(torch.nn.functional.logsigmoid(-forward), torch.nn.functional.logsigmoid(-reverse))
    return log_p - log_q


def _forward(
    model: nn.Module,
    data: SequenceDataset,
    *,
    batch_size: int,
    device: torch.device | str | None,
    rc: bool,
    precision: str,
    desc: str | None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield the float32 logits of each batch of ``data``, and those of its reverse complement when ``rc``.

    The one inference loop: ``model`` runs in eval mode on ``device`` under ``precision``'s autocast,
    and its device and modes are restored when the loop ends.
    """
    tqdm = progress_bar()
    device = settings.resolve_device(device) if not isinstance(device, torch.device) else device
    dtype = resolve_precision(precision, device)
    with model_state(model, device), torch.no_grad():
        n_batches = -(-len(data) // batch_size)
        for codes in tqdm(
            _batches(data, batch_size, device), total=n_batches, desc=desc, leave=False, disable=progress_disabled()
        ):
            yield forward_codes(model, codes, rc=rc, dtype=dtype)


def predict_proba(
    model: nn.Module,
    data: SequenceDataset,
    *,
    batch_size: int = 512,
    device: torch.device | str | None = None,
    rc_average: bool = True,
    precision: str = "auto",
) -> np.ndarray:
    """Probabilities ``(n, n_outputs)`` float32 for the rows of ``data``; the model's device and mode are restored.

    Parameters
    ----------
    model
        Maps one-hot (N, 4, L) to logits (N, n_outputs).
    data
        Codes to score.
    batch_size
        Sequences per forward pass (does not change the result).
    device
        Where to run (``None``: :attr:`chromseq.settings.device`).
    rc_average
        Average the probabilities of each sequence and its reverse complement.
    precision
        See :func:`resolve_precision`.
    """
    return predict_values(
        model, data, link="logit", batch_size=batch_size, device=device, rc_average=rc_average, precision=precision
    )


def predict_logits(
    model: nn.Module,
    data: SequenceDataset,
    *,
    batch_size: int = 512,
    device: torch.device | str | None = None,
    rc_average: bool = True,
    precision: str = "auto",
    desc: str | None = None,
) -> np.ndarray:
    """Logits ``(n, n_outputs)`` float64 for the rows of ``data``, by the loop of :func:`predict_proba`.

    With ``rc_average``: the logit of the mean of the forward and reverse-complement probabilities
    (the logit of what :func:`predict_proba` returns), computed without overflow; else the forward logit.
    Parameters as in :func:`predict_proba`; ``desc`` labels the progress bar.
    """
    fwd, rev = [], []
    batches = _forward(model, data, batch_size=batch_size, device=device, rc=rc_average, precision=precision, desc=desc)
    for forward, reverse in batches:
        fwd.append(forward.cpu().numpy())
        if reverse is not None:
            rev.append(reverse.cpu().numpy())
    n_out = len(getattr(model, "outputs", [])) or 1
    f = np.concatenate(fwd).astype(np.float64) if fwd else np.zeros((0, n_out), np.float64)
    if not rc_average:
        return f
    r = np.concatenate(rev).astype(np.float64) if rev else f
    log_p = np.logaddexp(-np.logaddexp(0, -f), -np.logaddexp(0, -r))  # log(sigmoid(f) + sigmoid(r))
    log_q = np.logaddexp(-np.logaddexp(0, f), -np.logaddexp(0, r))  # log(sigmoid(-f) + sigmoid(-r))
    return log_p - log_q


#: How network outputs map to predictions (see :func:`predict_values`).
LINKS = ("logit", "identity", "log")


def predict_values(
    model: nn.Module,
    data: SequenceDataset,
    *,
    link: str = "logit",
    batch_size: int = 512,
    device: torch.device | str | None = None,
    rc_average: bool = True,
    precision: str = "auto",
    desc: str | None = None,
) -> np.ndarray:
    """Predictions ``(n, n_outputs)`` float32 in the target's units, by the loop of :func:`predict_proba`.

    Parameters
    ----------
    link
        How outputs map to predictions: ``'logit'`` (probabilities, as :func:`predict_proba`),
        ``'identity'`` (the output itself: a regression target's units) or ``'log'`` (``exp`` of the
        output: the rate of a Poisson model, in counts). With ``rc_average`` the forward and
        reverse-complement predictions are averaged after the link, in the target's units.
    batch_size, device, rc_average, precision
        As in :func:`predict_proba`; ``desc`` labels the progress bar.
    """
    if link not in LINKS:
        raise ValueError(f"link must be one of {list(LINKS)}, got {link!r}.")
    inverse = {"logit": torch.sigmoid, "identity": lambda t: t, "log": torch.exp}[link]
    out = []
    batches = _forward(model, data, batch_size=batch_size, device=device, rc=rc_average, precision=precision, desc=desc)
    for forward, reverse in batches:
        value = inverse(forward)
        if reverse is not None:
            value = (value + inverse(reverse)) / 2
        out.append(value.cpu().numpy())
    n_out = len(getattr(model, "outputs", [])) or 1
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, n_out), np.float32)
