"""Arrays left on disk (h5py datasets, zarr arrays, backed sparse ``X``): row and column reads (NumPy only).

Sequences are read in batches of rows, labels in blocks of rows, so that a region set
larger than memory streams from an ``.h5ad`` file or a ``.zarr`` store.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

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

    Parameters
    ----------
    x
        A dense or sparse matrix in memory, or one on disk (h5py dataset, zarr array, backed sparse).
    cols
        Column indices, in the order wanted.
    block
        Rows read at a time from an on-disk ``x``.

    Returns
    -------
    Dense float32 array of shape ``(n_obs, len(cols))``.
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
