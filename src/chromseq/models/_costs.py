"""The cost of a network: multiply-adds per sequence, counted on one forward pass with hooks."""

from __future__ import annotations

import torch
from torch import nn

from ._guards import MAX_PARAMETERS, MAX_SEQ_LEN, check_size
from ._registry import build


def count_flops(config: object, *, seq_len: int | None = None) -> int:
    """Return the forward FLOPs of one sequence through the network of ``config`` (a multiply-add counts 2).

    Counts the multiply-adds of every convolution and dense layer on one forward pass of a
    ``seq_len``-bp input (hooks on :class:`torch.nn.Conv1d` and :class:`torch.nn.Linear`);
    batch norms, activations, pooling and k-mer counting are left out (a few percent at most).

    Parameters
    ----------
    config
        Config of any registered family (e.g. ``PRESETS['dilated']``).
    seq_len
        Input width (bp); default ``config.seq_len``.

    Returns
    -------
    FLOPs per sequence, forward only (training costs about three times as much).

    Examples
    --------
    >>> from chromseq.models import PRESETS, count_flops
    >>> round(count_flops(PRESETS["chromtransfer"]) / 1e9, 2)
    0.66
    """
    model = build(config, generator=torch.Generator().manual_seed(0)).eval()
    total = [0]

    def hook(module: nn.Module, _inputs: tuple, out: torch.Tensor) -> None:
        if isinstance(module, nn.Conv1d):
            per_output = module.in_channels // module.groups * module.kernel_size[0]
            total[0] += out.numel() * per_output
        else:
            total[0] += out.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv1d | nn.Linear)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 4, seq_len or config.seq_len))
    finally:
        for h in handles:
            h.remove()
    return 2 * total[0]


def check_any_size(config: object, where: str) -> None:
    """Raise a :class:`ValueError` naming ``where`` if ``config`` (any family) declares a network too large to be real.

    ChromTransfer configs go through :func:`chromseq.models._guards.check_size`; other families' networks are
    built on torch's ``meta`` device (shapes only, no memory) and their parameters counted.

    Parameters
    ----------
    config
        The config read from a file.
    where
        The file it came from, for the message.
    """
    if config.arch == "chromtransfer":
        check_size(config, where)
        return
    if config.seq_len > MAX_SEQ_LEN:
        raise ValueError(f"{where}: declares an input width of {config.seq_len:,} bp (at most {MAX_SEQ_LEN:,}).")
    with torch.device("meta"):
        n = sum(p.numel() for p in build(config).parameters())
    if n > MAX_PARAMETERS:
        raise ValueError(
            f"{where}: declares a {config.arch!r} network of {n:,} parameters, more than chromseq's limit of "
            f"{MAX_PARAMETERS:,}: the file is damaged or crafted. Use the model's original file."
        )
