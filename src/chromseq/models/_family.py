"""Shared parts of the model families beyond ChromTransfer: config methods, heads, initialisation.

A new family subclasses :class:`FamilyConfig` (a frozen dataclass with its body's fields) and
:class:`FamilyNetwork` (which only has to build the body), then adds one registry line
(``chromseq.models._registry``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import nn

from ._checks import config_kwargs, plain
from ._network import Head, KmerFrequencies, SameConv1d


class FamilyConfig:
    """Methods of a family's frozen dataclass config: embedding size, body key, dict round trip.

    Subclasses are ``@dataclass(frozen=True)`` with the fields ``preset``, ``seq_len``, their body's
    fields, ``composition_k``, ``dropout``, ``l2``, ``bn_momentum``, ``bn_eps``,
    ``pretrain_hidden``, ``finetune_hidden``, ``head`` and ``outputs``; they set the class
    attributes ``arch`` (registry name) and ``BODY_FIELDS`` (fields that define body weights), and
    validate in ``__post_init__`` with :func:`chromseq.models._checks.check_config` (the rule every
    family's config shares) plus their own structural rules.
    """

    arch: ClassVar[str]
    BODY_FIELDS: ClassVar[tuple[str, ...]]

    @property
    def embed_dim(self) -> int:
        """Size of the body's embedding: the convolutional one plus ``4**k`` per k of ``composition_k``."""
        return self.conv_embed_dim + sum(4**k for k in self.composition_k)

    @property
    def conv_embed_dim(self) -> int:
        """Size of the embedding the convolutions give (without k-mer frequencies)."""
        raise NotImplementedError

    @property
    def n_outputs(self) -> int:
        """Number of outputs (heads)."""
        return len(self.outputs)

    def body_key(self) -> dict[str, Any]:
        """Return the fields that define the body (equal keys mean interchangeable body weights)."""
        return {"arch": self.arch} | {f: plain(getattr(self, f)) for f in self.BODY_FIELDS}

    def replace(self, **changes: Any) -> Any:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON/h5ad-safe dict (tuples become lists), ``arch`` first."""
        return {"arch": self.arch} | {k: plain(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """Build a config from :meth:`to_dict` output (unknown keys raise)."""
        return cls(**config_kwargs(cls, d))


def conv_bn_relu(c_in: int, c_out: int, kernel: int, cfg: Any, *, dilation: int = 1) -> nn.Sequential:
    """``Conv1d('same', dilation) -> BatchNorm1d -> ReLU``: (N, c_in, L) -> (N, c_out, L).

    A new :class:`~torch.nn.ReLU` module per use: DeepLIFT (tangermeme) keeps per-module state.
    """
    conv = SameConv1d(c_in, c_out, kernel) if dilation == 1 else DilatedConv1d(c_in, c_out, kernel, dilation)
    return nn.Sequential(conv, nn.BatchNorm1d(c_out, eps=cfg.bn_eps, momentum=cfg.bn_momentum), nn.ReLU())


class DilatedConv1d(nn.Conv1d):
    """``Conv1d`` with an odd ``kernel``, ``dilation`` and 'same' padding: (N, c_in, L) -> (N, c_out, L)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int) -> None:
        if kernel % 2 == 0:
            raise ValueError(f"a dilated convolution needs an odd kernel, got {kernel}.")
        super().__init__(c_in, c_out, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)


class FamilyBody(nn.Module):
    """Base of a family's body: ``feature_map`` (N, 4, L) -> (N, C, L'), then :meth:`embed` to (N, embed_dim)."""

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.composition = KmerFrequencies(cfg.composition_k) if cfg.composition_k else None

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (N, 4, L) -> the last convolutional feature map."""
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (N, 4, L) -> convolutional embedding (N, ``conv_embed_dim``)."""
        return self.feature_map(x).mean(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (N, 4, L) -> embedding (N, ``embed_dim``) (+ the input's k-mer frequencies)."""
        emb = self.embed(x)
        return emb if self.composition is None else torch.cat([emb, self.composition(x)], dim=1)


class FamilyNetwork(nn.Module):
    """A body (built by the subclass's ``BODY``) plus one :class:`~chromseq.models.Head` per output.

    Parameters
    ----------
    config
        The family's config; ``config.head`` picks the pre-training or fine-tuning dense sizes.
    generator
        Seeds the initialisation (He-normal convolutions, Glorot-uniform dense layers).
    """

    BODY: ClassVar[type[FamilyBody]]

    def __init__(self, config: Any, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        with torch.random.fork_rng(devices=[]):  # torch's default init draws from the global RNG: leave it alone
            self.body = self.BODY(config)
            hidden = config.pretrain_hidden if config.head == "pretrain" else config.finetune_hidden
            self.heads = nn.ModuleList([Head(config.embed_dim, hidden, config) for _ in config.outputs])
        self.reset_parameters(generator=generator)

    @property
    def outputs(self) -> list[str]:
        """Output names, one per logit column."""
        return list(self.config.outputs)

    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """He-normal convolution kernels, Glorot-uniform dense weights, zero biases, unit BN."""
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=generator)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, generator=generator)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm1d):
                m.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (N, 4, L) -> logits (N, n_outputs)."""
        if x.ndim != 3 or x.shape[1] != 4:
            raise ValueError(f"expected one-hot input of shape (N, 4, L), got {tuple(x.shape)}.")
        return self.head_logits(self.body(x))

    def head_logits(self, emb: torch.Tensor) -> torch.Tensor:
        """Embedding (N, ``embed_dim``) -> logits (N, n_outputs), one column per head."""
        return torch.cat([head(emb) for head in self.heads], dim=1)

    def extra_repr(self) -> str:
        return f"arch={self.config.arch!r}, preset={self.config.preset!r}, head={self.config.head!r}"
