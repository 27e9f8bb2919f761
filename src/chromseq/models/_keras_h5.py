"""The layer graph of a Keras HDF5 model file, read with h5py only.

Keras writes a model's architecture as JSON (``model_config`` attribute) and its
weights as datasets, one group per layer listing its ``weight_names``: TF1-era Keras
names them ``conv1d_3/kernel:0``, Keras 3 ``conv1d_3/kernel``; with the optimizer state
the layers sit under ``model_weights``. Nothing stored in the file is unpickled or
executed: the JSON is parsed as data and a Lambda layer (Python code) is refused.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ._guards import check_h5_storage

_MODEL_CLASSES = ("Model", "Functional")
_CODE_CLASSES = ("Lambda", "TFOpLambda", "SlicingOpLambda")


@dataclass
class KerasLayer:
    """One layer of the flattened graph: its class, Keras config, inputs and (lazily read) weights."""

    name: str
    cls: str
    config: dict[str, Any]
    inputs: list[str]
    read_weights: Callable[[], dict[str, h5py.Dataset]] = field(repr=False, default=dict)
    _cache: dict[str, h5py.Dataset] | None = field(repr=False, default=None)

    def weights(self) -> dict[str, h5py.Dataset]:
        """``{'kernel': dataset, 'bias': ..., 'gamma': ..., 'moving_mean': ...}`` of this layer (not yet read)."""
        if self._cache is None:
            self._cache = self.read_weights()
        return self._cache


@dataclass
class KerasGraph:
    """A Keras functional model, nested models inlined: layers by name, their consumers, input and output."""

    layers: dict[str, KerasLayer]
    input: str
    output: str
    keras_version: str

    def consumers(self, name: str) -> list[str]:
        """Layers that take the output of ``name`` as an input, in file order."""
        return [n for n, layer in self.layers.items() if name in layer.inputs]

    def describe(self, names: list[str]) -> str:
        """``"Conv1D 'conv1d_3', Add 'add_1'"`` for error messages."""
        return ", ".join(f"{self.layers[n].cls} {n!r}" for n in names) or "nothing"


@contextlib.contextmanager
def open_keras_file(path: Path) -> Iterator[h5py.File]:
    """Open a Keras HDF5 file, refuse storage outside it (see :func:`check_h5_storage`), name the file in errors.

    A truncated or damaged file, a model_config that is not a Keras model description and a failed
    read of a weight become one :class:`ValueError` naming ``path``.
    """
    fix = "the file is truncated or damaged: download or save it again"
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{str(path)!r} cannot be read as HDF5 ({err}); {fix}.") from None
    try:
        with f:
            check_h5_storage(f, repr(str(path)))
            yield f
    except (RecursionError, AttributeError, TypeError, KeyError, IndexError) as err:
        raise ValueError(
            f"{str(path)!r}: its model_config is not a Keras model description ({type(err).__name__}: {err}); {fix}."
        ) from None
    except OSError as err:
        raise ValueError(f"{str(path)!r}: reading it failed ({err}); {fix}.") from None
    except ValueError as err:
        if str(path) in str(err):
            raise
        raise ValueError(f"{str(path)!r}: {err}") from None


def read_graph(f: h5py.File) -> KerasGraph:
    """Parse the model of an open Keras HDF5 file into a :class:`KerasGraph`.

    Raises
    ------
    ValueError
        The file holds weights only, a Sequential or subclassed model, a shared layer
        or a Lambda layer.
    """
    if "model_config" not in f.attrs:
        raise ValueError(
            "the file holds no model_config (it was written by model.save_weights, not model.save); "
            "chromseq needs the architecture to check it: save the model with model.save('model.h5')."
        )
    config = json.loads(_text(f.attrs["model_config"]))
    if not isinstance(config, dict):
        raise ValueError(f"model_config holds a JSON {type(config).__name__}, not a Keras model description.")
    root = f["model_weights"] if "model_weights" in f else f
    layers: dict[str, KerasLayer] = {}
    inputs, outputs = _add_model(
        config, layers, "", lambda name: _layer_weights(root, name), lambda name: _nested_weights(root, name)
    )
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"a ChromTransfer model has one input and one output; this one has {inputs} and {outputs}.")
    graph = KerasGraph(
        _collapse(layers), inputs[0], _resolve(layers, outputs[0]), _text(f.attrs.get("keras_version", ""))
    )
    return graph


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _add_model(
    config: dict[str, Any],
    layers: dict[str, KerasLayer],
    prefix: str,
    weights_of: Callable[[str], Callable[[], dict[str, h5py.Dataset]]],
    nested_of: Callable[[str], dict[str, dict[str, h5py.Dataset]]],
) -> tuple[list[str], list[str]]:
    """Add the layers of a functional model config (nested models inlined); return its input and output names."""
    cls = config.get("class_name")
    if cls not in _MODEL_CLASSES:
        raise ValueError(
            f"chromseq reads functional Keras models (class Model/Functional); this file holds a {cls!r} model."
        )
    body = config["config"]
    for spec in body["layers"]:
        layer_cfg = spec.get("config", {})
        name = str(spec.get("name") or layer_cfg.get("name"))
        kind = str(spec["class_name"])
        if kind in _CODE_CLASSES:
            raise ValueError(
                f"layer {name!r} is a {kind} layer, i.e. Python code stored in the file; chromseq never executes "
                "code from a model file and the ChromTransfer network has no such layer."
            )
        nodes = spec.get("inbound_nodes") or []
        if len(nodes) > 1:
            raise ValueError(f"layer {name!r} is called {len(nodes)} times (a shared layer); ChromTransfer has none.")
        inbound = [prefix + n for n in _history(nodes)]
        full = prefix + name
        if kind in _MODEL_CLASSES:
            nested = nested_of(name)  # deeper models' weights are in the same group, named by layer
            sub_in, sub_out = _add_model(
                spec, layers, full + "/", lambda n, w=nested: _pick(w, n), lambda n, w=nested: w
            )
            if len(sub_in) != 1 or len(sub_out) != 1:
                raise ValueError(f"nested model {name!r} must have one input and one output.")
            layers[sub_in[0]].inputs = inbound  # the nested input becomes a pass-through of the outer tensor
            layers[full] = KerasLayer(full, "_Pass", {}, [sub_out[0]])
            continue
        if kind == "InputLayer" and prefix and not inbound:
            kind = "_Pass"
        layers[full] = KerasLayer(full, kind, layer_cfg, inbound, weights_of(name))
    ends = [[prefix + str(e[0]) for e in _endpoints(body.get(k))] for k in ("input_layers", "output_layers")]
    return ends[0], ends[1]


def _endpoints(value: Any) -> list[list[Any]]:
    """``input_layers``/``output_layers``: ``[[name, 0, 0], ...]`` or (Keras 3, one tensor) ``[name, 0, 0]``."""
    if not value:
        return []
    return [value] if isinstance(value[0], str) else list(value)


def _history(nodes: list[Any]) -> list[str]:
    """Names of the layers feeding a layer's (single) call, for Keras 2 lists and Keras 3 dicts alike."""
    out: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            hist = x.get("config", {}).get("keras_history") if x.get("class_name") == "__keras_tensor__" else None
            if hist is not None:
                out.append(str(hist[0]))
                return
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            if len(x) >= 3 and isinstance(x[0], str) and isinstance(x[1], int):  # Keras 2: [name, node, tensor, kw]
                out.append(x[0])
                return
            for v in x:
                walk(v)

    for node in nodes:
        walk(node.get("args", []) if isinstance(node, dict) else node)
    return out


def _read_group(group: h5py.Group) -> dict[str, tuple[str, h5py.Dataset]]:
    """``{weight name: (short name, dataset)}`` of a layer group, in its ``weight_names`` order.

    The datasets are not read here: their shapes are checked against the network first.
    """
    names = [_text(n) for n in np.atleast_1d(group.attrs.get("weight_names", []))]
    out = {}
    for wn in names:
        short = wn.rsplit("/", 1)[-1].split(":", 1)[0]
        if wn not in group or not isinstance(group[wn], h5py.Dataset):
            raise ValueError(f"layer group {group.name!r} lists weight {wn!r}, which is not a dataset in the file.")
        out[wn] = (short, group[wn])
    return out


def _layer_weights(root: h5py.Group, name: str) -> Callable[[], dict[str, h5py.Dataset]]:
    def read() -> dict[str, h5py.Dataset]:
        if name not in root:
            raise ValueError(f"the file holds no weights for layer {name!r}.")
        return dict(_read_group(root[name]).values())

    return read


def _nested_weights(root: h5py.Group, name: str) -> dict[str, dict[str, h5py.Dataset]]:
    """Weights of a nested model's group, keyed by the inner layer (the weight name's second-last part)."""
    if name not in root:
        raise ValueError(f"the file holds no weights for nested model {name!r}.")
    out: dict[str, dict[str, h5py.Dataset]] = {}
    for wn, (short, arr) in _read_group(root[name]).items():
        parts = wn.split("/")
        out.setdefault(parts[-2] if len(parts) > 1 else "", {})[short] = arr
    return out


def _pick(nested: dict[str, dict[str, h5py.Dataset]], name: str) -> Callable[[], dict[str, h5py.Dataset]]:
    return lambda: dict(nested.get(name, {}))


def _resolve(layers: dict[str, KerasLayer], name: str) -> str:
    """Follow pass-through nodes (nested models, their inputs) to the layer that computes ``name``."""
    seen = 0
    while layers[name].cls == "_Pass" and layers[name].inputs:
        name, seen = layers[name].inputs[0], seen + 1
        if seen > len(layers):
            raise ValueError("the model graph has a cycle.")
    return name


def _collapse(layers: dict[str, KerasLayer]) -> dict[str, KerasLayer]:
    """Drop pass-through nodes, rewiring their consumers to the real producer."""
    out = {}
    for name, layer in layers.items():
        if layer.cls == "_Pass" and layer.inputs:
            continue
        layer.inputs = [_resolve(layers, i) for i in layer.inputs]
        out[name] = layer
    return out
