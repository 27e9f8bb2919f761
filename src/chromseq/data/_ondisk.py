"""Arrays left on disk (h5py datasets, zarr arrays, backed sparse ``X``): row reads, and opening files lazily.

Sequences are read in batches of rows, labels in blocks of rows, so that a region set
larger than memory streams from an ``.h5ad`` file or a ``.zarr`` store.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from chromseq import _keys as K
from chromseq._settings import logger

if TYPE_CHECKING:
    from anndata import AnnData

#: Rows per block when labels are read from a backed ``X``.
LABEL_BLOCK = 65536
#: A sorted row set is read as one slab when it covers at most this many times its own rows.
SLAB_FACTOR = 4


def is_on_disk(array: Any) -> bool:
    """Whether ``array`` is read from a file on access (h5py dataset, zarr array, backed sparse matrix)."""
    from anndata.abc import CSCDataset, CSRDataset

    if isinstance(array, CSRDataset | CSCDataset):
        return True
    module = type(array).__module__
    return module.startswith(("h5py", "zarr")) and hasattr(array, "shape")


def _dense(block: Any) -> np.ndarray:
    return block.toarray() if sp.issparse(block) else np.asarray(block)


def _read_sorted(array: Any, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` (strictly increasing) of an on-disk array, as a dense array."""
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    if hi - lo <= SLAB_FACTOR * len(rows):  # dense enough: one contiguous read
        block = _dense(array[lo:hi])
        return block if hi - lo == len(rows) else block[rows - lo]
    if hasattr(array, "get_orthogonal_selection"):  # zarr
        return np.asarray(array.get_orthogonal_selection((rows, *(slice(None),) * (len(array.shape) - 1))))
    return _dense(array[rows])  # h5py (increasing indices), backed sparse


def read_rows(array: Any, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` of ``array`` as an in-memory array, in the order given.

    Parameters
    ----------
    array
        A NumPy array, or an array on disk (h5py dataset, zarr array, backed sparse matrix).
    rows
        Integer row indices (any order, repeats allowed).

    Returns
    -------
    ``array[rows]`` (dense); an on-disk array is read once per distinct row, in file order,
    as one slab when the rows are close together.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(array, np.ndarray):
        return array[rows]
    if len(rows) == 0:
        return np.empty((0, *array.shape[1:]), dtype=array.dtype)
    if np.all(rows[1:] > rows[:-1]):
        return _read_sorted(array, rows)
    unique, inverse = np.unique(rows, return_inverse=True)
    return _read_sorted(array, unique)[inverse]


def read_columns(x: Any, cols: list[int], *, block: int = LABEL_BLOCK) -> np.ndarray:
    """Columns ``cols`` of ``x`` (e.g. ``adata.X``) as dense float32 ``(n_obs, len(cols))``.

    An on-disk ``x`` (backed ``.h5ad``, zarr) is read in blocks of ``block`` rows, so that only
    the selected columns are ever held in memory.
    """
    if not is_on_disk(x):
        sub = x[:, cols]
        sub = sub.toarray() if sp.issparse(sub) else np.asarray(sub)
        return sub.astype(np.float32, copy=False)
    n = x.shape[0]
    out = np.empty((n, len(cols)), dtype=np.float32)
    for start in range(0, n, block):
        out[start : start + block] = _dense(x[start : min(start + block, n)])[:, cols]
    return out


def read_backed(path: str | os.PathLike) -> AnnData:
    """Open a regions ``.h5ad`` file or ``.zarr`` store with ``X`` and ``obsm['sequence']`` left on disk.

    Like :func:`anndata.read_h5ad` with ``backed='r'``, which keeps ``X`` on disk but reads every
    ``.obsm`` array into memory, except that the sequences stay on disk too (an h5py dataset
    or a zarr array), and that it also opens zarr stores. Everything else (``obs``, ``var``,
    ``uns``, other ``.obsm`` arrays) is read into memory. The ``chromseq.tl`` functions read
    such an AnnData batch by batch; results they add (``.obsm``, ``.uns``) are kept in memory
    until you write the AnnData (:meth:`~anndata.AnnData.write_h5ad` to another path).

    Parameters
    ----------
    path
        An ``.h5ad`` file or a ``.zarr`` folder, as written by :meth:`~anndata.AnnData.write_h5ad`
        or :meth:`~anndata.AnnData.write_zarr`. The file stays open (read-only) while the
        AnnData is in use.

    Returns
    -------
    The AnnData; ``X`` is an h5py dataset, a zarr array or a backed sparse matrix, and
    ``obsm['sequence']`` an h5py dataset or zarr array.

    Examples
    --------
    >>> adata = cs.data.read_backed("regions.h5ad")  # doctest: +SKIP
    >>> cs.tl.predict(adata, models=trained)  # doctest: +SKIP
    """
    from anndata.experimental import read_dispatched
    from anndata.io import sparse_dataset

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist: pass an .h5ad file or a .zarr folder.")
    if path.is_dir():
        import zarr

        store = zarr.open(str(path), mode="r")
    else:
        import h5py

        store = h5py.File(path, "r")
    keep = {"/X", f"/obsm/{K.SEQUENCE}"}

    def callback(read, name: str, elem: Any, iospec: Any) -> Any:
        if name in keep:
            return sparse_dataset(elem) if iospec.encoding_type in ("csr_matrix", "csc_matrix") else elem
        return read(elem)

    adata = read_dispatched(store, callback)
    logger.info("opened %s with X and obsm[%r] on disk", path, K.SEQUENCE)
    chunks = getattr(adata.obsm[K.SEQUENCE], "chunks", None) if K.SEQUENCE in adata.obsm else None
    if path.is_dir() and chunks is not None and chunks[0] * adata.obsm[K.SEQUENCE].shape[1] > 2**20:
        logger.info(
            "obsm[%r] is stored in compressed chunks of %s: shuffled training batches decompress a chunk per "
            "region (slow); train from an .h5ad file, or load the sequences: adata.obsm[%r] = adata.obsm[%r][:]",
            K.SEQUENCE,
            chunks,
            K.SEQUENCE,
            K.SEQUENCE,
        )
    return adata
