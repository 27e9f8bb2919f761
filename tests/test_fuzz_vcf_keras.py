"""Fuzzed VCF and Keras .h5 inputs: every outcome is a success or a ValueError naming the file (issue 25).

Seeded and fast. VCFs: lines mutated as in tests/test_fuzz_region_files.py, plus plain-gzip and bgzip
copies cut short or with flipped bytes. Keras files: model_config fields changed (types, sizes,
names, links between layers), weight datasets resized, retyped, removed or filled with NaN, and
file bytes cut short. Nothing else may escape: no raw KeyError/TypeError/RecursionError/OSError.
"""

from __future__ import annotations

import copy
import gzip
import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import chromseq as cs

N_VCF = 240
N_KERAS = 120


# -- VCF -------------------------------------------------------------------------------------------------
def _vcf_lines(rng: np.random.Generator) -> list[str]:
    head = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=20,length=64444167>",
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    pos = np.sort(rng.choice(np.arange(60_000, 5_000_000), 10, replace=False))
    alts = ["G", "T", "GA", "C,T", "<DEL>", "*", "."]
    body = [
        f"20\t{p}\trs{i}\t{'ACGT'[i % 4]}{'A' * (i % 3)}\t{alts[i % len(alts)]}\t50\tPASS\tDP={i}"
        for i, p in enumerate(pos)
    ]
    return head + body


_TOKENS = list("\t \n,:.-<>*0123456789ACGTNacgt;=") + ["\x00", "é", "1e400", "99999999999999999999", "##x"]


def _mutate_vcf(lines: list[str], rng: np.random.Generator) -> bytes:
    lines = list(lines)
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(2, len(lines))) if len(lines) > 2 else 0
        line, kind = lines[i], int(rng.integers(9))
        pos = int(rng.integers(len(line) + 1))
        if kind == 0:
            lines[i] = line[:pos] + str(rng.choice(_TOKENS)) + line[pos:]
        elif kind == 1 and line:
            lines[i] = line[:pos] + line[pos + 1 :]
        elif kind == 2:
            lines.insert(i, line)
        elif kind == 3 and len(lines) > 3:
            del lines[i]
        elif kind == 4:
            fields = line.split("\t")
            a, b = rng.integers(len(fields), size=2)
            fields[a], fields[b] = fields[b], fields[a]
            lines[i] = "\t".join(fields)
        elif kind == 5:
            numbers = list(re.finditer(r"\d+", line))
            if numbers:
                m = numbers[int(rng.integers(len(numbers)))]
                new = str(rng.choice(["-5", "3.5", "", "0", "18446744073709551617"]))
                lines[i] = line[: m.start()] + new + line[m.end() :]
        elif kind == 6:
            lines[i] = "\t".join(line.split("\t")[: int(rng.integers(1, 8))])
        elif kind == 7:
            lines = [ln + "\r" for ln in lines]
        else:
            text = "\n".join(lines) + "\n"
            return text[: int(rng.integers(len(text) + 1))].encode()
    return ("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass")


def _compress(data: bytes, rng: np.random.Generator, path: Path) -> Path:
    """Write ``data`` plain, plain gzip or bgzip; compressed copies may be cut short or get flipped bytes."""
    how = int(rng.integers(4))
    if how == 0:
        path.write_bytes(data)
        return path
    if how in (1, 2):
        blob = gzip.compress(data)
    else:
        from Bio import bgzf

        with bgzf.BgzfWriter(str(path), "wb") as fh:
            fh.write(data)
        blob = path.read_bytes()
    if how == 2 or how == 3 and rng.random() < 0.5:
        blob = blob[: int(rng.integers(10, len(blob)))] if rng.random() < 0.5 else _flip(blob, rng)
    path = path.with_name(path.name + ".gz")
    path.write_bytes(blob)
    return path


def _flip(blob: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(blob)
    for i in rng.integers(10, len(out), 3):
        out[i] ^= 0xFF
    return bytes(out)


def _check_table(frame) -> None:
    assert list(frame.columns)[:4] == ["chrom", "pos", "ref", "alt"]
    assert (frame["pos"].to_numpy() >= 0).all()
    assert frame["ref"].str.len().gt(0).all() and frame["alt"].str.len().gt(0).all()


def test_every_fuzzed_vcf_reads_or_fails_naming_the_file(tmp_path):
    rng = np.random.default_rng(20261207)
    seed = _vcf_lines(rng)
    outcomes, surprises = {"read": 0, "error": 0}, []
    for n in range(N_VCF):
        path = _compress(_mutate_vcf(seed, rng), rng, tmp_path / f"v{n}.vcf")
        try:
            frame = cs.io.read_vcf(path)
        except ValueError as err:
            if str(path) not in str(err) or "\n" in str(err):
                surprises.append(f"{path.name}: ValueError without the file, or on several lines: {str(err)[:300]}")
            outcomes["error"] += 1
        except Exception as err:  # noqa: BLE001 (the point: nothing else may escape)
            surprises.append(f"{path.name}: {type(err).__name__}: {str(err)[:300]}")
        else:
            _check_table(frame)
            outcomes["read"] += 1
    assert not surprises, "\n".join(surprises)
    assert outcomes["read"] > 20 and outcomes["error"] > 20, outcomes


# -- Keras .h5 -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras_file(tmp_path_factory) -> Path:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":  # pragma: no cover
        pytest.skip("the Keras files are built with the torch backend")
    spec = importlib.util.spec_from_file_location("_keras_build", Path(__file__).with_name("_keras_build.py"))
    kb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kb)
    path = tmp_path_factory.mktemp("keras") / "model.h5"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        kb.save(kb.build("pretrain", stem=8, inner=8, tail=8, n_blocks=1), path, compiled=False)
    return path


_VALUES = [None, 0, -1, 1.5, 2_000_000, "x", [], {}, [1, 2], True, "same", "valid"]


def _mutate_config(config: dict, rng: np.random.Generator) -> dict:
    config = copy.deepcopy(config)
    layers = config["config"]["layers"]
    for _ in range(int(rng.integers(1, 3))):
        layer = layers[int(rng.integers(len(layers)))]
        kind = int(rng.integers(6))
        if kind == 0 and layer.get("config"):  # a config field of a layer changed
            key = str(rng.choice(sorted(layer["config"])))
            layer["config"][key] = _VALUES[int(rng.integers(len(_VALUES)))]
        elif kind == 1:  # the layer's class changed
            layer["class_name"] = str(rng.choice(["Dense", "Conv1D", "Add", "Lambda", "Model", "Nope", ""]))
        elif kind == 2:  # its inputs rewired or removed
            layer["inbound_nodes"] = [] if rng.random() < 0.5 else copy.deepcopy(layers[0].get("inbound_nodes", []))
        elif kind == 3 and len(layers) > 2:  # a layer dropped or duplicated
            i = int(rng.integers(len(layers)))
            layers.insert(i, copy.deepcopy(layers[i])) if rng.random() < 0.5 else layers.pop(i)
        elif kind == 4:  # a key of the layer removed
            layer.pop(str(rng.choice(["config", "class_name", "inbound_nodes", "name"])), None)
        else:  # the model's endpoints changed
            key = str(rng.choice(["input_layers", "output_layers"]))
            config["config"][key] = _VALUES[int(rng.integers(len(_VALUES)))]
    return config


def _mutate_weights(f: h5py.File, rng: np.random.Generator) -> None:
    names: list[str] = []
    f["model_weights"].visit(lambda n: names.append(n) if isinstance(f["model_weights"][n], h5py.Dataset) else None)
    name = "model_weights/" + str(rng.choice(names))
    data, kind = f[name][()], int(rng.integers(5))
    del f[name]
    if kind == 0:  # another shape
        f[name] = np.zeros((int(rng.integers(1, 40)),) * int(rng.integers(1, 4)), np.float32)
    elif kind == 1:  # not numbers
        f[name] = np.array(["x"] * max(data.size, 1), dtype="S1")
    elif kind == 2:  # NaN
        f[name] = np.full(data.shape, np.nan, data.dtype)
    elif kind == 3:  # declared huge, not written
        f.create_dataset(name, (int(rng.integers(10**8, 10**9)),), "f4", chunks=(1 << 16,))
    # kind 4: removed


def _make_keras_case(original: Path, path: Path, rng: np.random.Generator) -> None:
    shutil.copyfile(original, path)
    kind = int(rng.integers(4))
    if kind == 3:  # cut short
        data = path.read_bytes()
        path.write_bytes(data[: int(rng.integers(0, len(data)))])
        return
    with h5py.File(path, "a") as f:
        if kind in (0, 2):
            f.attrs["model_config"] = json.dumps(_mutate_config(json.loads(f.attrs["model_config"]), rng))
        if kind in (1, 2):
            _mutate_weights(f, rng)


def test_every_fuzzed_keras_file_reads_or_fails_naming_the_file(keras_file, tmp_path):
    rng = np.random.default_rng(20261208)
    outcomes, surprises = {"read": 0, "error": 0}, []
    for n in range(N_KERAS):
        path = tmp_path / f"k{n}.h5"
        _make_keras_case(keras_file, path, rng)
        try:
            net = cs.models.read_keras(path)
        except ValueError as err:
            if str(path) not in str(err) or "\n" in str(err):
                surprises.append(f"{path.name}: ValueError without the file, or on several lines: {str(err)[:300]}")
            outcomes["error"] += 1
        except Exception as err:  # noqa: BLE001 (the point: nothing else may escape)
            surprises.append(f"{path.name}: {type(err).__name__}: {str(err)[:300]}")
        else:
            assert all(bool(p.isfinite().all()) for p in net.state_dict().values() if p.is_floating_point())
            outcomes["read"] += 1
    assert not surprises, "\n".join(surprises)
    assert outcomes["read"] >= 5 and outcomes["error"] > 50, outcomes
