"""Contribution scores of a model's raw output (logit, or regression value): DeepLIFT/SHAP, ISM, gradient x input."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._anndata import writable
from chromseq._settings import logger, settings
from chromseq._validate import require_celltypes, require_obsm, sequence_codes
from chromseq.store import write_contributions
from chromseq.tl._resolve import explainable, masked_rows, resolve_network

if TYPE_CHECKING:
    import torch
    from anndata import AnnData


Method = Literal["deep_lift_shap", "ism", "grad_x_input"]
METHODS: tuple[str, ...] = ("deep_lift_shap", "ism", "grad_x_input")
#: Regions passed to tangermeme per call; bounds memory and drives the progress bar.
_CHUNK = 512
#: Most (sequence, reference) pairs per DeepLIFT/SHAP batch for a network with k-mer features.
_COMPOSITION_BATCH = 32


def contributions(
    adata: AnnData,
    celltype: str | None = None,
    *,
    mask: np.ndarray | pd.Series | str | None = None,
    method: Method = "deep_lift_shap",
    model: str | torch.nn.Module | None = None,
    n_shuffles: int = 20,
    batch_size: int = 128,
    device: str | None = None,
    dtype: Literal["float32", "float16"] = "float32",
    random_state: int | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Compute hypothetical contribution scores of each base to a model's raw output, with tangermeme.

    ``deep_lift_shap`` runs :func:`tangermeme.deep_lift_shap.deep_lift_shap` against
    ``n_shuffles`` dinucleotide-shuffled references per region (reference ``k`` of every region
    is seeded with ``random_state + k``, so results do not depend on batching); ``ism`` runs
    :func:`tangermeme.saturation_mutagenesis.saturation_mutagenesis` (change of the output for
    each single-base substitution, centred over the four bases); ``grad_x_input`` runs
    :func:`tangermeme.saliency.saliency` (the gradient, centred over the four bases; times the
    one-hot input it is gradient x input). All three explain the raw output of the forward
    strand: for a classification model the logit (before the sigmoid); for a regression model
    the predicted value in the target's units (``mse``, ``mse_cosine``) or the log-rate of a
    Poisson model (before the ``exp``), see ``chromseq.store.Units``.

    The ChromTransfer network only has layers for which DeepLIFT's rules are exact: its one
    non-linearity is :class:`torch.nn.ReLU` (modules, handled by tangermeme's rescale rule),
    while convolutions, batch normalisation and dropout in eval mode, residual additions,
    concatenation, global average pooling and dense layers are linear. So DeepLIFT/SHAP scores
    satisfy summation-to-delta: for each region, the contributions of the observed bases sum to
    the output minus the mean output of its references (up to float rounding); tangermeme warns
    if a model breaks this.

    Parameters
    ----------
    adata
        Regions AnnData with ``obsm['sequence']``. A view (``adata[mask]``) is made an actual
        AnnData of its rows, and the AnnData it was taken from is left unchanged (see the keys
        page): to keep scores of some regions in the whole AnnData, pass ``mask=`` instead.
    celltype
        Cell type (a ``var_name``) whose fine-tuned model is explained, and the name the scores
        are stored under. May be ``None`` when ``model`` is given: the model name is used.
    mask
        Regions to compute: a boolean array (``n_obs``), a boolean Series aligned on
        ``obs_names``, or the name of a boolean ``obs`` column. ``None``: all regions.
    method
        ``'deep_lift_shap'``, ``'ism'`` or ``'grad_x_input'``.
    model
        ``None``: the fine-tuned model of ``celltype`` (``finetuned_<celltype>``, or the
        multi-head ``finetuned`` model with that output). A name in ``uns['chromseq']['models']``
        (e.g. ``'pretrained'``), or a :class:`torch.nn.Module` mapping one-hot (N, 4, L) to logits
        (N, n_outputs); for several outputs, the one named ``celltype`` in ``model.outputs``. A bare
        module is recorded as explaining logits: pass a regression model by its name.
    n_shuffles
        References per region for ``deep_lift_shap`` (ignored otherwise).
    batch_size
        Sequences per forward/backward pass (``deep_lift_shap``: region-reference pairs;
        ``ism``: mutated sequences).
    device
        Torch device; ``None`` uses :attr:`chromseq.settings.device`.
    dtype
        Storage dtype of the scores (computation is float32).
    random_state
        Seed of the references; ``None`` uses :attr:`chromseq.settings.seed`.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets the following fields:

    ``uns['chromseq']['contributions'][<celltype>]``
        dict of the method and its parameters, the model, what was explained (``target``:
        ``'logit'``, ``'value'`` or ``'log_rate'``; ``task`` for a regression model), the number of
        regions computed (``n_computed``), and only the rows computed: ``obs_names`` (str,
        n_computed) and ``scores``, float (n_computed, 4, L) hypothetical contributions (ACGT, in
        the units of ``target`` per base; multiply by the one-hot sequence for the actual
        contributions). Rows computed
        earlier with the same method and model are kept (recomputed ones replaced); otherwise
        the entry is replaced. Read them with :func:`chromseq.tl.get_contributions`, which
        follows the regions through subsetting (``adata[mask]``) and ``write_h5ad``/``read_h5ad``.

    Examples
    --------
    >>> import chromseq as cs
    >>> cs.tl.contributions(adata, "K562", mask=adata.obs.split == "test")  # doctest: +SKIP
    >>> scores, regions = cs.tl.get_contributions(adata, "K562")  # doctest: +SKIP
    >>> scores.shape  # doctest: +SKIP
    (1200, 4, 600)
    """
    _check_args(method, dtype, n_shuffles, batch_size)
    adata = writable(adata, copy, "contributions")
    require_obsm(adata, K.SEQUENCE)
    if celltype is not None:
        require_celltypes(adata, celltype)
    if not adata.obs_names.is_unique:
        raise ValueError(
            "adata.obs_names are not unique: contributions are stored by region name; run "
            "adata.obs_names_make_unique() first."
        )
    rows = masked_rows(adata, mask)
    net, model_info, target = resolve_network(adata, celltype, model)
    seed = settings.seed if random_state is None else int(random_state)
    dev = settings.resolve_device(device)

    codes = sequence_codes(adata, rows)
    ok = _computable(codes, method)
    kw = {"method": method, "target": target, "n_shuffles": n_shuffles, "batch_size": batch_size}
    scores = attribute(net, codes[ok], device=dev, random_state=seed, **kw)

    params = {**kw, **model_info, "output": int(target), "hypothetical": True}
    params.update(width=int(codes.shape[1]), random_state=seed, dtype=dtype, device=str(dev))
    if method == "deep_lift_shap":
        params["references"] = "dinucleotide_shuffle"
    else:
        del params["n_shuffles"]
    key = celltype if celltype is not None else model_info["model"]
    write_contributions(adata, key, adata.obs_names.to_numpy()[rows[ok]], scores, params, np.dtype(dtype))
    return adata if copy else None


def _check_args(method: str, dtype: str, n_shuffles: int, batch_size: int) -> None:
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not supported; choose one of {list(METHODS)}.")
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype={dtype!r}: choose 'float32' or 'float16'.")
    if method == "deep_lift_shap" and (not isinstance(n_shuffles, int) or n_shuffles < 1):
        raise ValueError(f"n_shuffles must be a positive int, got {n_shuffles!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")


def _computable(codes: np.ndarray, method: str) -> np.ndarray:
    """Rows the method can explain: all, except regions with N for deep_lift_shap (tangermeme needs ACGT there)."""
    ok = explainable(codes, method)
    if method != "deep_lift_shap":
        return ok
    if not ok.any():
        raise ValueError(
            "every selected region contains N: deep_lift_shap needs ACGT-only sequences; "
            "use method='ism' or 'grad_x_input', or select other regions."
        )
    if not ok.all():
        logger.warning(
            "contributions: %d of %d regions contain N and are left NaN (deep_lift_shap needs ACGT-only "
            "sequences; ism and grad_x_input accept N).",
            (~ok).sum(),
            len(ok),
        )
    return ok


def attribute(
    model: torch.nn.Module,
    codes: np.ndarray,
    *,
    method: Method = "deep_lift_shap",
    target: int = 0,
    n_shuffles: int = 20,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    random_state: int = 0,
) -> np.ndarray:
    """Hypothetical contributions of sequences, the tensor core of :func:`contributions`.

    Parameters
    ----------
    model
        Maps one-hot (N, 4, L) float to raw outputs (N, n_outputs): logits, or a regression model's
        values or log-rates; left on its device and mode.
    codes
        uint8 codes (N, L), A0 C1 G2 T3 N4 (no N for ``deep_lift_shap``).
    method, target, n_shuffles, batch_size, device, random_state
        As in :func:`contributions`; ``target`` is the output column.

    Returns
    -------
    float32 array (N, 4, L).
    """
    import torch

    from chromseq.train import progress_bar

    tqdm = progress_bar()

    from chromseq._codes import one_hot

    out = np.empty((len(codes), 4, codes.shape[1]), dtype=np.float32)
    bar = tqdm(
        total=len(codes),
        desc=f"contributions ({method})",
        unit="region",
        disable=settings.verbosity < 1 or not sys.stderr.isatty() or len(codes) <= _CHUNK,
    )
    for start in range(0, len(codes), _CHUNK):
        X = one_hot(torch.from_numpy(np.ascontiguousarray(codes[start : start + _CHUNK])))
        out[start : start + len(X)] = _run(model, X, method, target, n_shuffles, batch_size, device, random_state)
        bar.update(len(X))
    bar.close()
    return out


def _run(model, X, method, target, n_shuffles, batch_size, device, random_state) -> np.ndarray:
    """One tangermeme call on one-hot X (N, 4, L): hypothetical scores as float32 numpy."""
    import torch

    if method == "deep_lift_shap":
        from tangermeme.deep_lift_shap import deep_lift_shap

        if getattr(getattr(model, "config", None), "composition_k", ()):
            # the k-mer indicator convolution keeps (4**k, L) activations per sequence and reference for the
            # backward pass: 32 pairs a batch halve the peak memory of 128 (2.2 -> 1.0 GB) and run faster on CPU
            batch_size = min(batch_size, _COMPOSITION_BATCH)
        attr = deep_lift_shap(
            model,
            X,
            target=target,
            batch_size=batch_size,
            n_shuffles=n_shuffles,
            hypothetical=True,
            device=device,
            random_state=random_state,
        )
    elif method == "ism":
        from tangermeme.saturation_mutagenesis import saturation_mutagenesis

        # fastISM measured slower than plain ISM on CPU for both presets (benchmarks/bench_contributions.py);
        # elsewhere tangermeme times both on one batch and keeps the faster
        fast = torch.device(device).type != "cpu"
        attr = saturation_mutagenesis(
            model, X, target=target, batch_size=batch_size, hypothetical=True, device=device, fast=fast
        )
    else:
        from tangermeme.saliency import saliency

        attr = saliency(model, X, target=target, batch_size=batch_size, hypothetical=True, device=device)
    return attr.numpy(force=True).astype(np.float32, copy=False)
