"""Binary classification metrics on plain arrays (no AnnData).

The one place where chromseq turns labels and scores into numbers, so that
:func:`chromseq.tl.evaluate` and the plots (:func:`chromseq.pl.roc`,
:func:`chromseq.pl.pr`) always agree.
"""

from __future__ import annotations

import numpy as np

#: Metric columns of :func:`binary_metrics`, in table order.
METRIC_COLUMNS = ("n", "n_pos", "auroc", "auprc", "f1_at_05", "f1_best", "best_threshold", "accuracy")


def clean(y_true, y_score) -> tuple[np.ndarray, np.ndarray, int]:
    """Drop rows whose label or score is NaN.

    Parameters
    ----------
    y_true
        ``(N,)`` labels, 1 positive, 0 negative, NaN unknown (bool accepted).
    y_score
        ``(N,)`` scores, higher meaning more likely positive; NaN where not computed.

    Returns
    -------
    The kept labels as ``(n,)`` int8, the kept scores as ``(n,)`` float64, and the number of rows dropped.
    """
    y = np.asarray(y_true, dtype=np.float64).ravel()
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape[0]} vs {s.shape[0]}.")
    keep = ~(np.isnan(y) | np.isnan(s))
    y, s = y[keep], s[keep]
    bad = (y != 0) & (y != 1)
    if bad.any():
        raise ValueError(f"labels must be 0, 1 or NaN; found {np.unique(y[bad])[:5].tolist()}.")
    return y.astype(np.int8), s, int((~keep).sum())


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else float("nan")


def best_f1(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """Return the highest F1 over all thresholds and the threshold reaching it (predict ``s >= threshold``).

    ``(nan, nan)`` when there is no positive.
    """
    from sklearn.metrics import precision_recall_curve

    if not np.any(y == 1):
        return float("nan"), float("nan")
    precision, recall, thresholds = precision_recall_curve(y, s)
    precision, recall = precision[:-1], recall[:-1]  # the last point (P=1, R=0) has no threshold
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    i = int(np.argmax(f1))
    return float(f1[i]), float(thresholds[i])


def binary_metrics(y_true, y_score, *, threshold: float = 0.5) -> dict[str, float | int]:
    """Compute the chromseq metrics of one score against binary labels.

    Rows with a NaN label or score are left out. With a single class present,
    the ranking metrics (AUROC, AUPRC) are NaN; F1 is NaN when it is undefined
    (no positive among labels and predictions).

    Parameters
    ----------
    y_true
        ``(N,)`` labels, 1 positive, 0 negative, NaN unknown.
    y_score
        ``(N,)`` scores (probabilities for models; any monotone score works for AUROC/AUPRC).
    threshold
        Scores ``>= threshold`` count as positive for ``f1_at_05`` and ``accuracy``.

    Returns
    -------
    dict with keys :data:`METRIC_COLUMNS`: ``n`` (rows used), ``n_pos``, ``auroc``, ``auprc``
    (average precision), ``f1_at_05``, ``f1_best`` and ``best_threshold`` (F1-maximising threshold),
    ``accuracy``.

    Examples
    --------
    >>> binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])["auroc"]
    0.75
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, s, _ = clean(y_true, y_score)
    n, n_pos = int(y.size), int(y.sum())
    out: dict[str, float | int] = dict.fromkeys(METRIC_COLUMNS, float("nan"))
    out.update(n=n, n_pos=n_pos)
    if n == 0:
        return out
    pred = s >= threshold
    out["f1_at_05"] = _f1(y, pred)
    out["accuracy"] = float(np.mean(pred == (y == 1)))
    out["f1_best"], out["best_threshold"] = best_f1(y, s)
    if 0 < n_pos < n:
        out["auroc"] = float(roc_auc_score(y, s))
        out["auprc"] = float(average_precision_score(y, s))
    return out


def best_index(history: dict[str, list], monitor: str = "val_loss") -> int:
    """Return the index of the epoch whose weights training kept (first of ties).

    ``history`` is a model's per-epoch history; ``monitor`` what early stopping followed:
    ``'val_loss'`` (lowest kept) or ``'val_auroc'`` (highest kept).
    """
    values = np.asarray(history[monitor], dtype=float)
    return int(np.argmin(values) if monitor == "val_loss" else np.argmax(values))


def kept_index(history: dict[str, list], params: dict) -> int:
    """Return the index in ``history`` of the epoch whose weights training kept.

    The training engine decides it once (``FitResult.best_epoch``: the best epoch of the last
    stage) and the training verbs record it in the model's ``params['best_epoch']``: the training
    log, the model card and the transfer table read it here. Records written before it was
    recorded fall back to :func:`best_index` of ``params['monitor']``.
    """
    epochs = [int(e) for e in history["epoch"]]
    if "best_epoch" in params and int(params["best_epoch"]) in epochs:
        return epochs.index(int(params["best_epoch"]))
    return best_index(history, str(params.get("monitor", "val_loss")))
