"""Composition baselines: what GC content and k-mer composition alone predict.

On the ChromTransfer data, positives are GC-richer than negatives, so a model
can score well by learning composition only. Two baselines show how much:

- ``baseline_gc``: the GC fraction of the input window (``obs['gc']``) used directly as the score;
- ``baseline_kmer``: a logistic regression on standardised k-mer frequencies, fitted on the train split;
- ``baseline_ridge``: for quantitative (regression) targets, a ridge regression on the same features
  (:mod:`chromseq.tl._baselines_ridge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from chromseq import _keys as K
from chromseq._anndata import writable
from chromseq._codes import reverse_complement_codes
from chromseq._settings import logger
from chromseq._tasks import detect_task
from chromseq._validate import require_obs, require_obsm, sequence_codes
from chromseq.store import (
    BASELINE_KIND,
    BASELINE_KMER,
    kmer_column,
    labels,
    resolve_targets,
    ridge_column,
    write_baselines,
)

from ._baselines_ridge import RIDGE_ALPHAS, check_alphas, fit_ridge_target

if TYPE_CHECKING:
    from anndata import AnnData


# -- tensor core: k-mer counting on uint8 codes ----------------------------------------------------------------------
def kmer_names(k: int, *, rc_collapse: bool = True) -> list[str]:
    """Names of the k-mer columns of :func:`kmer_counts` (lexicographic; canonical = smaller of k-mer and its RC)."""
    return [_decode_kmer(i, k) for i in _kmer_columns(k, rc_collapse)[1]]


def _decode_kmer(index: int, k: int) -> str:
    return "".join(K.ALPHABET[(index // 4 ** (k - 1 - j)) % 4] for j in range(k))


def _kmer_columns(k: int, rc_collapse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Map every k-mer index to its column; return (column of each of the 4**k k-mers, k-mer index of each column)."""
    idx = np.arange(4**k, dtype=np.int64)
    if not rc_collapse:
        return idx, idx
    powers = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    digits = (idx[:, None] // powers) % 4  # (4**k, k), most significant first
    rc = (reverse_complement_codes(digits).astype(np.int64) * powers).sum(axis=1)
    canonical = np.minimum(idx, rc)
    kept, column = np.unique(canonical, return_inverse=True)
    return column, kept


def kmer_counts(codes: np.ndarray, k: int, *, rc_collapse: bool = True, chunk_size: int = 4096) -> np.ndarray:
    """Count the k-mers of each sequence, vectorised over sequences and positions.

    Parameters
    ----------
    codes
        ``(N, L)`` uint8 codes A0 C1 G2 T3 N4.
    k
        k-mer length (1-8).
    rc_collapse
        Count a k-mer and its reverse complement in one column (the canonical, lexicographically smaller one).
    chunk_size
        Sequences counted at once (bounds memory at about ``chunk_size * L * 8`` bytes).

    Returns
    -------
    np.ndarray
        ``(N, n_kmers)`` float32 counts, columns as :func:`kmer_names`; windows containing N are skipped.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be (N, L) uint8, got shape {codes.shape}.")
    if not 1 <= k <= 8:
        raise ValueError(f"k must be between 1 and 8, got {k}.")
    column, kept = _kmer_columns(k, rc_collapse)
    n, width = codes.shape
    out = np.zeros((n, kept.size), dtype=np.float32)
    if width < k:
        return out
    powers = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    for lo in range(0, n, chunk_size):
        block = codes[lo : lo + chunk_size].astype(np.int64)
        m = block.shape[0]
        index = np.zeros((m, width - k + 1), dtype=np.int64)
        valid = np.ones((m, width - k + 1), dtype=bool)
        for j in range(k):  # loop over the k offsets only
            part = block[:, j : width - k + 1 + j]
            valid &= part < 4
            index += np.minimum(part, 3) * powers[j]
        rows = np.broadcast_to(np.arange(m)[:, None], index.shape)
        flat = rows[valid] * kept.size + column[index[valid]]
        out[lo : lo + m] = np.bincount(flat, minlength=m * kept.size).reshape(m, kept.size)
    return out


def kmer_features(codes: np.ndarray, ks: Sequence[int], *, rc_collapse: bool = True) -> tuple[np.ndarray, list[str]]:
    """K-mer frequencies for several k, concatenated: ``(N, n_features)`` float32 and the feature names.

    Each block of one k is divided by the number of valid windows of the sequence, so that
    sequences with N bases or of another width stay comparable.
    """
    blocks, names = [], []
    for k in ks:
        counts = kmer_counts(codes, k, rc_collapse=rc_collapse)
        total = counts.sum(axis=1, keepdims=True)
        blocks.append(np.divide(counts, total, out=np.zeros_like(counts), where=total > 0))
        names += kmer_names(k, rc_collapse=rc_collapse)
    return np.concatenate(blocks, axis=1), names


def fit_kmer_model(features: np.ndarray, y: np.ndarray, *, C: float = 1e-3):
    """Fit standardisation + class-balanced logistic regression; return the sklearn pipeline."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000))
    return model.fit(features, y)


# -- AnnData layer ---------------------------------------------------------------------------------------------------
def normalise_ks(k: int | Sequence[int]) -> list[int]:
    """Return k-mer length(s) as a sorted list of distinct ints in 1-8; raise a ValueError otherwise."""
    ks = sorted({int(k)} if np.isscalar(k) else {int(x) for x in k})
    if not ks or ks[0] < 1 or ks[-1] > 8:
        raise ValueError(f"k must be an int or a list of ints between 1 and 8, got {k!r}.")
    return ks


def composition_baseline(
    adata: AnnData,
    targets: str | Sequence[str] | None = None,
    *,
    k: int | Sequence[int] = (1, 2, 3, 4),
    rc_collapse: bool = True,
    C: float = 1e-3,
    task: Literal["classification", "regression"] | None = None,
    layer: str | None = None,
    alphas: float | Sequence[float] = RIDGE_ALPHAS,
    train_split: str = "train",
    val_split: str = "val",
    copy: bool = False,
) -> AnnData | None:
    """Fit the k-mer composition baseline for each target on the train split and score every region.

    Binary targets (classification) get the logistic baseline described below; quantitative targets
    (regression) get a ridge regression on the same features, its penalty chosen on ``val_split``.

    A logistic regression (class-balanced, L2 with inverse strength ``C``) on standardised k-mer
    frequencies, fitted only on regions of ``obs['split'] == train_split`` with a known label, then
    applied to all regions. It shows what sequence composition alone predicts; the GC baseline needs
    no fit (it is ``obs['gc']``). :func:`chromseq.tl.evaluate` runs this for you.

    Parameters
    ----------
    adata
        Regions AnnData with ``obsm['sequence']`` and ``obs['split']``.
    targets
        ``'open'`` (the pretraining target ``obs['open']``), cell types (``var_names``), or a list;
        ``None``: ``'open'`` when present, then every cell type.
    k
        k-mer length(s); frequencies of every listed k are concatenated (default 1- to 4-mers: 180 features
        with ``rc_collapse``).
    rc_collapse
        Merge each k-mer with its reverse complement (the models average both strands too).
    C
        Inverse L2 regularisation strength of the logistic regression (sklearn's ``C``: the penalty is
        ``||w||^2 / (2 C)`` against the summed log-loss, so it weakens as regions are added). The default
        is strong: 5-fold cross-validation on the chr20 train split chose 1e-4 to 1e-3 for all six cell
        types, and weaker penalties overfit (train AUROC 0.8, held-out 0.55-0.75) and fit slowly.
    task
        ``'classification'`` (logistic baseline) or ``'regression'`` (ridge baseline) for every target;
        ``None``: detected per target (only 0, 1 and NaN values: classification; else regression).
    layer
        Layer holding the targets' values (``None`` or ``''``: ``X``).
    alphas
        Ridge penalties (regression): the one with the lowest mean squared error on ``val_split`` is kept
        (with fewer than 10 validation regions, or a single value, 1e3 or that value is used).
    train_split
        The ``obs['split']`` category the model is fitted on.
    val_split
        The ``obs['split']`` category the ridge penalty is chosen on (regression only).
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets the following fields:

    ``adata.obsm['chromseq_baseline']``
        DataFrame, one float32 column ``baseline_kmer_<target>`` per classification target (probability; NaN if
        no fit was possible) and ``baseline_ridge_<target>`` per regression target (value in the target's units;
        ``baseline_<kmer|ridge>_<layer>_<target>`` for a layer's values). Columns already there are kept.
    ``adata.uns['chromseq']['baselines'][column]``
        ``model`` (``'baseline_kmer'``), ``kind`` (``'baseline'``), ``target``, ``n_train``, the parameters
        (``k``, ``rc_collapse``, ``C``, ``train_split``), ``features`` (k-mer names) and ``coef``
        (coefficients on standardised frequencies). Ridge records: ``model`` ``'baseline_ridge'``, ``task``
        ``'regression'``, ``layer``, ``n_train``, ``n_val``, ``alpha`` (kept), ``alphas``, ``val_mse`` (per alpha),
        ``val_pearson``, ``coef``, ``intercept`` and the parameters.

    Examples
    --------
    >>> adata = chromseq.datasets.chromtransfer_chr20()  # doctest: +SKIP
    >>> chromseq.tl.composition_baseline(adata, "K562")  # doctest: +SKIP
    >>> adata.obsm["chromseq_baseline"]["baseline_kmer_K562"].head()  # doctest: +SKIP
    """
    names = resolve_targets(adata, targets)
    ks = normalise_ks(k)
    alphas = check_alphas(alphas)
    layer = layer or ""
    require_obsm(adata, K.SEQUENCE)
    require_obs(adata, K.SPLIT)
    label_sets = {t: labels(adata, t, layer) for t in names}  # validates every target before any fit or write
    tasks = _tasks(label_sets, task)
    adata = writable(adata, copy, "composition_baseline")
    split = adata.obs[K.SPLIT].to_numpy()
    train, val = split == train_split, split == val_split
    features, feature_names = kmer_features(np.asarray(sequence_codes(adata)), ks, rc_collapse=rc_collapse)
    params = {"k": ks, "rc_collapse": rc_collapse, "C": C, "train_split": train_split}
    scores, meta = {}, {}
    for target in names:
        y = label_sets[target]
        if tasks[target] == "regression":
            column = ridge_column(target, layer)
            scores[column], meta[column] = fit_ridge_target(features, y, train, val, target, layer, alphas=alphas)
            meta[column].update({p: v for p, v in params.items() if p != "C"}, val_split=val_split)
        else:
            column = kmer_column(target, layer)
            scores[column], meta[column] = _fit_one(features, y, train, target, C=C)
            meta[column].update(params)
        if np.isfinite(scores[column]).any():
            meta[column]["features"] = feature_names
    write_baselines(adata, scores, meta)
    return adata if copy else None


def _tasks(label_sets: dict[str, np.ndarray], task: str | None) -> dict[str, str]:
    """Return the task of every target: ``task`` when given (binary labels checked), else detected from its values."""
    if task is not None and task not in K.TASKS:
        raise ValueError(f"task must be one of {list(K.TASKS)} or None (detect), got {task!r}.")
    out = {t: task or detect_task(y[:, None], [t]) for t, y in label_sets.items()}
    for t, y in label_sets.items():
        if out[t] == "classification" and not np.isin(y[~np.isnan(y)], (0.0, 1.0)).all():
            raise ValueError(
                f"target {t!r} holds values other than 0, 1 and NaN but task='classification': pass "
                "task='regression' (k-mer ridge baseline), or binarise the values first."
            )
    logger.info("composition baselines: %s", {t: out[t] for t in label_sets})
    return out


def _fit_one(
    features: np.ndarray, y: np.ndarray, train: np.ndarray, target: str, *, C: float
) -> tuple[np.ndarray, dict]:
    rows = train & ~np.isnan(y)
    meta = {"model": BASELINE_KMER, "kind": BASELINE_KIND, "target": target, "n_train": int(rows.sum())}
    n_pos = int(y[rows].sum())
    if n_pos == 0 or n_pos == rows.sum():
        logger.warning(
            "k-mer baseline for %r not fitted: the train split has %d labelled regions, %d positive (need both classes).",
            target,
            int(rows.sum()),
            n_pos,
        )
        return np.full(y.shape, np.nan, dtype=np.float32), meta
    model = fit_kmer_model(features[rows], y[rows].astype(np.int8), C=C)
    meta["coef"] = model[-1].coef_.ravel().astype(np.float32)
    logger.info("k-mer baseline for %r fitted on %d train regions (%d positive).", target, int(rows.sum()), n_pos)
    return model.predict_proba(features)[:, 1].astype(np.float32), meta
