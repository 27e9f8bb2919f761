"""``chromseq demo``: the whole path on the bundled chr20 data of six cell lines."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from . import _keys as K
from ._io_utils import atomic_path, write_h5ad_atomic
from ._settings import logger
from ._validate import uns_chromseq

#: Training recipes of the demo per preset: changes to the preset's config, then keyword arguments
#: of ``tl.pretrain`` and of ``tl.finetune``/``tl.train`` (the same budget for both). The CPU recipe
#: (presets ``fast``, the CPU default, and ``tiny``) is sized to finish the whole demo in under 10 minutes on 2 CPU cores: no dropout (it doubles
#: training throughput on a CPU), small batches at a higher learning rate (more updates per epoch),
#: and a pretraining budget larger than the fine-tuning one (6 epochs; with ``tiny`` ~28 CPU s each,
#: with ``fast`` ~13; epochs 7-8 moved the validation loss by < 1 %). ``quick`` is a smoke test of the path.
_CPU_RECIPE: dict[str, dict[str, Any]] = {
    "config": {"dropout": 0.0},
    "pretrain": {"max_epochs": 6, "patience": 3, "batch_size": 32, "learning_rate": 3e-3},
    "celltype": {"max_epochs": 4, "patience": 2, "batch_size": 32, "learning_rate": 3e-3},
}
_RECIPES: dict[str, dict[str, Any]] = {
    "chromtransfer": {
        "config": {},
        "pretrain": {"max_epochs": 30, "patience": 5},
        "celltype": {"max_epochs": 30, "patience": 5},
    },
    # `fast` is `tiny` with max pooling after the stem and k-mer features: the same recipe
    "tiny": _CPU_RECIPE,
    "fast": _CPU_RECIPE,
    "quick": {
        "config": {"dropout": 0.0},
        "pretrain": {"max_epochs": 1, "patience": 1},
        "celltype": {"max_epochs": 1, "patience": 1},
    },
}
#: Test-split positives explained per cell type on a CPU (all of them on a GPU).
_CPU_EXPLAIN_REGIONS = 300
#: Training fractions of the transfer curve: on a CPU for one cell type (the one with the most
#: training positives), on a GPU for all of them.
_CPU_TRANSFER_FRACTIONS = (0.2, 0.1, 0.05)
_GPU_TRANSFER_FRACTIONS = (1.0, 0.5, 0.2, 0.1, 0.05)
#: Splits the demo predicts and evaluates (the train split's scores are not shown anywhere).
_EVAL_SPLITS = ("val", "test")


def run_demo(
    out: Path,
    *,
    celltypes: Sequence[str] | None = None,
    preset: str = "auto",
    quick: bool = False,
    explain: bool = True,
) -> Path:
    """Pretrain, fine-tune, train from scratch, evaluate and explain on ``datasets.chromtransfer_chr20``.

    Also draws a transfer curve (fine-tuned vs. from scratch on 20, 10 and 5 % of the training
    regions of the cell type with the most training positives on a CPU; all cell types and
    fractions 1 to 0.05 on a GPU) with :func:`chromseq.tl.transfer_benchmark`.

    Parameters
    ----------
    out
        Output folder: ``chr20.h5ad``, ``models/``, ``metrics.csv``, ``figures/`` and ``report.md``.
    celltypes
        Cell types to fine-tune (default: all six).
    preset
        Model preset: ``'auto'`` (the default) is ``'fast'`` on a CPU (``'tiny'`` with early pooling and the input's k-mer frequencies
        beside the embedding: close to composition on chr20, cross-validated), ``'chromtransfer'`` on a GPU.
    quick
        Train for one epoch only (a smoke test of the whole path).
    explain
        Also compute contributions on test-split positives, discover motifs and draw logos.

    Returns
    -------
    Path of the report (``out/report.md``).
    """
    from . import datasets, tl
    from ._report import write_report
    from ._settings import settings
    from .models import get_config, resolve_preset

    preset = resolve_preset(preset)
    get_config(preset)  # an unknown preset fails here, before the output folder is made and the data loaded
    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    adata = datasets.chromtransfer_chr20(celltypes=celltypes)
    celltypes = list(adata.var_names)
    recipe_name = "quick" if quick else preset if preset in _RECIPES else "fast"
    recipe = _RECIPES[recipe_name]
    config = get_config(preset, **recipe["config"])
    save_dir = out / "models"
    logger.info("demo: %d regions x %d cell types, preset %r, recipe %s", adata.n_obs, adata.n_vars, preset, recipe)
    record = {"preset": preset, "recipe_name": recipe_name, "recipe": recipe, "quick": bool(quick)}
    uns_chromseq(adata).setdefault(K.UNS_PARAMS, {})[K.PARAMS_DEMO] = record
    with _step("pretrain"):
        tl.pretrain(adata, preset=config, options=tl.TrainingOptions(**recipe["pretrain"]), save_dir=save_dir)
    # all cell types share one body: their heads train together in one pass (multi-head)
    options = tl.TrainingOptions(**recipe["celltype"])  # fine-tuned and scratch models train alike
    with _step("finetune"):
        tl.finetune(adata, celltypes, multihead=True, options=options, save_dir=save_dir)
    with _step("train from scratch"):
        tl.train(adata, celltypes, multihead=True, preset=config, options=options, save_dir=save_dir)
    with _step("predict and evaluate"):
        # the report and metrics are on held-out regions: the 79 % in the train split are not scored
        held_out = (adata.obs[K.SPLIT] != "train").to_numpy()
        tl.predict(adata, mask=held_out)
        tl.evaluate(adata, splits=_EVAL_SPLITS)
        record["predicted"] = " and ".join(f"`{s}`" for s in _EVAL_SPLITS)
        with atomic_path(out / "metrics.csv") as tmp:
            adata.uns[K.UNS][K.UNS_METRICS].to_csv(tmp, index=False)
    gpu = settings.resolve_device().type == "cuda"
    with _step("transfer curve"):
        _transfer_curve(adata, config, options, save_dir=save_dir, gpu=gpu)
    if explain:
        for celltype in celltypes:
            with _step(f"explain {celltype}"):
                why = _explain(adata, celltype, max_regions=None if gpu else _CPU_EXPLAIN_REGIONS, quick=quick)
            if why:
                record.setdefault("no_motifs", {})[celltype] = why
    with _step("write h5ad and report"):
        write_h5ad_atomic(adata, out / "chr20.h5ad")
        report = write_report(adata, out)
    logger.info("demo finished in %.0f s: open %s first", time.perf_counter() - start, report)
    return report


@contextmanager
def _step(name: str) -> Iterator[None]:
    """Log the wall-clock and CPU seconds a demo step took."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    logger.info("demo: %s took %.1f s (%.1f s CPU)", name, time.perf_counter() - wall, time.process_time() - cpu)


def _transfer_curve(adata, config, options, *, save_dir: Path, gpu: bool) -> None:
    """Fine-tuned vs. from scratch on shrinking training fractions (``tl.transfer_benchmark``)."""
    from . import tl

    celltypes = list(adata.var_names)
    fractions = _GPU_TRANSFER_FRACTIONS if gpu else _CPU_TRANSFER_FRACTIONS
    if not gpu:
        train = (adata.obs[K.SPLIT] == "train").to_numpy()
        positives = (np.asarray(adata.X)[train] == 1).sum(axis=0)
        celltypes = [celltypes[int(np.argmax(positives))]]
    logger.info("demo: transfer curve of %s at training fractions %s", ", ".join(celltypes), fractions)
    tl.transfer_benchmark(adata, celltypes, fractions=fractions, preset=config, options=options, save_dir=save_dir)


def _explain(adata, celltype: str, *, max_regions: int | None, quick: bool) -> str | None:
    """Contributions on the test-split positives of ``celltype``, then TF-MoDISco motifs.

    Returns why there are no motifs (for the report), or ``None``.
    """
    from . import tl

    labels = np.asarray(adata[:, celltype].X).ravel()
    rows = np.flatnonzero((adata.obs[K.SPLIT] == "test").to_numpy() & (labels == 1))
    if max_regions is not None and rows.size > max_regions:
        rows = np.sort(np.random.default_rng(0).choice(rows, max_regions, replace=False))
    if rows.size == 0:
        logger.warning("demo: no test-split positives for %s: no contributions", celltype)
        return "no test-split positive to explain."
    mask = np.zeros(adata.n_obs, dtype=bool)
    mask[rows] = True
    tl.contributions(adata, celltype, mask=mask, n_shuffles=4 if quick else 10)
    try:
        tl.motifs(
            adata, celltype, mask=mask, min_metacluster_size=10 if quick else 20, n_leiden_runs=2 if quick else 10
        )
    except ValueError as err:  # too few seqlets for TF-MoDISco on few regions: say so, keep going
        logger.warning("demo: no motifs for %s (%s)", celltype, err)
        return f"TF-MoDISco stopped on its {rows.size} explained regions: {err}"
    return None
