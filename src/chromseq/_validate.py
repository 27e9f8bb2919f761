"""Checks of AnnData inputs with errors that name the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import _keys as K

if TYPE_CHECKING:
    from anndata import AnnData

#: The call that creates each key, used in error messages.
FIX = {
    K.SEQUENCE: "chromseq.pp.add_sequences(adata, genome=...)",
    K.SPLIT: "chromseq.pp.split_by_chromosome(adata)",
    K.OPEN: "chromseq.pp.read_regions(...)",
    K.BACKGROUND: "chromseq.pp.add_background(adata, genome=...)",
    K.GC: "chromseq.pp.add_sequences(adata, genome=...)",
    K.PRED: "chromseq.tl.predict(adata)",
    K.UNS_MODELS: "chromseq.tl.pretrain(adata) or chromseq.tl.finetune(adata, ...)",
}


def require_obs(adata: AnnData, key: str) -> None:
    """Raise a :class:`KeyError` naming the fix when ``adata.obs[key]`` is missing."""
    if key not in adata.obs.columns:
        raise KeyError(f"adata.obs[{key!r}] is missing: run {FIX.get(key, 'the step that creates it')} first.")


def require_obsm(adata: AnnData, key: str) -> None:
    """Raise a :class:`KeyError` naming the fix when ``adata.obsm[key]`` is missing."""
    if key not in adata.obsm:
        raise KeyError(f"adata.obsm[{key!r}] is missing: run {FIX.get(key, 'the step that creates it')} first.")


def writable(adata: AnnData, copy: bool, verb: str) -> AnnData:
    """Return the AnnData a verb writes into; the one rule of every chromseq verb that writes.

    ``copy=True``: a copy (arrays on disk are loaded into memory). Otherwise ``adata`` itself; a
    view (``adata[mask]``) is first made an actual AnnData holding its rows only, with a warning,
    as anndata and scanpy do: the AnnData it was taken from is never changed. To compute on some
    rows and keep the results in the whole AnnData, pass the rows as ``mask=`` where a verb has it.
    """
    from chromseq._arrays import is_on_disk
    from chromseq._settings import logger

    if copy or adata.is_view:
        on_disk = adata.isbacked or is_on_disk(adata.X) or any(is_on_disk(v) for v in adata.obsm.values())
        if on_disk:
            logger.info("%s: loading the AnnData's arrays on disk into memory (AnnData.to_memory())", verb)
        actual = adata.to_memory() if on_disk else adata.copy()
        if copy:
            return actual
        logger.warning(
            "%s: adata is a view; it is made an actual AnnData of its %d regions and the results are written there, "
            "not into the AnnData it was taken from (pass mask= to a verb that has it to write into the whole one).",
            verb, adata.n_obs,
        )  # fmt: skip
        adata._init_as_actual(actual)
    return adata


def require_regions(adata: AnnData, what: str) -> None:
    """Raise a :class:`ValueError` when ``adata`` has no regions, instead of writing empty results."""
    if adata.n_obs == 0:
        raise ValueError(f"adata has no regions (n_obs == 0): nothing to {what}. Check the subset or mask passed.")


def sequence_codes(adata: AnnData, rows: np.ndarray | None = None) -> Any:
    """Return ``adata.obsm['sequence']`` after checking it holds uint8 codes 0-4, or only its ``rows``.

    The one check of the codes every verb that reads them runs: vectorised, and chunk by chunk for
    codes on disk (h5py/zarr, returned as they are, unread); with ``rows`` those rows are read,
    checked and returned as an array.

    Raises
    ------
    KeyError
        If ``obsm['sequence']`` is missing.
    ValueError
        If it holds strings, is not 2-d uint8, or holds a code other than 0-4 (the message names rows).
    """
    from chromseq._arrays import is_on_disk, read_rows
    from chromseq._codes import invalid_code_rows

    require_obsm(adata, K.SEQUENCE)
    codes = adata.obsm[K.SEQUENCE]
    if not is_on_disk(codes):
        codes = codes.to_numpy() if hasattr(codes, "to_numpy") else np.asarray(codes)
    where = f"adata.obsm[{K.SEQUENCE!r}]"
    if codes.dtype.kind in "USO":
        raise ValueError(
            f"{where} holds {codes.dtype} strings of shape {codes.shape}, not sequence codes: chromseq needs uint8 codes "
            f"(A0 C1 G2 T3 N4), one column per base, of shape (n_obs, width). Run {FIX[K.SEQUENCE]}."
        )
    if codes.ndim != 2 or codes.dtype != np.uint8:
        raise ValueError(
            f"{where} must be uint8 codes of shape (n_obs, width), got {codes.dtype} {codes.shape}: "
            f"run {FIX[K.SEQUENCE]}."
        )
    if rows is not None:
        codes = read_rows(codes, rows)
    bad = invalid_code_rows(codes)
    if len(bad):
        at = bad if rows is None else np.asarray(rows)[bad]
        names = [str(adata.obs_names[i]) for i in at[:5]]
        raise ValueError(
            f"{where} holds codes outside 0-4 (A0 C1 G2 T3 N4) in {len(bad)} row(s): {names}"
            f"{' ...' if len(bad) > 5 else ''} (rows {at[:5].tolist()}). Rerun {FIX[K.SEQUENCE]}, or set those "
            "rows right (4 = N for unknown bases)."
        )
    return codes


def require_celltypes(adata: AnnData, celltype: str | list[str] | None) -> list[str]:
    """Return ``celltype`` as a list of ``var_names``; ``None`` means all of them.

    Raises
    ------
    KeyError
        If a name is not in ``adata.var_names`` (the message lists them).
    """
    names = list(adata.var_names) if celltype is None else [celltype] if isinstance(celltype, str) else list(celltype)
    unknown = [c for c in names if c not in adata.var_names]
    if unknown:
        raise KeyError(f"unknown cell type(s) {unknown}; adata.var_names are {list(adata.var_names)}.")
    if not names:
        raise ValueError("no cell type selected: pass celltype=<name>, a list of names, or None for all.")
    return names


def uns_chromseq(adata: AnnData) -> dict[str, Any]:
    """Return ``adata.uns['chromseq']``, creating an empty dict if absent."""
    return adata.uns.setdefault(K.UNS, {})
