"""``pp.read_regions``: per-cell-type region files (or a ready table) -> regions x cell types AnnData."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from chromseq import _keys as K
from chromseq._regions import one_spelling, region_names
from chromseq._settings import logger
from chromseq._validate import uns_chromseq

from ._bed import RegionFile, chrom_order, read_region_file
from ._region_table import TABLE_VALUES, read_table

Merge = Literal["auto", "exact", "overlap"]
PathLike = str | os.PathLike


def read_regions(
    regions: Mapping[str, PathLike] | Sequence[tuple[str, PathLike]] | pd.DataFrame | PathLike,
    *,
    width: int | None = 600,
    merge: Merge = "auto",
    specific: bool | None = None,
    value: str | int | None = None,
) -> AnnData:
    """Read accessible regions of several cell types into one regions x cell types AnnData.

    Parameters
    ----------
    regions
        Either one file per cell type, as ``{celltype: path}`` (or ``(celltype, path)`` pairs), or a
        ready table of regions x cell types (a DataFrame or a CSV path). Files may be gzipped and are:

        * BED / BED6 / narrowPeak peaks (the narrowPeak summit, column 10, is used when set);
        * ChromTransfer label files: BED6+1 whose 7th column is ``<CELL>`` (open), ``<CELL>_NEG``
          (an accessible element closed in this cell type) or ``Negative`` (shared background),
          or the CSV form ``chrom:start-end,LABEL``. Labels match the cell type name
          case-insensitively (the HepG2 file says ``HEPG2``).

        A table has columns ``chrom``, ``start``, ``end`` plus one column per cell type, or region
        names ``chrom:start-end`` as index (first CSV column), with values 1, 0 or empty (unknown).
    width
        Width (bp) of every region: windows are centred on the summit, or the centre, of each input
        region. ``None`` keeps the regions as read.
    merge
        How regions from different cell types become one row:

        * ``'exact'``: identical windows (after resizing) are one region; distinct windows stay
          distinct even when they overlap. For inputs that share a region universe
          (ChromTransfer files).
        * ``'overlap'``: consensus peaks by iterative overlap removal (Corces et al., Science 2018):
          peaks of all cell types are ranked by significance within their own file (narrowPeak
          p-value, else BED score; as a percentile so files are comparable), the best window is
          kept, every window overlapping it is dropped, and so on. A cell type is open (1) in a
          consensus region when one of its summits (or centres) lies inside it, else closed (0).
        * ``'auto'``: ``'exact'`` for ChromTransfer files, ``'overlap'`` for peak files.
    specific
        Positives are cell-type specific: set X to 0 (closed) where a region is positive in another
        cell type and unknown here. Default: on for ChromTransfer files, off otherwise. With
        ``value=``, a table's unknown (empty) value becomes 0 where another cell type has a value > 0.
    value
        Read a quantity into ``X`` instead of 1/0 labels (the target of regression,
        ``task='regression'``; see :func:`~chromseq.pp.normalize_targets`):

        * ``'signalValue'``, ``'pValue'``, ``'qValue'``: narrowPeak columns 7, 8, 9;
        * ``'score'``: BED column 5 (narrowPeak too);
        * a column number (1-based, 4 or more), or a column name of the file's header line
          (``#chrom  start  end  counts``, or the same line without ``#``);
        * for a table of regions x cell types, ``'values'``: its cell type columns hold quantities
          (any finite number >= 0, empty for unknown) rather than labels.

        A region merged from several peaks of one cell type (``merge='overlap'``: several summits
        inside it; ``'exact'``: the same window twice) takes their largest value. A region absent
        from a cell type's peak file gets 0 there (no peak: no signal), as it is labelled closed
        without ``value``. Values must be numbers >= 0 (narrowPeak's -1, "not assigned", is
        refused): a bad value is a ValueError naming the file, the line and the column.
        ChromTransfer label files hold no quantity and are refused.

    Returns
    -------
    AnnData
        ``n_regions x n_celltypes``, sorted by chromosome and start, with:

        * ``X``: float32, 1 open, 0 closed, NaN unknown (for ChromTransfer files, a region missing
          from a cell type's file is unknown); with ``value=``, the values read;
        * ``obs['chrom']`` (categorical), ``obs['start']``, ``obs['end']`` (int64, 0-based half-open
          model window), ``obs['open']`` (accessible in some cell type: any positive or
          ``<CELL>_NEG`` row), ``obs['background']`` (False); ``obs_names`` are ``chrom:start-end``;
        * ``uns['chromseq']['params']['read_regions']``: the parameters and source files (and
          ``value`` when given).

    Examples
    --------
    >>> import chromseq as cs
    >>> adata = cs.pp.read_regions({"K562": "K562.bed", "HepG2": "HepG2.bed"})  # doctest: +SKIP
    >>> signal = cs.pp.read_regions({"K562": "K562.narrowPeak"}, value="signalValue")  # doctest: +SKIP
    """
    _check_width(width)
    if merge not in ("auto", "exact", "overlap"):
        raise ValueError(f"merge must be 'auto', 'exact' or 'overlap', got {merge!r}.")
    if isinstance(regions, pd.DataFrame | str | os.PathLike):
        return _from_table(regions, width=width, specific=bool(specific), value=value)
    _check_value(value)
    files = [read_region_file(ct, path, value) for ct, path in _celltype_pairs(regions)]
    merge = _choose_merge(files, merge)
    if specific is None:
        specific = all(f.format == "chromtransfer" for f in files)
    rows = _stack(files, width)
    rows["chrom"] = one_spelling(rows["chrom"].to_numpy(), "read_regions: the region files")
    region_of_row, windows = _merge_exact(rows) if merge == "exact" else _merge_overlap(rows)
    x, is_open = _label_matrix(files, rows, region_of_row, len(windows))
    if specific:
        x = _fill_specific(x, quantity=value is not None)
    params = {
        "merge": merge,
        "specific": bool(specific),
        "sources": {f.celltype: f.path for f in files},
        "formats": {f.celltype: f.format for f in files},
    }
    if value is not None:
        params["value"] = value if isinstance(value, str) else int(value)
    return _build(windows, x, is_open, [f.celltype for f in files], params, width)


# -- inputs -----------------------------------------------------------------------
def _check_width(width: int | None) -> None:
    if width is not None and (not isinstance(width, int | np.integer) or isinstance(width, bool) or width <= 0):
        raise ValueError(f"width must be a positive int (bp) or None, got {width!r}.")


def _check_value(value: str | int | None) -> None:
    """Refuse a ``value`` that names no column of any kind (bool, float, empty name) before reading files."""
    if value is None or (isinstance(value, str) and value.strip()):
        return
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return
    raise ValueError(
        f"value must be a column name ('signalValue', 'score', ...), a 1-based column number or None, got {value!r}."
    )


def _celltype_pairs(regions) -> list[tuple[str, PathLike]]:
    if isinstance(regions, Mapping):
        pairs = list(regions.items())
    else:
        try:
            pairs = [(ct, path) for ct, path in regions]
        except (TypeError, ValueError) as err:
            raise ValueError(
                "regions must be {celltype: path}, a list of (celltype, path) pairs, a DataFrame or a CSV path."
            ) from err
    if not pairs:
        raise ValueError("no region files given: pass {celltype: path, ...}.")
    names = [ct for ct, _ in pairs]
    if not all(isinstance(ct, str) and ct.strip() for ct in names):
        raise ValueError(f"cell type names must be non-empty strings, got {names}.")
    folded = pd.Series([ct.upper() for ct in names])
    if folded.duplicated().any():
        dup = [ct for ct, d in zip(names, folded.duplicated(keep=False), strict=True) if d]
        raise ValueError(f"duplicate cell type names {dup} (names are compared ignoring case); give each one once.")
    return pairs


def _choose_merge(files: list[RegionFile], merge: Merge) -> Literal["exact", "overlap"]:
    labelled = {f.format == "chromtransfer" for f in files}
    if merge != "auto":
        return merge
    if labelled == {True, False}:
        raise ValueError(
            "ChromTransfer label files and peak files were mixed; pass merge='exact' or merge='overlap' to choose how "
            "their regions are combined."
        )
    return "exact" if labelled == {True} else "overlap"


def _stack(files: list[RegionFile], width: int | None) -> pd.DataFrame:
    rows = pd.concat([f.table.assign(cell=i) for i, f in enumerate(files)], ignore_index=True)
    if "value" in rows.columns:  # a quantity per peak: what X holds (the largest of a region's peaks)
        rows["label"] = rows["value"]
    if width is not None:
        start = rows["center"].to_numpy() - width // 2
        shifted = start < 0
        if shifted.any():
            logger.warning(
                "read_regions: %d window(s) would start before 0 and were shifted to start at 0", shifted.sum()
            )
        rows["start"] = np.maximum(start, 0)
        rows["end"] = rows["start"] + width
    return rows


# -- merging --------------------------------------------------------------------
def _merge_exact(rows: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """One region per distinct (chrom, start, end), numbered in order of first appearance."""
    chrom_code, chroms = pd.factorize(rows["chrom"])
    start, end = rows["start"].to_numpy(), rows["end"].to_numpy()
    keys = pd.DataFrame({"c": chrom_code, "s": start, "e": end})  # integer keys: hashed in C, no tuples
    region_of_row = keys.groupby(["c", "s", "e"], sort=False).ngroup().to_numpy(np.int64)
    first = np.unique(region_of_row, return_index=True)[1]
    windows = pd.DataFrame({"chrom": np.asarray(chroms, dtype=object)[chrom_code[first]], "start": start[first]})
    windows["end"] = end[first]
    return region_of_row, windows


def _merge_overlap(rows: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    import pyranges as pr

    rank = rows.groupby("cell")["score"].rank(pct=True, method="average").to_numpy()
    remaining = pd.DataFrame(
        {
            "Chromosome": rows["chrom"],
            "Start": rows["start"],
            "End": rows["end"],
            "rank": rank,
            "id": np.arange(len(rows)),
        }
    )
    kept = []
    while len(remaining):
        clustered = pr.PyRanges(remaining).cluster().df
        best = clustered.sort_values(["rank", "Start"], ascending=[False, True]).drop_duplicates("Cluster")
        best = best.drop(columns="Cluster")
        kept.append(best)
        rest = pr.PyRanges(remaining).overlap(pr.PyRanges(best), invert=True)
        remaining = rest.df if len(rest) else remaining.iloc[:0]
    chosen = pd.concat(kept, ignore_index=True)
    windows = pd.DataFrame({"chrom": chosen["Chromosome"].astype(str), "start": chosen["Start"], "end": chosen["End"]})
    windows = windows.reset_index(drop=True)
    centers = pd.DataFrame(
        {"Chromosome": rows["chrom"], "Start": rows["center"], "End": rows["center"] + 1, "id": np.arange(len(rows))}
    )
    targets = windows.rename(columns={"chrom": "Chromosome", "start": "Start", "end": "End"}).assign(
        region=np.arange(len(windows))
    )
    hits = pr.PyRanges(centers).join(pr.PyRanges(targets))
    region_of_row = np.full(len(rows), -1, dtype=np.int64)
    if len(hits):
        region_of_row[hits.df["id"].to_numpy()] = hits.df["region"].to_numpy()
    lost = int((region_of_row < 0).sum())
    logger.info(
        "read_regions: %d peaks -> %d consensus regions (%d peaks lost to overlap removal)",
        len(rows),
        len(windows),
        lost,
    )
    return region_of_row, windows


def _label_matrix(
    files, rows: pd.DataFrame, region_of_row: np.ndarray, n_regions: int
) -> tuple[np.ndarray, np.ndarray]:
    mapped = region_of_row >= 0
    cell = rows["cell"].to_numpy()[mapped]
    region = region_of_row[mapped]
    label = rows["label"].to_numpy(np.float32)[mapped]
    _check_conflicts(files, rows[mapped], region)
    fill = np.array([np.nan if f.format == "chromtransfer" else 0.0 for f in files], dtype=np.float32)
    x = np.tile(fill, (n_regions, 1))
    best = pd.DataFrame({"r": region, "c": cell, "y": label}).groupby(["r", "c"], sort=False)["y"].max()
    x[best.index.get_level_values(0), best.index.get_level_values(1)] = best.to_numpy()
    is_open = np.zeros(n_regions, dtype=bool)
    is_open[region[rows["dhs"].to_numpy()[mapped]]] = True
    return x, is_open


def _check_conflicts(files, rows: pd.DataFrame, region: np.ndarray) -> None:
    frame = pd.DataFrame(
        {"r": region, "c": rows["cell"].to_numpy(), "y": rows["label"].to_numpy(), "line": rows["line"].to_numpy()}
    )
    labelled = np.array([f.format == "chromtransfer" for f in files])
    frame = frame[labelled[frame["c"].to_numpy()]]
    n_labels = frame.groupby(["r", "c"])["y"].transform("nunique")
    if (n_labels > 1).any():
        bad = frame[n_labels.to_numpy() > 1]
        first = bad[bad["r"] == bad["r"].iloc[0]]
        f = files[int(first["c"].iloc[0])]
        raise ValueError(
            f"{f.path}: lines {first['line'].tolist()} give one region both open and closed labels; "
            "fix the file so that each region has one label."
        )


def _fill_specific(x: np.ndarray, *, quantity: bool = False) -> np.ndarray:
    positive_somewhere = ((x > 0) if quantity else (x == 1)).any(axis=1, keepdims=True)
    fill = positive_somewhere & np.isnan(x)
    x = np.where(fill, np.float32(0), x)
    logger.info(
        "read_regions: specific=True set %d unknown %s to 0 (positive in another cell type)",
        fill.sum(), "values" if quantity else "labels",
    )  # fmt: skip
    return x


# -- table input ----------------------------------------------------------------
def _from_table(
    table: pd.DataFrame | PathLike, *, width: int | None, specific: bool, value: str | int | None
) -> AnnData:
    source = "DataFrame" if isinstance(table, pd.DataFrame) else str(table)
    if value not in (None, TABLE_VALUES):
        raise ValueError(
            f"value={value!r} names a column of a region file; for a table of regions x cell types ({source}) pass "
            f"value={TABLE_VALUES!r} (its cell type columns hold quantities) or None (labels 1/0/empty)."
        )
    quantity = value is not None
    coords, x, celltypes = read_table(table, source, width=width, quantity=quantity)
    if specific:
        x = _fill_specific(x, quantity=quantity)
    params = {"merge": "table", "specific": specific, "sources": dict.fromkeys(celltypes, source)}
    if quantity:
        params["value"] = TABLE_VALUES
    is_open = (x > 0).any(axis=1) if quantity else (x == 1).any(axis=1)
    return _build(coords, x, is_open, celltypes, params, width)


# -- output ---------------------------------------------------------------------
def _build(
    windows: pd.DataFrame, x: np.ndarray, is_open: np.ndarray, celltypes: list[str], params: dict, width
) -> AnnData:
    order_chrom = chrom_order(windows["chrom"])
    rank = pd.Categorical(windows["chrom"].astype(str), categories=order_chrom).codes
    order = np.lexsort((windows["end"].to_numpy(), windows["start"].to_numpy(), rank))
    chrom = windows["chrom"].astype(str).to_numpy()[order]
    start = windows["start"].to_numpy(np.int64)[order]
    end = windows["end"].to_numpy(np.int64)[order]
    names = region_names(chrom, start, end)
    obs = pd.DataFrame(
        {
            K.CHROM: pd.Categorical(chrom, categories=[c for c in order_chrom if c in set(chrom)]),
            K.START: start,
            K.END: end,
            K.OPEN: np.asarray(is_open, dtype=bool)[order],
            K.BACKGROUND: np.zeros(len(order), dtype=bool),
        },
        index=pd.Index(names, name=None),
    )
    adata = AnnData(
        X=np.ascontiguousarray(x[order], dtype=np.float32), obs=obs, var=pd.DataFrame(index=pd.Index(celltypes))
    )
    if width is not None:
        params = {"width": int(width), **params}
    uns_chromseq(adata).setdefault(K.UNS_PARAMS, {})[read_regions.__name__] = params
    logger.info(
        "read_regions: %d regions x %d cell types; wrote X, obs[%r, %r, %r, %r, %r]",
        adata.n_obs, adata.n_vars, K.CHROM, K.START, K.END, K.OPEN, K.BACKGROUND,
    )  # fmt: skip
    return adata
