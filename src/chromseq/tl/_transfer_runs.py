"""The runs of ``tl.transfer_benchmark``: fine-tune and scratch models, and composition baselines, scored on one split."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chromseq._metrics import binary_metrics, kept_index
from chromseq._metrics_regression import regression_metrics
from chromseq._settings import logger
from chromseq._validate import sequence_codes
from chromseq.data import SequenceDataset
from chromseq.models import ModelConfig
from chromseq.store import BASELINE_GC, BASELINE_KMER, BASELINE_RIDGE, ModelRecord, gc_scores, get_model, models_of
from chromseq.train import predict_proba, predict_values, progress_disabled

from ._baselines import fit_kmer_model, kmer_features
from ._baselines_ridge import fit_ridge_model
from ._finetune import finetune
from ._fit_glue import subsample
from ._options import TrainingOptions
from ._train import train
from ._transfer_checks import INTERVAL_METRIC, REGRESSION_TABLE_METRICS

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
    #: What the runs learn: ``'classification'`` (labels in X, AUROC) or ``'regression'`` (values, Pearson r).
    task: str = "classification"
    #: Layer of the regression targets (``''``: X).
    layer: str = ""


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
        if runs.task == "regression":  # classification calls stay as they were
            run |= {"task": runs.task, "layer": runs.layer or None}
        start = time.perf_counter()
        if kind == "finetune":
            finetune(work, ct, base=bases[ct], save_dir=runs.folder, **run)
        else:
            train(work, ct, preset=runs.network, save_dir=runs.folder, **run)
        seconds = time.perf_counter() - start
        model = get_model(work, name)
        record = ModelRecord.from_dict(models_of(work).pop(name), name)
        data = SequenceDataset(codes, None, test_rows)
        if runs.task == "regression":
            pred = predict_values(model, data, link=record.link, device=runs.options.device)
        else:
            pred = predict_proba(model, data, device=runs.options.device)
        row = {"celltype": ct, "fraction": fraction, "kind": kind, "model": name, "seed": seed, "split": split}
        row |= {
            "n_train": int(record.params["n_train"]),
            "n_train_pos": _n_pos(labels[:, j], rows, fraction, seed, runs.task),
        }
        row |= score(labels[test_rows, j], pred[:, 0], runs.task) | _history_fields(record, seconds)
        out.append(row)
        if scores is not None:
            scores[ct, fraction, seed, kind] = (test_rows, pred[:, 0])
        metric = INTERVAL_METRIC[runs.task]
        logger.info("transfer %s: %s %s %.3f (%.0f s)", name, split, metric, row[metric], seconds)
    return pd.DataFrame(out)


def score(y: np.ndarray, values: np.ndarray, task: str, *, mse: bool = True) -> dict[str, Any]:
    """Return the metric columns of a transfer row: :func:`binary_metrics`, or Pearson, Spearman and MSE for regression."""
    if task == "classification":
        return binary_metrics(y, values)
    metrics = regression_metrics(y, values, mse=mse)
    return {c: metrics[c] for c in REGRESSION_TABLE_METRICS}


def _history_fields(record: ModelRecord, seconds: float) -> dict[str, Any]:
    """Epochs trained, the epoch whose weights were kept (as training recorded it) and the training time."""
    history = record.history
    best = int(history["epoch"][kept_index(history, record.params)])
    return {"epochs": len(history["epoch"]), "best_epoch": best, "seconds": seconds}


def _train_subset(y: np.ndarray, train_rows: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Return the training rows ``tl.finetune``/``tl.train`` use for this fraction and seed."""
    labelled = train_rows[~np.isnan(y[train_rows])]
    return subsample(labelled, y[:, None], fraction, seed)


def _n_pos(y: np.ndarray, rows: dict[str, np.ndarray], fraction: float, seed: int, task: str) -> int:
    return n_positive(y[_train_subset(y, rows["train"], fraction, seed)], task)


def n_positive(y: np.ndarray, task: str) -> int:
    """``n_train_pos`` of a transfer row: labels 1 (classification), values > 0 (regression, as ``n_pos``)."""
    return int((y > (0.5 if task == "classification" else 0.0)).sum())


def _baseline_rows(adata, runs: Runs, labels, rows, split, ks, scores=None) -> pd.DataFrame:
    """GC and k-mer baseline rows; the k-mer model is fitted on each run's subsampled training rows.

    Classification: the k-mer logistic baseline. Regression: the k-mer ridge baseline (penalty chosen
    on the labelled ``'val'`` rows) and the GC fraction (correlations only; its MSE is NaN). With
    ``scores`` (a dict), keep each baseline's ``(scored rows, scores)`` as :func:`_run_all` does.
    """
    regression = runs.task == "regression"
    needed = np.union1d(np.union1d(rows["train"], rows[split]), rows["val"] if regression else [])
    needed = needed.astype(np.int64)
    features, _ = kmer_features(sequence_codes(adata, needed), ks)
    position = np.full(adata.n_obs, -1, dtype=np.int64)
    position[needed] = np.arange(len(needed))
    gc = gc_scores(adata)
    out = []
    for j, ct in enumerate(runs.celltypes):
        y = labels[:, j].astype(np.float64)
        test_rows = rows[split][~np.isnan(y[rows[split]])]
        val_rows = rows["val"][~np.isnan(y[rows["val"]])]
        for seed in runs.seeds:
            for fraction in runs.fractions:
                sub = _train_subset(labels[:, j], rows["train"], fraction, seed)
                common = {"celltype": ct, "fraction": fraction, "seed": seed, "split": split}
                common |= {"n_train": len(sub), "n_train_pos": n_positive(y[sub], runs.task)}
                scored = {BASELINE_GC: gc[test_rows]}
                if regression:
                    ridge, _ = fit_ridge_model(features, y[needed], position[sub], position[val_rows])
                    scored[BASELINE_RIDGE] = ridge.predict(features[position[test_rows]])
                else:
                    kmer = fit_kmer_model(features[position[sub]], y[sub].astype(np.int8))
                    scored[BASELINE_KMER] = kmer.predict_proba(features[position[test_rows]])[:, 1]
                out += [
                    {
                        **common,
                        "kind": name,
                        "model": name,
                        **score(y[test_rows], s, runs.task, mse=name != BASELINE_GC),
                    }
                    for name, s in scored.items()
                ]
                if scores is not None:
                    scores.update({(ct, fraction, seed, name): (test_rows, s) for name, s in scored.items()})
    logger.info("transfer benchmark: composition baselines scored (k-mer fits on each run's training rows)")
    return pd.DataFrame(out)
