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
