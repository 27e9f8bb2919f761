"""The k-mer ridge baseline: what k-mer composition alone predicts of a quantitative target.

The regression counterpart of the k-mer logistic baseline (same k-mer frequency features, see
:func:`chromseq.tl._baselines.kmer_features`): a ridge regression on standardised frequencies,
fitted on the training rows, its penalty chosen on the validation rows. The GC baseline needs no fit
(``obs['gc']`` is the score; only its correlations with the target mean something).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chromseq._metrics_regression import pearson
from chromseq._settings import logger
from chromseq.store import BASELINE_KIND, BASELINE_RIDGE

#: Ridge penalties tried on the validation rows (on standardised k-mer frequencies, summed squared error).
RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
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


def fit_ridge_model(
    features: np.ndarray,
    y: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray | None = None,
    *,
    alphas: Sequence[float] = RIDGE_ALPHAS,
):
    """Fit standardisation + ridge regression on ``train_rows``; choose the penalty on ``val_rows``.

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
        Ridge penalties to try (sklearn's ``alpha``: ``||w||^2`` weight against the summed squared error).

    Returns
    -------
    The fitted sklearn pipeline and a dict: ``alpha`` (kept), ``alphas`` (tried), ``val_mse`` (per
    alpha, NaN when not chosen on validation rows), ``val_pearson`` (of the kept fit).
    """
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    alphas = check_alphas(alphas)
    scaler = StandardScaler().fit(features[train_rows])
    x_train = scaler.transform(features[train_rows])
    choose = len(alphas) > 1 and val_rows is not None and len(val_rows) >= MIN_VAL_ROWS
    val_mse = [float("nan")] * len(alphas)
    if choose:
        x_val = scaler.transform(features[val_rows])
        fits = [Ridge(alpha=a).fit(x_train, y[train_rows]) for a in alphas]
        val_mse = [float(np.mean((f.predict(x_val) - y[val_rows]) ** 2)) for f in fits]
        best = int(np.argmin(val_mse))
        alpha, ridge = alphas[best], fits[best]
    else:
        alpha = alphas[0] if len(alphas) == 1 else DEFAULT_RIDGE_ALPHA
        ridge = Ridge(alpha=alpha).fit(x_train, y[train_rows])
    model = make_pipeline(scaler, ridge)
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
    meta |= fit | {"coef": model[-1].coef_.ravel().astype(np.float32), "intercept": float(model[-1].intercept_)}
    logger.info(
        "k-mer ridge baseline for %r fitted on %d train regions (alpha %g chosen on %d val regions; val Pearson %.3f).",
        target, int(train_rows.size), fit["alpha"], int(val_rows.size), fit["val_pearson"],
    )  # fmt: skip
    return model.predict(features).astype(np.float32), meta
