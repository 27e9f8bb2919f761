"""Scale of ``pp`` on the genome-wide ChromTransfer labels: time and peak memory per step, 50k to 518k regions.

Usage::

    python benchmarks/bench_scale.py [--sizes 50000 200000 518332] [--labels DIR] [--seed 0]

For each size, a fresh process (so that peak memory is its own) builds a stand-in GRCh38 genome in
memory with :meth:`chromseq.Genome.from_arrays` (the 24 GRCh38 chromosome sizes, 3.09 Gb; random
sequence whose GC drifts between 128-kb blocks around 41 %, like isochores; N at the telomeres, in
the largest region-free stretch of each chromosome (its centromere or acrocentric arm) and in small
runs elsewhere), then times, on the real GRCh38 label CSVs (``{train,test}/<CELL>.csv`` of the
ChromTransfer paper, 518,332 unique regions; smaller sizes keep a seeded random subset of the
regions with all their lines):

* ``pp.read_regions`` (the six per-cell files, train and test joined);
* ``pp.add_sequences`` (600-bp windows from the in-memory genome);
* ``pp.add_background`` (GC-matched, as many windows as open regions);
* ``pp.split_by_chromosome(val=['chr8'], test=['chr2', 'chr3'])``.

Memory is the process resident set size (RSS): the peak of each step is the kernel's ``ru_maxrss``
when the step raised it, else the highest of /proc/self/statm sampled every 2 ms. The genome is part
of it (a :class:`~chromseq.Genome` holds 2 bits per base: 0.77 GB for GRCh38). The baseline, run in the same process, is ``pandas.read_csv`` of the same
label files (the floor of reading them). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_LABELS = Path(__file__).resolve().parents[2] / "shared" / "data" / "chromtransfer_grch38_labels"
FULL = 518_332
STEPS = ("read_regions", "add_sequences", "add_background", "split_by_chromosome")
TARGET_S, TARGET_BYTES = 120.0, 4e9
BLOCK = 1 << 17  # GC is constant within a 128-kb block
POOL = 1 << 22  # random sequence per GC level, 4 Mb
GC_LEVELS = np.linspace(0.32, 0.58, 14)


# -- label files -----------------------------------------------------------------
def read_label_lines(folder: Path) -> pd.DataFrame:
    """Every line of the 12 label files: cell, text, region key (``chrom:start-end``), chrom, start, end."""
    from chromseq.datasets._chromtransfer_full import CELLTYPES
    from chromseq.datasets._fetch import FILE_CELLS

    frames = []
    for cell in CELLTYPES:
        for split in ("train", "test"):
            path = next(
                p for p in (folder / split / f"{FILE_CELLS[cell]}{s}" for s in (".csv.gz", ".csv")) if p.exists()
            )
            with (gzip.open if path.suffix == ".gz" else open)(path, "rt") as fh:
                text = fh.read().splitlines()
            frames.append(pd.DataFrame({"cell": cell, "text": text}))
    lines = pd.concat(frames, ignore_index=True)
    lines["key"] = lines["text"].str.split(",", n=1).str[0]
    parts = lines["key"].str.extract(r"^(?P<chrom>[^:]+):(?P<start>\d+)-(?P<end>\d+)$")
    lines["chrom"], lines["start"], lines["end"] = (
        parts["chrom"],
        parts["start"].astype(np.int64),
        parts["end"].astype(np.int64),
    )
    return lines


def write_subset(lines: pd.DataFrame, size: int, folder: Path, seed: int) -> dict[str, str]:
    """Per-cell CSVs holding every line of ``size`` randomly chosen unique regions; returns {cell: path}."""
    keys = lines["key"].unique()
    if size > len(keys):
        raise SystemExit(f"--sizes: {size} is more than the {len(keys):,} unique regions of the label files")
    chosen = set(np.random.default_rng(seed).choice(keys, size=size, replace=False)) if size < len(keys) else None
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for cell, group in lines.groupby("cell", sort=False):
        rows = group if chosen is None else group[group["key"].isin(chosen)]
        files[cell] = str(folder / f"{cell}.csv")
        Path(files[cell]).write_text("\n".join(rows["text"]) + "\n")
    return files


# -- stand-in genome ---------------------------------------------------------------
def n_runs(lines: pd.DataFrame, seed: int) -> dict[str, list[tuple[int, int]]]:
    """N runs of the stand-in genome, placed where no labelled region lies."""
    from chromseq.datasets._chromtransfer_full import GRCH38_SIZES

    rng = np.random.default_rng(seed)
    regions = lines.drop_duplicates("key").groupby("chrom")
    runs = {}
    for chrom, size in GRCH38_SIZES.items():
        out = [(0, 10_000), (size - 10_000, size)]  # telomeres
        if chrom in regions.groups:
            g = regions.get_group(chrom).sort_values("start")
            lo = np.concatenate([[0], g["end"].to_numpy()])  # free stretches between regions
            hi = np.concatenate([g["start"].to_numpy(), [size]])
            free = np.flatnonzero(hi - lo > 200_000)
            big = free[np.argmax((hi - lo)[free])]
            out.append((int(lo[big]) + 50_000, int(hi[big]) - 50_000))  # centromere / acrocentric arm
            small = rng.choice(free, size=min(30, len(free)), replace=False)
            for i in small:  # short gaps, 100 bp to 50 kb, inside other free stretches
                length = int(rng.integers(100, min(50_000, (hi[i] - lo[i]) // 2)))
                start = int(rng.integers(lo[i] + 1_000, hi[i] - length - 1_000))
                out.append((start, start + length))
        else:  # no regions (chrX, chrY): a 3-Mb centromere at 40 %
            out.append((int(0.4 * size), int(0.4 * size) + 3_000_000))
        runs[chrom] = out
    return runs


def standin_genome(runs: dict[str, list[tuple[int, int]]], seed: int):
    """Yield (name, codes) of every GRCh38-sized chromosome: 128-kb blocks copied from random pools of drifting GC."""
    from scipy.signal import lfilter

    from chromseq.datasets._chromtransfer_full import GRCH38_SIZES

    rng = np.random.default_rng(seed)
    pools = []
    for gc in GC_LEVELS:
        u = rng.random(POOL, dtype=np.float32)
        strand = rng.integers(0, 2, POOL, dtype=np.uint8)
        pools.append(np.where(u < gc, 1 + strand, 3 * strand).astype(np.uint8))  # C/G or A/T
    for chrom, size in GRCH38_SIZES.items():
        n_blocks = -(-size // BLOCK)
        drift = lfilter([1.0], [1.0, -0.9], rng.normal(0, 0.02, n_blocks))  # AR(1): neighbouring blocks alike
        level = np.abs(GC_LEVELS[:, None] - (0.41 + drift)[None, :]).argmin(axis=0)
        offset = rng.integers(0, POOL - BLOCK, n_blocks)
        seq = np.empty(n_blocks * BLOCK, np.uint8)
        for i in range(n_blocks):
            seq[i * BLOCK : (i + 1) * BLOCK] = pools[level[i]][offset[i] : offset[i] + BLOCK]
        seq = seq[:size]
        for a, b in runs[chrom]:
            seq[a:b] = 4
        yield chrom, seq


# -- memory -----------------------------------------------------------------------
class PeakRSS:
    """Highest resident set size seen since :meth:`reset` (sampled), combined with the kernel's ru_maxrss."""

    def __init__(self, interval: float = 0.002) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._interval, self._peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._peak = max(self._peak, self.rss())

    def reset(self) -> None:
        self._maxrss = max_rss()
        self._peak = self.rss()

    def peak(self) -> int:
        now = max_rss()
        return max(self._peak, self.rss(), now if now > self._maxrss else 0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- one size, in its own process ----------------------------------------------------
def build_genome(runs_path: Path, seed: int):
    import chromseq as cs

    runs = {k: [tuple(r) for r in v] for k, v in json.loads(runs_path.read_text()).items()}
    return cs.Genome.from_arrays(standin_genome(runs, seed), name="GRCh38-standin")


def loader_worker(labels: str, runs_path: Path, seed: int) -> dict:
    """``datasets.chromtransfer`` end to end on local label files (no download), all six cell lines."""
    import chromseq as cs

    genome = build_genome(runs_path, seed)
    meter = PeakRSS()
    meter.reset()
    t0 = time.perf_counter()
    adata = cs.datasets.chromtransfer(genome, labels=labels, random_state=seed)
    out = {"s": time.perf_counter() - t0, "peak_rss": meter.peak(), "n_obs": adata.n_obs}
    meter.stop()
    return out


def worker(files: dict[str, str], runs_path: Path, seed: int) -> dict:
    import chromseq as cs
    from chromseq import _keys as K

    cs.settings.verbosity = 1
    t0 = time.perf_counter()
    genome = build_genome(runs_path, seed)
    genome_s = time.perf_counter() - t0
    meter = PeakRSS()
    out = {"genome_build_s": genome_s, "rss_after_genome": meter.rss(), "genome_bytes": genome.nbytes, "steps": {}}

    t0 = time.perf_counter()
    for path in files.values():
        pd.read_csv(path, header=None, names=["region", "label"])
    out["baseline_read_csv_s"] = time.perf_counter() - t0

    adata = None
    calls = {
        "read_regions": lambda: cs.pp.read_regions(files),
        "add_sequences": lambda: cs.pp.add_sequences(adata, genome),
        "add_background": lambda: cs.pp.add_background(adata, genome, random_state=seed),
        "split_by_chromosome": lambda: cs.pp.split_by_chromosome(adata, val=["chr8"], test=["chr2", "chr3"]),
    }
    for step in STEPS:
        meter.reset()
        t0 = time.perf_counter()
        result = calls[step]()
        seconds = time.perf_counter() - t0
        adata = result if step == "read_regions" else adata
        out["steps"][step] = {"s": seconds, "peak_rss": meter.peak(), "n_obs": adata.n_obs}
    meter.stop()
    out["n_regions"] = int((~adata.obs[K.BACKGROUND]).sum())
    out["n_background"] = int(adata.obs[K.BACKGROUND].sum())
    out["sequence_bytes"] = int(adata.obsm[K.SEQUENCE].nbytes)
    out["split_counts"] = {str(k): int(v) for k, v in adata.obs[K.SPLIT].value_counts().items()}
    out["max_rss"] = max_rss()
    return out


# -- driver -------------------------------------------------------------------------
def gib(n: float) -> float:
    return n / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000, FULL])
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="folder with {train,test}/<CELL>.csv[.gz]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loader", action="store_true", help="also time datasets.chromtransfer on --labels")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # JSON job file of one run
    args = parser.parse_args()
    if args.worker:
        job = json.loads(args.worker.read_text())
        if "labels" in job:
            print(json.dumps(loader_worker(job["labels"], Path(job["runs"]), job["seed"])))
        else:
            print(json.dumps(worker(job["files"], Path(job["runs"]), job["seed"])))
        return

    lines = read_label_lines(args.labels)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        runs = Path(tmp) / "n_runs.json"
        runs.write_text(json.dumps(n_runs(lines, args.seed)))
        for size in args.sizes:
            files = write_subset(lines, size, Path(tmp) / str(size), args.seed)
            results[size] = run_job(
                Path(tmp) / f"job_{size}.json", {"files": files, "runs": str(runs), "seed": args.seed}
            )
        loader = None
        if args.loader:
            loader = run_job(
                Path(tmp) / "job_loader.json", {"labels": str(args.labels), "runs": str(runs), "seed": args.seed}
            )
    report(results, loader)


def run_job(path: Path, job: dict) -> dict:
    """Run one job in a fresh Python process (its peak memory is its own); return its JSON result."""
    path.write_text(json.dumps(job))
    proc = subprocess.run([sys.executable, __file__, "--worker", str(path)], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{path.stem} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(results: dict[int, dict], loader: dict | None) -> None:
    print(f"{'regions':>9} {'step':<22}{'seconds':>9}{'peak RSS GiB':>14}{'n_obs':>11}")
    summary = {}
    for size, r in results.items():
        for step in STEPS:
            s = r["steps"][step]
            print(f"{size:>9,} {step:<22}{s['s']:>9.2f}{gib(s['peak_rss']):>14.2f}{s['n_obs']:>11,}")
        total = sum(r["steps"][s]["s"] for s in STEPS)
        peak = max(r["steps"][s]["peak_rss"] for s in STEPS)
        print(
            f"{size:>9,} {'total':<22}{total:>9.2f}{gib(peak):>14.2f}   (before step 1: RSS {gib(r['rss_after_genome']):.2f} GiB "
            f"with the genome, {gib(r['genome_bytes']):.2f} GiB, built in {r['genome_build_s']:.1f} s; "
            f"read_csv baseline {r['baseline_read_csv_s']:.2f} s)"
        )
        summary[size] = {
            "total_s": round(total, 2),
            "peak_rss_gib": round(gib(peak), 3),
            "rss_before_gib": round(gib(r["rss_after_genome"]), 3),
            "genome_gib": round(gib(r["genome_bytes"]), 3),
            "steps_s": {s: round(r["steps"][s]["s"], 2) for s in STEPS},
            "steps_peak_rss_gib": {s: round(gib(r["steps"][s]["peak_rss"]), 3) for s in STEPS},
            "read_regions_vs_read_csv": round(r["steps"]["read_regions"]["s"] / r["baseline_read_csv_s"], 1),
            "n_regions": r["n_regions"],
            "n_background": r["n_background"],
            "split_counts": r["split_counts"],
        }
    sizes = sorted(results)
    if len(sizes) > 1:  # growth: exponent of time ~ n^k between the smallest and largest size
        a, b = summary[sizes[0]]["total_s"], summary[sizes[-1]]["total_s"]
        growth = round(float(np.log(b / a) / np.log(sizes[-1] / sizes[0])), 2)
    else:
        growth = None
    largest = summary[sizes[-1]]
    print(
        f"largest: {largest['total_s']:.1f} s (target < {TARGET_S:.0f} s), peak RSS {largest['peak_rss_gib']:.2f} GiB "
        f"(target < {TARGET_BYTES / 1e9:.0f} GB = {gib(TARGET_BYTES):.2f} GiB); time grows as n^{growth}"
    )
    if loader:
        print(
            f"datasets.chromtransfer (local labels, all steps): {loader['s']:.1f} s, peak RSS "
            f"{gib(loader['peak_rss']):.2f} GiB, {loader['n_obs']:,} rows"
        )
    result = {
        "benchmark": "bench_scale",
        "sizes": summary,
        "loader": {
            "s": round(loader["s"], 2),
            "peak_rss_gib": round(gib(loader["peak_rss"]), 3),
            "n_obs": loader["n_obs"],
        }
        if loader
        else None,
        "time_growth_exponent": growth,
        "meets_targets": largest["total_s"] < TARGET_S and largest["peak_rss_gib"] < gib(TARGET_BYTES),
        "cpu_count": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
