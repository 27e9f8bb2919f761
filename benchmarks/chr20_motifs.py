"""The paper's interpretation claim on real data: which JASPAR motifs do the chr20 models use per cell line?

On ``chromseq.datasets.chromtransfer_chr20()`` (GRCh37 chr20, six cell lines), a cell-type agnostic
model is pretrained and fine-tuned to all six cell lines at once (one multi-head model, the recipe of
``benchmarks/transfer.py``). For each cell line, DeepLIFT/SHAP hypothetical contributions
(``tl.contributions``, dinucleotide-shuffled references) are computed on its positive regions, taken
split by split in the order of ``--splits`` (default: all test positives first, then validation, then
training positives) up to ``--max-regions``; TF-MoDISco and TOMTOM against JASPAR 2024 CORE
vertebrates (``tl.motifs``) name the patterns. Each top-3 match is tagged with the transcription-factor
family the paper names for that cell line (GATA for K562; HNF4/FOXA/CEBP for HepG2; PU.1/IRF/EBF for
GM12878; AP-1/FOX/GRHL for A549, HCT116, MCF7) or with a family shared by open chromatin everywhere
(CTCF, SP/KLF), and compared with a composition control: the same pattern with its positional information
removed (``tl.motifs`` computes it), since TOMTOM gives low-information patterns small q-values.

Writes into ``--out``: ``motif_matches.csv`` (patterns x top-3 JASPAR matches per cell line),
``celltypes.csv`` (regions explained per split, test AUROC beside the composition baselines, pattern
counts, status), ``motifs_<celltype>.png`` (``pl.motifs``: CWM logos beside their best match) and
``contributions.png`` (``pl.contributions``: the best-scored test positive under all six heads); prints a
table and one JSON line. Results and their discussion: benchmarks/README.md, "chr20 motifs vs. the paper".

    python benchmarks/chr20_motifs.py                                   # tiny preset, CPU, 1 thread
    python benchmarks/chr20_motifs.py --splits test                     # test positives only
    python benchmarks/chr20_motifs.py --preset chromtransfer --device cuda --max-regions 0
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transfer import RECIPES  # the same training recipes as the transfer benchmark (benchmarks/ is on sys.path)

import chromseq as cs
from chromseq import _keys as K
from chromseq.models import get_config

#: Families of the transcription factors the paper names per cell line, as regexes on JASPAR names
#: (a dimer such as ``FOS::JUN`` matches if one part does). AP-1 is the FOS/JUN/ATF/BATF bZIP family.
_EPITHELIAL = {"AP-1": r"FOS|JUN|BATF|ATF3", "FOX": r"FOX", "GRHL": r"GRHL"}
EXPECTED: dict[str, dict[str, str]] = {
    "K562": {"GATA": r"GATA"},
    "HepG2": {"HNF4": r"HNF4", "FOXA": r"FOXA", "CEBP": r"CEBP"},
    "GM12878": {"PU.1": r"SPI1|SPIB", "IRF": r"IRF", "EBF": r"EBF"},
    "A549": _EPITHELIAL,
    "HCT116": _EPITHELIAL,
    "MCF7": _EPITHELIAL,
}
#: Families found in open chromatin of every cell type (insulators, GC-rich promoters).
SHARED = {"CTCF": r"CTCF", "SP/KLF": r"SP\d|KLF\d"}
#: q-value under which a match counts as significant in the summaries.
QVAL = 0.05
#: A match counts as more than composition when its TOMTOM p-value is this many times smaller than
#: the p-value of the pattern's composition control for the same motif (``tl.motifs(control_factor=)``).
CONTROL_FACTOR = 100


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="tiny", choices=sorted(RECIPES), help="network preset and its recipe")
    p.add_argument("--celltypes", nargs="+", default=None, help="default: all six cell lines")
    p.add_argument("--device", default=None, help="torch device (default: chromseq.settings.device)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/chr20_motifs"), help="output folder")
    p.add_argument(
        "--max-regions", type=int, default=400, help="most positives explained per cell line (0: all of them)"
    )
    p.add_argument(
        "--splits",
        nargs="+",
        default=["test", "val", "train"],
        choices=["test", "val", "train"],
        help="splits whose positives are explained, taken in this order until --max-regions",
    )
    p.add_argument("--n-shuffles", type=int, default=20, help="DeepLIFT/SHAP references per region")
    p.add_argument("--min-metacluster-size", type=int, default=50, help="fewest seqlets of a sign for TF-MoDISco")
    p.add_argument("--n-leiden-runs", type=int, default=10, help="TF-MoDISco Leiden restarts")
    p.add_argument("--pretrain-epochs", type=int, default=None, help="pretraining epochs (default: the recipe's)")
    p.add_argument("--max-epochs", type=int, default=None, help="fine-tuning epochs (default: the recipe's)")
    p.add_argument("--logo-patterns", type=int, default=8, help="patterns drawn per cell line (most seqlets first)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--h5ad", type=Path, default=None, help="also write the AnnData (contributions, motifs) here")
    p.add_argument("--models", type=Path, default=None, help="keep the model folders here (default: a temporary one)")
    return p.parse_args(argv)


def train(adata, args: argparse.Namespace, models: str) -> dict:
    """Pretrain, fine-tune one multi-head model on all cell lines, predict and evaluate; return timings."""
    recipe = RECIPES[args.preset]
    pretrain = dict(recipe["pretrain"])
    if args.pretrain_epochs is not None:
        pretrain["max_epochs"] = args.pretrain_epochs
    runs = dict(recipe["runs"])
    if args.max_epochs is not None:
        runs["max_epochs"] = args.max_epochs
        runs["stage1_epochs"] = min(runs.get("stage1_epochs", args.max_epochs), args.max_epochs)
    common = {"random_state": args.seed, "device": args.device}
    t0 = time.perf_counter()
    cs.tl.pretrain(
        adata, preset=get_config(args.preset, **recipe["config"]),
        options=cs.tl.TrainingOptions(**pretrain, **common), save_dir=models,
    )  # fmt: skip
    t1 = time.perf_counter()
    cs.tl.finetune(
        adata, list(adata.var_names), multihead=True, options=cs.tl.TrainingOptions(**runs, **common), save_dir=models
    )
    t2 = time.perf_counter()
    cs.tl.predict(adata, device=args.device)
    cs.tl.evaluate(adata)
    history = adata.uns[K.UNS][K.UNS_MODELS]["pretrained"]["history"]
    return {
        "pretrain_seconds": round(t1 - t0, 1),
        "finetune_seconds": round(t2 - t1, 1),
        "pretrain_epochs": len(history["epoch"]),
        "pretrain_best_val_auroc": round(float(history["val_auroc"][int(np.argmin(history["val_loss"]))]), 4),
    }


def select_positives(adata, celltype: str, args: argparse.Namespace) -> tuple[np.ndarray, dict[str, int]]:
    """Boolean mask of the positives to explain (ACGT-only; split by split in ``--splits`` order) and counts."""
    labels = np.asarray(adata[:, celltype].X).ravel()
    no_n = ~(np.asarray(adata.obsm[K.SEQUENCE]) > 3).any(axis=1)
    split = adata.obs[K.SPLIT].to_numpy()
    rng = np.random.default_rng(args.seed)
    rows = np.concatenate([rng.permutation(np.flatnonzero((labels == 1) & no_n & (split == s))) for s in args.splits])
    if args.max_regions > 0:
        rows = rows[: args.max_regions]
    mask = np.zeros(adata.n_obs, dtype=bool)
    mask[rows] = True
    return mask, {s: int((mask & (split == s)).sum()) for s in args.splits}


def family(name: str, celltype: str) -> str:
    """The expected (paper) or shared family a JASPAR motif name belongs to, or ''."""
    parts = name.upper().split("::")
    for fam, pattern in {**EXPECTED.get(celltype, {}), **SHARED}.items():
        if any(re.match(pattern, part) for part in parts):
            return fam
    return ""


def explain(adata, celltype: str, args: argparse.Namespace) -> tuple[dict, pd.DataFrame]:
    """Contributions and motifs of one cell line; return its summary row and its patterns x matches table."""
    mask, counts = select_positives(adata, celltype, args)
    row = {"celltype": celltype, **{f"n_{s}": n for s, n in counts.items()}, "n_regions": int(mask.sum())}
    t0 = time.perf_counter()
    cs.tl.contributions(adata, celltype, mask=mask, n_shuffles=args.n_shuffles, random_state=args.seed)
    t1 = time.perf_counter()
    try:
        cs.tl.motifs(
            adata, celltype, mask=mask, min_metacluster_size=args.min_metacluster_size,
            n_leiden_runs=args.n_leiden_runs, control_factor=CONTROL_FACTOR,
        )  # fmt: skip
    except ValueError as err:  # modisco-lite raises on too few seqlets: record it, go on with the others
        row.update(contrib_seconds=round(t1 - t0, 1), motifs_seconds=round(time.perf_counter() - t1, 1))
        row.update(n_patterns=0, n_seqlets=0, status=f"modisco failed: {err}")
        return row, pd.DataFrame()
    t2 = time.perf_counter()
    result = adata.uns[K.UNS][K.UNS_MOTIFS][celltype]
    patterns, matches = result[K.MOTIF_PATTERNS], result[K.MOTIF_MATCHES]
    columns = patterns[["sign", "n_seqlets", "info_content"]].rename(columns={"info_content": "ic_mean"})
    table = matches.merge(columns, left_on="pattern", right_index=True)
    table.insert(0, "celltype", celltype)
    table["family"] = [family(n, celltype) for n in table["motif_name"]]
    table["expected"] = table["family"].isin(list(EXPECTED.get(celltype, {})))
    table["beats_control"] = table["beyond_composition"]  # tl.motifs' composition control
    n_pos = int((patterns["sign"] == "pos").sum())
    status = "ok" if len(patterns) else "no pattern"
    row.update(contrib_seconds=round(t1 - t0, 1), motifs_seconds=round(t2 - t1, 1), n_patterns=len(patterns))
    row.update(n_pos_patterns=n_pos, n_seqlets=int(patterns["n_seqlets"].sum()), status=status)
    return row, table


def add_metrics(rows: pd.DataFrame, adata) -> pd.DataFrame:
    """Test AUROC of the fine-tuned heads and of the composition baselines, beside each cell line."""
    metrics = adata.uns[K.UNS][K.UNS_METRICS]
    test = metrics[(metrics["split"] == "test")]
    for kind, col in (("finetune", "auroc_finetune"), ("baseline_gc", "auroc_gc"), ("baseline_kmer", "auroc_kmer")):
        sel = test[(test["kind"] == kind) | (test["model"] == kind)]
        rows[col] = rows["celltype"].map(sel.drop_duplicates("target").set_index("target")["auroc"]).round(3)
    return rows


def figures(adata, celltypes: list[str], summary: pd.DataFrame, args: argparse.Namespace) -> list[str]:
    """Write the motif logos of each cell line and one region's contributions in all of them."""
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    written = []
    for ct in celltypes:
        if summary.set_index("celltype").loc[ct, "n_patterns"] > 0:
            path = args.out / f"motifs_{ct}.png"
            axes = cs.pl.motifs(adata, ct, patterns=args.logo_patterns, show=False)
            axes[0].figure.savefig(path, dpi=80, bbox_inches="tight")  # 8 logo rows: keep the PNG small
            written.append(path.name)
            plt.close("all")
    # positives are cell-line specific (open there and only there): show the test positive its own head
    # scores highest, explained by all six heads
    region, owner = top_test_positive(adata, celltypes)
    mask = np.arange(adata.n_obs) == region
    for ct in celltypes:
        cs.tl.contributions(adata, ct, mask=mask, n_shuffles=args.n_shuffles, random_state=args.seed)
    cs.pl.contributions(adata, region, celltypes, window=200, show=False, save=args.out / "contributions.png")
    written.append(f"contributions.png ({adata.obs_names[region]}, a {owner} test positive)")
    plt.close("all")
    return written


def top_test_positive(adata, celltypes: list[str]) -> tuple[int, str]:
    """Row of the ACGT-only test positive with the highest predicted probability from its own cell line's head."""
    columns = {m["target"]: c for c, m in adata.uns[K.UNS][K.UNS_PREDICTIONS].items() if m["kind"] == "finetune"}
    pred = adata.obsm[K.PRED][[columns[ct] for ct in celltypes]].to_numpy(dtype=float)
    labels = np.asarray(adata[:, celltypes].X) == 1
    ok = (adata.obs[K.SPLIT] == "test").to_numpy() & ~(np.asarray(adata.obsm[K.SEQUENCE]) > 3).any(axis=1)
    score = np.where(labels & ok[:, None], pred, -np.inf)
    row, col = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(row), celltypes[col]


def verdict(table: pd.DataFrame, celltypes: list[str]) -> dict[str, dict[str, list[str]]]:
    """Per cell line, families among significant (q < QVAL) top-3 matches: all, and those beating the control."""
    out = {}
    for ct in celltypes:
        sig = table[(table["celltype"] == ct) & (table["qval"] < QVAL)] if len(table) else pd.DataFrame()
        if not len(sig):
            out[ct] = {"expected": [], "shared": [], "other": [], "beyond_composition": []}
            continue
        named = sig["family"].where(sig["family"] != "", sig["motif_name"])
        out[ct] = {
            "expected": sorted(set(sig.loc[sig["expected"], "family"])),
            "shared": sorted(set(sig.loc[~sig["expected"] & (sig["family"] != ""), "family"])),
            "other": sorted(set(sig.loc[sig["family"] == "", "motif_name"]))[:10],
            "beyond_composition": sorted(set(named[sig["beats_control"]])),
        }
    return out


def pattern_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per pattern: seqlets, mean information content, top-3 matches, families, control."""
    table = table.assign(match=[f"{n} ({q:.0e})" for n, q in zip(table["motif_name"], table["qval"], strict=True)])
    keys = ["celltype", "pattern"]
    wide = table.pivot_table(index=keys, columns="rank", values="match", aggfunc="first", sort=False)
    wide.columns = [f"match_{int(c) + 1}" for c in wide.columns]
    top = table[table["rank"] == 0].set_index(keys)
    wide.insert(0, "n_seqlets", top["n_seqlets"])
    wide.insert(1, "ic_bits", top["ic_mean"].round(2))
    wide["families"] = table.groupby(keys, sort=False)["family"].agg(lambda f: ",".join(sorted(set(f) - {""})))
    wide["ctrl_p/p_top"] = (top["control_pval"] / top["pval"]).map("{:.0e}".format)
    return wide


def print_table(table: pd.DataFrame, summary: pd.DataFrame) -> None:
    """Per cell line: the regions explained, then each pattern with its top-3 JASPAR matches."""
    with pd.option_context("display.width", 250, "display.max_rows", 500, "display.max_colwidth", 40):
        print(summary.to_string(index=False))
        if len(table):
            print(
                "\npatterns: trimmed seqlets' mean information content (bits/column), top-3 JASPAR matches "
                "(name (q-value)), families named by the paper or shared (any q), and how many times smaller "
                "the top match's p-value is than its composition control's"
            )
            print(pattern_table(table).to_string())


def main(argv: list[str] | None = None) -> None:
    """Train, explain, write the CSVs and the logos, print the table and the JSON line."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    adata = cs.datasets.chromtransfer_chr20(celltypes=args.celltypes)
    celltypes = list(adata.var_names)
    with tempfile.TemporaryDirectory(prefix="chromseq_chr20_motifs_") as tmp:
        models = str(args.models) if args.models is not None else tmp
        info = train(adata, args, models)
        t = time.perf_counter()
        rows, tables = zip(*(explain(adata, ct, args) for ct in celltypes), strict=True)
        info["explain_seconds"] = round(time.perf_counter() - t, 1)
        summary = add_metrics(pd.DataFrame(list(rows)), adata)
        table = (
            pd.concat([t for t in tables if len(t)], ignore_index=True)
            if any(len(t) for t in tables)
            else pd.DataFrame()
        )
        table.to_csv(args.out / "motif_matches.csv", index=False)
        summary.to_csv(args.out / "celltypes.csv", index=False)
        written = figures(adata, celltypes, summary, args)
        if args.h5ad is not None:
            adata.write_h5ad(args.h5ad)
    info["total_seconds"] = round(time.perf_counter() - start, 1)
    print_table(table, summary)
    print(
        json.dumps(
            {
                "benchmark": "chr20_motifs",
                "preset": args.preset,
                "device": str(cs.settings.resolve_device(args.device)),
                "threads": torch.get_num_threads(),
                "machine": platform.machine(),
                "splits": args.splits,
                "max_regions": args.max_regions,
                "n_shuffles": args.n_shuffles,
                "qval": QVAL,
                "celltypes": summary.set_index("celltype")[
                    ["n_regions", "n_patterns", "auroc_finetune", "auroc_kmer", "status"]
                ].to_dict(orient="index"),
                "families_found": verdict(table, celltypes),
                "figures": written,
                **info,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
