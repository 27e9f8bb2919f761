"""``tl.add_model``: record a model trained elsewhere (a published Keras ``.h5``, a folder) in an AnnData."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import chromseq
from chromseq import _keys as K
from chromseq._settings import logger
from chromseq._validate import check_name, uns_chromseq
from chromseq.models import SequenceModel, read_keras, read_model_card, save_model
from chromseq.models._io import weights_sha256
from chromseq.store import ModelRecord, models_of, write_record

if TYPE_CHECKING:
    from anndata import AnnData

#: File suffixes read as Keras HDF5 models.
KERAS_SUFFIXES = (".h5", ".hdf5")


def is_keras_file(source: Any) -> bool:
    """Return whether ``source`` is a path with a Keras HDF5 suffix (``.h5``, ``.hdf5``)."""
    return isinstance(source, str | os.PathLike) and Path(source).suffix.lower() in KERAS_SUFFIXES


def add_model(
    adata: AnnData,
    model: str | os.PathLike | SequenceModel,
    name: str | None = None,
    *,
    celltype: str | None = None,
    save_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> str:
    """Record a model in ``adata.uns['chromseq']['models']`` so that every ``tl`` function can use it.

    The headline use is a published ChromTransfer Keras model: its pre-trained body
    (``model_compiled.h5``) becomes a base for :func:`chromseq.tl.finetune`, and a
    fine-tuned one is applied by :func:`chromseq.tl.predict`, :func:`chromseq.tl.evaluate`,
    :func:`chromseq.tl.contributions` and :func:`chromseq.tl.motifs` like a model trained here.

    Parameters
    ----------
    adata
        Regions AnnData; with ``obsm['sequence']`` the model is recorded for that width.
    model
        A Keras ``.h5`` file (read with :func:`chromseq.models.read_keras` and saved as a
        chromseq model folder), a chromseq model folder (recorded where it is), or a
        network of any family (:func:`chromseq.models.build`; saved).
    name
        Name to record it under; default ``'<arch>_pretrained'`` (``'chromtransfer_pretrained'`` for a
        Keras file) for a pre-training head and ``'<arch>_<celltype>'`` for a fine-tuned one (the
        folder name for a chromseq folder).
    celltype
        Output name of a fine-tuned Keras model (default: the name of the folder holding
        the file, ``K562`` for ``rDHS/K562/model_compiled.h5``). Ignored for a pre-training head.
    save_dir
        Where the converted model folder ``<save_dir>/<name>`` is written (default
        :attr:`chromseq.settings.model_dir`).
    overwrite
        Replace a recorded model of the same name.

    Returns
    -------
    The name the model is recorded under.

    Raises
    ------
    ValueError
        ``name`` is taken (and ``overwrite`` is False), or the file is not a ChromTransfer model.
    FileNotFoundError
        ``model`` is a path that does not exist.

    Examples
    --------
    >>> name = cs.tl.add_model(adata, "tl_model_tf1/model_compiled.h5")  # doctest: +SKIP
    >>> cs.tl.finetune(adata, "K562", base=name)  # doctest: +SKIP
    """
    if name is not None:
        check_name(name, "name")  # a plain name, before the model is read
    name, record = model_record(adata, model, name=name, celltype=celltype, save_dir=save_dir, overwrite=overwrite)
    models = uns_chromseq(adata).setdefault(K.UNS_MODELS, {})
    if name in models and not overwrite and str(models[name].get("path")) != record.path:
        raise _taken(name)
    write_record(adata, name, record)
    logger.info("recorded model %r (%s, from %s) in adata.uns['chromseq']['models']", name, record.kind, model)
    return name


def model_record(
    adata: AnnData,
    model: str | os.PathLike | SequenceModel,
    *,
    name: str | None = None,
    celltype: str | None = None,
    save_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> tuple[str, ModelRecord]:
    """``(name, record)`` of ``model`` without recording it; Keras files and networks are saved as folders.

    A folder is not written over a model ``adata`` records under the same name, unless
    ``overwrite`` or it was converted from the same Keras file (equal SHA-256).
    """
    existing = models_of(adata)
    if not isinstance(model, str | os.PathLike):  # a network of any registered family
        name = name or _default_name(model)
        if name in existing and not overwrite:
            raise _taken(name)
        return _save(model, name, save_dir, source="", sha256="", overwrite=overwrite)
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(f"no model at {str(path)!r} (expected a Keras .h5 file or a chromseq model folder).")
    if path.is_dir():
        folder_name, record = record_from_folder(path)
        check_name(name or folder_name, "model name", "record it under a plain name: add_model(..., name='my_model')")
        return name or folder_name, record.replace(name=name or folder_name)
    if not is_keras_file(path):
        raise ValueError(f"{str(path)!r} is neither a model folder nor a Keras file ({', '.join(KERAS_SUFFIXES)}).")
    seq = adata.obsm.get(K.SEQUENCE) if K.SEQUENCE in adata.obsm else None
    width = int(np.shape(seq)[1]) if seq is not None else 600
    net = read_keras(path, seq_len=width, outputs=None if celltype is None else (celltype,))
    name, sha = name or _default_name(net), weights_sha256(path)
    if name in existing and not overwrite and existing[name].get("source_sha256") != sha:
        raise _taken(name)
    return _save(net, name, save_dir, source=str(path.absolute()), sha256=sha, overwrite=overwrite)


def _taken(name: str) -> ValueError:
    return ValueError(
        f"adata already has a different model named {name!r}; pass another name= (tl.add_model) or overwrite=True."
    )


def _default_name(net: SequenceModel) -> str:
    if net.config.head == "pretrain":
        return f"{net.config.arch}_pretrained"
    return f"{net.config.arch}_" + "_".join(net.outputs)


def _save(
    net: SequenceModel, name: str, save_dir, *, source: str, sha256: str, overwrite: bool
) -> tuple[str, ModelRecord]:
    """Save ``net`` as ``<save_dir>/<name>`` (a free ``<name>-2``... if taken) unless that folder holds the same file."""
    from chromseq.tl._fit_glue import model_paths
    from chromseq.train import model_folder

    kind = "pretrain" if net.config.head == "pretrain" else "finetune"
    record = ModelRecord.for_network(
        net.config, name=name, kind=kind, source=source, source_sha256=sha256, chromseq_version=chromseq.__version__
    )
    path, _ = model_paths(save_dir, name)
    if not (sha256 and not overwrite and _holds(path, sha256, record.config)):
        path = model_folder(path.parent, name, overwrite=overwrite)
        save_model(net, path, card=record.to_dict(), overwrite=overwrite)
        logger.info("saved %s model %r to %s", kind, name, path)
    weights = str(read_model_card(path).get("weights_sha256") or "")
    return name, record.replace(path=str(Path(path).absolute()), weights_sha256=weights)


def _holds(path: Path, sha256: str, config: dict[str, Any]) -> bool:
    """Whether the model folder ``path`` was converted from the Keras file of ``sha256`` with ``config``."""
    try:
        meta = read_model_card(path)
    except (FileNotFoundError, ValueError):
        return False
    return (meta.get("card") or {}).get("source_sha256") == sha256 and meta.get("config") == config


def record_from_folder(path: Path) -> tuple[str, ModelRecord]:
    """``(name, record)`` of a chromseq model folder, read from its model card."""
    meta = read_model_card(path)
    card = dict(meta.get("card") or {})
    name = str(card.get("name") or path.name)
    config = meta["config"]
    kind = card.get("kind", "pretrain" if config.get("head") == "pretrain" else "finetune")
    record = ModelRecord.from_dict({**card, "name": name, "kind": kind, "config": config}, name)
    weights = str(meta.get("weights_sha256") or record.weights_sha256)
    return name, record.replace(path=str(path.absolute()), weights_sha256=weights)
