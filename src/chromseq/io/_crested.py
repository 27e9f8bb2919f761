"""Conversion between CREsted's AnnData layout (cell types x regions) and chromseq's (regions x cell types)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

from chromseq import _keys as K
from chromseq._regions import coordinates, split_categorical
from chromseq._settings import logger
from chromseq._validate import require_obs

if TYPE_CHECKING:
    from anndata import AnnData

#: CREsted's name of the chromosome column of ``.var`` (``crested.import_beds``/``import_bigwigs``).
CRESTED_CHROM = "chr"
#: ``X`` as a source name: the data matrix itself rather than a layer.
X_NAME = "X"
_FROM = "chromseq.io.from_crested"
_TO = "chromseq.io.to_crested"


def from_crested(adata: AnnData, *, threshold: float | None = None) -> AnnData:
    """Convert a CREsted-style AnnData (cell types x regions) to chromseq's layout (regions x cell types).

    CREsted (``crested.import_beds``, ``crested.import_bigwigs``) keeps classes (cell types, topics)
    in ``obs`` and regions in ``var``, with ``var['chr']``, ``var['start']``, ``var['end']`` and
    ``var_names`` ``'chr:start-end'``; ``crested.pp.train_val_test_split`` adds ``var['split']``.
    The result is transposed: regions become ``obs`` (``obs['chrom']`` categorical, ``obs['start']``,
    ``obs['end']`` int64, ``obs['split']`` categorical when present), cell types become ``var``, and
    ``varm``/``obsm``/``layers``/``uns`` follow the transpose. Nothing is lost:
    :func:`to_crested` gives back the original object, dtypes and column order included (a record
    under ``uns['chromseq']['crested']`` says how; :func:`to_crested` removes it).

    Parameters
    ----------
    adata
        CREsted-style AnnData, ``n_obs`` cell types x ``n_vars`` regions. Region coordinates come
        from ``var['chr']``/``var['start']``/``var['end']`` (0-based, half-open, bp), else are parsed
        from ``var_names``. Not modified.
    threshold
        ``None``: ``X`` is taken as it is, as float32. Binary (0/1, NaN for unknown, as from
        ``crested.import_beds``): the labels. Anything else (peak heights from
        ``crested.import_bigwigs``, CREsted's peak regression): quantitative targets, which the
        training verbs detect as regression (``tl.pretrain(task='regression')`` pre-trains on their
        mean over cell types); ``obs['open']`` is then not added, as no region is open or closed.
        A number: ``X`` is continuous; it is kept in ``layers['signal']`` and the labels are
        ``signal >= threshold`` (1 open, 0 closed, NaN where the signal is NaN).

    Returns
    -------
    A new regions x cell types AnnData with ``X`` float32 labels (or quantitative targets),
    ``obs['chrom']``, ``obs['start']``, ``obs['end']``, ``obs['open']`` (open in some cell type; labels
    only) and ``obs['background']`` (all False) added unless present, ``layers['signal']`` when
    ``threshold`` is given, and ``uns['chromseq']['crested']`` (the conversion record).

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> regions = ["chr1:100-600", "chr1:900-1400", "chr2:0-500"]
    >>> var = pd.DataFrame(
    ...     {"chr": ["chr1", "chr1", "chr2"], "start": [100, 900, 0], "end": [600, 1400, 500]}, index=regions
    ... )
    >>> crested_like = ad.AnnData(np.array([[1, 0, 1], [0, 1, 1]]), obs=pd.DataFrame(index=["K562", "HepG2"]), var=var)
    >>> adata = chromseq.io.from_crested(crested_like)
    >>> adata.shape, adata.obs["chrom"].tolist()
    ((3, 2), ['chr1', 'chr1', 'chr2'])
    """
    _check_crested_layout(adata)
    coords, chrom_col = coordinates(adata.var, what="adata.var")
    out = adata.T.copy()
    record = _pop_record(out, _TO)
    if record is None:
        record = _labels_from_crested(out, threshold)
        _obs_from_crested(out, coords, chrom_col, record)
        out.uns.setdefault(K.UNS, {})[K.UNS_CRESTED] = record
        written = ["X"] + ([f"layers[{K.SIGNAL!r}]"] if record["x"] != X_NAME else [])
        written += [f"obs[{c!r}]" for c in record["added"]] + [f"uns[{K.UNS!r}][{K.UNS_CRESTED!r}]"]
    else:
        if threshold is not None:
            logger.info("from_crested: threshold ignored, the labels recorded by to_crested are used")
        _restore(out, record, labels_into_x=True)
        written = ["X", "obs"]
    logger.info("from_crested: %d regions x %d cell types; wrote %s", out.n_obs, out.n_vars, ", ".join(written))
    return out


def to_crested(adata: AnnData, *, layer: str | None = None) -> AnnData:
    """Convert a chromseq AnnData (regions x cell types) to CREsted's layout (cell types x regions).

    The inverse of :func:`from_crested`: regions go to ``var`` with ``var['chr']``, ``var['start']``,
    ``var['end']`` (and ``var['split']`` when present, which CREsted's training reads), cell types to
    ``obs``; ``obsm`` becomes ``varm`` (``obsm['sequence']`` becomes ``varm['sequence']``) and
    ``layers`` are transposed. Nothing is lost: :func:`from_crested` gives back the original object
    (a record under ``uns['chromseq']['crested']`` says how; :func:`from_crested` removes it).
    Unknown labels stay NaN: CREsted's losses do not skip NaN, so subset or fill them before training there.

    Parameters
    ----------
    adata
        Regions x cell types AnnData with ``obs['chrom']``, ``obs['start']``, ``obs['end']``. Not modified.
    layer
        What becomes CREsted's ``X``: ``None`` gives the labels (``X``) as ``crested.import_beds``
        would (or, for an object made by :func:`from_crested`, what its ``X`` was), a layer name such
        as ``'signal'`` gives that layer (continuous targets, as ``crested.import_bigwigs``); the
        labels are then kept in ``layers['chromseq_labels']``.

    Returns
    -------
    A new cell types x regions AnnData; ``uns['chromseq']['crested']`` holds the conversion record
    unless the input came from :func:`from_crested` (then the original CREsted object is rebuilt).

    Examples
    --------
    >>> adata = chromseq.datasets.synthetic()  # doctest: +SKIP
    >>> crested_like = chromseq.io.to_crested(adata)  # doctest: +SKIP
    >>> crested_like.var[["chr", "start", "end"]].head()  # doctest: +SKIP
    """
    for key in (K.CHROM, K.START, K.END):
        require_obs(adata, key)
    if layer is not None and layer != X_NAME and layer not in adata.layers:
        raise KeyError(
            f"layer {layer!r} is not in adata.layers ({list(adata.layers)}); pass one of them or None for X."
        )
    out = adata.T.copy()
    record = _pop_record(out, _FROM)
    if record is not None and layer in (None, record["x"]):
        _restore(out, record, labels_into_x=False)
        logger.info("to_crested: rebuilt the CREsted object of %d cell types x %d regions", out.n_obs, out.n_vars)
        return out
    new = _to_crested_fresh(out, layer or X_NAME)
    out.uns.setdefault(K.UNS, {})[K.UNS_CRESTED] = new
    logger.info(
        "to_crested: %d cell types x %d regions; X from %s, var['chr'/'start'/'end'] set, uns[%r][%r] records the conversion",
        out.n_obs,
        out.n_vars,
        new["x"],
        K.UNS,
        K.UNS_CRESTED,
    )
    return out


# -- from CREsted ---------------------------------------------------------------------------------
def _check_crested_layout(adata: AnnData) -> None:
    has_coords = all(c in adata.var.columns for c in (CRESTED_CHROM, K.START, K.END))
    looks_ours = all(c in adata.obs.columns for c in (K.CHROM, K.START, K.END))
    if looks_ours and not has_coords:
        raise ValueError(
            "adata has regions in obs (obs['chrom'/'start'/'end']): it is in chromseq's layout already; "
            "from_crested expects cell types in obs and regions in var (use chromseq.io.to_crested for the other way)."
        )


def _labels_from_crested(out: AnnData, threshold: float | None) -> dict[str, Any]:
    """Set ``out.X`` to float32 labels (and ``layers['signal']``); return the start of the record."""
    raw = out.X
    fmt = raw.format if sparse.issparse(raw) else "dense"
    values = raw.toarray() if sparse.issparse(raw) else np.asarray(raw)
    record: dict[str, Any] = {"made_by": _FROM, "x_dtype": str(values.dtype), "x_format": fmt}
    if threshold is None:
        known = values[~np.isnan(values)] if np.issubdtype(values.dtype, np.floating) else values
        if not np.isin(known, (0, 1)).all():
            if not np.isfinite(known).all():
                raise ValueError(
                    "adata.X has infinite values; replace them (NaN marks an unknown value) before converting."
                )
            record["quantitative"] = True
            logger.info(
                "from_crested: adata.X is not 0/1 but quantities (e.g. crested.import_bigwigs): kept in X as "
                "regression targets, without obs['open']; pass threshold=<value> for open/closed labels instead"
            )
        out.X = values.astype(np.float32)
        record["x"] = X_NAME
        return record
    if K.SIGNAL in out.layers:
        raise ValueError(f"adata.layers already has {K.SIGNAL!r}; rename it before converting with threshold=.")
    signal = values if np.issubdtype(values.dtype, np.floating) else values.astype(np.float32)
    with np.errstate(invalid="ignore"):
        labels = np.where(np.isnan(signal), np.nan, signal >= threshold).astype(np.float32)
    out.layers[K.SIGNAL] = signal
    out.X = labels
    record.update(x=K.SIGNAL, threshold=float(threshold))
    return record


def _obs_from_crested(out: AnnData, coords: pd.DataFrame, chrom_col: str | None, record: dict[str, Any]) -> None:
    """Turn CREsted's var columns (now ``out.obs``) into chromseq's, noting what changes in ``record``."""
    obs = out.obs
    sources = (chrom_col or K.CHROM, K.START, K.END)  # CREsted's names of the coordinate columns
    record["columns"] = list(obs.columns)
    record["dtypes"] = {c: _dtype_spec(obs[c]) for c in (*sources, K.SPLIT) if c in obs}
    record["chrom_column"] = sources[0]
    added = [ours for src, ours in zip(sources, (K.CHROM, K.START, K.END), strict=True) if src not in obs]
    new = obs.drop(columns=[c for c in sources if c in obs])
    new.insert(0, K.END, coords[K.END].to_numpy())
    new.insert(0, K.START, coords[K.START].to_numpy())
    new.insert(0, K.CHROM, pd.Categorical(coords[K.CHROM].to_numpy()))
    if K.SPLIT in new:
        new[K.SPLIT] = split_categorical(new[K.SPLIT], what="adata.var")
    labels = np.asarray(out.X)
    for key, value in ((K.OPEN, (labels == 1).any(axis=1)), (K.BACKGROUND, np.zeros(out.n_obs, dtype=bool))):
        if key == K.OPEN and record.get("quantitative"):
            continue  # quantities: no region is open or closed
        if key not in new:
            new[key] = value
            added.append(key)
    record["added"] = added
    out.obs = new


# -- to CREsted -----------------------------------------------------------------------------------
def _to_crested_fresh(out: AnnData, x_name: str) -> dict[str, Any]:
    """Lay out ``out`` (already transposed) as CREsted's; return the record of what changed."""
    var = out.var
    record: dict[str, Any] = {"made_by": _TO, "x": x_name, "columns": list(var.columns)}
    record["dtypes"] = {c: _dtype_spec(var[c]) for c in (K.CHROM, K.START, K.END, K.SPLIT) if c in var}
    if x_name != X_NAME:
        if K.CRESTED_LABELS in out.layers:
            raise ValueError(f"adata.layers already has {K.CRESTED_LABELS!r}; rename it before converting.")
        labels = out.X
        out.X = out.layers.pop(x_name)
        out.layers[K.CRESTED_LABELS] = labels
        record["labels_layer"] = K.CRESTED_LABELS
    if CRESTED_CHROM in var and CRESTED_CHROM != K.CHROM:
        raise ValueError(f"adata.obs has a column {CRESTED_CHROM!r} that CREsted's chromosome column would overwrite.")
    new = var.rename(columns={K.CHROM: CRESTED_CHROM})
    new[CRESTED_CHROM] = new[CRESTED_CHROM].astype(str).astype(object)
    new[K.START] = new[K.START].astype(np.int64)
    new[K.END] = new[K.END].astype(np.int64)
    if K.SPLIT in new:
        new[K.SPLIT] = new[K.SPLIT].astype(object)
    out.var = new
    return record


# -- the inverse of a recorded conversion ---------------------------------------------------------
def _restore(out: AnnData, record: dict[str, Any], *, labels_into_x: bool) -> None:
    """Undo the conversion described by ``record`` on ``out`` (already transposed back)."""
    x_name = record["x"]
    if labels_into_x:  # undoing to_crested: X held layer x_name, labels sat in a layer
        if x_name != X_NAME:
            out.layers[x_name] = out.X
            out.X = out.layers.pop(record["labels_layer"])
        table = out.obs.rename(columns={CRESTED_CHROM: K.CHROM})
    else:  # undoing from_crested: X held labels, CREsted's X sat in layer x_name
        if x_name != X_NAME:
            labels = out.X
            out.X = out.layers.pop(x_name)
            if not _labels_derivable(labels, out.X, record):
                out.layers[K.CRESTED_LABELS] = labels
        out.X = _restore_matrix(out.X, record)
        table = out.var.drop(columns=record["added"]).rename(columns={K.CHROM: record["chrom_column"]})
    for col, spec in record["dtypes"].items():
        table[col] = _apply_spec(table[col], spec)
    order = [c for c in record["columns"] if c in table] + [c for c in table if c not in record["columns"]]
    table = table[order]
    if labels_into_x:
        out.obs = table
    else:
        out.var = table


def _labels_derivable(labels: np.ndarray, signal: np.ndarray, record: dict[str, Any]) -> bool:
    """Whether ``labels`` are still exactly ``signal >= threshold`` (then they need not be kept)."""
    if "threshold" not in record:
        return False
    with np.errstate(invalid="ignore"):
        expected = np.where(np.isnan(signal), np.nan, signal >= record["threshold"]).astype(np.float32)
    return np.array_equal(np.asarray(labels), expected, equal_nan=True)


def _restore_matrix(values: Any, record: dict[str, Any]) -> Any:
    """Give CREsted's ``X`` back its dtype and sparse format, when the values allow it."""
    dtype = np.dtype(record["x_dtype"])
    array = np.asarray(values)
    if not np.issubdtype(dtype, np.floating) and np.isnan(array).any():
        logger.info("to_crested: X has NaN labels, kept as float32 instead of %s", dtype)
        return array
    array = array.astype(dtype)
    return array if record["x_format"] == "dense" else sparse.csr_matrix(array).asformat(record["x_format"])


def _pop_record(out: AnnData, made_by: str) -> dict[str, Any] | None:
    """Remove and return the conversion record made by ``made_by`` (drop an emptied ``uns['chromseq']``)."""
    uns = out.uns.get(K.UNS)
    if not isinstance(uns, dict) or uns.get(K.UNS_CRESTED, {}).get("made_by") != made_by:
        return None
    record = _plain(uns.pop(K.UNS_CRESTED))
    if not uns:
        del out.uns[K.UNS]
    return record


def _plain(value: Any) -> Any:
    """Return a record with lists, str and Python scalars again after a trip through h5ad."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _dtype_spec(values: pd.Series) -> dict[str, Any]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = values.cat.categories
        return {"dtype": "category", "categories": [str(c) for c in cats], "ordered": bool(values.cat.ordered)}
    return {"dtype": str(values.dtype)}


def _apply_spec(values: pd.Series, spec: dict[str, Any]) -> pd.Series:
    if spec["dtype"] == "category":
        dtype = pd.CategoricalDtype(spec["categories"], ordered=spec["ordered"])
        return pd.Series(pd.Categorical(values.astype(object).to_numpy(), dtype=dtype), index=values.index)
    if spec["dtype"] == "object":
        return values.astype(object)
    return values.astype(spec["dtype"])
