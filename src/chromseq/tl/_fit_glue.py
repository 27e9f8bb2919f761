"""What ``tl.pretrain``, ``tl.finetune`` and ``tl.train`` share: checks, labels, fingerprints, saving, records."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

import chromseq
from chromseq import _keys as K
from chromseq._metrics import kept_index
from chromseq._settings import logger, settings
from chromseq._validate import check_name, require_obs, sequence_codes
from chromseq.data import SequenceDataset, read_rows
from chromseq.models import ModelConfig, SequenceModel, build, load_body, read_model_card, save_model
from chromseq.models._io import check_replaceable
from chromseq.store import ModelRecord, model_name, write_record
from chromseq.tl._fit_targets import (  # noqa: F401 (celltype_labels, subsample: the verbs' names for them)
    Targets,
    celltype_labels,
    check_fit_targets,
    log_unlabelled,
    subsample,
)
from chromseq.tl._options import TrainingKind, TrainingOptions, check_existing, record_params, training_stages
from chromseq.tl._preset_warning import warn_if_gpu_sized
from chromseq.train import (
    RunLock,
    TrainSpec,
    acquire,
    barrier,
    clear_checkpoints,
    fit,
    init_distributed,
    is_main_process,
    model_folder,
    model_saved,
)

if TYPE_CHECKING:
    from anndata import AnnData


def check_regions(adata: AnnData) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return ``(codes (n, L) uint8, rows per split)``; raise naming the ``pp`` step that is missing.

    Codes on disk (an h5py dataset or zarr array, see :func:`chromseq.data.read_backed`) stay there.
    """
    require_obs(adata, K.SPLIT)
    codes = sequence_codes(adata)
    split = adata.obs[K.SPLIT].astype(str).to_numpy()
    unknown = sorted(set(np.unique(split)) - set(K.SPLITS))
    if unknown:
        raise ValueError(f"obs[{K.SPLIT!r}] has values {unknown}; expected only {list(K.SPLITS)}.")
    return codes, {s: np.flatnonzero(split == s) for s in K.SPLITS}


def check_width(config: ModelConfig, width: int, what: str) -> None:
    """Raise if ``width`` (bp) differs from the width the model was trained on."""
    if config.seq_len != width:
        raise ValueError(
            f"{what} was trained on {config.seq_len}-bp sequences but obsm[{K.SEQUENCE!r}] is {width} bp wide: "
            f"read the regions with chromseq.pp.read_regions(..., width={config.seq_len}) and add their sequences "
            "(chromseq.pp.add_sequences), or use a model trained on this width."
        )


def fingerprint(codes: np.ndarray, labels: np.ndarray, split: np.ndarray, rows: np.ndarray) -> str:
    """SHA-256 of the sequence bytes, labels and split of ``rows`` (read in chunks: no full copy)."""
    h = hashlib.sha256()
    h.update(np.asarray(codes.shape[1:], np.int64).tobytes())
    for start in range(0, len(rows), 65536):
        r = rows[start : start + 65536]
        h.update(np.ascontiguousarray(read_rows(codes, r)).tobytes())
        h.update(np.ascontiguousarray(labels[r], dtype=np.float32).tobytes())
        h.update(np.asarray(split[r]).astype("U5").tobytes())
    return "sha256:" + h.hexdigest()


def model_paths(save_dir: str | Path | None, name: str) -> tuple[Path, Path]:
    """``(model folder, checkpoint folder)`` for model ``name`` (a plain name: :func:`~chromseq._validate.check_name`)."""
    check_name(name, "model name", "pass a plain key_added= (training verbs) or name= (chromseq.tl.add_model)")
    root = Path(save_dir) if save_dir is not None else settings.model_dir
    return (root / name).absolute(), (root / f".{name}.ckpt").absolute()


def prepare_checkpoints(
    ckpt_dir: Path, resume: bool, *, name: str = "", overwrite: bool = False
) -> RunLock | contextlib.nullcontext:
    """Lock the checkpoint folder for this run and deal with an earlier run's checkpoints.

    A live run holding the folder makes this fail at once; an interrupted run's checkpoint is
    continued (``resume``), discarded (``overwrite``) or kept with an error naming both flags
    (see :func:`chromseq.train.clear_checkpoints`). Under ``torchrun`` rank 0 does it while
    the others wait (they may read a checkpoint to resume). Release the returned lock when done.
    """
    lock: RunLock | contextlib.nullcontext = contextlib.nullcontext()
    if is_main_process():
        lock = acquire(ckpt_dir, name or ckpt_dir.name)
        try:
            clear_checkpoints(ckpt_dir, name=name or ckpt_dir.name, resume=resume, overwrite=overwrite)
        except BaseException:
            lock.release()
            raise
    barrier()
    return lock


def claim(
    save_dir: str | Path | None, name: str, *, resume: bool, overwrite: bool
) -> tuple[Path, Path, RunLock | contextlib.nullcontext]:
    """Lock model ``name``'s checkpoint folder; return ``(model folder to save to, checkpoint folder, lock)``.

    The model folder is ``save_dir/name``, or ``save_dir/name-2`` (``-3``, ...) when that exists
    and ``overwrite`` is false: a saved model another AnnData's record may point to is never replaced.
    """
    path, ckpt_dir = model_paths(save_dir, name)
    if overwrite:
        check_replaceable(path)  # before training: a folder chromseq did not write is never replaced
    lock = prepare_checkpoints(ckpt_dir, resume, name=name, overwrite=overwrite)
    try:
        return model_folder(path.parent, name, overwrite=overwrite), ckpt_dir, lock
    except BaseException:
        lock.__exit__(None, None, None)
        raise


def start(device: str | None) -> None:
    """Join the process group when started by ``torchrun`` (nothing otherwise), before any file is touched."""
    init_distributed(settings.resolve_device(device))


def merge_histories(*histories: dict[str, list]) -> dict[str, list]:
    """Concatenate per-stage histories key by key."""
    out: dict[str, list] = {}
    for h in histories:
        for k, v in h.items():
            out.setdefault(k, []).extend(v)
    return out


def make_record(
    *,
    name: str,
    kind: str,
    model: SequenceModel,
    history: dict[str, list],
    fingerprint: str,
    params: dict[str, Any],
    base: str = "",
    target: Targets | None = None,
) -> ModelRecord:
    """Build the record of a model trained here (also its model card); ``target`` gives task, loss and source."""
    target = target or Targets()
    extra = {} if target.task == "classification" else {"task": target.task, "loss": target.loss}
    return ModelRecord.for_network(
        model.config,
        name=name,
        kind=kind,
        history={k: list(v) for k, v in history.items()},
        fingerprint=fingerprint,
        base=base,
        chromseq_version=chromseq.__version__,
        params=dict(params),
        target_layer=target.layer,
        target_transform=target.transform,
        **extra,
    )


def save_and_record(
    adata: AnnData, model: SequenceModel, record: ModelRecord, path: Path, ckpt_dir: Path, overwrite: bool = False
) -> None:
    """Save the model folder (atomically), then record it in ``adata.uns`` and drop its checkpoints.

    The record keeps the SHA-256 of the saved weights (``weights_sha256``). Without ``overwrite``
    an existing folder is never replaced (one made meanwhile sends the model to the next free name).
    Under ``torchrun`` only rank 0 writes; every rank records the model and waits until it is saved.
    """
    if is_main_process():
        if not overwrite and path.exists():
            path = model_folder(path.parent, record.name, overwrite=False)
        card = {k: v for k, v in record.to_dict().items() if k not in ("path", "weights_sha256")}
        created = not path.exists()
        save_model(model, path, card=card, overwrite=overwrite)
        model_saved(ckpt_dir, path, created)  # checkpoints dropped now, or once the command's output is written
    barrier()
    record = record.replace(path=str(path), weights_sha256=str(read_model_card(path)["weights_sha256"]))
    if write_record(adata, record.name, record):
        logger.info("replacing model %r in adata.uns['chromseq']['models']", record.name)
    monitor = str(record.params.get("monitor", "val_loss"))
    best = record.history.get(monitor, [])
    logger.info(
        "saved model %r to %s and recorded it in adata.uns['chromseq']['models'][%r] (best %s %.4f)",
        record.name,
        path,
        record.name,
        monitor,
        best[kept_index(record.history, record.params)] if best else float("nan"),
    )


def split_array(adata: AnnData) -> np.ndarray:
    """``obs['split']`` as a str array."""
    return pd.Series(adata.obs[K.SPLIT]).astype(str).to_numpy()


def group_names(kind: str, groups: list[list[str]], key_added: str | None, multihead: bool) -> list[str]:
    """Model names: defaults from :func:`model_name`; ``key_added`` names one model or prefixes several.

    Every name is checked to be a plain name (:func:`~chromseq._validate.check_name`), before any work.
    """
    if key_added is not None:
        check_name(key_added)
    if key_added is None:
        names = [model_name(kind, None if multihead else g[0]) for g in groups]
    elif len(groups) == 1:
        names = [key_added]
    else:
        names = [f"{key_added}_{g[0]}" for g in groups]
    for name, group in zip(names, groups, strict=True):
        made = f" (made from cell type {group[0]!r})" if name != key_added else ""
        check_name(name, f"model name{made}", "pass key_added='<plain name>' to name the model")
    return names


def fit_models(
    adata: AnnData,
    labels: np.ndarray,
    groups: list[list[str]],
    *,
    kind: TrainingKind,
    network: ModelConfig,
    options: TrainingOptions,
    save_dir: str | Path | None,
    key_added: str | None,
    existing: str,
    multihead: bool = False,
    regions: tuple[np.ndarray, dict[str, np.ndarray]],
    body: SequenceModel | None = None,
    base: str = "",
    target: Targets | None = None,
) -> list[str]:
    """Train, save and record models: the one training path of ``tl.pretrain``, ``tl.finetune``, ``tl.train``.

    One model per group of outputs (columns of ``labels``, named by the groups in order); each
    model folder is saved and recorded in ``adata.uns['chromseq']['models']``. Returns the names.

    Parameters
    ----------
    adata
        The (writable) regions AnnData.
    labels
        ``(n_obs, n_outputs)`` float32 targets, NaN = unknown (left out of that output's rows).
    groups
        Output names per model: ``[["open"]]`` (pretraining), ``[[ct] for ct in celltypes]``
        (one model per cell type) or ``[celltypes]`` (one multi-head model).
    kind
        ``'pretrain'``, ``'finetune'`` or ``'scratch'``: the head, the stages and the record.
    network
        Network of every model (its head and outputs are set here).
    options
        How to train (:func:`~chromseq.tl._options.training_stages`), within ``options.max_epochs`` epochs.
    save_dir, key_added, existing
        As in the verbs.
    multihead
        ``groups`` is one multi-head model (its default name has no cell type).
    regions
        What :func:`check_regions` returned for ``adata`` (the verb checks the codes once, before any work).
    body
        A model whose body weights every model starts from (fine-tuning): of the family of ``network``.
    base
        Name of that model, for the record.
    target
        Task, loss and source of ``labels`` (:func:`~chromseq.tl._fit_targets.resolve_targets`);
        ``None``: classification of ``X`` with the class-balanced BCE.
    """
    resume, overwrite = check_existing(existing)
    names = group_names(kind, groups, key_added, multihead)
    start(options.device)
    codes, rows = regions
    outputs = [o for g in groups for o in g]
    target = target or Targets()
    check_fit_targets(labels, outputs, target, rows, options.monitor)
    stages = training_stages(options, kind, l2=network.l2, loss=target.loss)
    split = split_array(adata)
    head = "pretrain" if kind == "pretrain" else "finetune"
    fraction = 1.0 if kind == "pretrain" else options.train_fraction
    device = settings.resolve_device(options.device)
    # every model's folder is claimed before any training starts
    with contextlib.ExitStack() as locks, settings.cpu_threads(device) as threads:
        claims = []
        for n in names:
            path, ckpt_dir, lock = claim(save_dir, n, resume=resume, overwrite=overwrite)
            locks.enter_context(lock)
            claims.append((path, ckpt_dir))
        for group, name, (path, ckpt_dir) in zip(groups, names, claims, strict=True):
            y = labels[:, [outputs.index(c) for c in group]]
            keep = {s: r[~np.isnan(y[r]).all(axis=1)] for s, r in rows.items()}
            keep["train"] = subsample(
                keep["train"], y, fraction, options.seed, stratify=target.task == "classification"
            )
            log_unlabelled(y, group, np.concatenate([rows["train"], rows["val"]]))
            fp = fingerprint(codes, y, split, np.concatenate([keep["train"], keep["val"]]))
            model = build(
                network.replace(head=head, outputs=tuple(group)), generator=torch.Generator().manual_seed(options.seed)
            )
            if body is not None:
                load_body(model, body, base_name=f"base model {base!r}")
            logger.info(
                "training %r (%s, preset %r, %s, torch threads: %d) on %d train / %d val regions",
                name, kind, network.preset, device, threads, len(keep["train"]), len(keep["val"]),
            )  # fmt: skip
            warn_if_gpu_sized(network, device, len(keep["train"]))
            histories, best_epoch = run_stages(
                model, SequenceDataset(codes, y, keep["train"]), SequenceDataset(codes, y, keep["val"]), stages,
                options.max_epochs, ckpt_dir, device=options.device, resume=resume, fp=fp,
            )  # fmt: skip
            record = make_record(
                name=name,
                kind=kind,
                model=model,
                history=merge_histories(*histories),
                fingerprint=fp,
                params=record_params(options, kind, target.loss)
                | {"n_train": len(keep["train"]), "n_val": len(keep["val"]), "best_epoch": best_epoch}
                | {"torch_threads": threads, "device": str(device)},
                base=base,
                target=target,
            )
            save_and_record(adata, model.cpu(), record, path, ckpt_dir, overwrite)
    return names


def run_stages(
    model: SequenceModel,
    train_ds: SequenceDataset,
    val_ds: SequenceDataset,
    stages: list[TrainSpec],
    budget: int | None,
    ckpt_dir: Path,
    *,
    device: str | None,
    resume: bool,
    fp: str,
) -> tuple[list[dict[str, list]], int]:
    """Run ``stages`` in order on ``model`` (within ``budget`` epochs, if given).

    Returns their histories and the epoch whose weights ``model`` keeps (the engine's: the last stage's best).
    """
    histories: list[dict[str, list]] = []
    done, best_epoch = 0, 0
    for stage_spec in stages:
        limit = stage_spec.max_epochs if budget is None else min(stage_spec.max_epochs, budget - done)
        if limit <= 0:
            continue
        spec = dataclasses.replace(stage_spec, max_epochs=limit)
        result = fit(
            model,
            train_ds,
            val_ds,
            spec,
            device=device,
            checkpoint=ckpt_dir / f"{spec.stage}.pt",
            resume=resume,
            fingerprint=fp,
            epoch_offset=done,
        )
        histories.append(result.history)
        done += len(result.history["epoch"])
        best_epoch = result.best_epoch
    return histories, best_epoch
