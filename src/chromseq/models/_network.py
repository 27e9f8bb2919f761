"""The ChromTransfer network (Salvatore et al. 2023) as pure torch modules.

Layer order follows the published Keras code: every convolution is
``Conv1d('same') -> ReLU -> BatchNorm -> Dropout``; identity residual blocks add their
input, projection blocks add a convolved shortcut of the same kernel size. The
modules hold no training code (that lives in ``chromseq.train._engine``).
"""

from __future__ import annotations

import torch
from torch import nn

from ._config import ChromTransferConfig


class SameConv1d(nn.Conv1d):
    """``Conv1d`` with Keras' ``'same'`` padding: (N, c_in, L) -> (N, c_out, L).

    For an even kernel k the window at position i spans ``i - (k/2 - 1) .. i + k/2``,
    as in Keras; computed with symmetric padding k/2 and the first output dropped,
    which avoids torch's padded copy of the input.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(c_in, c_out, kernel, padding=kernel // 2)
        self._crop = kernel % 2 == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, c_in, L) -> (N, c_out, L)."""
        out = super().forward(x)
        return out[..., 1:] if self._crop else out


class ConvUnit(nn.Sequential):
    """``Conv1d(k, 'same') -> ReLU -> BatchNorm1d -> Dropout``: (N, c_in, L) -> (N, c_out, L)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, cfg: ChromTransferConfig) -> None:
        super().__init__(
            SameConv1d(c_in, c_out, kernel),
            nn.ReLU(),
            nn.BatchNorm1d(c_out, eps=cfg.bn_eps, momentum=cfg.bn_momentum),
            nn.Dropout(cfg.dropout),
        )


class ResidualBlock(nn.Module):
    """Two :class:`ConvUnit` plus a shortcut: the input itself, or a :class:`ConvUnit` when ``c_in != c_out``.

    Parameters
    ----------
    c_in, c_out
        Channels in and out.
    kernel
        Kernel size (bp) of every convolution in the block, shortcut included.
    cfg
        Network config (dropout, batch-norm settings).
    projection
        Use a convolutional shortcut (forced when ``c_in != c_out``).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, cfg: ChromTransferConfig, *, projection: bool) -> None:
        super().__init__()
        self.main = nn.Sequential(ConvUnit(c_in, c_out, kernel, cfg), ConvUnit(c_out, c_out, kernel, cfg))
        self.shortcut = ConvUnit(c_in, c_out, kernel, cfg) if projection or c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, c_in, L) -> (N, c_out, L)."""
        return self.main(x) + self.shortcut(x)


class KmerFrequencies(nn.Module):
    """One-hot (N, 4, L) -> frequencies of every k-mer (N, sum of ``4**k``), each scaled by ``4**k``.

    No weights. A window holding an N (all-zero column) counts as no k-mer; k-mers are in
    lexicographic order of ACGT within each k. Two equal ways to compute it: when the input needs
    a gradient (contribution scores), a fixed indicator convolution per k (``relu(conv - (k - 1))``
    is 1 exactly where the k bases match), which DeepLIFT/SHAP can propagate through; otherwise
    (training, prediction) integer k-mer codes counted with ``scatter_add``, several times faster.
    """

    def __init__(self, ks: tuple[int, ...]) -> None:
        super().__init__()
        self.ks = tuple(ks)
        for k in self.ks:
            kernel = torch.zeros(4**k, 4, k)
            for index in range(4**k):
                for pos in range(k):
                    kernel[index, (index // 4 ** (k - 1 - pos)) % 4, pos] = 1.0
            self.register_buffer(f"kernel{k}", kernel, persistent=False)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad:
            return self._by_convolution(x)
        return self._by_counting(x)

    def _by_convolution(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        for k in self.ks:
            hits = self.relu(nn.functional.conv1d(x, getattr(self, f"kernel{k}")) - (k - 1))
            parts.append(hits.mean(dim=-1) * float(4**k))
        return torch.cat(parts, dim=1)

    def _by_counting(self, x: torch.Tensor) -> torch.Tensor:
        base = x.argmax(dim=1)  # (N, L)
        known = x.sum(dim=1) > 0.5  # False at N
        n, length = base.shape
        parts = []
        for k in self.ks:
            width = length - k + 1
            code = torch.zeros(n, width, dtype=torch.long, device=x.device)
            ok = torch.ones(n, width, dtype=torch.bool, device=x.device)
            for pos in range(k):
                code = code * 4 + base[:, pos : pos + width]
                ok &= known[:, pos : pos + width]
            counts = torch.zeros(n, 4**k, dtype=x.dtype, device=x.device)
            counts.scatter_add_(1, code, ok.to(x.dtype))
            parts.append(counts * (float(4**k) / width))
        return torch.cat(parts, dim=1)


class ChromTransferBody(nn.Module):
    """Convolutional body: one-hot (N, 4, L) -> embedding (N, ``cfg.embed_dim``).

    1. conv k=25, 64 ch (then max pooling by ``cfg.stem_pool``, none in the paper); 2. projection block k=20, F/2 ch; 3. ``n_blocks`` identity blocks
    k=15, F/2 ch, whose outputs are concatenated (``n_blocks`` * F/2 ch); 4. projection block
    k=10, F ch and ``n_blocks`` identity blocks k=5, F ch; 5. conv k=10, 64 ch (with BN and
    dropout), conv k=5, 64 ch (ReLU only); 6. global average pooling over positions; 7. with
    ``cfg.composition_k``, the input's k-mer frequencies appended (``KmerFrequencies``).
    """

    def __init__(self, cfg: ChromTransferConfig) -> None:
        super().__init__()
        half, full = cfg.inner_filters // 2, cfg.inner_filters
        k_proj1, k_id1, k_proj2, k_id2 = cfg.block_kernels
        self.stem = ConvUnit(4, cfg.stem_filters, cfg.stem_kernel, cfg)
        self.pool = nn.MaxPool1d(cfg.stem_pool, ceil_mode=True) if cfg.stem_pool > 1 else nn.Identity()
        self.proj1 = ResidualBlock(cfg.stem_filters, half, k_proj1, cfg, projection=True)
        self.stage1 = nn.ModuleList(
            [ResidualBlock(half, half, k_id1, cfg, projection=False) for _ in range(cfg.n_blocks)]
        )
        self.proj2 = ResidualBlock(half * cfg.n_blocks, full, k_proj2, cfg, projection=True)
        self.stage2 = nn.Sequential(
            *[ResidualBlock(full, full, k_id2, cfg, projection=False) for _ in range(cfg.n_blocks)]
        )
        self.tail = ConvUnit(full, cfg.tail_filters, cfg.tail_kernels[0], cfg)
        self.last = nn.Sequential(SameConv1d(cfg.tail_filters, cfg.tail_filters, cfg.tail_kernels[1]), nn.ReLU())
        self.composition = KmerFrequencies(cfg.composition_k) if cfg.composition_k else None

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (N, 4, L) -> last convolution's output (N, ``tail_filters``, ceil(L / stem_pool)), before pooling."""
        h = self.proj1(self.pool(self.stem(x)))
        stage1 = []
        for block in self.stage1:
            h = block(h)
            stage1.append(h)
        h = self.stage2(self.proj2(torch.cat(stage1, dim=1)))
        return self.last(self.tail(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (N, 4, L) -> embedding (N, ``embed_dim``) by global average pooling (+ k-mer frequencies)."""
        emb = self.feature_map(x).mean(dim=-1)
        return emb if self.composition is None else torch.cat([emb, self.composition(x)], dim=1)


class Head(nn.Sequential):
    """Dense head: ``[Linear -> ReLU -> BatchNorm -> Dropout] * len(hidden) -> Linear(1)``.

    (N, ``c_in``) -> logit (N, 1).
    """

    def __init__(self, c_in: int, hidden: tuple[int, ...], cfg: ChromTransferConfig) -> None:
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [
                nn.Linear(c_in, width),
                nn.ReLU(),
                nn.BatchNorm1d(width, eps=cfg.bn_eps, momentum=cfg.bn_momentum),
                nn.Dropout(cfg.dropout),
            ]
            c_in = width
        layers.append(nn.Linear(c_in, 1))
        super().__init__(*layers)


class ChromTransfer(nn.Module):
    """ChromTransfer network: body plus one head per output.

    Parameters
    ----------
    config
        Architecture (see :class:`~chromseq.models.ChromTransferConfig`); ``config.head``
        picks the pre-training head (Dense 512-128-1) or the fine-tuning head (Dense
        1024-32-1), one per name in ``config.outputs``.
    generator
        Seeds the He-normal initialisation (``None``: torch's global generator).

    Attributes
    ----------
    body
        :class:`ChromTransferBody`, one-hot (N, 4, L) -> (N, 64).
    heads
        :class:`torch.nn.ModuleList` of :class:`Head`, in the order of ``outputs``.
    outputs
        Output names, e.g. ``['open']`` or cell types.

    Notes
    -----
    The ``chromtransfer`` preset (F = 64, L = 600) has 652,513 parameters with the
    pre-training head (body 552,160) and 653,665 with one fine-tuning head; 0.66 GFLOP
    (a multiply-add counted as 2) per 600-bp sequence, forward.

    Examples
    --------
    >>> import torch
    >>> from chromseq.models import ChromTransfer, PRESETS
    >>> model = ChromTransfer(PRESETS["tiny"]).eval()
    >>> model(torch.zeros(2, 4, 600)).shape
    torch.Size([2, 1])
    """

    def __init__(self, config: ChromTransferConfig, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        with torch.random.fork_rng(devices=[]):  # torch's default init draws from the global RNG: leave it alone
            self.body = ChromTransferBody(config)
            hidden = config.pretrain_hidden if config.head == "pretrain" else config.finetune_hidden
            self.heads = nn.ModuleList([Head(config.embed_dim, hidden, config) for _ in config.outputs])
        self.reset_parameters(generator=generator)

    @property
    def outputs(self) -> list[str]:
        """Output names, one per logit column."""
        return list(self.config.outputs)

    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """He-normal convolution kernels, Glorot-uniform dense weights, zero biases, unit BN.

        With ``config.stem_init == 'jaspar'`` the stem's filters then start as JASPAR motifs.
        """
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=generator)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, generator=generator)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm1d):
                m.reset_parameters()
        if self.config.stem_init == "jaspar":
            from ._motif_init import init_stem_from_jaspar

            init_stem_from_jaspar(self.body.stem[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (N, 4, L) -> logits (N, n_outputs)."""
        if x.ndim != 3 or x.shape[1] != 4:
            raise ValueError(f"expected one-hot input of shape (N, 4, L), got {tuple(x.shape)}.")
        return self.head_logits(self.body(x))

    def head_logits(self, emb: torch.Tensor) -> torch.Tensor:
        """Embedding (N, ``embed_dim``) -> logits (N, n_outputs), one column per head."""
        return torch.cat([head(emb) for head in self.heads], dim=1)

    def extra_repr(self) -> str:
        return f"preset={self.config.preset!r}, head={self.config.head!r}, outputs={self.outputs}"


def count_parameters(module: nn.Module) -> int:
    """Return the number of parameters of ``module`` (trainable or not; buffers excluded).

    Parameters
    ----------
    module
        Any torch module, e.g. a :class:`ChromTransfer` network or its ``body``.

    Returns
    -------
    The number of scalar parameters.
    """
    return sum(p.numel() for p in module.parameters())
