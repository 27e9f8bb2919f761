"""The runs of ``tl.transfer_benchmark``: fine-tune and scratch models, and composition baselines, scored on one split."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chromseq._metrics import binary_metrics, kept_index
from chromseq._settings import logger
from chromseq._validate import sequence_codes
from chromseq.data import SequenceDataset
from chromseq.models import ModelConfig
from chromseq.store import BASELINE_GC, BASELINE_KMER, ModelRecord, gc_scores, get_model, models_of
from chromseq.train import predict_proba, progress_disabled

from ._baselines import fit_kmer_model, kmer_features
from ._finetune import finetune
from ._fit_glue import subsample
from ._options import TrainingOptions
from ._train import train

#: Kinds of model runs, in table order.
MODEL_KINDS = ("finetune", "scratch")


@dataclass(frozen=True)
class Runs:
    """The runs of one benchmark: every cell type x seed x fraction x kind, trained alike."""

    celltypes: list[str]
    fractions: list[float]
    seeds: list[int]
    #: How every run trains (``train_fraction``/``random_state`` set per run).
    options: TrainingOptions
    #: Network of the scratch runs (the pretrained model's).
    network: ModelConfig
    #: Folder of the runs' model folders.
    folder: Path


#: What the pretrained bodies of ``transfer_benchmark`` learn beside ``open``: nothing (the paper),
#: every cell type, or every cell type but the one fine-tuned from it.
PRETRAIN_CELLTYPES = ("none", "all", "others")


def pretraining_plan(
    var_names: list[str], base: str, celltypes: list[str], mode: str
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Return ``{cell type: pretrained model}`` and ``{pretrained model: its extra cell-type outputs}``.

    ``mode`` is one of :data:`PRETRAIN_CELLTYPES`; with ``'others'`` every cell type gets a
    body of its own, pretrained without its labels (named ``<base>_without_<cell type>``).
    """
    if mode not in PRETRAIN_CELLTYPES:
        raise ValueError(f"pretrain_celltypes must be one of {list(PRETRAIN_CELLTYPES)}, got {mode!r}.")
    if mode == "others":
        bases = {ct: f"{base}_without_{ct}" for ct in celltypes}
        return bases, {bases[ct]: [v for v in var_names if v != ct] for ct in celltypes}
    return dict.fromkeys(celltypes, base), {base: list(var_names) if mode == "all" else []}


def _run_all(work, runs: Runs, labels, codes, rows, split, bases: dict[str, str], scores=None):
    """Fine-tune and train every run and score it on ``split``.

    ``bases`` maps each cell type to the pretrained model its fine-tuning starts from. With
    ``scores`` (a dict), each run's ``(scored rows, scores)`` is kept under
    ``(celltype, fraction, seed, kind)``.
    """
    from chromseq.train import progress_bar

    tqdm = progress_bar()

    celltypes = runs.celltypes
    jobs = [(ct, s, f, kind) for ct in celltypes for s in runs.seeds for f in runs.fractions for kind in MODEL_KINDS]
    out = []
    for ct, seed, fraction, kind in tqdm(jobs, desc="transfer", disable=progress_disabled()):
        j = celltypes.index(ct)
        test_rows = rows[split][~np.isnan(labels[rows[split], j])]
        name = f"{kind}_{ct}_f{fraction:g}_s{seed}"
        run = {"options": runs.options.replace(train_fraction=fraction, random_state=seed), "key_added": name}
        start = time.perf_counter()
        if kind == "finetune":
            finetune(work, ct, base=bases[ct], save_dir=runs.folder, **run)
        else:
            train(work, ct, preset=runs.network, save_dir=runs.folder, **run)
        seconds = time.perf_counter() - start
        model = get_model(work, name)
        pred = predict_proba(model, SequenceDataset(codes, None, test_rows), device=runs.options.device)
        record = ModelRecord.from_dict(models_of(work).pop(name), name)
        row = {"celltype": ct, "fraction": fraction, "kind": kind, "model": name, "seed": seed, "split": split}
        row |= {"n_train": int(record.params["n_train"]), "n_train_pos": _n_pos(labels[:, j], rows, fraction, seed)}
        row |= binary_metrics(labels[test_rows, j], pred[:, 0]) | _history_fields(record, seconds)
        out.append(row)
        if scores is not None:
            scores[ct, fraction, seed, kind] = (test_rows, pred[:, 0])
        logger.info("transfer %s: %s auroc %.3f (%.0f s)", name, split, row["auroc"], seconds)
    return pd.DataFrame(out)


def _history_fields(record: ModelRecord, seconds: float) -> dict[str, Any]:
    """Epochs trained, the epoch whose weights were kept (as training recorded it) and the training time."""
    history = record.history
    best = int(history["epoch"][kept_index(history, record.params)])
    return {"epochs": len(history["epoch"]), "best_epoch": best, "seconds": seconds}


def _train_subset(y: np.ndarray, train_rows: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Return the training rows ``tl.finetune``/``tl.train`` use for this fraction and seed."""
    labelled = train_rows[~np.isnan(y[train_rows])]
    return subsample(labelled, y[:, None], fraction, seed)


def _n_pos(y: np.ndarray, rows: dict[str, np.ndarray], fraction: float, seed: int) -> int:
    return int((y[_train_subset(y, rows["train"], fraction, seed)] > 0.5).sum())


def _baseline_rows(adata, celltypes, fractions, seeds, labels, rows, split, ks, scores=None) -> pd.DataFrame:
    """GC and k-mer baseline rows; the k-mer model is fitted on each run's subsampled training rows.

    With ``scores`` (a dict), keep each baseline's ``(scored rows, scores)`` as :func:`_run_all` does.
    """
    needed = np.union1d(rows["train"], rows[split])
    features, _ = kmer_features(sequence_codes(adata, needed), ks)
    position = np.full(adata.n_obs, -1, dtype=np.int64)
    position[needed] = np.arange(len(needed))
    gc = gc_scores(adata)
    out = []
    for j, ct in enumerate(celltypes):
        y = labels[:, j].astype(np.float64)
        test_rows = rows[split][~np.isnan(y[rows[split]])]
        for seed in seeds:
            for fraction in fractions:
                sub = _train_subset(labels[:, j], rows["train"], fraction, seed)
                common = {"celltype": ct, "fraction": fraction, "seed": seed, "split": split}
                common |= {"n_train": len(sub), "n_train_pos": int((y[sub] > 0.5).sum())}
                kmer = fit_kmer_model(features[position[sub]], y[sub].astype(np.int8))
                scored = {
                    BASELINE_GC: gc[test_rows],
                    BASELINE_KMER: kmer.predict_proba(features[position[test_rows]])[:, 1],
                }
                out += [
                    {**common, "kind": name, "model": name, **binary_metrics(y[test_rows], s)}
                    for name, s in scored.items()
                ]
                if scores is not None:
                    scores.update({(ct, fraction, seed, name): (test_rows, s) for name, s in scored.items()})
    logger.info("transfer benchmark: composition baselines scored (k-mer fits on each run's training rows)")
    return pd.DataFrame(out)
