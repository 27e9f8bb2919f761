"""What every sequence model family provides: the interface the engine, ``models`` and ``tl`` rely on.

A *family* is a config class (:class:`ModelConfig`) and a network class (:class:`SequenceModel`),
registered together under the config's ``arch`` (``chromseq.models._registry``). Nothing outside
``chromseq.models`` names a family's classes: it builds networks from configs
(:func:`chromseq.models.build`) and uses only what these protocols declare.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class ModelConfig(Protocol):
    """The frozen configuration of a network, saved beside its weights (``config.json``, h5ad records).

    Attributes
    ----------
    arch
        The family's name in the registry (a class attribute; ``'chromtransfer'`` when a saved
        config has none).
    preset
        Name of the preset the config came from (``'custom'`` otherwise).
    seq_len
        Input width L (bp) the model is trained on; ``tl`` checks data against it.
    head
        ``'pretrain'`` or ``'finetune'``: which head type the network carries.
    outputs
        Output names, one head (and one logit column) each.
    composition_k
        k-mer lengths whose frequencies are appended to the embedding (``()``: none).
    l2
        L2 penalty on convolution kernels, used by the training stages.
    """

    arch: str
    preset: str
    seq_len: int
    head: str
    outputs: tuple[str, ...]
    composition_k: tuple[int, ...]
    l2: float

    @property
    def embed_dim(self) -> int:
        """Size of the body's embedding (the heads' input)."""

    @property
    def n_outputs(self) -> int:
        """Number of outputs (heads)."""

    @property
    def receptive_field(self) -> int:
        """Input positions (bp) one position of the last feature map sees."""

    def body_key(self) -> dict[str, Any]:
        """Fields defining the body: equal keys mean interchangeable body weights."""

    def replace(self, **changes: Any) -> ModelConfig:
        """Return a validated copy with ``changes`` applied."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON/h5ad-safe dict, ``arch`` included."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Return the config of :meth:`to_dict` output."""


@runtime_checkable
class SequenceModel(Protocol):
    """A network: one-hot (N, 4, L) -> logits (N, n_outputs), as a body plus one head per output.

    Attributes
    ----------
    config
        Its :class:`ModelConfig`.
    body
        Module one-hot (N, 4, L) -> embedding (N, ``config.embed_dim``); the part fine-tuning keeps
        (frozen in stage 1, ``chromseq.train._engine``).
    heads
        :class:`torch.nn.ModuleList`, one head per output: embedding (N, ``embed_dim``) -> (N, 1).
    """

    config: Any
    body: nn.Module
    heads: nn.ModuleList

    @property
    def outputs(self) -> list[str]:
        """Output names, one per logit column."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (N, 4, L) -> logits (N, n_outputs)."""

    def head_logits(self, emb: torch.Tensor) -> torch.Tensor:
        """Embedding (N, ``embed_dim``) -> logits (N, n_outputs)."""
