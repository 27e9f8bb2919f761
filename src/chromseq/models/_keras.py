"""Read published ChromTransfer Keras models (``.h5``) into :class:`ChromTransfer`.

The file's layer graph (see :mod:`._keras_h5`) is walked from the input along the
ChromTransfer topology: stem convolution, projection block, identity blocks whose
outputs are concatenated, projection block, identity blocks, two convolutions, global
average pooling, a dense head. Every layer is checked (class, padding, activation,
kernel, width) and an error names the first one that does not fit. Widths, kernels and
batch-norm settings come from the file; Keras kernels ``(k, in, out)`` become torch
``(out, in, k)``, dense kernels are transposed.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from chromseq._settings import logger

from ._config import PRESETS, ChromTransferConfig
from ._guards import check_dataset_shape, check_finite, check_size
from ._keras_h5 import KerasGraph, KerasLayer, open_keras_file, read_graph
from ._network import ChromTransfer

Unit = tuple[KerasLayer, KerasLayer]  # (Conv1D or Dense, BatchNormalization)
Block = tuple[Unit, Unit, Unit | None]  # main 1, main 2, shortcut (projection blocks)


@dataclass
class _Parsed:
    stem: Unit
    proj1: Block
    stage1: list[Block]
    proj2: Block
    stage2: list[Block]
    tail: Unit
    last: KerasLayer
    hidden: list[Unit]
    final: KerasLayer


def read_keras(
    path: str | os.PathLike,
    *,
    seq_len: int = 600,
    head: str | None = None,
    outputs: tuple[str, ...] | list[str] | None = None,
) -> ChromTransfer:
    """Read a ChromTransfer Keras HDF5 model (``model_compiled.h5`` and the like) into a torch network.

    Reads files written by TF1-era Keras and by TF2/Keras 3 (``model.save('x.h5')``), with
    or without the optimizer state, including fine-tuned models whose body is a nested
    model. Only h5py is used: nothing is unpickled or executed.

    Parameters
    ----------
    path
        The ``.h5`` file.
    seq_len
        Input width (bp) recorded in the config (the Keras models take any width; the
        published ones were trained on 600 bp).
    head
        ``'pretrain'`` or ``'finetune'``; ``None``: ``'finetune'`` if the hidden dense widths
        are the fine-tuning head's (1024, 32), else ``'pretrain'``.
    outputs
        Name of a fine-tuning head's output, the cell type: by default the name of the folder
        holding the file (the published layout is ``rDHS/<CELL>/model_compiled.h5``). A
        pretraining head's output is always ``'open'``.

    Returns
    -------
    :class:`~chromseq.models.ChromTransfer` in eval mode on CPU, one-hot (N, 4, L) -> logits (N, 1); its
    sigmoid equals the Keras model's output.

    Raises
    ------
    ValueError
        The file is not a ChromTransfer model: the message names the first layer that
        does not fit the topology, or the Lambda layer it holds.
    FileNotFoundError
        No such file.

    Examples
    --------
    >>> from chromseq.models import read_keras, save_model
    >>> net = read_keras("tl_model_tf1/model_compiled.h5")  # doctest: +SKIP
    >>> net.config.head, net.config.inner_filters  # doctest: +SKIP
    ('pretrain', 64)
    >>> save_model(net, "models/chromtransfer_pretrained")  # doctest: +SKIP
    """
    if head not in (None, "pretrain", "finetune"):
        raise ValueError(f"head must be None, 'pretrain' or 'finetune', got {head!r}.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Keras model file at {str(path)!r}.")
    if not h5py.is_hdf5(path):
        raise ValueError(
            f"{str(path)!r} is not an HDF5 file; chromseq reads Keras .h5 models (a Keras 3 '.keras' "
            "archive can be re-saved with model.save('model.h5'))."
        )
    with open_keras_file(path) as f:
        graph = read_graph(f)
        parsed = _parse(graph)
        config = _config(parsed, graph, seq_len=seq_len, head=head, outputs=outputs, path=path)
        check_size(config, repr(str(path)))  # before anything is allocated
        model = ChromTransfer(config)
        with torch.no_grad():
            _load(model, parsed)
    logger.info("read Keras model %s (Keras %s): %s", path, graph.keras_version or "?", config.head)
    return model.eval()


# -- walking the graph ------------------------------------------------------------------------------
def _fail(layer: str, why: str) -> ValueError:
    return ValueError(f"not a ChromTransfer model: {why} (at layer {layer!r}).")


def _next(g: KerasGraph, name: str, classes: tuple[str, ...], role: str) -> KerasLayer:
    found = [c for c in g.consumers(name) if g.layers[c].cls in classes]
    if len(found) != 1:
        raise _fail(name, f"expected one {'/'.join(classes)} ({role}) after it, found {g.describe(g.consumers(name))}")
    return g.layers[found[0]]


def _only_next(g: KerasGraph, name: str, cls: str, role: str) -> KerasLayer:
    cons = g.consumers(name)
    if len(cons) != 1 or g.layers[cons[0]].cls != cls:
        raise _fail(name, f"expected a {cls} ({role}) after it, found {g.describe(cons)}")
    return g.layers[cons[0]]


def _check(layer: KerasLayer, cls: str, activation: str) -> None:
    cfg = layer.config
    if layer.cls != cls:
        raise _fail(layer.name, f"expected a {cls}, found a {layer.cls}")
    if cfg.get("activation") != activation:
        raise _fail(layer.name, f"activation is {cfg.get('activation')!r}, ChromTransfer uses {activation!r}")
    if cls == "Conv1D":
        strides, dilation = np.ravel(cfg.get("strides", 1)), np.ravel(cfg.get("dilation_rate", 1))
        if cfg.get("padding") != "same" or strides.tolist() != [1] or dilation.tolist() != [1]:
            raise _fail(layer.name, "ChromTransfer convolutions use padding='same', stride 1 and no dilation")
        if cfg.get("data_format", "channels_last") != "channels_last" or cfg.get("groups", 1) != 1:
            raise _fail(layer.name, "ChromTransfer convolutions are channels_last and ungrouped")
    if not cfg.get("use_bias", True):
        raise _fail(layer.name, "the layer has no bias; ChromTransfer's do")


def _unit(g: KerasGraph, layer: KerasLayer, cls: str, role: str) -> tuple[Unit, str]:
    """``layer`` (Conv1D/Dense, ReLU) -> BatchNormalization -> Dropout; returns the unit and the dropout's name."""
    _check(layer, cls, "relu")
    bn = _only_next(g, layer.name, "BatchNormalization", role)
    drop = _only_next(g, bn.name, "Dropout", role)
    return (layer, bn), drop.name


def _block(g: KerasGraph, x: str, *, projection: bool, role: str) -> tuple[Block, str]:
    """Match a residual block on tensor ``x``: two conv units plus a conv unit (projection) or ``x``; the add."""
    convs = [g.layers[c] for c in g.consumers(x) if g.layers[c].cls == "Conv1D"]
    if len(convs) != (2 if projection else 1):
        want = "two convolutions (block and shortcut)" if projection else "one convolution"
        raise _fail(x, f"the {role} should start with {want} on it, found {g.describe(g.consumers(x))}")
    main1 = shortcut = None
    ends = [x]
    for conv in convs:
        unit, drop = _unit(g, conv, "Conv1D", role)
        after = g.consumers(drop)
        if len(after) == 1 and g.layers[after[0]].cls == "Conv1D" and main1 is None:
            main1 = unit
            main2, drop2 = _unit(g, g.layers[after[0]], "Conv1D", role)
            ends.append(drop2)
        elif projection and shortcut is None:
            shortcut = unit
            ends[0] = drop
    if main1 is None or (projection and shortcut is None):
        raise _fail(convs[0].name, f"the {role} does not have ChromTransfer's two-convolution branch")
    add = _next(g, ends[1], ("Add",), f"{role} sum")
    if sorted(add.inputs) != sorted(ends):
        raise _fail(add.name, f"the {role} adds {add.inputs}, expected {ends}")
    kernels = {_kernel(u[0]) for u in (main1, main2, shortcut) if u is not None}
    if len(kernels) != 1:
        raise _fail(add.name, f"the {role}'s convolutions have different kernel sizes {sorted(kernels)}")
    return (main1, main2, shortcut), add.name


def _parse(g: KerasGraph) -> _Parsed:
    inp = g.layers[g.input]
    shape = inp.config.get("batch_shape") or inp.config.get("batch_input_shape") or [None, None, 4]
    if shape[-1] != 4:
        raise _fail(inp.name, f"input has {shape[-1]} channels, expected one-hot DNA (4)")
    stem, h = _unit(g, _next(g, g.input, ("Conv1D",), "stem convolution"), "Conv1D", "stem")
    proj1, h = _block(g, h, projection=True, role="first projection block")
    stage1: list[Block] = []
    ends: list[str] = []
    while True:
        block, h = _block(g, h, projection=False, role=f"stage-1 identity block {len(stage1) + 1}")
        stage1.append(block)
        ends.append(h)
        if not any(g.layers[c].cls == "Conv1D" for c in g.consumers(h)) or len(stage1) > 64:
            break  # the last stage-1 block feeds only the concatenation
    concat = _next(g, h, ("Concatenate",), "stage-1 concatenation")
    if concat.inputs != ends or concat.config.get("axis", -1) not in (-1, 2):
        raise _fail(concat.name, f"it joins {concat.inputs} on axis {concat.config.get('axis')}, expected {ends} on -1")
    n_blocks = len(stage1)
    proj2, h = _block(g, concat.name, projection=True, role="second projection block")
    stage2: list[Block] = []
    for i in range(n_blocks):
        block, h = _block(g, h, projection=False, role=f"stage-2 identity block {i + 1} (of {n_blocks}, as stage 1)")
        stage2.append(block)
    if any(g.layers[c].cls == "Add" for c in g.consumers(h)):
        raise _fail(h, f"stage 2 has more identity blocks than stage 1 ({n_blocks}); ChromTransfer has as many in both")
    tail, h = _unit(g, _next(g, h, ("Conv1D",), "tail convolution"), "Conv1D", "tail")
    last = _next(g, h, ("Conv1D",), "last convolution")
    _check(last, "Conv1D", "relu")
    h = _only_next(g, last.name, "GlobalAveragePooling1D", "pooling").name
    hidden: list[Unit] = []
    while True:
        dense = _only_next(g, h, "Dense", "head")
        if dense.name == g.output:
            break
        unit, h = _unit(g, dense, "Dense", "head")
        hidden.append(unit)
    _check(dense, "Dense", "sigmoid")
    if g.consumers(dense.name):
        raise _fail(dense.name, f"the output Dense feeds {g.describe(g.consumers(dense.name))}")
    return _Parsed(stem, proj1, stage1, proj2, stage2, tail, last, hidden, dense)


# -- config ------------------------------------------------------------------------------------------
def _kernel(layer: KerasLayer) -> int:
    return int(np.ravel(layer.config.get("kernel_size"))[0])


def _filters(layer: KerasLayer) -> int:
    return int(layer.config.get("filters") or layer.config.get("units"))


def _config(
    p: _Parsed,
    g: KerasGraph,
    *,
    seq_len: int,
    head: str | None,
    outputs: tuple[str, ...] | list[str] | None,
    path: Path,
) -> ChromTransferConfig:
    half, full = _filters(p.proj1[0][0]), _filters(p.proj2[0][0])
    if full != 2 * half:
        raise _fail(
            p.proj2[0][0].name,
            f"the second stage has {full} filters; ChromTransfer's has twice the first stage's ({half}): F/2 and F",
        )
    tail = _filters(p.tail[0])
    if _filters(p.last) != tail:
        raise _fail(p.last.name, f"it has {_filters(p.last)} filters, the convolution before it {tail}; expected equal")
    final_units = _filters(p.final)
    if final_units != 1:
        raise _fail(p.final.name, f"the output Dense has {final_units} units; chromseq reads single-output models")
    bns = [u[1] for u in _units(p)]
    eps = {float(b.config.get("epsilon", 1e-3)) for b in bns}
    momentum = {float(b.config.get("momentum", 0.99)) for b in bns}
    if len(eps) != 1 or len(momentum) != 1:
        raise _fail(bns[0].name, f"batch normalisations differ in epsilon {sorted(eps)} or momentum {sorted(momentum)}")
    rates = Counter(float(d.config.get("rate", 0.1)) for d in g.layers.values() if d.cls == "Dropout")
    widths = tuple(_filters(u[0]) for u in p.hidden)
    if head is None:
        head = "finetune" if widths == PRESETS["chromtransfer"].finetune_hidden else "pretrain"
    if head == "pretrain":
        outputs = ("open",)
    elif outputs is None:
        outputs = (path.absolute().parent.name or "celltype",)
    config = ChromTransferConfig(
        preset="custom",
        seq_len=seq_len,
        stem_filters=_filters(p.stem[0]),
        stem_kernel=_kernel(p.stem[0]),
        inner_filters=full,
        block_kernels=(
            _kernel(p.proj1[0][0]),
            _kernel(p.stage1[0][0][0]),
            _kernel(p.proj2[0][0]),
            _kernel(p.stage2[0][0][0]),
        ),
        n_blocks=len(p.stage1),
        tail_filters=tail,
        tail_kernels=(_kernel(p.tail[0]), _kernel(p.last)),
        dropout=rates.most_common(1)[0][0] if rates else 0.1,
        l2=_l2(p.stem[0]),
        bn_momentum=round(1.0 - momentum.pop(), 12),  # Keras keeps momentum of the old value, torch of the new one
        bn_eps=eps.pop(),
        **{f"{head}_hidden": widths},
        head=head,
        outputs=tuple(outputs),
    )
    _check_kernels(p, config)
    if config.body_key() | {"seq_len": 0} == PRESETS["chromtransfer"].body_key() | {"seq_len": 0}:
        config = config.replace(preset="chromtransfer")
    return config


def _check_kernels(p: _Parsed, config: ChromTransferConfig) -> None:
    for blocks, k in ((p.stage1, config.block_kernels[1]), (p.stage2, config.block_kernels[3])):
        for block in blocks:
            if _kernel(block[0][0]) != k:
                raise _fail(
                    block[0][0].name, f"kernel {_kernel(block[0][0])} differs from the stage's first block ({k})"
                )


def _l2(layer: KerasLayer) -> float:
    reg = layer.config.get("kernel_regularizer") or {}
    return float((reg.get("config") or {}).get("l2", 0.0)) if isinstance(reg, dict) else 0.0


def _units(p: _Parsed) -> list[Unit]:
    units = [p.stem]
    for block in [p.proj1, *p.stage1, p.proj2, *p.stage2]:
        units += [u for u in block if u is not None]
    return [*units, p.tail, *p.hidden]


# -- weights ----------------------------------------------------------------------------------------
def _load(model: ChromTransfer, p: _Parsed) -> None:
    body = model.body
    _set_unit(body.stem, p.stem)
    stage1, stage2 = zip(body.stage1, p.stage1, strict=True), zip(body.stage2, p.stage2, strict=True)
    pairs = [(body.proj1, p.proj1), *stage1, (body.proj2, p.proj2), *stage2]
    for module, block in pairs:
        _set_unit(module.main[0], block[0])
        _set_unit(module.main[1], block[1])
        if block[2] is not None:
            _set_unit(module.shortcut, block[2])
    _set_unit(body.tail, p.tail)
    _set_param(body.last[0], p.last)
    head = model.heads[0]
    for i, unit in enumerate(p.hidden):
        _set_param(head[4 * i], unit[0])
        _set_bn(head[4 * i + 2], unit[1])
    _set_param(head[-1], p.final)


def _set_unit(unit: nn.Module, pair: Unit) -> None:
    _set_param(unit[0], pair[0])
    _set_bn(unit[2], pair[1])


def _copy(dst: torch.Tensor, layer: KerasLayer, key: str, *, transpose: bool = False) -> None:
    """Read weight ``key`` of ``layer`` into ``dst``, its declared shape checked first (Keras axes reversed)."""
    w = layer.weights()
    if key not in w:
        raise ValueError(f"layer {layer.name!r} has no weight {key!r} in the file (it has {sorted(w)}).")
    want = tuple(dst.shape)[::-1] if transpose else tuple(dst.shape)
    check_dataset_shape(w[key], want, f"weight {key!r} of layer {layer.name!r}")
    src = np.asarray(w[key][()], dtype=np.float32)
    check_finite({f"{layer.name}/{key}": src}, "the Keras file")
    dst.copy_(torch.from_numpy(np.ascontiguousarray(src.T if transpose else src)))  # (k, in, out) -> (out, in, k)


def _set_param(module: nn.Module, layer: KerasLayer) -> None:
    _copy(module.weight, layer, "kernel", transpose=True)
    _copy(module.bias, layer, "bias")


def _set_bn(module: nn.BatchNorm1d, layer: KerasLayer) -> None:
    for attr, key in (
        ("weight", "gamma"),
        ("bias", "beta"),
        ("running_mean", "moving_mean"),
        ("running_var", "moving_variance"),
    ):
        _copy(getattr(module, attr), layer, key)
