"""Is there signal in the networks beyond composition? Out-of-fold network vs. k-mer scores and their ensemble.

On the bundled chr20 data, K-fold cross-validation over 1-Mb blocks (the folds and validation units of
``tl.transfer_benchmark(cv=K)``): for every fold and cell line a ``fast`` network is trained from scratch on
the other folds and the k-mer logistic regression (the composition baseline) is fitted on the same
training rows; both score the fold. Printed per cell line: the AUROC of the pooled out-of-fold network
scores, of the k-mer scores, of their rank average (an ensemble that needs no fitting), and the rank
correlation of the two. If the networks held sequence signal that composition lacks, the ensemble would
beat the k-mer model clearly; if they mostly re-learn composition, it would not.

    python benchmarks/composition_overlap.py                   # 3 folds, 200 bp, ~10 min on one CPU thread
    python benchmarks/composition_overlap.py --cv 5 --width 600 --options '{"monitor": "val_auroc"}'
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

import chromseq as cs
from chromseq import _keys as K
from chromseq._intervals import block_weights, weighted_auroc
from chromseq._validate import sequence_codes
from chromseq.data import SequenceDataset
from chromseq.store import get_model
from chromseq.tl._baselines import fit_kmer_model, kmer_features
from chromseq.tl._crossval import assign_folds, fold_split, fold_units
from chromseq.tl._fit_glue import celltype_labels, check_regions
from chromseq.train._inference import predict_proba

#: The short CPU recipe of ``benchmarks/transfer.py --preset fast`` (every run).
RUNS = {"max_epochs": 6, "batch_size": 32, "patience": 3}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cv", type=int, default=3, help="folds of 1-Mb blocks")
    p.add_argument("--width", type=int, default=200, help="window width in bp (centred)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="fast", help="network preset of the scratch models")
    p.add_argument("--options", default=None, help="JSON changes to the runs' TrainingOptions")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return p.parse_args(argv)


def out_of_fold(adata, args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Pooled out-of-fold scores ``(n_obs, n_celltypes)`` of the scratch networks and the k-mer model."""
    celltypes = list(adata.var_names)
    labels = celltype_labels(adata, celltypes)
    units, _ = fold_units(adata, args.cv, 1_000_000)
    folds = assign_folds(units, args.cv, args.seed)
    features, _ = kmer_features(np.asarray(sequence_codes(adata)), [1, 2, 3, 4])
    options = cs.tl.TrainingOptions(**RUNS, random_state=args.seed, **json.loads(args.options or "{}"))
    scores = {kind: np.full(labels.shape, np.nan) for kind in ("network", "kmer")}
    with tempfile.TemporaryDirectory(prefix="chromseq_overlap_") as models:
        for fold in range(args.cv):
            adata.obs[K.SPLIT] = fold_split(units, folds, fold, random_state=args.seed)
            codes, rows = check_regions(adata)
            for j, ct in enumerate(celltypes):
                name = f"scratch_{ct}_fold{fold}"
                cs.tl.train(adata, ct, preset=args.preset, options=options, save_dir=models, key_added=name)
                test = rows["test"][~np.isnan(labels[rows["test"], j])]
                model = get_model(adata, name)
                scores["network"][test, j] = predict_proba(model, SequenceDataset(codes, None, test))[:, 0]
                train = rows["train"][~np.isnan(labels[rows["train"], j])]
                kmer = fit_kmer_model(features[train], labels[train, j].astype(np.int8))
                scores["kmer"][test, j] = kmer.predict_proba(features[test])[:, 1]
    return scores | {"labels": labels, "units": units}


def summary(scores: dict[str, np.ndarray], celltypes: list[str], units: np.ndarray, seed: int) -> pd.DataFrame:
    """AUROC of the network, the k-mer model and their rank average per cell line and their mean.

    ``ensemble-kmer`` is the paired difference with its 95 % block-bootstrap interval (1,000
    replicates resampling the 1-Mb blocks, as ``tl.transfer_benchmark(cv=)`` does).
    """
    weights = block_weights(units, 1000, seed)
    rows, differences = [], []
    for j, ct in enumerate(celltypes):
        known = ~np.isnan(scores["labels"][:, j])
        y = scores["labels"][known, j]
        net, kmer = rankdata(scores["network"][known, j]), rankdata(scores["kmer"][known, j])
        point = {
            k: float(weighted_auroc(y, v)[0])
            for k, v in (("network", net), ("kmer", kmer), ("rank_average", net + kmer))
        }
        differences.append(
            weighted_auroc(y, net + kmer, weights[:, known]) - weighted_auroc(y, kmer, weights[:, known])
        )
        rows.append({"celltype": ct, **point, "rank_correlation": float(np.corrcoef(net, kmer)[0, 1])})
    rows.append({"celltype": "mean", **{k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "celltype"}})
    differences.append(np.mean(differences, axis=0))
    table = pd.DataFrame(rows).set_index("celltype")
    table["ensemble-kmer"] = table["rank_average"] - table["kmer"]
    table["lower"] = [np.nanpercentile(d, 2.5) for d in differences]
    table["upper"] = [np.nanpercentile(d, 97.5) for d in differences]
    return table


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(name)s %(message)s", level=logging.WARNING)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    adata = cs.datasets.chromtransfer_chr20(width=args.width)
    scores = out_of_fold(adata, args)
    table = summary(scores, list(adata.var_names), scores["units"], args.seed)
    print(
        f"out-of-fold AUROC ({args.cv} folds of 1-Mb blocks, {args.width} bp, {args.preset} from scratch, seed {args.seed})"
    )
    print(table.round(3).to_string())
    info = {"benchmark": "composition_overlap", "cv": args.cv, "width": args.width, "preset": args.preset}
    info |= {"seed": args.seed, "options": json.loads(args.options or "{}"), "seconds": round(time.perf_counter() - t0)}
    info["mean"] = {k: round(float(v), 4) for k, v in table.loc["mean"].items()}
    print(json.dumps(info))


if __name__ == "__main__":
    main()
