"""Checks run before a model is built or its weights are used: sizes, finite values, HDF5 storage.

A model file comes from elsewhere (a download, a colleague): it may be damaged or crafted. Here a
config is checked against sane sizes before any tensor is allocated, every weight is checked to be
finite, and an HDF5 file is walked before any dataset is read, refusing storage that would pull in
bytes from other files (external storage, external links, virtual datasets).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._config import ChromTransferConfig

#: Largest network chromseq builds from a file (parameters); the published model has about 0.4 million.
MAX_PARAMETERS = 100_000_000
#: Largest input width (bp) a file may declare.
MAX_SEQ_LEN = 1_000_000


def _conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k + 3 * c_out  # kernel, bias, batch norm (weight, bias; running stats are buffers)


def parameter_estimate(config: ChromTransferConfig) -> int:
    """Return the number of weights (parameters plus batch-norm statistics, within a few percent) of ``config``'s network.

    Computed from the config alone, so that a crafted config never allocates anything.
    """
    s, f, t, n = config.stem_filters, config.inner_filters, config.tail_filters, config.n_blocks
    half = f // 2
    k0, k1, k2, k3 = config.block_kernels
    body = _conv(4, s, config.stem_kernel)
    body += 2 * _conv(s, half, k0) + _conv(half, half, k0) + 2 * n * _conv(half, half, k1)
    body += 2 * _conv(n * half, f, k2) + _conv(f, f, k2) + 2 * n * _conv(f, f, k3)
    body += _conv(f, t, config.tail_kernels[0]) + _conv(t, t, config.tail_kernels[1])
    hidden = config.pretrain_hidden if config.head == "pretrain" else config.finetune_hidden
    widths = [config.embed_dim, *hidden, 1]
    head = sum(a * b + 3 * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    return int(body + config.n_outputs * head)


def check_size(config: ChromTransferConfig, where: str) -> None:
    """Raise a :class:`ValueError` naming ``where`` if ``config`` declares a network too large to be real.

    Parameters
    ----------
    config
        The config read from a file.
    where
        The file (and field) it came from, for the message.
    """
    if any(not isinstance(w, int) or w < 1 for w in (*config.pretrain_hidden, *config.finetune_hidden)):
        raise ValueError(
            f"{where}: the head widths must be positive ints; the file is damaged or not a chromseq model."
        )
    kernels = (config.stem_kernel, *config.block_kernels, *config.tail_kernels)
    if any(not isinstance(k, int) or k < 1 for k in kernels):
        raise ValueError(f"{where}: kernel sizes must be positive ints, got {kernels}; the file is damaged.")
    if config.seq_len > MAX_SEQ_LEN:
        raise ValueError(f"{where}: declares an input width of {config.seq_len:,} bp (at most {MAX_SEQ_LEN:,}).")
    n = parameter_estimate(config)
    if n > MAX_PARAMETERS:
        raise ValueError(
            f"{where}: declares a network of about {n:,} weights (inner_filters {config.inner_filters}, "
            f"stem_filters {config.stem_filters}, tail_filters {config.tail_filters}), more than chromseq's limit of "
            f"{MAX_PARAMETERS:,}: the file is damaged or crafted. Use the model's original file."
        )


def check_finite(tensors: Mapping[str, Any], where: str) -> None:
    """Raise a :class:`ValueError` naming the first tensor of ``tensors`` holding NaN or infinity.

    Parameters
    ----------
    tensors
        ``{name: torch tensor or numpy array}``; integer tensors are skipped.
    where
        The file the tensors came from, for the message.
    """
    import torch

    for name, value in tensors.items():
        t = torch.as_tensor(value)
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise ValueError(
                f"{where}: weight {name!r} holds {bad} NaN or infinite value(s) of {t.numel()}: the model is broken "
                "(training diverged, or the file is damaged). Use an earlier copy of the model, or retrain it."
            )


def config_sha256(config: Mapping[str, Any], weights: str) -> str:
    """``'sha256:<hex>'`` over the canonical JSON of a config and the weights' own hash.

    A model folder records it (``'sha256'`` in ``config.json``): an edited config field, or a deleted
    ``weights_sha256``, no longer matches.
    """
    text = json.dumps({"config": dict(config), "weights_sha256": str(weights)}, sort_keys=True, allow_nan=True)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- HDF5 -----------------------------------------------------------------------------------------------
#: Largest number of objects walked in a Keras file (the published ones hold a few hundred).
MAX_H5_OBJECTS = 100_000


def check_h5_storage(f: Any, where: str) -> None:
    """Walk an open :class:`h5py.File` and refuse storage that reads from outside it, before any data is read.

    Refused: external links, soft links to a path that is not in the file, datasets with HDF5 external
    storage (raw data in other files), virtual datasets (data mapped from other files), datasets that
    are not numbers.

    Parameters
    ----------
    f
        The open file.
    where
        Its path, for the message.
    """
    import h5py

    def refuse(name: str, what: str) -> ValueError:
        return ValueError(
            f"{where}: {name!r} is {what}, which reads data from outside the file; chromseq reads Keras models "
            "whose weights are all inside the .h5 file. Use the model's original file."
        )

    seen: set[int] = set()
    todo: list[str] = ["/"]
    count = 0
    while todo:
        path = todo.pop()
        group = f[path]
        key = hash(group.id)
        if key in seen:
            continue
        seen.add(key)
        for name in group:
            count += 1
            if count > MAX_H5_OBJECTS:
                raise ValueError(f"{where}: holds more than {MAX_H5_OBJECTS:,} HDF5 objects; not a Keras model file.")
            full = f"{path.rstrip('/')}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise refuse(full, f"an external link to {link.filename!r}")
            if isinstance(link, h5py.SoftLink):
                if link.path.split("/")[0] == "" and _resolves(f, link.path):
                    continue  # within the file; its target is walked where it lives
                raise refuse(full, f"a soft link to {link.path!r}, which is not a path in the file")
            obj = group.get(name)
            if isinstance(obj, h5py.Group):
                todo.append(full)
            elif isinstance(obj, h5py.Dataset):
                _check_dataset(obj, full, refuse, where)


def _resolves(f: Any, path: str) -> bool:
    """Whether ``path`` names an object in ``f`` through hard links only (no link is followed to find out)."""
    import h5py

    node = f["/"]
    for part in [p for p in path.split("/") if p]:
        if not isinstance(node, h5py.Group) or part not in list(node):
            return False
        if not isinstance(node.get(part, getlink=True), h5py.HardLink):
            return False
        node = node[part]
    return True


def _check_dataset(dset: Any, name: str, refuse, where: str) -> None:
    if dset.external:
        raise refuse(name, "a dataset with HDF5 external storage")
    if dset.is_virtual:
        raise refuse(name, "a virtual dataset")
    if dset.dtype.kind not in "fiubSUO":
        raise ValueError(f"{where}: dataset {name!r} holds {dset.dtype}, not numbers; the file is damaged.")
    if dset.size > MAX_PARAMETERS:
        raise ValueError(
            f"{where}: dataset {name!r} declares {dset.size:,} values (shape {dset.shape}), more than chromseq's "
            f"limit of {MAX_PARAMETERS:,}: the file is damaged or crafted."
        )


def check_dataset_shape(dset: Any, expected: tuple[int, ...], what: str) -> None:
    """Raise before reading if an HDF5 dataset's declared shape is not ``expected`` (a damaged or crafted file)."""
    shape = tuple(int(s) for s in np.shape(dset))
    if shape != tuple(expected):
        raise ValueError(f"{what} has shape {shape}, expected {tuple(expected)}.")
