"""Crafted or damaged Keras .h5 files are refused before any data is read or memory allocated (issue 25).

Class 5 (storage outside the file: HDF5 external storage, external links, soft links leaving the file,
virtual datasets), class 10 (non-finite weights), class 13 (declared sizes) and the messages of damaged
model_config JSON and truncated files. The files are made with h5py from one small Keras model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - another backend was configured first
    pytest.skip("the Keras tests build models with the torch backend", allow_module_level=True)

from chromseq.models import read_keras  # noqa: E402

_spec = importlib.util.spec_from_file_location("_keras_build", Path(__file__).with_name("_keras_build.py"))
kb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kb)

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

KERNEL = "model_weights/conv1d_1/conv1d_1/kernel"  # a convolution kernel of the first projection block


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keras") / "model.h5"
    keras.backend.clear_session()  # layer names (KERNEL) count from 1 whatever other tests built before
    kb.save(kb.build("pretrain", stem=8, inner=8, tail=8, n_blocks=1), path, compiled=False)
    read_keras(path)  # the untouched file reads
    return path


@pytest.fixture
def h5(original, tmp_path) -> Path:
    return Path(shutil.copyfile(original, tmp_path / "model.h5"))


def _secret(tmp_path, array: np.ndarray) -> Path:
    """Another local file the crafted model points into."""
    path = tmp_path / "secret.h5"
    with h5py.File(path, "w") as f:
        f["data"] = array
    return path


def _replace(f: h5py.File, name: str, make) -> None:
    del f[name]
    make(name)


# -- class 5: storage outside the file ------------------------------------------------------------------
def _external_storage(f, tmp_path):
    shape, dtype = f[KERNEL].shape, f[KERNEL].dtype
    raw = tmp_path / "secret.bin"
    raw.write_bytes(np.ones(shape, dtype).tobytes())
    _replace(f, KERNEL, lambda n: f.create_dataset(n, shape, dtype, external=[(str(raw), 0, raw.stat().st_size)]))


def _external_link(f, tmp_path):
    secret = _secret(tmp_path, np.ones(f[KERNEL].shape, f[KERNEL].dtype))
    _replace(f, KERNEL, lambda n: f.__setitem__(n, h5py.ExternalLink(str(secret), "/data")))


def _soft_link_out(f, tmp_path):
    _replace(f, KERNEL, lambda n: f.__setitem__(n, h5py.SoftLink("/nowhere/kernel")))


def _soft_link_to_external(f, tmp_path):
    secret = _secret(tmp_path, np.ones(f[KERNEL].shape, f[KERNEL].dtype))
    f["/elsewhere"] = h5py.ExternalLink(str(secret), "/data")
    _replace(f, KERNEL, lambda n: f.__setitem__(n, h5py.SoftLink("/elsewhere")))


def _virtual(f, tmp_path):
    shape, dtype = f[KERNEL].shape, f[KERNEL].dtype
    secret = _secret(tmp_path, np.ones(shape, dtype))
    layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
    layout[...] = h5py.VirtualSource(str(secret), "data", shape=shape)
    _replace(f, KERNEL, lambda n: f.create_virtual_dataset(n, layout))


@pytest.mark.parametrize(
    ("craft", "message"),
    [
        (_external_storage, "a dataset with HDF5 external storage"),
        (_external_link, "an external link to"),
        (_soft_link_out, "a soft link to '/nowhere/kernel', which is not a path in the file"),
        (_soft_link_to_external, "an external link to"),
        (_virtual, "a virtual dataset"),
    ],
    ids=["external-storage", "external-link", "soft-link-out", "soft-link-to-external-link", "virtual"],
)
def test_weights_stored_outside_the_file_are_refused_before_reading(h5, tmp_path, craft, message):
    with h5py.File(h5, "a") as f:
        craft(f, tmp_path)
    with pytest.raises(ValueError, match=rf"{h5.name}.*{message}.*reads data from outside the file"):
        read_keras(h5)


def test_a_soft_link_inside_the_file_is_followed(h5):
    with h5py.File(h5, "a") as f:
        f["/copy_of_kernel"] = f[KERNEL][()]
        _replace(f, KERNEL, lambda n: f.__setitem__(n, h5py.SoftLink("/copy_of_kernel")))
    assert read_keras(h5).config.inner_filters == 8


# -- class 10: non-finite weights ---------------------------------------------------------------------
@pytest.mark.parametrize("value", [np.nan, -np.inf])
def test_non_finite_keras_weights_are_refused_naming_the_layer(h5, value):
    with h5py.File(h5, "a") as f:
        f[KERNEL][0, 0, 0] = value
    with pytest.raises(ValueError, match=r"weight 'conv1d_1/kernel' holds 1 NaN or infinite value"):
        read_keras(h5)


# -- class 13: declared sizes -------------------------------------------------------------------------
def test_a_huge_declared_weight_is_refused_without_reading_it(h5):
    with h5py.File(h5, "a") as f:  # 4e8 float32 declared, nothing written: the file stays small
        _replace(f, KERNEL, lambda n: f.create_dataset(n, (400_000_000,), "f4", chunks=(1 << 16,)))
    assert h5.stat().st_size < 2_000_000
    with pytest.raises(ValueError, match=r"declares 400,000,000 values .* more than chromseq's limit"):
        read_keras(h5)


def test_a_weight_of_another_shape_is_refused_before_it_is_read(h5, monkeypatch):
    with h5py.File(h5, "a") as f:
        _replace(f, KERNEL, lambda n: f.create_dataset(n, (5_000_000, 4), "f4", chunks=(1 << 14, 4)))
    read = []
    original = h5py.Dataset.__getitem__
    monkeypatch.setattr(h5py.Dataset, "__getitem__", lambda self, key: read.append(self.name) or original(self, key))
    with pytest.raises(ValueError, match=r"weight 'kernel' of layer 'conv1d_1' has shape \(5000000, 4\), expected"):
        read_keras(h5)
    assert f"/{KERNEL}" not in read


def _edit_config(path: Path, edit) -> None:
    with h5py.File(path, "a") as f:
        config = json.loads(f.attrs["model_config"])
        edit(config)
        f.attrs["model_config"] = json.dumps(config)


def _set_filters(config: dict, filters: int) -> None:
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Conv1D":
            layer["config"]["filters"] = filters
            return


def test_huge_declared_filters_are_refused_before_the_network_is_built(h5, monkeypatch):
    _edit_config(h5, lambda c: _set_filters(c, 2_000_000))

    def never(*args, **kwargs):
        raise AssertionError("a network was built from a crafted model_config")

    monkeypatch.setattr("chromseq.models._keras.ChromTransfer", never)
    with pytest.raises(ValueError, match=r"declares a network of about [\d,]+ weights .* more than chromseq's limit"):
        read_keras(h5)


# -- messages: damaged model_config JSON, truncated files ------------------------------------------------
@pytest.mark.parametrize(
    "config",
    [
        "[" * 100_000 + "]" * 100_000,  # RecursionError in the JSON parser
        '{"class_name": "Functional"}',  # KeyError 'config'
        '{"class_name": "Functional", "config": {"layers": 5}}',  # TypeError
        '{"class_name": "Functional", "config": {"layers": [5]}}',  # AttributeError
        '{"class_name": "Functional", "config": {"layers": [{"config": {}}]}}',  # KeyError 'class_name'
        '"a string"',
        "{not json",
    ],
    ids=["deep", "no-config", "layers-int", "layer-int", "layer-no-class", "string", "not-json"],
)
def test_damaged_model_config_is_one_value_error_naming_the_file(h5, config):
    with h5py.File(h5, "a") as f:
        f.attrs["model_config"] = config
    with pytest.raises(ValueError, match=r"model\.h5") as err:
        read_keras(h5)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_a_truncated_h5_names_the_file(h5, fraction):
    data = h5.read_bytes()
    h5.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match=r"model\.h5.*truncated or damaged"):
        read_keras(h5)
