"""Speed of ``tl.score_variants`` on N SNVs against ``tl.predict`` on N windows, same model, same run.

N random SNVs on GRCh37 chr20 (REF from the genome, ALT another base) are scored with one model
(``tiny`` or ``chromtransfer`` preset, random weights: speed does not depend on them), reverse-complement
averaged. The baseline is :func:`chromseq.tl.predict` on an AnnData holding the N reference windows
(sequences already cut, so it times inference only). Scoring predicts 2N windows (reference and
alternative), so the floor of the ratio is ~2; what lies above it is the overhead of reading the
VCF-like table, checking REF, cutting windows and assembling the AnnData (timed separately, with no model).
The three timed calls take turns, ``--repeats`` times, and the best of each is kept; wall-clock and
process CPU time are both reported (with one thread, CPU time is robust to other jobs on a shared
machine). Prints a table and one JSON line.

    python benchmarks/bench_variants.py                   # --n 10000 --preset tiny --threads 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

GENOME = Path(__file__).resolve().parents[2] / "shared" / "data" / "genome_grch37_chr20" / "20.fa.gz"


def snvs(genome, n: int, seed: int = 0) -> pd.DataFrame:
    """N SNVs at random ACGT positions of chromosome 20 (1-based positions)."""
    from chromseq._codes import decode

    rng = np.random.default_rng(seed)
    seq = genome.chromosome("20")
    pos = rng.integers(1_000, len(seq) - 1_000, 3 * n)
    pos = np.sort(pos[seq[pos] < 4][:n])
    ref = seq[pos]
    alt = ((ref + rng.integers(1, 4, n)) % 4).astype(np.uint8)
    return pd.DataFrame({"chrom": "20", "pos": pos + 1, "ref": list(decode(ref)), "alt": list(decode(alt))})


def setup(folder: Path, preset: str, genome):
    """An AnnData recording one random-weight model of ``preset``."""
    import anndata as ad
    import torch

    from chromseq import _keys as K
    from chromseq.models import PRESETS, ChromTransfer, save_model

    config = PRESETS[preset].replace(outputs=("K562",), head="finetune")
    model = ChromTransfer(config, generator=torch.Generator().manual_seed(0)).eval()
    path = save_model(model, folder / "finetuned_K562")
    adata = ad.AnnData(np.zeros((0, 1), np.float32), var=pd.DataFrame(index=["K562"]))
    adata.uns[K.UNS] = {
        K.UNS_MODELS: {
            "finetuned_K562": {
                "kind": "finetune",
                "celltypes": ["K562"],
                "outputs": ["K562"],
                "path": str(path),
                "config": config.to_dict(),
            }
        }
    }
    return adata, config.seq_len


def timed(fn) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call (CPU time is robust to other jobs on a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(repeats: int, **fns) -> dict[str, tuple[float, float]]:
    """Best (wall, cpu) of each function, the functions taking turns so that load changes hit all alike."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            runs[name].append(timed(fn))
    return {name: (min(r[0] for r in rs), min(r[1] for r in rs)) for name, rs in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--preset", default="tiny", choices=["tiny", "chromtransfer"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import anndata as ad
    import torch

    import chromseq as cs
    from chromseq import _keys as K
    from chromseq.tl import _variants

    torch.set_num_threads(args.threads)
    cs.settings.verbosity = 0
    genome = cs.Genome(GENOME)
    table = snvs(genome, args.n)
    with tempfile.TemporaryDirectory() as tmp:
        adata, width = setup(Path(tmp), args.preset, genome)
        kw = {"genome": genome, "celltype": "K562", "batch_size": args.batch_size, "device": args.device}
        vdata = cs.tl.score_variants(adata, table, **kw)
        start = vdata.obs[K.WINDOW_START].to_numpy()
        regions = ad.AnnData(
            np.zeros((args.n, 1), np.float32),
            obs=pd.DataFrame({"chrom": "20", "start": start, "end": start + width}, index=vdata.obs_names),
            var=pd.DataFrame(index=["K562"]),
        )
        regions.obsm[K.SEQUENCE] = genome.windows("20", start, start + width)
        regions.uns[K.UNS] = {K.UNS_MODELS: dict(adata.uns[K.UNS][K.UNS_MODELS])}
        best = interleaved(
            args.repeats,
            score=lambda: cs.tl.score_variants(adata, table, **kw),
            predict=lambda: cs.tl.predict(regions, "finetuned_K562", batch_size=args.batch_size, device=args.device),
            windows=lambda: _variants._prepare(_variants.as_variant_table(table), genome, width, "error"),
        )
    (score, score_cpu), (predict, predict_cpu), (windows, _) = best["score"], best["predict"], best["windows"]
    result = {
        "n_snvs": args.n,
        "preset": args.preset,
        "width": width,
        "threads": args.threads,
        "device": args.device,
        "score_variants_s": round(score, 3),
        "windows_and_checks_s": round(windows, 3),
        "predict_s": round(predict, 3),
        "variants_per_s": round(args.n / score, 1),
        "predict_windows_per_s": round(args.n / predict, 1),
        "ratio_time_score_over_predict": round(score / predict, 3),
        "overhead_beyond_2x": round(score / (2 * predict) - 1, 3),
        "score_variants_cpu_s": round(score_cpu, 3),
        "predict_cpu_s": round(predict_cpu, 3),
        "ratio_cpu_time": round(score_cpu / predict_cpu, 3),
    }
    for k, v in result.items():
        print(f"{k:32s} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
