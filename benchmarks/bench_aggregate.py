"""Throughput of ``pp.aggregate_celltypes`` on a single-cell ATAC-sized peak matrix, against baselines.

Usage::

    python benchmarks/bench_aggregate.py [--cells 20000] [--peaks 100000] [--density 0.01] [--types 10]

Builds a random sparse CSR count matrix (cells x peaks; ``density`` of the entries non-zero, as in
scATAC where a cell has reads in a few % of the peaks) with cells spread over ``types`` cell types, and times

* ``pp.aggregate_celltypes``: the AnnData function (validation, counting with ``scanpy.get.aggregate``,
  fractions, labels, building the regions x cell types AnnData);
* baseline "indicator": the bare computation, one sparse product ``G @ (X != 0)`` with a cell-type
  indicator matrix ``G`` (the floor any implementation pays);
* baseline "loop": one boolean row selection and column count per cell type, as a user would write it.

Each figure is the best of ``--repeats`` runs; peak traced memory (``tracemalloc``) of
``aggregate_celltypes`` is measured in a separate run. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import tracemalloc

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

import chromseq as cs


def peak_matrix(cells: int, peaks: int, density: float, types: int, seed: int) -> AnnData:
    rng = np.random.default_rng(seed)
    x = sparse.random(cells, peaks, density=density, format="csr", dtype=np.float32, rng=rng)
    x.data = rng.integers(1, 4, size=x.nnz).astype(np.float32)
    obs = pd.DataFrame({"cell_type": pd.Categorical(rng.integers(0, types, size=cells).astype(str))})
    obs.index = obs.index.astype(str)
    start = np.arange(peaks, dtype=np.int64) * 1000
    var = pd.DataFrame(index=[f"chr1:{s}-{s + 500}" for s in start])
    return AnnData(x, obs=obs, var=var)


def indicator(adata: AnnData) -> np.ndarray:
    codes = adata.obs["cell_type"].cat.codes.to_numpy()
    g = sparse.csr_matrix((np.ones(adata.n_obs, np.float32), (codes, np.arange(adata.n_obs))))
    x = adata.X.copy()
    x.data = (x.data != 0).astype(np.float32)
    return (g @ x).toarray()


def loop(adata: AnnData) -> np.ndarray:
    groups = adata.obs["cell_type"].to_numpy()
    return np.stack([np.asarray((adata.X[groups == t] != 0).sum(axis=0)).ravel() for t in np.unique(groups)])


def best(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cells", type=int, default=20_000)
    parser.add_argument("--peaks", type=int, default=100_000)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--types", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    adata = peak_matrix(args.cells, args.peaks, args.density, args.types, args.seed)
    result = cs.pp.aggregate_celltypes(adata, "cell_type", min_cells=1)
    reference = indicator(adata)
    order = np.argsort(adata.obs["cell_type"].cat.categories.to_numpy())
    assert np.allclose(result.layers["signal"] * result.var["n_cells"].to_numpy(), reference[order].T, atol=1e-2)

    times = {
        "aggregate_celltypes": best(lambda: cs.pp.aggregate_celltypes(adata, "cell_type", min_cells=1), args.repeats),
        "baseline_indicator": best(lambda: indicator(adata), args.repeats),
        "baseline_loop": best(lambda: loop(adata), args.repeats),
    }
    tracemalloc.start()
    cs.pp.aggregate_celltypes(adata, "cell_type", min_cells=1)
    peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    input_mib = (adata.X.data.nbytes + adata.X.indices.nbytes + adata.X.indptr.nbytes) / 2**20

    print(
        f"{args.cells:,} cells x {args.peaks:,} peaks, {adata.X.nnz:,} non-zero ({input_mib:.0f} MiB CSR), {args.types} types"
    )
    print(f"{'method':<22}{'seconds':>10}{'M nnz/s':>10}{'vs indicator':>14}")
    for name, sec in times.items():
        print(f"{name:<22}{sec:>10.3f}{adata.X.nnz / sec / 1e6:>10.1f}{sec / times['baseline_indicator']:>13.2f}x")
    print(f"peak traced memory of aggregate_celltypes: {peak_mib:.0f} MiB")
    record = {
        "benchmark": "aggregate_celltypes",
        "cells": args.cells,
        "peaks": args.peaks,
        "nnz": int(adata.X.nnz),
        "types": args.types,
        "seconds": {k: round(v, 4) for k, v in times.items()},
        "ratio_vs_indicator": round(times["aggregate_celltypes"] / times["baseline_indicator"], 3),
        "ratio_vs_loop": round(times["aggregate_celltypes"] / times["baseline_loop"], 3),
        "peak_traced_mib": round(peak_mib, 1),
        "input_mib": round(input_mib, 1),
        "machine": platform.machine(),
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
