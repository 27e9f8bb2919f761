"""Regression metrics on plain arrays (no AnnData): Pearson, Spearman and MSE, per target and per region.

The one place where chromseq turns observed quantities and predicted values into numbers, so that
:func:`chromseq.tl.evaluate`, :func:`chromseq.tl.transfer_benchmark` and the plots agree.

- *Per target* (:func:`regression_metrics`): one cell type's values across regions.
- *Specificity* (:func:`specificity_metrics`): for each region, the vector of its values over the
  cell types; the per-region correlations are summarised by their mean and median over regions.
"""

from __future__ import annotations

import numpy as np

#: Metric columns of :func:`regression_metrics` and :func:`specificity_metrics`, in table order.
REGRESSION_METRIC_COLUMNS = ("pearson", "spearman", "mse", "pearson_median", "spearman_median", "n_targets")


def clean_pairs(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Keep the rows where both the observed and the predicted value are finite.

    Parameters
    ----------
    y_true, y_pred
        ``(N,)`` observed and predicted values (NaN: unknown / not predicted).

    Returns
    -------
    The kept ``(n,)`` float64 observed and predicted values.
    """
    y = np.asarray(y_true, dtype=np.float64).ravel()
    s = np.asarray(y_pred, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"observed and predicted values differ in length: {y.shape[0]} vs {s.shape[0]}.")
    keep = np.isfinite(y) & np.isfinite(s)
    return y[keep], s[keep]


def rank_average(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Ranks (1-based) along ``axis``, tied values getting the average of their ranks (as ``scipy.stats.rankdata``)."""
    from scipy.stats import rankdata

    return rankdata(np.asarray(x, dtype=np.float64), method="average", axis=axis)


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of each row of ``a`` with the same row of ``b``: ``(..., n)`` -> ``(...)``; NaN for a constant row."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    da = a - a.mean(axis=-1, keepdims=True)
    db = b - b.mean(axis=-1, keepdims=True)
    denom = np.sqrt((da * da).sum(axis=-1) * (db * db).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (da * db).sum(axis=-1) / denom
    return np.where(denom > 0, np.clip(r, -1.0, 1.0), np.nan)


def pearson(y_true, y_pred) -> float:
    """Pearson r of the finite pairs; NaN with fewer than 2 pairs or a constant side."""
    y, s = clean_pairs(y_true, y_pred)
    return float(pearson_rows(y, s)) if y.size >= 2 else float("nan")


def spearman(y_true, y_pred) -> float:
    """Spearman rho of the finite pairs (Pearson r of the average ranks); NaN as :func:`pearson`."""
    y, s = clean_pairs(y_true, y_pred)
    return float(pearson_rows(rank_average(y), rank_average(s))) if y.size >= 2 else float("nan")


def regression_metrics(y_true, y_pred, *, mse: bool = True) -> dict[str, float | int]:
    """Pearson, Spearman and MSE of one prediction against observed values, across regions.

    Rows where either value is NaN (or infinite) are left out. With fewer than 2 rows left, or a
    constant observed or predicted vector, the correlations are NaN.

    Parameters
    ----------
    y_true
        ``(N,)`` observed values in the target's units; NaN unknown.
    y_pred
        ``(N,)`` predicted values in the same units (any score for the correlations).
    mse
        Compute the mean squared error (``False`` for scores in other units, e.g. the GC fraction).

    Returns
    -------
    dict: ``n`` (pairs used), ``n_pos`` (of those, observed > 0), ``pearson``, ``spearman``, ``mse``,
    ``pearson_median`` and ``spearman_median`` (NaN: they summarise specificity rows only) and
    ``n_targets`` (1).

    Examples
    --------
    >>> round(regression_metrics([1, 2, 3, 4], [1, 3, 2, 4])["spearman"], 2)
    0.8
    """
    y, s = clean_pairs(y_true, y_pred)
    out: dict[str, float | int] = dict.fromkeys(REGRESSION_METRIC_COLUMNS, float("nan"))
    out.update(n=int(y.size), n_pos=int((y > 0).sum()), n_targets=1)
    if y.size and mse:
        out["mse"] = float(np.mean((y - s) ** 2))
    if y.size >= 2:
        out["pearson"] = float(pearson_rows(y, s))
        out["spearman"] = float(pearson_rows(rank_average(y), rank_average(s)))
    return out


def specificity_metrics(y_true, y_pred) -> dict[str, float | int]:
    """How well predictions rank the cell types within each region (cell-type specificity).

    For each region (row), the observed vector over the cell types is correlated with the
    predicted one (Pearson, and Spearman with average ranks for ties). Only regions with every
    value finite are used; a region whose observed or predicted vector is constant has no
    correlation and is left out. With 2 cell types each region's r is +1 or -1.

    Parameters
    ----------
    y_true, y_pred
        ``(N, T)`` observed and predicted values of N regions in T >= 2 cell types.

    Returns
    -------
    dict: ``n`` (regions with a correlation), ``n_pos`` (of those, regions with an observed value > 0
    in some cell type), ``pearson`` / ``spearman`` (mean of the per-region correlations),
    ``pearson_median`` / ``spearman_median`` (their median), ``mse`` (mean over those regions and
    every cell type of the squared error) and ``n_targets`` (T).

    Examples
    --------
    >>> specificity_metrics([[1, 2, 3], [3, 1, 0]], [[0, 1, 5], [2, 1, 0]])["spearman"]
    1.0
    """
    y = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(y_pred, dtype=np.float64)
    if y.ndim != 2 or y.shape != s.shape or y.shape[1] < 2:
        raise ValueError(
            f"specificity needs (regions, cell types) arrays of the same shape with >= 2 cell types; got {y.shape} "
            f"and {s.shape}."
        )
    complete = np.isfinite(y).all(axis=1) & np.isfinite(s).all(axis=1)
    y, s = y[complete], s[complete]
    r = pearson_rows(y, s)
    rho = pearson_rows(rank_average(y, axis=1), rank_average(s, axis=1))
    used = np.isfinite(r)
    out: dict[str, float | int] = dict.fromkeys(REGRESSION_METRIC_COLUMNS, float("nan"))
    out.update(n=int(used.sum()), n_pos=int((y[used] > 0).any(axis=1).sum()), n_targets=int(y.shape[1]))
    if used.any():
        out.update(
            pearson=float(np.mean(r[used])),
            spearman=float(np.mean(rho[used])),
            pearson_median=float(np.median(r[used])),
            spearman_median=float(np.median(rho[used])),
            mse=float(np.mean((y[used] - s[used]) ** 2)),
        )
    return out
