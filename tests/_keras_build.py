"""Build ChromTransfer networks in Keras 3 (torch backend) and write them as TF1-era or Keras 3 ``.h5`` files.

Used by tests/test_keras.py and benchmarks/bench_keras.py. The topology follows Salvatore et al.
(2023); widths are parameters so that tests run fast. ``tf1_style`` rewrites a Keras 3 file the way
TF1-era Keras wrote it (``:0`` weight names, list-style ``inbound_nodes``, class ``Model``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")


def _layers():
    import keras

    return keras, keras.layers


def _unit(x, filters: int, kernel: int):
    keras, L = _layers()
    reg = keras.regularizers.l2(1e-4)
    x = L.Conv1D(
        filters, kernel, padding="same", activation="relu", kernel_initializer="he_normal", kernel_regularizer=reg
    )(x)
    x = L.BatchNormalization()(x)
    return L.Dropout(0.1)(x)


def _block(x, filters: int, kernel: int, *, projection: bool):
    _, L = _layers()
    main = _unit(_unit(x, filters, kernel), filters, kernel)
    short = _unit(x, filters, kernel) if projection else x
    return L.Add()([main, short])


def build_body(
    *, stem=16, inner=16, tail=16, n_blocks=3, stage2_blocks=None, wide_stage2=None, kernels=(25, 20, 15, 10, 5, 10, 5)
):
    """Keras ChromTransfer body: input (None, 4) -> global average pooling; returns (input, output)."""
    keras, L = _layers()
    k_stem, k_p1, k_id1, k_p2, k_id2, k_tail, k_last = kernels
    half = inner // 2
    inp = keras.Input(shape=(None, 4))
    h = _block(_unit(inp, stem, k_stem), half, k_p1, projection=True)
    outs = []
    for _ in range(n_blocks):
        h = _block(h, half, k_id1, projection=False)
        outs.append(h)
    full = wide_stage2 or inner
    h = _block(L.Concatenate(axis=-1)(outs), full, k_p2, projection=True)
    for _ in range(n_blocks if stage2_blocks is None else stage2_blocks):
        h = _block(h, full, k_id2, projection=False)
    h = _unit(h, tail, k_tail)
    h = L.Conv1D(tail, k_last, padding="same", activation="relu", name="last_CNN_layer")(h)
    return inp, L.GlobalAveragePooling1D()(h)


def head(x, hidden, *, extra_dense: bool = False, lambda_layer: bool = False):
    """Dense head: [Dense(relu) -> BN -> Dropout] per width, then Dense(1, sigmoid)."""
    _, L = _layers()
    if lambda_layer:
        x = L.Lambda(lambda t: t * 2.0)(x)
    for width in hidden:
        x = L.Dropout(0.1)(L.BatchNormalization()(L.Dense(width, activation="relu")(x)))
    if extra_dense:
        x = L.Dense(8, activation="relu")(x)
    return L.Dense(1, activation="sigmoid")(x)


def build(kind: str = "pretrain", *, seed: int = 0, nested: bool | None = None, head_kw=None, **body_kw):
    """A ChromTransfer Keras model with random weights and non-trivial batch-norm statistics.

    ``kind='pretrain'``: flat model, head (512, 128). ``kind='finetune'``: the pretrained body as a
    nested model under a (1024, 32) head, as in the authors' transfer-learning example.
    """
    keras, _ = _layers()
    keras.utils.set_random_seed(seed)
    inp, emb = build_body(**body_kw)
    hidden = (512, 128) if kind == "pretrain" else (1024, 32)
    if nested if nested is not None else kind == "finetune":
        body = keras.Model(inp, emb)
        outer = keras.Input(shape=(None, 4))
        model = keras.Model(outer, head(body(outer), hidden, **(head_kw or {})))
    else:
        model = keras.Model(inp, head(emb, hidden, **(head_kw or {})))
    rng = np.random.default_rng(seed)
    _random_batchnorm(model, rng)
    final = model.layers[-1]  # spread the outputs over (0, 1): logits of mean 0 and standard deviation ~1
    x = np.eye(4, dtype="float32")[rng.integers(0, 4, (64, 600))]
    feats = _numpy(keras.Model(model.inputs[0], final.input)(x, training=False))
    mu = feats.mean(0)[:, None]
    kernel = rng.normal(0, 1.0, final.kernel.shape)
    kernel -= (
        mu * ((mu.T @ kernel) / (mu.T @ mu)).item()
    )  # orthogonal to the mean feature: a small bias, no cancellation
    kernel = (kernel * 1.0 / max(float((feats @ kernel).std()), 1e-6)).astype("float32")
    final.set_weights([kernel, -(feats @ kernel).mean(0).astype("float32")])
    return model


def _numpy(x) -> np.ndarray:
    """A Keras output (a torch tensor under the torch backend) as a numpy array."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _bn_layers(model) -> list:
    keras, L = _layers()
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out += _bn_layers(layer)
        elif isinstance(layer, L.BatchNormalization):
            out.append(layer)
    return out


def _random_batchnorm(model, rng: np.random.Generator) -> None:
    """Random scales and shifts; moving statistics of a random batch, perturbed (as after training, not 0/1).

    Variances are kept above 0.05: channels dead on the batch would otherwise divide by sqrt(epsilon) and
    amplify float32 rounding far beyond what a trained network shows.
    """
    bns = _bn_layers(model)
    for layer in bns:
        n = layer.gamma.shape[0]
        layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
        layer.beta.assign(rng.normal(0, 0.2, n).astype("float32"))
        layer.momentum = 0.0  # one training-mode call sets the moving statistics to the batch's
    model(np.eye(4, dtype="float32")[rng.integers(0, 4, (64, 600))], training=True)
    for layer in bns:
        n = layer.gamma.shape[0]
        layer.momentum = 0.99
        mean, var = _numpy(layer.moving_mean), _numpy(layer.moving_variance)
        layer.moving_mean.assign((mean + rng.normal(0, 0.1, n) * np.sqrt(var)).astype("float32"))
        layer.moving_variance.assign((np.maximum(var, 0.05) * rng.uniform(0.7, 1.3, n)).astype("float32"))


def save(model, path: Path, *, compiled: bool = True) -> Path:
    """``model.save(path)`` in the legacy HDF5 format (with an optimizer state if ``compiled``)."""
    import warnings

    if compiled:
        model.compile(optimizer="adam", loss="binary_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(str(path))
    return path


def tf1_style(src: Path, dst: Path) -> Path:
    """Copy a Keras 3 ``.h5`` file and rewrite it the way TF1-era Keras 2 wrote one."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        f.attrs["keras_version"] = "2.2.4"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(_keras2_config(json.loads(f.attrs["model_config"])))
        root = f["model_weights"] if "model_weights" in f else f
        if "top_level_model_weights" in root:
            del root["top_level_model_weights"]
        names = [n.decode() if isinstance(n, bytes) else n for n in root.attrs["layer_names"]]
        names = [n for n in names if n != "top_level_model_weights"]
        root.attrs["layer_names"] = [n.encode() for n in names]
        for name in names:
            group = root[name]
            old = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
            for wn in old:
                group.move(wn, wn + ":0")
            group.attrs["weight_names"] = [(wn + ":0").encode() for wn in old]
    return dst


def _keras2_config(cfg: dict) -> dict:
    """Keras 3 model_config -> the Keras 2 form (class 'Model', list-style inbound nodes)."""
    out = {"class_name": "Model", "config": dict(cfg["config"])}
    layers = []
    for spec in cfg["config"]["layers"]:
        spec = dict(spec)
        hist = []
        for node in spec.get("inbound_nodes", []):
            hist.append([[*t, {}] for t in _histories(node["args"])])
        spec["inbound_nodes"] = hist
        if spec["class_name"] in ("Functional", "Model"):
            spec = {**_keras2_config(spec), "name": spec["name"], "inbound_nodes": hist}
        if spec["class_name"] == "InputLayer":
            spec["config"] = {**spec["config"], "batch_input_shape": spec["config"].pop("batch_shape")}
        layers.append(spec)
    out["config"]["layers"] = layers
    for key in ("input_layers", "output_layers"):
        value = cfg["config"][key]
        out["config"][key] = [value] if isinstance(value[0], str) else value
    return out


def _histories(x) -> list:
    if isinstance(x, dict):
        hist = x.get("config", {}).get("keras_history")
        return [list(hist)] if hist is not None else [h for v in x.values() for h in _histories(v)]
    if isinstance(x, list):
        return [h for v in x for h in _histories(v)]
    return []
