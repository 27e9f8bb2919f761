"""A dilated residual CNN in the style of ChromBPNet / BPNet: wide receptive field, no early pooling.

A stem convolution (optionally max-pooled), then a tower of residual convolutions whose dilation
doubles at each layer (1, 2, 4, ...), so that the receptive field grows exponentially with depth and
covers the window; global average pooling gives the embedding. Every layer is
``Conv1d -> BatchNorm -> ReLU`` (module ReLUs, linear everything else): DeepLIFT/SHAP is exact on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from ._checks import check_config
from ._family import FamilyBody, FamilyConfig, FamilyNetwork, conv_bn_relu


@dataclass(frozen=True)
class DilatedConfig(FamilyConfig):
    """Hyper-parameters of :class:`DilatedCNN` (saved next to its weights, ``arch='dilated'``).

    Parameters
    ----------
    preset
        Name of the preset the config came from (``'custom'`` otherwise).
    seq_len
        Input width L (bp) the model is trained on (the network accepts any width).
    filters
        Channels of the stem and of every layer of the tower: the embedding size.
    stem_kernel
        Kernel (bp) of the stem convolution.
    stem_pool
        Max pooling (kernel = stride) after the stem; 1 means none. Pooling by p divides the
        tower's cost by p and widens its receptive field p times.
    kernel
        Kernel (odd, in positions after pooling) of the tower's dilated convolutions.
    n_layers
        Residual dilated layers; layer i has dilation ``2**i``.
    composition_k, dropout, l2, bn_momentum, bn_eps, pretrain_hidden, finetune_hidden, head, outputs
        As in :class:`~chromseq.models.ChromTransferConfig`.
    """

    arch: ClassVar[str] = "dilated"
    BODY_FIELDS: ClassVar[tuple[str, ...]] = (
        "seq_len",
        "filters",
        "stem_kernel",
        "stem_pool",
        "kernel",
        "n_layers",
        "composition_k",
    )

    preset: str = "custom"
    seq_len: int = 600
    filters: int = 256
    stem_kernel: int = 21
    stem_pool: int = 1
    kernel: int = 3
    n_layers: int = 9
    composition_k: tuple[int, ...] = ()
    dropout: float = 0.1
    l2: float = 1e-4
    bn_momentum: float = 0.1
    bn_eps: float = 1e-3
    pretrain_hidden: tuple[int, ...] = (512, 128)
    finetune_hidden: tuple[int, ...] = (1024, 32)
    head: str = "pretrain"
    outputs: tuple[str, ...] = field(default=("open",))

    def __post_init__(self) -> None:
        check_config(self, ints=("filters", "stem_kernel", "stem_pool", "kernel", "n_layers"))
        if self.kernel % 2 == 0:
            raise ValueError(f"DilatedConfig.kernel must be odd (centred dilated convolutions), got {self.kernel}.")

    @property
    def conv_embed_dim(self) -> int:
        """``filters``: the tower's channels, averaged over positions."""
        return self.filters

    @property
    def receptive_field(self) -> int:
        """Input bp one position of the tower's output sees: ``stem_kernel + (p - 1) + p (k - 1) (2**n - 1)``."""
        p = self.stem_pool
        return self.stem_kernel + (p - 1) + p * (self.kernel - 1) * (2**self.n_layers - 1)


class DilatedBlock(nn.Module):
    """``x + Dropout(ReLU(BN(DilatedConv(x))))``: (N, C, L) -> (N, C, L)."""

    def __init__(self, channels: int, kernel: int, dilation: int, cfg: DilatedConfig) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            conv_bn_relu(channels, channels, kernel, cfg, dilation=dilation), nn.Dropout(cfg.dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, L) -> (N, C, L)."""
        return x + self.conv(x)


class DilatedBody(FamilyBody):
    """One-hot (N, 4, L) -> embedding (N, ``embed_dim``): stem, dilated residual tower, average pooling."""

    def __init__(self, cfg: DilatedConfig) -> None:
        super().__init__(cfg)
        self.stem = nn.Sequential(conv_bn_relu(4, cfg.filters, cfg.stem_kernel, cfg), nn.Dropout(cfg.dropout))
        self.pool = nn.MaxPool1d(cfg.stem_pool, ceil_mode=True) if cfg.stem_pool > 1 else nn.Identity()
        self.tower = nn.Sequential(*[DilatedBlock(cfg.filters, cfg.kernel, 2**i, cfg) for i in range(cfg.n_layers)])

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (N, 4, L) -> (N, ``filters``, ceil(L / stem_pool))."""
        return self.tower(self.pool(self.stem(x)))


class DilatedCNN(FamilyNetwork):
    """Dilated residual CNN (ChromBPNet style): :class:`DilatedBody` plus one dense head per output.

    Parameters
    ----------
    config
        A :class:`DilatedConfig`.
    generator
        Seeds the initialisation (``None``: torch's global generator).

    Examples
    --------
    >>> import torch
    >>> from chromseq.models import PRESETS, build
    >>> build(PRESETS["dilated_fast"]).eval()(torch.zeros(2, 4, 600)).shape
    torch.Size([2, 1])
    """

    BODY = DilatedBody


#: ``dilated``: 256 channels, 9 layers, receptive field 1,043 bp (GPU). ``dilated_fast``: 32 channels,
#: max pooling by 4 after the stem, 7 layers (receptive field 1,034 bp), no dropout, k-mer frequencies (CPU).
PRESETS: dict[str, DilatedConfig] = {
    "dilated": DilatedConfig(preset="dilated"),
    "dilated_fast": DilatedConfig(
        preset="dilated_fast",
        filters=32,
        stem_kernel=15,
        stem_pool=4,
        n_layers=7,
        dropout=0.0,
        composition_k=(1, 2, 3, 4),
        pretrain_hidden=(64, 32),
        finetune_hidden=(64, 16),
    ),
}
