"""The typed record of a model in ``adata.uns['chromseq']['models'][name]`` (:class:`ModelRecord`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chromseq.models import ModelConfig, config_from_dict

#: Keys of the stored dict that are not fields (derived on writing, ignored on reading).
_DERIVED = ("target",)


@dataclass(frozen=True)
class ModelRecord:
    """What ``adata.uns['chromseq']['models'][name]`` says about one model.

    Stored in the AnnData as the plain, h5ad-safe dict of :meth:`to_dict` (so that an h5ad file
    stays readable without chromseq); read back with :meth:`from_dict`, which also accepts what
    an h5ad round trip makes of it (numpy arrays for lists) and records of older versions.

    Parameters
    ----------
    name
        Model name (the key in ``uns['chromseq']['models']``).
    kind
        ``'pretrain'``, ``'finetune'`` or ``'scratch'``.
    config
        The network config, as its ``to_dict`` writes it (with ``arch``; none: ChromTransfer).
    path
        The model folder.
    outputs
        Output names, in logit order (``('open',)`` for a pretrained model).
    celltypes
        The cell types the model predicts (empty for a pretrained model).
    preset
        Name of the network preset.
    history
        Per-epoch training history: equal-length lists (``epoch``, ``stage``, ``loss``, ``val_loss``, ...).
    fingerprint
        SHA-256 of the training data (sequences, labels, split of the rows trained on).
    base
        The pretrained model a fine-tuned model started from.
    params
        The training options of its kind, the seed in effect, the rows used (``n_train``, ``n_val``),
        and the torch CPU thread count and device it was trained with (``torch_threads``, ``device``).
    weights_sha256
        SHA-256 of the weights file when the folder was saved: a folder whose weights changed is refused.
    chromseq_version
        Version of chromseq that trained it.
    source, source_sha256
        For a model read from a file (:func:`chromseq.tl.add_model`): that file and its SHA-256.
    task
        ``'classification'`` (binary labels; outputs are logits) or ``'regression'`` (a quantity;
        outputs are in the target's units, or their log for the Poisson loss: see :attr:`link`).
    loss
        Training loss (``'bce'``, ``'mse'``, ``'poisson'``, ``'mse_cosine'``; empty: ``'bce'``).
    target_layer
        The layer the targets came from (empty: ``X``; ``'open'`` is ``obs['open']`` for a pretrained model).
    target_transform
        How those targets were transformed (``pp.normalize_targets``), in words; empty: as read.
    """

    name: str
    kind: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    outputs: tuple[str, ...] = ()
    celltypes: tuple[str, ...] = ()
    preset: str = ""
    history: dict[str, list] = field(default_factory=dict)
    fingerprint: str = ""
    base: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""
    chromseq_version: str = ""
    source: str = ""
    source_sha256: str = ""
    task: str = "classification"
    loss: str = ""
    target_layer: str = ""
    target_transform: str = ""

    @classmethod
    def for_network(cls, config: ModelConfig, *, name: str, kind: str, **fields: Any) -> ModelRecord:
        """Build the record of a network with ``config``: outputs, cell types and preset taken from it."""
        outputs = tuple(str(o) for o in config.outputs)
        return cls(
            name=name,
            kind=kind,
            config=config.to_dict(),
            outputs=outputs,
            celltypes=() if kind == "pretrain" else outputs,
            preset=config.preset,
            **fields,
        )

    @property
    def target(self) -> str | list[str]:
        """``'open'`` (pretrained; ``'signal'`` for regression pretraining), the cell type (one output) or the list of cell types."""
        if self.kind == "pretrain":
            return self.outputs[0] if self.outputs else "open"
        return self.celltypes[0] if len(self.celltypes) == 1 else list(self.celltypes)

    @property
    def network(self) -> ModelConfig:
        """The network config, of the family its ``arch`` names (no ``arch``: a :class:`~chromseq.models.ChromTransferConfig`).

        Raises
        ------
        KeyError
            The record has no config (it was not written by chromseq); the message names the model.
        """
        if not self.config:
            raise KeyError(
                f"the record of model {self.name!r} in adata.uns['chromseq']['models'] has no network config: it "
                "was not written by chromseq; delete it, or record the model again with chromseq.tl.add_model."
            )
        return config_from_dict(dict(self.config))

    @property
    def link(self) -> str:
        """How the network's outputs map to predictions: ``'logit'``, ``'identity'`` or ``'log'``.

        ``'logit'``: sigmoid, probabilities; ``'identity'``: values in the target's units;
        ``'log'``: exp, the rate of a Poisson model.
        """
        if self.task != "regression":
            return "logit"
        return "log" if self.loss == "poisson" else "identity"

    def replace(self, **changes: Any) -> ModelRecord:
        """Return a copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the h5ad-safe dict stored in ``uns`` (lists, str, numbers; ``target`` added for readers)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif f.name == "history":
                value = {k: list(v) for k, v in value.items()}
            elif isinstance(value, dict):
                value = dict(value)
            if f.name in ("source", "source_sha256", "loss", "target_layer", "target_transform") and not value:
                continue
            out[f.name] = value
        out["target"] = self.target
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> ModelRecord:
        """Read a stored record (after an h5ad round trip too); ``name`` if the dict has none.

        Missing keys (records of older versions, hand-made ones) take their defaults; what needs
        them says so (:attr:`network` without a config raises a ``KeyError`` naming the model).
        """
        label = str(data.get("name") or name or "?")
        config = {k: _plain(v) for k, v in dict(data.get("config") or {}).items()}
        head_outputs = [str(o) for o in np.atleast_1d(config.get("outputs", ["open"]))]
        kind = str(data.get("kind", ""))
        celltypes = _strings(data.get("celltypes", () if kind == "pretrain" else head_outputs))
        outputs = _strings(data["outputs"]) if "outputs" in data else (celltypes or ("open",))
        known = {f.name for f in dataclasses.fields(cls)}
        scalars = {
            k: str(data[k]) for k in known - {"config", "outputs", "celltypes", "history", "params"} if k in data
        }
        return cls(
            **{**scalars, "name": label, "kind": kind},
            config=config,
            outputs=outputs,
            celltypes=celltypes,
            history={str(k): list(_plain(v)) for k, v in dict(data.get("history") or {}).items()},
            params={str(k): _plain(v) for k, v in dict(data.get("params") or {}).items()},
        )


def _strings(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in np.atleast_1d(values)) if values is not None and len(values) else ()


def _plain(value: Any) -> Any:
    """Return numpy scalars and arrays (what h5ad gives back) as Python values and lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
