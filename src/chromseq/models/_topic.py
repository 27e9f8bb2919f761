"""A conv-pool tower of the "topic CNN" kind (DeepTopic, CREsted's ``deeptopic_cnn``): strong early pooling.

Several blocks of ``Conv1d -> BatchNorm -> ReLU -> MaxPool -> Dropout``, then the tower's output is
flattened and a dense layer (``Linear -> BatchNorm -> ReLU``) gives the embedding. The dense layer
sees the whole window, so the network is built for one input width (``seq_len``). Only module ReLUs
and max pooling are non-linear: both have DeepLIFT rules in tangermeme.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from ._checks import check_config
from ._family import FamilyBody, FamilyConfig, FamilyNetwork, conv_bn_relu


@dataclass(frozen=True)
class TopicConfig(FamilyConfig):
    """Hyper-parameters of :class:`TopicCNN` (saved next to its weights, ``arch='topic'``).

    Parameters
    ----------
    preset
        Name of the preset the config came from (``'custom'`` otherwise).
    seq_len
        Input width L (bp); the flattened dense layer fixes it.
    conv_filters, conv_kernels, pool_sizes
        Per block: channels, kernel (bp or pooled positions) and max-pooling size (kernel = stride).
    dense_dim
        Size of the dense embedding after the flattened tower.
    composition_k, dropout, l2, bn_momentum, bn_eps, pretrain_hidden, finetune_hidden, head, outputs
        As in :class:`~chromseq.models.ChromTransferConfig`.
    """

    arch: ClassVar[str] = "topic"
    BODY_FIELDS: ClassVar[tuple[str, ...]] = (
        "seq_len",
        "conv_filters",
        "conv_kernels",
        "pool_sizes",
        "dense_dim",
        "composition_k",
    )

    preset: str = "custom"
    seq_len: int = 600
    conv_filters: tuple[int, ...] = (512, 256, 256, 256)
    conv_kernels: tuple[int, ...] = (17, 11, 7, 5)
    pool_sizes: tuple[int, ...] = (4, 4, 4, 2)
    dense_dim: int = 512
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
        check_config(self, ints=("dense_dim",), int_tuples=("conv_filters", "conv_kernels", "pool_sizes"))
        n = len(self.conv_filters)
        if not n or len(self.conv_kernels) != n or len(self.pool_sizes) != n:
            raise ValueError(
                f"TopicConfig needs as many conv_filters, conv_kernels and pool_sizes (one per block), got "
                f"{len(self.conv_filters)}, {len(self.conv_kernels)} and {len(self.pool_sizes)}."
            )

    @property
    def conv_embed_dim(self) -> int:
        """``dense_dim``."""
        return self.dense_dim

    @property
    def tower_width(self) -> int:
        """Positions left after the tower's poolings (ceil mode): ``seq_len`` divided by each pool in turn."""
        width = self.seq_len
        for p in self.pool_sizes:
            width = math.ceil(width / p)
        return width

    @property
    def receptive_field(self) -> int:
        """Input bp one position of the tower's last block sees (the dense layer then sees all ``seq_len``)."""
        rf, jump = 1, 1
        for k, p in zip(self.conv_kernels, self.pool_sizes, strict=True):
            rf += (k - 1) * jump + (p - 1) * jump
            jump *= p
        return rf


class TopicBody(FamilyBody):
    """One-hot (N, 4, ``seq_len``) -> embedding (N, ``embed_dim``): conv-pool blocks, flatten, dense."""

    def __init__(self, cfg: TopicConfig) -> None:
        super().__init__(cfg)
        self.seq_len = cfg.seq_len
        blocks, c_in = [], 4
        for c_out, k, p in zip(cfg.conv_filters, cfg.conv_kernels, cfg.pool_sizes, strict=True):
            pool = nn.MaxPool1d(p, ceil_mode=True) if p > 1 else nn.Identity()
            blocks.append(nn.Sequential(conv_bn_relu(c_in, c_out, k, cfg), pool, nn.Dropout(cfg.dropout)))
            c_in = c_out
        self.tower = nn.Sequential(*blocks)
        self.dense = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * cfg.tower_width, cfg.dense_dim),
            nn.BatchNorm1d(cfg.dense_dim, eps=cfg.bn_eps, momentum=cfg.bn_momentum),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
        )

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (N, 4, ``seq_len``) -> the tower's output (N, ``conv_filters[-1]``, ``tower_width``)."""
        if x.shape[-1] != self.seq_len:
            raise ValueError(
                f"this topic CNN is built for {self.seq_len}-bp input (its dense layer sees the whole window), got "
                f"{x.shape[-1]} bp: use windows of {self.seq_len} bp, or train a model on this width."
            )
        return self.tower(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (N, 4, ``seq_len``) -> dense embedding (N, ``dense_dim``)."""
        return self.dense(self.feature_map(x))


class TopicCNN(FamilyNetwork):
    """Conv-pool "topic" CNN: :class:`TopicBody` plus one dense head per output.

    Parameters
    ----------
    config
        A :class:`TopicConfig`.
    generator
        Seeds the initialisation (``None``: torch's global generator).

    Examples
    --------
    >>> import torch
    >>> from chromseq.models import PRESETS, build
    >>> build(PRESETS["topic_fast"]).eval()(torch.zeros(2, 4, 600)).shape
    torch.Size([2, 1])
    """

    BODY = TopicBody


#: ``topic``: four blocks (512, 256, 256, 256 channels; pools 4, 4, 4, 2), dense 512 (GPU).
#: ``topic_fast``: three blocks of 32 channels pooled by 4, dense 64, no dropout, k-mer frequencies (CPU).
PRESETS: dict[str, TopicConfig] = {
    "topic": TopicConfig(preset="topic"),
    "topic_fast": TopicConfig(
        preset="topic_fast",
        conv_filters=(32, 32, 32),
        conv_kernels=(15, 9, 5),
        pool_sizes=(4, 4, 4),
        dense_dim=64,
        dropout=0.0,
        composition_k=(1, 2, 3, 4),
        pretrain_hidden=(64, 32),
        finetune_hidden=(64, 16),
    ),
}
