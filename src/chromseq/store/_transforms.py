"""How the targets of ``X`` or a layer were transformed: ``uns['chromseq']['transforms'][source]``.

:func:`chromseq.pp.normalize_targets` writes one record per target it produces (``'X'`` or the layer
name written); the training verbs read the description into the model record
(``ModelRecord.target_transform``), so that predictions say in which units they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chromseq import _keys as K

if TYPE_CHECKING:
    from anndata import AnnData

#: The name of ``X`` as a target source (``ModelRecord.target_layer`` spells it ``''``).
X_SOURCE = "X"


def source_name(layer: str | None) -> str:
    """Return the key of a target source in the transforms dict: ``'X'`` for ``None``/``''``/``'X'``, else the layer."""
    return X_SOURCE if layer in (None, "", X_SOURCE) else str(layer)


def transform_record(adata: AnnData, source: str | None) -> dict[str, Any] | None:
    """Return the record of ``source`` (``'X'``/``''``/``None`` or a layer name) as a plain dict; ``None`` when none.

    Parameters
    ----------
    adata
        Regions x cell types AnnData.
    source
        ``'X'`` (or ``''``/``None``) or a layer name.

    Returns
    -------
    ``{'method', 'description', 'source', 'steps', ...}`` as written by ``pp.normalize_targets``, or ``None``.
    """
    transforms = adata.uns.get(K.UNS, {}).get(K.UNS_TRANSFORMS, {})
    record = transforms.get(source_name(source)) if hasattr(transforms, "get") else None
    return dict(record) if record is not None else None


def target_transform(adata: AnnData, source: str | None) -> str:
    """How the targets of ``source`` were transformed, in words; ``''`` when they are as read.

    Parameters
    ----------
    adata
        Regions x cell types AnnData.
    source
        ``'X'`` (or ``''``/``None``, as ``ModelRecord.target_layer`` spells it) or a layer name.

    Returns
    -------
    The ``description`` of ``uns['chromseq']['transforms'][source]``, or ``''``.
    """
    record = transform_record(adata, source)
    return "" if record is None else str(record.get("description", ""))


def applied_steps(adata: AnnData, source: str | None) -> list[str]:
    """Return the normalization methods applied to ``source`` so far, oldest first (``[]`` when as read)."""
    record = transform_record(adata, source)
    if record is None:
        return []
    steps = record.get("steps", [record.get("method", "")])
    return [str(s) for s in (steps.tolist() if hasattr(steps, "tolist") else steps) if str(s)]


def write_transform(adata: AnnData, target: str | None, record: dict[str, Any]) -> None:
    """Record how ``target`` (``'X'`` or a layer name) was made: ``uns['chromseq']['transforms'][target] = record``."""
    from chromseq._validate import uns_chromseq

    uns_chromseq(adata).setdefault(K.UNS_TRANSFORMS, {})[source_name(target)] = dict(record)
