"""Configuration of the ChromTransfer network: a frozen dataclass and named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from chromseq._settings import logger, settings

from ._checks import check_config, config_kwargs, plain

HeadKind = Literal["pretrain", "finetune"]

#: Fields that define the body; two configs with equal values share body weights.
BODY_FIELDS = (
    "seq_len",
    "stem_filters",
    "stem_kernel",
    "stem_pool",
    "inner_filters",
    "block_kernels",
    "n_blocks",
    "tail_filters",
    "tail_kernels",
    "composition_k",
)


@dataclass(frozen=True)
class ChromTransferConfig:
    """Hyper-parameters of the ChromTransfer network (saved next to its weights).

    The body follows Salvatore et al. (2023), layer for layer; every size is a field
    so that a smaller preset keeps the same structure.

    Parameters
    ----------
    preset
        Name of the preset the config came from (``'custom'`` otherwise).
    seq_len
        Input width L (bp) the model is trained on; the network itself accepts any
        width (global average pooling), but ``tl`` functions check the data against it.
    stem_filters, stem_kernel
        First convolution: 64 channels, kernel 25 bp.
    stem_pool
        Max pooling (kernel = stride, in bp) after the first convolution; 1 (the paper) means none.
        Pooling by p divides the cost of every later layer by p and widens their receptive field p
        times (kernels then count pooled positions): the ``fast`` CPU preset uses 4.
    stem_init
        Initialisation of the first convolution: ``'he'`` (He-normal, the paper) or ``'jaspar'``
        (each filter a JASPAR motif's log-odds matrix, see ``chromseq.models._motif_init``;
        filters beyond the motif list stay He-normal).
    inner_filters
        F, the inner filter count: residual blocks have F/2 (first stage) and F
        (second stage) channels. The published model uses F = 64.
    block_kernels
        Kernel sizes (bp) of the first projection block, the identity blocks of the
        first stage, the projection block and the identity blocks of the second stage:
        ``(20, 15, 10, 5)``.
    n_blocks
        Identity residual blocks per stage (3); the first stage's outputs are
        concatenated (``n_blocks * F/2`` channels).
    tail_filters, tail_kernels
        The two last convolutions (64 channels, kernels 10 and 5); ``tail_filters`` is
        the size (64) of the convolutional embedding after global average pooling.
    composition_k
        k-mer lengths whose frequencies in the input (both strands' counts are not merged;
        ``N`` windows count as no k-mer) are appended to the embedding, scaled by ``4**k`` (1 =
        as often as expected from uniform composition): ``(1, 2, 3, 4)`` adds 340 features and
        no weights. Empty (the paper): the embedding is the convolutions' alone. A composition
        prior for small data; the k-mer logistic-regression baseline sees the same features.
    dropout
        Dropout rate after every batch normalisation (0.1).
    l2
        L2 penalty on convolution kernels (1e-4, as in Keras: ``l2 * sum(w**2)``).
    bn_momentum, bn_eps
        Batch normalisation momentum (torch convention) and epsilon (1e-3 as in Keras).
    pretrain_hidden, finetune_hidden
        Dense sizes of the pre-training head (512, 128) and the fine-tuning head (1024, 32).
    head
        Which head type the model carries.
    outputs
        Names of the outputs, one head each: ``('open',)`` for pre-training, cell types otherwise.
    """

    #: Name of the family in the registry (``chromseq.models._registry``); a saved config without one is this.
    arch: ClassVar[str] = "chromtransfer"

    preset: str = "custom"
    seq_len: int = 600
    stem_filters: int = 64
    stem_kernel: int = 25
    stem_pool: int = 1
    stem_init: str = "he"
    inner_filters: int = 64
    block_kernels: tuple[int, int, int, int] = (20, 15, 10, 5)
    n_blocks: int = 3
    tail_filters: int = 64
    tail_kernels: tuple[int, int] = (10, 5)
    composition_k: tuple[int, ...] = ()
    dropout: float = 0.1
    l2: float = 1e-4
    bn_momentum: float = 0.1
    bn_eps: float = 1e-3
    pretrain_hidden: tuple[int, ...] = (512, 128)
    finetune_hidden: tuple[int, ...] = (1024, 32)
    head: HeadKind = "pretrain"
    outputs: tuple[str, ...] = field(default=("open",))

    def __post_init__(self) -> None:
        check_config(
            self,
            ints=("stem_filters", "stem_kernel", "stem_pool", "inner_filters", "n_blocks", "tail_filters"),
            int_tuples=("block_kernels", "tail_kernels"),
        )
        if self.inner_filters % 2:
            raise ValueError(f"inner_filters (F) must be even (blocks use F/2 channels), got {self.inner_filters}.")
        if len(self.block_kernels) != 4 or len(self.tail_kernels) != 2:
            raise ValueError("block_kernels needs 4 kernel sizes and tail_kernels 2.")
        if self.stem_init not in ("he", "jaspar"):
            raise ValueError(f"stem_init must be 'he' or 'jaspar', got {self.stem_init!r}.")

    @property
    def embed_dim(self) -> int:
        """Size of the body's embedding: ``tail_filters``, plus ``4**k`` per k of ``composition_k``."""
        return self.tail_filters + sum(4**k for k in self.composition_k)

    @property
    def n_outputs(self) -> int:
        """Number of outputs (heads)."""
        return len(self.outputs)

    @property
    def receptive_field(self) -> int:
        """Input bp one position of the last convolution sees (202 for ``chromtransfer`` and ``fast``, 61 for ``tiny``).

        Each residual block stacks two convolutions of its kernel; kernels after the stem count
        pooled positions (``stem_pool`` bp each).
        """
        kp1, kid1, kp2, kid2 = self.block_kernels
        n, p = self.n_blocks, self.stem_pool
        tower = 2 * (kp1 - 1) + 2 * n * (kid1 - 1) + 2 * (kp2 - 1) + 2 * n * (kid2 - 1)
        tower += sum(k - 1 for k in self.tail_kernels)
        return self.stem_kernel + (p - 1) + p * tower

    def body_key(self) -> dict[str, Any]:
        """Return the fields that define the body (equal keys mean interchangeable body weights)."""
        return {f: plain(getattr(self, f)) for f in BODY_FIELDS}

    def replace(self, **changes: Any) -> ChromTransferConfig:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON/h5ad-safe dict (tuples become lists), ``arch`` first."""
        return {"arch": self.arch} | {k: plain(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChromTransferConfig:
        """Build a config from :meth:`to_dict` output (unknown keys raise; no ``arch`` is ChromTransfer's)."""
        return cls(**config_kwargs(cls, d))


_TINY = ChromTransferConfig(
    preset="tiny",
    stem_filters=32,
    stem_kernel=15,
    inner_filters=16,
    block_kernels=(9, 7, 5, 3),
    n_blocks=1,
    tail_filters=16,
    tail_kernels=(5, 3),
    pretrain_hidden=(64, 32),
    finetune_hidden=(64, 16),
)

#: Named configurations. ``chromtransfer``: the published network (F = 64).
#: ``tiny``: the same structure, narrower and with shorter kernels, for tests and the CPU demo.
#: ``fast`` (the CPU default): ``tiny`` with max pooling by 4 after the stem (a third of the FLOPs, 2-3.6x
#: the training sequences per second of ``tiny`` on one CPU thread), no dropout, and the input's 1- to 4-mer
#: frequencies beside the embedding (``composition_k``): on chr20, cross-validated, it lifts fine-tuned AUROC
#: from 0.528 to 0.586-0.592, close to the k-mer baseline (0.592-0.601; benchmarks/README.md).
#: The other families' presets (``dilated``, ``dilated_fast``, ``topic``, ``topic_fast``) are added by
#: ``chromseq.models._registry``, from the module of each family.
PRESETS: dict[str, Any] = {
    "chromtransfer": ChromTransferConfig(preset="chromtransfer"),
    "tiny": _TINY,
    "fast": _TINY.replace(preset="fast", stem_pool=4, dropout=0.0, composition_k=(1, 2, 3, 4)),
}


#: The preset name that picks a size for the device: :data:`CPU_PRESET` on a CPU, :data:`GPU_PRESET` elsewhere.
AUTO = "auto"
CPU_PRESET = "fast"
GPU_PRESET = "chromtransfer"


def resolve_preset(preset: str | Any, device: str | None = None) -> str | Any:
    """Return the preset that ``preset`` names on ``device``: ``'auto'`` becomes ``'fast'`` or ``'chromtransfer'``.

    Parameters
    ----------
    preset
        A preset name, ``'auto'`` or a config (returned unchanged, as is any other name).
    device
        Device the model trains on (``None``: :attr:`chromseq.settings.device`); ``'auto'`` picks
        ``'fast'`` (the CPU recipe) on a CPU and ``'chromtransfer'`` (the published network) on a
        GPU (CUDA or MPS). The choice is logged.

    Returns
    -------
    The preset name or config to build.
    """
    if not isinstance(preset, str) or preset != AUTO:
        return preset
    resolved = settings.resolve_device(device)
    chosen = CPU_PRESET if resolved.type == "cpu" else GPU_PRESET
    logger.info("preset 'auto' -> %r (training on %s)", chosen, resolved)
    return chosen


def get_config(preset: str | Any, **changes: Any) -> Any:
    """Return the config of ``preset`` (a name in :data:`PRESETS`, ``'auto'`` or a config) with ``changes`` applied.

    Parameters
    ----------
    preset
        A name in :data:`PRESETS` (``'chromtransfer'``, ``'fast'``, ``'dilated'``, ``'topic_fast'``...),
        ``'auto'`` (:func:`resolve_preset` on :attr:`chromseq.settings.device`) or a config of any
        registered family to start from.
    **changes
        Fields of the preset's config class to replace, e.g. ``inner_filters=32``.

    Returns
    -------
    A new frozen config; ``preset`` is not modified.

    Raises
    ------
    ValueError
        If ``preset`` is not a known name.
    """
    preset = resolve_preset(preset)
    if not isinstance(preset, str):
        base = preset
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(f"unknown preset {preset!r}; choose one of {[AUTO, *sorted(PRESETS)]} or pass a model config.")
    return base.replace(**changes) if changes else base
