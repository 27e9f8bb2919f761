"""``pp.normalize_targets``: scale quantitative targets (regions x cell types) per cell type."""

from __future__ import annotations

from typing import Literal

import numpy as np
from anndata import AnnData

from chromseq import _keys as K
from chromseq import store
from chromseq._anndata import writable
from chromseq._settings import logger

Method = Literal["cpm", "log1p", "cpm_log1p", "quantile", "rank", "zscore"]

#: What each method does, in words (the ``description`` recorded in ``uns['chromseq']['transforms']``).
DESCRIPTIONS = {
    "cpm": "counts per million: each cell type's values divided by their sum over regions and multiplied by 1e6",
    "log1p": "log1p: the natural logarithm of 1 + value",
    "cpm_log1p": "log1p of counts per million: each cell type scaled to sum to 1e6 over regions, then ln(1 + value)",
    "quantile": "quantile-normalized: each value replaced by the mean over cell types of the value at the same "
    "quantile, so that every cell type has the same distribution",
    "rank": "rank within the cell type scaled to [0, 1]: (rank - 1) / (n - 1), ties averaged (0 lowest, 1 highest)",
    "zscore": "z-score within the cell type: (value - mean) / standard deviation over regions",
}
#: Methods that need values >= 0 (counts, signal).
NON_NEGATIVE = ("cpm", "log1p", "cpm_log1p")
#: The single steps a method applies (checked against those applied before: one scaling to CPM, one log).
STEPS = {"cpm_log1p": ("cpm", "log1p")}
SCALE = 1e6


def normalize_targets(
    adata: AnnData,
    method: Method = "cpm_log1p",
    *,
    layer: str | None = None,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Normalize quantitative targets (signal, counts) per cell type, as regression models learn them best.

    Every method works on each cell type (a column) over the regions (the rows) of ``adata``, and
    leaves unknown values (NaN) NaN and out of every sum, mean and rank:

    - ``'cpm'``: counts per million, ``x / sum(x) * 1e6``: removes differences in sequencing
      depth (or in the number of cells) between cell types. Needs values >= 0.
    - ``'log1p'``: ``ln(1 + x)``: compresses the range of counts, so that a few very strong regions
      do not dominate a squared-error loss. Needs values >= 0.
    - ``'cpm_log1p'`` (default): CPM, then ``log1p``: the usual target for MSE regression on counts.
    - ``'quantile'``: quantile normalization (Bolstad et al. 2003): each value is replaced by the
      mean over cell types of the value at the same quantile (average rank for ties), so that all
      cell types share one distribution and differ only in which regions are high.
    - ``'rank'``: ``(rank - 1) / (n - 1)`` within the cell type (ties averaged): 0 for the lowest
      region, 1 for the highest; robust to outliers and to any monotone distortion of the signal.
    - ``'zscore'``: ``(x - mean) / std`` within the cell type (population standard deviation).

    Do not normalize for the Poisson loss, which models counts: pass it the raw counts.

    Parameters
    ----------
    adata
        Regions x cell types AnnData with quantities in ``X`` or ``layers[layer]`` (float, NaN unknown).
    method
        One of ``'cpm'``, ``'log1p'``, ``'cpm_log1p'``, ``'quantile'``, ``'rank'``, ``'zscore'``.
    layer
        Layer to normalize instead of ``X``.
    key_added
        Write the result to ``layers[key_added]`` and leave the source (``X`` or ``layer``) unchanged.
        ``None`` (default): replace the source's values.
    copy
        Return a normalized copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets the following fields:

    ``adata.X``, ``adata.layers[layer]`` or ``adata.layers[key_added]`` : float32 ``(n_obs, n_vars)``
        The normalized values (dense), NaN where the source is NaN.
    ``adata.uns['chromseq']['transforms'][target]`` : dict
        ``target`` is ``'X'`` or the layer name written: ``method``, ``description`` (in words),
        ``source`` (``'X'`` or the layer read), ``steps`` (every method applied so far, oldest
        first). The training verbs record the description with the model.

    Raises
    ------
    ValueError
        Infinite values; negative values for ``'cpm'``/``'log1p'``; values that are only 0, 1 and
        NaN (labels, not quantities); a cell type with nothing to scale (CPM of all zeros, a z-score
        of a constant); a method already applied to the source (CPM twice). Checked before anything
        is written: ``adata`` is unchanged on an error.
    KeyError
        ``layer`` is not in ``adata.layers``.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> adata = ad.AnnData(np.array([[1.0, 0.0], [3.0, 2.0]], dtype=np.float32))
    >>> chromseq.pp.normalize_targets(adata, "cpm")
    >>> adata.X.tolist()
    [[250000.0, 0.0], [750000.0, 1000000.0]]
    """
    if method not in DESCRIPTIONS:
        raise ValueError(f"method must be one of {list(DESCRIPTIONS)}, got {method!r}.")
    source = store.source_name(layer)
    target = _check_key_added(adata, key_added, source)
    values = _source_values(adata, layer)
    _check_values(values, method, list(map(str, adata.var_names)), source)
    steps = _check_steps(adata, method, source)
    result = _normalize(values, method, list(map(str, adata.var_names)), source)
    adata = writable(adata, copy, "normalize_targets")
    _write(adata, target, result)
    before = store.target_transform(adata, source)
    description = DESCRIPTIONS[method] + (f", of values that were {before}" if before else "")
    store.write_transform(
        adata, target, {"method": method, "description": description, "source": source, "steps": steps}
    )
    where = "X" if target == store.X_SOURCE else f"layers[{target!r}]"
    logger.info(
        "normalize_targets: %s of %s -> %s; wrote %s, uns[%r][%r][%r]",
        method, source, where, where, K.UNS, K.UNS_TRANSFORMS, target,
    )  # fmt: skip
    return adata if copy else None


def _check_key_added(adata: AnnData, key_added: str | None, source: str) -> str:
    """Return the target written: the source, or ``key_added`` (a new layer, or one this function wrote before)."""
    if key_added is None:
        return source
    if not isinstance(key_added, str) or not key_added or key_added in (store.X_SOURCE, source):
        raise ValueError(
            f"key_added={key_added!r} must be a new layer name other than 'X' and the source {source!r}; pass "
            "key_added=None to normalize the source in place."
        )
    if key_added in adata.layers and store.transform_record(adata, key_added) is None:
        raise ValueError(
            f"layers[{key_added!r}] exists and was not written by normalize_targets: pass another key_added, or "
            f"del adata.layers[{key_added!r}] first."
        )
    return key_added


def _source_values(adata: AnnData, layer: str | None) -> np.ndarray:
    """``(n_obs, n_vars)`` float64 copy of ``X`` or ``layers[layer]``."""
    if layer is not None and layer not in adata.layers:
        raise KeyError(
            f"layer {layer!r} is not in adata.layers ({list(adata.layers)}); pass one of them, or layer=None for X."
        )
    matrix = adata.X if layer is None else adata.layers[layer]
    if matrix is None:
        raise ValueError("adata.X is empty: read targets with chromseq.pp.read_regions(..., value=...) first.")
    matrix = matrix.toarray() if hasattr(matrix, "toarray") else matrix
    return np.array(matrix, dtype=np.float64)


def _check_values(values: np.ndarray, method: str, names: list[str], source: str) -> None:
    finite = values[~np.isnan(values)]
    if np.isinf(finite).any():
        column = names[int(np.argmax(np.isinf(values).any(axis=0)))]
        raise ValueError(
            f"{source} holds infinite values (cell type {column!r}): set them to NaN (unknown) or a finite value first."
        )
    if finite.size == 0:
        raise ValueError(f"{source} holds no values (all NaN): nothing to normalize.")
    if np.isin(finite, (0.0, 1.0)).all():
        raise ValueError(
            f"{source} holds only 0, 1 and NaN: these are labels; normalization is for quantities. Read a quantity "
            "(chromseq.pp.read_regions(..., value='signalValue'), aggregate_celltypes(..., threshold=None)) or "
            "normalize layer='signal'."
        )
    if method in NON_NEGATIVE and (finite < 0).any():
        column = names[int(np.argmax((values < 0).any(axis=0)))]
        raise ValueError(
            f"{source} holds negative values (cell type {column!r}, min {finite.min():g}): method={method!r} needs "
            "counts or signal >= 0; use method='zscore', 'rank' or 'quantile' for values that can be negative."
        )


def _check_steps(adata: AnnData, method: str, source: str) -> list[str]:
    """Every step applied to the source so far plus ``method``'s; refuse to apply one twice."""
    done = store.applied_steps(adata, source)
    new = list(STEPS.get(method, (method,)))
    again = [s for s in new if s in done]
    if again:
        raise ValueError(
            f"{source} was already normalized with {done} (uns['chromseq']['transforms'][{source!r}]): applying "
            f"{again[0]!r} again would scale twice. Normalize the values as read (keep them with key_added=...), "
            "or use another method."
        )
    return done + new


def _normalize(values: np.ndarray, method: str, names: list[str], source: str) -> np.ndarray:
    if method in ("cpm", "cpm_log1p"):
        values = _cpm(values, names, source)
    if method in ("log1p", "cpm_log1p"):
        return np.log1p(values)
    if method == "quantile":
        return _quantile(values)
    if method == "rank":
        return _rank(values)
    if method == "zscore":
        return _zscore(values, names, source)
    return values


def _cpm(values: np.ndarray, names: list[str], source: str) -> np.ndarray:
    known = ~np.isnan(values).all(axis=0)  # a cell type with no known value stays NaN
    total = np.where(known, np.nansum(values, axis=0), 1.0)
    empty = total <= 0
    if empty.any():
        raise ValueError(
            f"{source}: cell type {names[int(np.argmax(empty))]!r} sums to 0 over the regions: CPM cannot scale it. "
            "Drop it (adata[:, adata.var_names != name]) or use method='log1p'."
        )
    return values / total * SCALE


def _zscore(values: np.ndarray, names: list[str], source: str) -> np.ndarray:
    known = ~np.isnan(values).all(axis=0)  # a cell type with no known value stays NaN
    mean, std = np.zeros(values.shape[1]), np.ones(values.shape[1])
    mean[known] = np.nanmean(values[:, known], axis=0)
    std[known] = np.nanstd(values[:, known], axis=0)
    flat = ~(std > 0)
    if flat.any():
        raise ValueError(
            f"{source}: cell type {names[int(np.argmax(flat))]!r} has the same value in every region (no variance): "
            "a z-score is undefined; drop the cell type or use method='rank'."
        )
    return (values - mean) / std


def _average_ranks(column: np.ndarray) -> np.ndarray:
    """0-based average ranks of the non-NaN values of ``column`` (NaN stays NaN)."""
    from scipy.stats import rankdata

    ranks = np.full(column.shape, np.nan)
    known = ~np.isnan(column)
    ranks[known] = rankdata(column[known], method="average") - 1
    return ranks


def _rank(values: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    for j in range(values.shape[1]):  # one vectorized rank per cell type
        ranks = _average_ranks(values[:, j])
        n = int((~np.isnan(ranks)).sum())
        out[:, j] = ranks / (n - 1) if n > 1 else np.where(np.isnan(ranks), np.nan, 0.5)
    return out


def _quantile(values: np.ndarray) -> np.ndarray:
    """Quantile normalization with NaN: each column's quantile function on a common grid, averaged over columns.

    Without NaN and ties this is the classic algorithm: sorted values averaged across columns, given
    back by rank. A column with fewer known values reads the common quantile function at its own quantiles.
    """
    counts = (~np.isnan(values)).sum(axis=0)
    size = int(counts.max())
    grid = np.linspace(0.0, 1.0, size) if size > 1 else np.array([0.5])
    quantiles = np.full((size, values.shape[1]), np.nan)
    for j in np.flatnonzero(counts):
        known = np.sort(values[~np.isnan(values[:, j]), j])
        quantiles[:, j] = np.interp(grid, _positions(len(known)), known)
    reference = np.nanmean(quantiles, axis=1)
    out = np.full_like(values, np.nan)
    for j in np.flatnonzero(counts):
        ranks = _average_ranks(values[:, j])
        known = ~np.isnan(ranks)
        out[known, j] = np.interp(ranks[known] / max(counts[j] - 1, 1), grid, reference)
        if counts[j] == 1:
            out[known, j] = np.interp(0.5, grid, reference)
    return out


def _positions(n: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5])


def _write(adata: AnnData, target: str, result: np.ndarray) -> None:
    result = result.astype(np.float32)
    if target == store.X_SOURCE:
        adata.X = result
    else:
        adata.layers[target] = result
