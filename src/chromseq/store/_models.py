"""Access to the models recorded in ``adata.uns['chromseq']['models']``.

The AnnData stores each record as a plain, h5ad-safe dict; code reads it as a typed
:class:`~chromseq.store.ModelRecord` (:func:`get_record`, :func:`records_of`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from chromseq import _keys as K
from chromseq._settings import logger
from chromseq._validate import FIX, uns_chromseq
from chromseq.store._record import ModelRecord

if TYPE_CHECKING:
    from anndata import AnnData

    from chromseq.models import SequenceModel

ModelKind = Literal["pretrain", "finetune", "scratch"]

_PREFIX = {"pretrain": "pretrained", "finetune": "finetuned", "scratch": "scratch"}


def model_name(kind: ModelKind, celltype: str | list[str] | None = None) -> str:
    """Default name of a model.

    Parameters
    ----------
    kind
        ``'pretrain'``, ``'finetune'`` or ``'scratch'``.
    celltype
        One cell type (single-head model), or ``None``/a list (one multi-head model).

    Returns
    -------
    ``'pretrained'``, ``'finetuned_<ct>'``, ``'scratch_<ct>'``; ``'finetuned'``/``'scratch'``
    for a multi-head model.

    Examples
    --------
    >>> model_name("finetune", "K562")
    'finetuned_K562'
    """
    if kind not in _PREFIX:
        raise ValueError(f"kind must be one of {sorted(_PREFIX)}, got {kind!r}.")
    if kind == "pretrain" or celltype is None or not isinstance(celltype, str):
        return _PREFIX[kind]
    return f"{_PREFIX[kind]}_{celltype}"


def models_of(adata: AnnData) -> dict[str, dict[str, Any]]:
    """Return ``adata.uns['chromseq']['models']`` (an empty dict if there is none; nothing is created)."""
    return adata.uns.get(K.UNS, {}).get(K.UNS_MODELS, {})


def records_of(adata: AnnData) -> dict[str, ModelRecord]:
    """Return every model record of ``adata``, typed, by name (empty if there is none)."""
    return {name: ModelRecord.from_dict(data, name) for name, data in models_of(adata).items()}


def get_record(adata: AnnData, name: str) -> ModelRecord:
    """Return the record of model ``name``.

    Raises
    ------
    KeyError
        If ``adata`` has no model of that name (the message lists those it has).
    """
    models = models_of(adata)
    if name not in models:
        if not models:
            raise KeyError(f"adata has no trained models (looked for {name!r}): run {FIX[K.UNS_MODELS]} first.")
        raise KeyError(f"no model named {name!r} in adata.uns['chromseq']['models']; it has {sorted(models)}.")
    return ModelRecord.from_dict(models[name], name)


def get_model(adata: AnnData, name: str) -> SequenceModel:
    """Load the model recorded under ``name``, in eval mode on CPU.

    Parameters
    ----------
    adata
        AnnData with ``uns['chromseq']['models'][name]``.
    name
        Model name, e.g. ``'pretrained'`` or ``'finetuned_K562'`` (see :func:`model_name`).

    Returns
    -------
    network (:class:`~chromseq.models.SequenceModel`, of its family) mapping one-hot float (N, 4, L) to logits
    (N, n_outputs); ``model.body`` gives the (N, ``embed_dim``) embedding.

    Raises
    ------
    KeyError
        Unknown name.
    FileNotFoundError
        The recorded folder no longer exists.
    ValueError
        The folder holds other weights than the model was recorded with.

    Examples
    --------
    >>> model = get_model(adata, "finetuned_K562")  # doctest: +SKIP
    >>> logits = model(one_hot(adata.obsm["sequence"][:8]))  # doctest: +SKIP
    """
    record = get_record(adata, name)
    model = load_recorded(name, record)
    logger.debug("loaded model %r from %s", name, record.path)
    return model


def record_path(name: str, record: ModelRecord) -> Path:
    """Return the model folder of a record; raise if it holds other weights than the record was made with.

    Raises
    ------
    FileNotFoundError
        The folder no longer exists.
    ValueError
        The folder's weights are not those the record was made with (its ``weights_sha256``):
        the folder was replaced, by another run or by hand.
    """
    from chromseq.models import read_model_card

    path = Path(record.path)
    if not path.exists():
        raise FileNotFoundError(
            f"model {name!r} was saved to {str(path)!r}, which no longer exists; retrain it, or point "
            f"adata.uns['chromseq']['models'][{name!r}]['path'] at the folder's new place."
        )
    meta = read_model_card(path)
    want = record.weights_sha256
    if want:
        have = str(meta.get("weights_sha256") or "unknown")
        if have != want:
            raise ValueError(
                f"model {name!r} in adata.uns['chromseq']['models'] was saved with weights {want}, but its folder "
                f"{str(path)!r} now holds other weights ({have}): the folder was replaced by another run or by "
                f"hand. Retrain {name!r}, restore the folder, or apply the folder as a model of its own "
                "(chromseq.tl.predict(adata, models=<folder>))."
            )
    _check_agrees(name, record, meta, path)
    return path


def _check_agrees(name: str, record: ModelRecord, meta: dict[str, Any], path: Path) -> None:
    """Raise if the record's outputs, cell types, kind or network config differ from the folder it names."""
    from chromseq.models import config_from_dict

    try:
        folder = config_from_dict(dict(meta["config"]))
    except (TypeError, ValueError, KeyError):
        return  # a damaged folder: load_model names the file and the problem
    card = meta.get("card") if isinstance(meta.get("card"), dict) else {}
    differ = []
    if tuple(record.outputs) != tuple(folder.outputs):
        differ.append(f"outputs {list(record.outputs)} vs {list(folder.outputs)}")
    if record.kind and card.get("kind") and record.kind != card["kind"]:
        differ.append(f"kind {record.kind!r} vs {card['kind']!r}")
    if card and str(card.get("task") or "classification") != record.task:
        differ.append(f"task {record.task!r} vs {card.get('task') or 'classification'!r}")
    if record.kind and record.kind != "pretrain" and tuple(record.celltypes) != tuple(folder.outputs):
        differ.append(f"cell types (target) {list(record.celltypes)} vs {list(folder.outputs)}")
    if record.config:
        try:
            mine = record.network
        except (TypeError, ValueError) as err:
            differ.append(f"config ({err})")
        else:
            changed = [k for k, v in mine.to_dict().items() if folder.to_dict().get(k) != v and k != "preset"]
            if changed:
                differ.append(f"config fields {changed}")
    if differ:
        raise ValueError(
            f"model {name!r} in adata.uns['chromseq']['models'] does not agree with its folder {str(path)!r}: "
            f"{'; '.join(differ)} (record vs folder). The record was edited, or the folder belongs to another "
            f"model: fix or delete adata.uns['chromseq']['models'][{name!r}], or record the folder again with "
            "chromseq.tl.add_model."
        )


def load_recorded(name: str, record: ModelRecord) -> SequenceModel:
    """Load the model of record ``record`` (named ``name``) after :func:`record_path`'s checks."""
    from chromseq.models import load_model

    return load_model(record_path(name, record))


def output_index(adata: AnnData, name: str, celltype: str | None = None) -> int:
    """Column of ``celltype`` in the logits of model ``name``.

    Parameters
    ----------
    adata
        AnnData with the model recorded.
    name
        Model name.
    celltype
        A cell type the model predicts; ``None`` is allowed for single-output models
        (the pretrained model's output is ``'open'``).

    Returns
    -------
    The 0-based output column.

    Raises
    ------
    KeyError
        If the model has no output for ``celltype`` (the message lists its outputs).
    """
    outputs = list(get_record(adata, name).outputs)
    if celltype is None:
        if len(outputs) == 1:
            return 0
        raise ValueError(f"model {name!r} has several outputs {outputs}: pass celltype=<one of them>.")
    if celltype not in outputs:
        raise KeyError(f"model {name!r} has no output for {celltype!r}; its outputs are {outputs}.")
    return outputs.index(celltype)


def write_record(adata: AnnData, name: str, record: ModelRecord) -> bool:
    """Store ``record`` as ``uns['chromseq']['models'][name]`` (its plain dict); return whether one was replaced."""
    models = uns_chromseq(adata).setdefault(K.UNS_MODELS, {})
    replaced = name in models
    models[name] = record.to_dict()
    return replaced
