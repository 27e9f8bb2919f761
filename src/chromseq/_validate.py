"""Checks of AnnData inputs with errors that name the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
