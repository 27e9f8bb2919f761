"""``pp.aggregate_celltypes``: a single-cell peak matrix (cells x peaks) to regions x cell types."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from chromseq import _keys as K
from chromseq._regions import coordinates, region_names
from chromseq._settings import logger


def aggregate_celltypes(
    adata: AnnData,
    groupby: str,
    *,
    layer: str | None = None,
    threshold: float | tuple[float, float] | None = 0.05,
    min_cells: int = 20,
) -> AnnData:
    """Aggregate a single-cell ATAC peak matrix (cells x peaks) into regions x cell types labels.

    For each cell type (a category of ``adata.obs[groupby]``) and peak, the fraction of the type's
    cells with at least one count in the peak is the accessibility signal. The label of a peak in a
    cell type is derived from that fraction by a threshold rule:

    - ``threshold=t``: open (1) when the fraction is ``>= t``, closed (0) otherwise;
    - ``threshold=(low, high)``: open when ``>= high``, closed when ``< low``, unknown (NaN) in
      between, so that peaks with ambiguous evidence are left out of training and evaluation;
    - ``threshold=None``: no labels: ``X`` is the fraction itself, the quantitative target of
      regression (``task='regression'``), optionally normalized with
      :func:`~chromseq.pp.normalize_targets`.

    Cells with a missing ``groupby`` value are left out; cell types with fewer than ``min_cells``
    cells are dropped (their fractions are too noisy for labels), both with a log line.
    The counting is :func:`scanpy.get.aggregate` with ``func='count_nonzero'``, sparse-aware.

    Parameters
    ----------
    adata
        Cells x peaks AnnData as from scanpy, snapATAC2, Signac/ArchR exports or 10x: counts or
        binary, dense or sparse, non-negative. Peak coordinates come from ``var`` columns
        ``chrom`` (or ``chr``, ``seqnames``), ``start``, ``end``, else from ``var_names`` such as
        ``chr1:100-600`` or ``chr1-100-600``. They are taken as 0-based, half-open (bp, as in BED):
        subtract 1 from ``start`` first if your tool writes 1-based starts (GRanges). Not modified.
    groupby
        Column of ``adata.obs`` with the cell type of each cell.
    layer
        Layer to count instead of ``X``.
    threshold
        Fraction of a cell type's cells open at a peak (0 to 1) above which the peak is labelled
        open in that cell type, or a ``(low, high)`` pair with an unknown band in between; ``None``
        keeps the fraction as the target.
    min_cells
        Smallest number of cells a cell type needs to be kept.

    Returns
    -------
    A new regions x cell types AnnData (``obs_names`` ``chrom:start-end``) with ``X`` float32 labels
    (with ``threshold=None``: float32 fraction of the type's cells open, 0 to 1),
    ``layers['signal']`` (float32 fraction of cells open), ``obs['chrom']`` (categorical),
    ``obs['start']``, ``obs['end']`` (int64), ``obs['open']`` (open in some cell type; with
    ``threshold=None``: some cell of a kept type has a count in the peak),
    ``obs['background']`` (all False), the other ``var`` columns of ``adata`` in ``obs``,
    ``var['n_cells']`` (cells per type) and the parameters in
    ``uns['chromseq']['params']['aggregate_celltypes']``.

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> counts = np.array([[1, 0], [2, 0], [0, 1], [0, 3]])
    >>> cells = ad.AnnData(counts, obs=pd.DataFrame({"cell_type": ["B", "B", "T", "T"]}, index=list("abcd")))
    >>> cells.var_names = ["chr1:100-600", "chr1:900-1400"]
    >>> regions = chromseq.pp.aggregate_celltypes(cells, "cell_type", threshold=0.5, min_cells=1)
    >>> regions.X.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> chromseq.pp.aggregate_celltypes(cells, "cell_type", threshold=None, min_cells=1).X.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    bounds = None if threshold is None else _check_threshold(threshold)
    coords, _ = coordinates(adata.var, what="adata.var")
    names = region_names(coords[K.CHROM], coords[K.START], coords[K.END])
    if names.has_duplicates:
        raise ValueError(f"adata.var has duplicated regions (e.g. {names[names.duplicated()][0]!r}): merge them first.")
    cells = _cells_to_count(adata, groupby, layer)
    counts, n_cells = _count_open(cells, groupby, layer, min_cells)
    fraction = (counts / n_cells.to_numpy()[None, :]).astype(np.float32)
    labels = _labels(fraction, bounds)
    obs = _regions_obs(adata.var, coords, names, labels if bounds else (fraction > 0).astype(np.float32))
    var = pd.DataFrame({K.N_CELLS: n_cells.to_numpy(dtype=np.int64)}, index=n_cells.index.astype(str))
    out = AnnData(labels, obs=obs, var=var, layers={K.SIGNAL: fraction})
    params = {
        "groupby": groupby,
        "layer": layer or "X",
        "threshold": list(bounds) if bounds else "none (X is the fraction of cells open)",
        "min_cells": int(min_cells),
    }
    out.uns[K.UNS] = {K.UNS_PARAMS: {"aggregate_celltypes": params}}
    logger.info(
        "aggregate_celltypes: %d cells into %d regions x %d cell types; wrote X (%s), "
        "layers[%r], obs[%r, %r, %r, %r, %r], var[%r], uns[%r][%r]",
        int(n_cells.sum()),
        out.n_obs,
        out.n_vars,
        _summary(labels, bounds),
        K.SIGNAL,
        K.CHROM,
        K.START,
        K.END,
        K.OPEN,
        K.BACKGROUND,
        K.N_CELLS,
        K.UNS,
        K.UNS_PARAMS,
    )
    return out


def _labels(fraction: np.ndarray, bounds: tuple[float, float] | None) -> np.ndarray:
    """X: 1/0/NaN labels by the threshold rule, or (``bounds=None``) a float32 copy of the fraction."""
    if bounds is None:
        return fraction.copy()
    low, high = bounds
    return np.where(fraction >= high, 1.0, np.where(fraction < low, 0.0, np.nan)).astype(np.float32)


def _summary(x: np.ndarray, bounds: tuple[float, float] | None) -> str:
    if not x.size:
        return "empty"
    if bounds is None:
        return f"fraction of cells open, mean {float(x.mean()):.3f}"
    return f"labels, {100 * float(np.nanmean(x == 1)):.1f}% open, {100 * float(np.isnan(x).mean()):.1f}% unknown"


def _check_threshold(threshold: float | tuple[float, float]) -> tuple[float, float]:
    low, high = (threshold, threshold) if np.isscalar(threshold) else tuple(threshold)
    if not 0 < low <= high <= 1:
        raise ValueError(
            f"threshold must be a fraction in (0, 1], a (low, high) pair with 0 < low <= high <= 1, or None (X is the "
            f"fraction of cells open), got {threshold!r}."
        )
    return float(low), float(high)


def _cells_to_count(adata: AnnData, groupby: str, layer: str | None) -> AnnData:
    """Check the inputs; return ``adata`` or, when some cells have no cell type, the view of the others."""
    if groupby not in adata.obs.columns:
        raise KeyError(
            f"adata.obs[{groupby!r}] is missing: pass the obs column with each cell's type ({list(adata.obs.columns)})."
        )
    if layer is not None and layer not in adata.layers:
        raise KeyError(
            f"layer {layer!r} is not in adata.layers ({list(adata.layers)}); pass one of them or None for X."
        )
    matrix = adata.X if layer is None else adata.layers[layer]
    values = matrix.data if sparse.issparse(matrix) else np.asarray(matrix)
    if values.size and (np.isnan(values).any() or values.min() < 0):
        raise ValueError("the peak matrix has negative or NaN entries: give counts or binary accessibility (>= 0).")
    known = adata.obs[groupby].notna().to_numpy()
    if not known.any():
        raise ValueError(f"adata.obs[{groupby!r}] has no values: every cell needs a cell type.")
    if known.all():
        return adata
    logger.info("aggregate_celltypes: %d cells without a %r value left out", int((~known).sum()), groupby)
    return adata[known]


def _count_open(cells: AnnData, groupby: str, layer: str | None, min_cells: int) -> tuple[np.ndarray, pd.Series]:
    """Cells open per peak and type ((n_peaks, n_types) float) and cells per type, for types with enough cells."""
    import scanpy as sc

    column = cells.obs[groupby]
    groups = column.astype(str)
    found = groups.value_counts()
    order = (
        [str(c) for c in column.cat.categories]
        if isinstance(column.dtype, pd.CategoricalDtype)
        else sorted(found.index)
    )
    n_cells = found.reindex([name for name in order if name in found.index])
    small = n_cells.index[n_cells < min_cells]
    if len(small):
        logger.warning(
            "aggregate_celltypes: cell types %s have fewer than min_cells=%d cells: dropped", list(small), min_cells
        )
    kept = n_cells.index[n_cells >= min_cells]
    if not len(kept):
        raise ValueError(
            f"no cell type has min_cells={min_cells} cells (the largest has {int(n_cells.max())}): lower min_cells."
        )
    mask = groups.isin(kept).to_numpy()
    grouped = sc.get.aggregate(cells, groupby, func="count_nonzero", layer=layer, mask=None if mask.all() else mask)
    counts = pd.DataFrame(np.asarray(grouped.layers["count_nonzero"]), index=grouped.obs_names.astype(str))
    return counts.loc[kept].to_numpy().T, n_cells.loc[kept]


def _regions_obs(var: pd.DataFrame, coords: pd.DataFrame, names: pd.Index, labels: np.ndarray) -> pd.DataFrame:
    """Region annotations: coordinates, ``open``, ``background``, then the peaks' other columns."""
    obs = pd.DataFrame(
        {
            K.CHROM: pd.Categorical(coords[K.CHROM].to_numpy(), categories=pd.unique(coords[K.CHROM])),
            K.START: coords[K.START].to_numpy(),
            K.END: coords[K.END].to_numpy(),
            K.OPEN: (labels == 1).any(axis=1),
            K.BACKGROUND: np.zeros(len(coords), dtype=bool),
        },
        index=names,
    )
    extra = [c for c in var.columns if c not in obs.columns and c not in ("chr", "seqnames")]
    for col in extra:
        obs[col] = var[col].to_numpy()
    return obs
