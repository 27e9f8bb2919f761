"""The k-mer ridge baseline: what k-mer composition alone predicts of a quantitative target.

The regression counterpart of the k-mer logistic baseline (same k-mer frequency features, see
:func:`chromseq.tl._baselines.kmer_features`): a ridge regression on standardised frequencies,
fitted on the training rows, its penalty chosen on the validation rows. The GC baseline needs no fit
(``obs['gc']`` is the score; only its correlations with the target mean something).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chromseq._metrics_regression import pearson
from chromseq._settings import logger
from chromseq.store import BASELINE_KIND, BASELINE_RIDGE

#: Ridge penalties tried on the validation rows (on standardised k-mer frequencies, summed squared error).
RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6)
#: Penalty used when there are too few validation rows to choose one (the middle of the grid).
DEFAULT_RIDGE_ALPHA = 1e3
#: Fewest labelled validation rows to choose the penalty on.
MIN_VAL_ROWS = 10


def check_alphas(alphas: float | Sequence[float]) -> list[float]:
    """Return the ridge penalties as a sorted list of distinct positive floats; raise a ValueError otherwise."""
    values = sorted({float(a) for a in np.atleast_1d(alphas)})
    if not values or values[0] <= 0 or not np.isfinite(values).all():
        raise ValueError(f"ridge alphas must be positive finite numbers, got {alphas!r}.")
    return values


@dataclass(frozen=True)
class RidgeFit:
    """A ridge regression on standardised features: ``predict(x) = ((x - mean) / scale) @ coef + intercept``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    alpha: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted values ``(N,)`` float64 of ``(N, F)`` features."""
        return ((np.asarray(features, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept


def fit_ridge_model(
    features: np.ndarray,
    y: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray | None = None,
    *,
    alphas: Sequence[float] = RIDGE_ALPHAS,
) -> tuple[RidgeFit, dict]:
    """Fit standardisation + ridge regression on ``train_rows``; choose the penalty on ``val_rows``.

    The same fit as scikit-learn's ``StandardScaler`` then ``Ridge(alpha)`` (intercept not
    penalised), solved for every penalty at once from one eigendecomposition of the ``(F, F)``
    Gram matrix of the standardised training features.

    Parameters
    ----------
    features
        ``(N, F)`` k-mer frequencies (any rows; only ``train_rows`` and ``val_rows`` are used).
    y
        ``(N,)`` observed values, finite on ``train_rows`` and ``val_rows``.
    train_rows, val_rows
        Integer row indices. The penalty with the lowest validation mean squared error is kept;
        with a single penalty, or fewer than :data:`MIN_VAL_ROWS` validation rows,
        :data:`DEFAULT_RIDGE_ALPHA` (or the single one given) is used without choice.
    alphas
        Ridge penalties to try (the weight of ``||w||^2`` against the summed squared error).

    Returns
    -------
    The :class:`RidgeFit` and a dict: ``alpha`` (kept), ``alphas`` (tried), ``val_mse`` (per alpha,
    NaN when not chosen on validation rows), ``val_pearson`` (of the kept fit).
    """
    alphas = check_alphas(alphas)
    x = np.asarray(features[train_rows], dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    x = (x - mean) / scale
    y_train = np.asarray(y[train_rows], dtype=np.float64)
    intercept = float(y_train.mean())
    eigval, eigvec = np.linalg.eigh(x.T @ x)
    projected = eigvec.T @ (x.T @ (y_train - intercept))

    def fit(alpha: float) -> RidgeFit:
        coef = eigvec @ (projected / (np.clip(eigval, 0, None) + alpha))
        return RidgeFit(mean, scale, coef, intercept, alpha)

    has_val = val_rows is not None and len(val_rows) >= MIN_VAL_ROWS
    val_mse = [float("nan")] * len(alphas)
    if len(alphas) > 1 and has_val:
        val_mse = [float(np.mean((fit(a).predict(features[val_rows]) - y[val_rows]) ** 2)) for a in alphas]
        alpha = alphas[int(np.argmin(val_mse))]
    else:
        alpha = alphas[0] if len(alphas) == 1 else DEFAULT_RIDGE_ALPHA
    model = fit(alpha)
    val_r = (
        pearson(y[val_rows], model.predict(features[val_rows])) if val_rows is not None and len(val_rows) else np.nan
    )
    return model, {"alpha": alpha, "alphas": alphas, "val_mse": val_mse, "val_pearson": float(val_r)}


def fit_ridge_target(
    features: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    target: str,
    layer: str,
    *,
    alphas: Sequence[float],
) -> tuple[np.ndarray, dict]:
    """Fit the ridge baseline of one target; return its ``(n_obs,)`` float32 values (NaN if unfitted) and fit record.

    ``train`` and ``val`` are boolean ``(n_obs,)`` masks of the training and validation splits;
    regions with a NaN value are left out of both.
    """
    known = np.isfinite(y)
    train_rows, val_rows = np.flatnonzero(train & known), np.flatnonzero(val & known)
    meta = {
        "model": BASELINE_RIDGE,
        "kind": BASELINE_KIND,
        "target": target,
        "task": "regression",
        "layer": layer,
        "n_train": int(train_rows.size),
        "n_val": int(val_rows.size),
    }
    if train_rows.size < 3 or np.ptp(y[train_rows]) == 0:
        logger.warning(
            "k-mer ridge baseline for %r not fitted: the train split has %d regions with a value%s (need >= 3, "
            "not all equal).",
            target, int(train_rows.size), "" if train_rows.size < 3 else ", all equal",
        )  # fmt: skip
        return np.full(y.shape, np.nan, dtype=np.float32), meta
    model, fit = fit_ridge_model(features, y, train_rows, val_rows, alphas=alphas)
    meta |= fit | {"coef": model.coef.astype(np.float32), "intercept": model.intercept}
    logger.info(
        "k-mer ridge baseline for %r fitted on %d train regions (alpha %g chosen on %d val regions; val Pearson %.3f).",
        target, int(train_rows.size), fit["alpha"], int(val_rows.size), fit["val_pearson"],
    )  # fmt: skip
    return model.predict(features).astype(np.float32), meta
