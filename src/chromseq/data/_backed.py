"""Opening a regions file with ``X`` and the sequences left on disk (:func:`~chromseq.data.read_backed`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chromseq import _keys as K
from chromseq._settings import logger

if TYPE_CHECKING:
    from anndata import AnnData


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
