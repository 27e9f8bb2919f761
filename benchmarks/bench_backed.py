"""Memory per region and read speed of regions held in memory, backed (h5ad) or on disk (h5ad, zarr).

N random 600-bp regions x 6 cell types (float32 labels with NaN, the obs columns of ``pp``) are
written once as ``.h5ad`` and ``.zarr``. Each way of opening them runs in a fresh process:

- ``memory``: ``anndata.read_h5ad(path)`` (everything in RAM; the baseline);
- ``backed``: ``anndata.read_h5ad(path, backed='r')`` (``X`` on disk, ``obsm['sequence']`` in RAM);
- ``ondisk_h5ad`` / ``ondisk_zarr``: ``chromseq.data.read_backed(path)`` (``X`` and the sequences on disk).

Steps, with the memory they hold (NumPy and Python allocations traced by ``tracemalloc``; torch's
own per-batch buffers, whose size does not depend on N, are not counted) divided by N: open;
read all six label columns as training does (``celltype_labels``); stream every sequence through
``predict_proba`` in batches of 1,024 with reverse-complement averaging (a one-layer stand-in
model, so that reading, not the network, is timed; the peak during it, and what it leaves: the
predictions); and 200 shuffled training batches of 128 rows (the engine's access pattern).
Speeds are given as ratios to ``memory`` (run in the same invocation). Prints a table and one
JSON line.

    python benchmarks/bench_backed.py            # --n 200000 --width 600
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

MODES = ("memory", "backed", "ondisk_h5ad", "ondisk_zarr")
CELLTYPES = ["A549", "GM12878", "HCT116", "HepG2", "K562", "MCF7"]


def make_data(folder: Path, n: int, width: int, seed: int = 0) -> None:
    """Write the regions as regions.h5ad and regions.zarr."""
    import warnings

    import anndata as ad
    import pandas as pd

    from chromseq import _keys as K

    rng = np.random.default_rng(seed)
    x = (rng.random((n, len(CELLTYPES))) < 0.2).astype(np.float32)
    x[rng.random(x.shape) < 0.5] = np.nan
    start = np.sort(rng.choice(200_000_000, n, replace=False)).astype(np.int64) * 4
    chrom = pd.Categorical(rng.choice([f"chr{i}" for i in range(1, 23)], n))
    obs = pd.DataFrame(
        {
            K.CHROM: chrom,
            K.START: start,
            K.END: start + width,
            K.OPEN: rng.random(n) < 0.5,
            K.BACKGROUND: rng.random(n) < 0.3,
            K.GC: rng.random(n).astype(np.float32),
            K.SPLIT: pd.Categorical(rng.choice(["train", "val", "test"], n, p=[0.8, 0.1, 0.1])),
        },
        index=[f"{c}:{s}-{s + width}" for c, s in zip(chrom, start, strict=True)],
    )
    adata = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=CELLTYPES))
    adata.obsm[K.SEQUENCE] = rng.integers(0, 5, (n, width), dtype=np.uint8)
    adata.write_h5ad(folder / "regions.h5ad")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr v2 format notice
        adata.write_zarr(folder / "regions.zarr")


def open_regions(mode: str, folder: Path):
    import anndata as ad

    from chromseq.data import read_backed

    if mode == "memory":
        return ad.read_h5ad(folder / "regions.h5ad")
    if mode == "backed":
        return ad.read_h5ad(folder / "regions.h5ad", backed="r")
    return read_backed(folder / ("regions.h5ad" if mode == "ondisk_h5ad" else "regions.zarr"))


def worker(mode: str, folder: Path) -> dict:
    """Open the regions one way, then time and measure each step (run in a fresh process)."""
    import torch

    from chromseq import _keys as K
    from chromseq.data import BatchSampler, SequenceDataset, dataset_from_anndata
    from chromseq.tl._fit_glue import celltype_labels
    from chromseq.train._inference import predict_proba

    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Conv1d(4, 1, 1), torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten())
    generator = torch.Generator().manual_seed(0)
    for param in model.parameters():
        torch.nn.init.normal_(param, generator=generator)
    # warm up with full batches, so that buffers of a constant size are not counted per region
    predict_proba(model, SequenceDataset(np.zeros((2048, 600), np.uint8)), batch_size=1024, device="cpu")
    out = {"mode": mode}
    tracemalloc.start()
    t0 = time.perf_counter()
    adata = open_regions(mode, folder)
    out["open_s"] = time.perf_counter() - t0
    out["n"], out["open"] = adata.n_obs, tracemalloc.get_traced_memory()[0]
    labels = celltype_labels(adata, CELLTYPES)
    out["labels"] = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    proba = predict_proba(model, dataset_from_anndata(adata), batch_size=1024, device="cpu", precision="fp32")
    out["stream_s"] = time.perf_counter() - t0
    out["stream"], out["stream_peak"] = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out["checksum"] = float(proba.astype(np.float64).sum())
    train = np.flatnonzero(adata.obs[K.SPLIT].to_numpy() == "train")
    data = SequenceDataset(dataset_from_anndata(adata).codes, labels, train)
    sampler = BatchSampler(len(data), 128, shuffle=True, generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    for i, idx in enumerate(sampler):
        if i == 200:
            break
        data[idx]
    out["random_rows_per_s"] = 200 * 128 / (time.perf_counter() - t0)
    return out


def run_mode(mode: str, folder: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", mode, "--folder", str(folder)], capture_output=True, text=True
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--width", type=int, default=600)
    parser.add_argument("--worker", choices=MODES)
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.folder)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_data(folder, args.n, args.width)
        rows = [run_mode(mode, folder) for mode in MODES]
    ref = rows[0]
    print(f"{args.n:,} regions x {args.width} bp x {len(CELLTYPES)} cell types; traced bytes per region")
    head = (
        "mode",
        "open",
        "+ labels",
        "stream peak",
        "after",
        "open s",
        "stream s",
        "vs memory",
        "random rows/s",
        "vs memory",
    )
    print(" | ".join(head))
    for r in rows:
        n = r["n"]
        print(
            " | ".join(
                [
                    r["mode"],
                    f"{r['open'] / n:.0f} B",
                    f"{r['labels'] / n:.0f} B",
                    f"{r['stream_peak'] / n:.0f} B",
                    f"{r['stream'] / n:.0f} B",
                    f"{r['open_s']:.2f}",
                    f"{r['stream_s']:.2f}",
                    f"{ref['stream_s'] / r['stream_s']:.2f}x",
                    f"{r['random_rows_per_s']:,.0f}",
                    f"{r['random_rows_per_s'] / ref['random_rows_per_s']:.2f}x",
                ]
            )
        )
    same = all(abs(r["checksum"] - ref["checksum"]) < 1e-6 * abs(ref["checksum"]) for r in rows)
    print(json.dumps({"bench": "backed", "n": args.n, "width": args.width, "same_predictions": same, "modes": rows}))


if __name__ == "__main__":
    main()
