"""Throughput of sequence extraction: chromseq (whole-chromosome codes, vectorised) vs a per-region pyfaidx loop.

Usage::

    python benchmarks/bench_sequences.py [--n 500000] [--baseline-n 5000] [--fasta PATH]

Draws ``n`` random 600-bp windows on GRCh37 chr20 (regions say ``chr20``, the FASTA says ``20``) and times

* ``Genome.windows``: the core, with the chromosome already in memory;
* ``pp.add_sequences``: the AnnData function (extraction, GC/N counts, writing obsm/obs), with a warm Genome;
* ``pp.add_sequences`` cold: a new Genome, so the time includes reading chr20 from the bgzip FASTA;
* the baseline: ``pyfaidx.Fasta`` read region by region (then encoded to codes) on the first ``baseline-n``
  windows, on the bgzip file and on a plain copy of it (pyfaidx's fastest case).

Each warm figure is the best of ``--repeats`` runs. Peak memory of ``add_sequences`` is measured in a separate
run with ``tracemalloc`` (numpy reports its buffers to it). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import resource
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyfaidx
from anndata import AnnData

import chromseq as cs
from chromseq import _keys as K
from chromseq._codes import encode

DEFAULT_FASTA = Path(__file__).resolve().parents[2] / "shared" / "data" / "genome_grch37_chr20" / "20.fa.gz"


def regions(n: int, size: int, width: int, seed: int) -> AnnData:
    start = np.sort(np.random.default_rng(seed).integers(0, size - width, size=n))
    obs = pd.DataFrame(
        {K.CHROM: pd.Categorical(["chr20"] * n), K.START: start, K.END: start + width},
        index=[f"r{i}" for i in range(n)],
    )
    return AnnData(X=np.ones((n, 1), np.float32), obs=obs)


def best_of(repeats: int, func) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def pyfaidx_loop(path: Path, starts: np.ndarray, width: int) -> float:
    out = np.empty((len(starts), width), np.uint8)
    with pyfaidx.Fasta(str(path), as_raw=True, sequence_always_upper=True) as fasta:
        t0 = time.perf_counter()
        chrom = fasta["20"]
        for i, s in enumerate(starts.tolist()):
            out[i] = encode(chrom[s : s + width])
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--width", type=int, default=600)
    parser.add_argument("--baseline-n", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fasta", type=Path, default=DEFAULT_FASTA)
    args = parser.parse_args()
    n, width = args.n, args.width
    cs.settings.verbosity = 0  # random windows include N runs: no warning per call

    t0 = time.perf_counter()
    genome = cs.Genome(args.fasta)
    genome.chromosome("chr20")
    load_s = time.perf_counter() - t0
    adata = regions(n, genome.size("chr20"), width, seed=0)
    chrom, start, end = adata.obs[K.CHROM].to_numpy(), adata.obs[K.START].to_numpy(), adata.obs[K.END].to_numpy()

    core_s = best_of(args.repeats, lambda: genome.windows(chrom, start, end))
    warm_s = best_of(args.repeats, lambda: cs.pp.add_sequences(adata, genome, too_many_n="keep"))
    t0 = time.perf_counter()
    cs.pp.add_sequences(adata, cs.Genome(args.fasta), too_many_n="keep")
    cold_s = time.perf_counter() - t0

    tracemalloc.start()
    cs.pp.add_sequences(adata, genome, too_many_n="keep")
    peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    base = np.random.default_rng(1).permutation(start)[: args.baseline_n]
    expected = genome.windows(chrom[: len(base)], base, base + width)
    bgzip_s = pyfaidx_loop(args.fasta, base, width)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "20.fa"
        with gzip.open(args.fasta, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        pyfaidx.Faidx(str(plain)).close()  # build the index outside the timing
        plain_s = pyfaidx_loop(plain, base, width)
        with pyfaidx.Fasta(str(plain), as_raw=True) as fasta:  # correctness of the comparison
            assert all(
                (encode(fasta["20"][s : s + width]) == expected[i]).all() for i, s in enumerate(base[:200].tolist())
            )

    rate = {
        "core_warm": n / core_s,
        "add_sequences_warm": n / warm_s,
        "add_sequences_cold": n / cold_s,
        "pyfaidx_bgzip_loop": len(base) / bgzip_s,
        "pyfaidx_plain_loop": len(base) / plain_s,
    }
    result = {
        "benchmark": "bench_sequences",
        "n_windows": n,
        "width": width,
        "baseline_n": len(base),
        "windows_per_s": {k: round(v) for k, v in rate.items()},
        "speedup_add_sequences_warm_vs_pyfaidx_bgzip": round(
            rate["add_sequences_warm"] / rate["pyfaidx_bgzip_loop"], 1
        ),
        "speedup_add_sequences_warm_vs_pyfaidx_plain": round(
            rate["add_sequences_warm"] / rate["pyfaidx_plain_loop"], 1
        ),
        "speedup_add_sequences_cold_vs_pyfaidx_bgzip": round(
            rate["add_sequences_cold"] / rate["pyfaidx_bgzip_loop"], 1
        ),
        "chromosome_load_s": round(load_s, 3),
        "add_sequences_peak_mib": round(peak_mib, 1),
        "output_mib": round(n * width / 2**20, 1),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    print(f"{'method':<40}{'windows':>10}{'seconds':>10}{'windows/s':>14}")
    rows = [
        ("Genome.windows (chr20 in memory)", n, core_s),
        ("pp.add_sequences (warm Genome)", n, warm_s),
        ("pp.add_sequences (cold: + read chr20)", n, cold_s),
        ("pyfaidx loop, bgzip FASTA", len(base), bgzip_s),
        ("pyfaidx loop, plain FASTA", len(base), plain_s),
    ]
    for name, count, secs in rows:
        print(f"{name:<40}{count:>10,}{secs:>10.3f}{count / secs:>14,.0f}")
    print(
        f"chr20 read into codes: {load_s:.2f} s; add_sequences peak traced memory {peak_mib:.0f} MiB for a {n * width / 2**20:.0f} MiB output"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
