"""Subcommands of the ``chromseq`` command line: argument definitions and the calls they make.

Listed, with their names and help, in :mod:`chromseq._cli_table`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ._settings import logger

#: ``--preset`` choices: ``chromseq.models.PRESETS`` and ``'auto'`` (spelled here so that ``--help`` needs no torch).
PRESET_CHOICES = ("auto", "fast", "tiny", "chromtransfer", "dilated", "dilated_fast", "topic", "topic_fast")
#: The defaults of ``tl.TrainingOptions`` (the paper's) that ``--help`` shows, spelled here so that ``--help``
#: needs no torch (a test checks that they agree).
DEFAULT_OPTIONS = {"max_epochs": 100, "batch_size": 128, "learning_rate": 1e-3, "patience": 10}
#: ``--normalize`` choices: the methods of ``pp.normalize_targets`` (spelled here so that ``--help`` needs no anndata).
NORMALIZE_CHOICES = ("cpm", "log1p", "cpm_log1p", "quantile", "rank", "zscore")
#: ``--task`` and ``--loss`` choices (``chromseq._keys.TASKS``; ``'auto'`` and ``chromseq._keys.LOSSES``).
TASK_CHOICES = ("classification", "regression")
LOSS_CHOICES = ("auto", "bce", "mse", "poisson", "mse_cosine")


def _io_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="input .h5ad")
    p.add_argument(
        "-o", "--output", "--out", dest="output", required=True,
        help="output .h5ad (written atomically; may equal input)",
    )  # fmt: skip


def _training_args(p: argparse.ArgumentParser, *, celltype: bool, preset: bool = True, scratch: bool = False) -> None:
    _io_args(p)
    if celltype:
        p.add_argument(
            "--celltype", "--celltypes", dest="celltype", nargs="+", default=None,
            help="cell type(s) (var_names); default: all",
        )  # fmt: skip
    if preset:
        p.add_argument(
            "--preset",
            default=None if scratch else "auto",
            choices=PRESET_CHOICES,
            help="model preset: 'auto' (a GPU: chromtransfer, a CPU: fast), 'fast', 'tiny' or 'chromtransfer'; other "
            "families: 'dilated', 'topic' (GPU), 'dilated_fast', 'topic_fast' (CPU)"
            + (" (default: the pretrained model's network in the input, else auto)" if scratch else ""),
        )
    p.add_argument(
        "--max-epochs", type=int, default=None, help=f"maximum epochs (default: {DEFAULT_OPTIONS['max_epochs']})"
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help=f"batch size (default: {DEFAULT_OPTIONS['batch_size']})"
    )
    p.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help=f"learning rate (default: {DEFAULT_OPTIONS['learning_rate']:g})",
    )
    p.add_argument(
        "--patience",
        type=int,
        default=None,
        help=f"early-stopping patience in epochs (default: {DEFAULT_OPTIONS['patience']})",
    )
    p.add_argument(
        "--save-dir", default=None, help="folder for the models and their checkpoints (default: ./chromseq_models)"
    )
    _target_args(p)
    _run_args(p)


def _target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--task", default=None, choices=TASK_CHOICES,
        help="classification (0/1 labels) or regression (quantities); default: detected from the targets "
        "(only 0, 1 and NaN: classification), pretraining: classification on obs['open'] unless --layer",
    )  # fmt: skip
    p.add_argument(
        "--layer", default=None,
        help="take the targets from this layer of the input (e.g. signal) instead of X",
    )  # fmt: skip
    p.add_argument(
        "--loss", default=None, choices=LOSS_CHOICES,
        help="training loss (default: auto: bce for classification, mse for regression; poisson for counts >= 0, "
        "mse_cosine adds a cosine term over the cell types of a region)",
    )  # fmt: skip


def run_step(args: argparse.Namespace, step: Callable, **kwargs) -> None:
    """Read ``args.input``, apply ``step(adata, **kwargs)`` and write ``args.output`` atomically.

    Commands writing one output take turns (:func:`~chromseq._io_utils.output_lock`). When the
    output is the input and another command rewrote it after this one read it, it is kept and this
    command's result is written beside it (:func:`~chromseq._io_utils.write_h5ad_atomic`); the
    models are recorded there, so their checkpoints are dropped as after any written output.
    """
    from ._io_utils import OutputChangedError, file_state, read_h5ad_checked, write_h5ad_atomic
    from .train import barrier, is_main_process, keep_checkpoints_until_written

    source, output = Path(args.input), Path(args.output)
    # -o the input itself: refuse to replace it if another command rewrote it meanwhile (its results would be lost)
    read_state = file_state(output) if output.exists() and source.exists() and output.samefile(source) else None
    adata = read_h5ad_checked(source)
    changed: OutputChangedError | None = None
    with keep_checkpoints_until_written():  # a failed -o (full disk) leaves the run resumable
        result = step(adata, **kwargs)
        if result is not None and hasattr(result, "obs"):
            adata = result
        if is_main_process():  # under torchrun, rank 0 writes the output and the other ranks wait for it
            try:
                write_h5ad_atomic(adata, output, read_state=read_state)
                logger.info("wrote %s", args.output)
            except OutputChangedError as err:  # written beside the output: nothing to resume
                changed = err
        barrier()
    if changed is not None:
        raise changed


def _run_args(p: argparse.ArgumentParser) -> None:
    """``--resume`` and ``--overwrite`` of the training subcommands."""
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (same command) from its checkpoint in --save-dir",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="discard an interrupted run's checkpoint, and replace an existing model folder of the same name "
        "(without it both are kept: the new model goes to <name>-2)",
    )


def _existing(args: argparse.Namespace) -> str:
    """``existing=`` of the training functions from ``--resume``/``--overwrite``."""
    if getattr(args, "resume", False) and getattr(args, "overwrite", False):
        raise ValueError("--resume and --overwrite contradict each other: pass one of them.")
    return "resume" if getattr(args, "resume", False) else "overwrite" if getattr(args, "overwrite", False) else "keep"


def _training_kwargs(args: argparse.Namespace, *, preset: bool = True) -> dict:
    from .tl import TrainingOptions

    fields = {"patience": args.patience, "loss": getattr(args, "loss", None)}
    fields = {k: v for k, v in fields.items() if v is not None}
    kwargs = {
        "preset": args.preset if preset else None,
        "max_epochs": args.max_epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "options": TrainingOptions(**fields) if fields else None,
        "save_dir": args.save_dir,
        "task": getattr(args, "task", None),
        "layer": getattr(args, "layer", None),
    }
    if getattr(args, "celltype", None) is not None:
        kwargs["celltype"] = args.celltype
    return {k: v for k, v in kwargs.items() if v is not None} | {"existing": _existing(args)}


# -- prepare ----------------------------------------------------------------------------------------
def prepare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--regions",
        nargs="+",
        required=True,
        metavar="CELLTYPE=FILE",
        help="per cell type BED/narrowPeak/ChromTransfer label file, or one CSV table of regions x cell types",
    )
    p.add_argument(
        "--value",
        default=None,
        help="read a quantity into X instead of 1/0 labels (regression targets): signalValue, pValue, qValue "
        "(narrowPeak), score (BED column 5), a column number or header name; 'values' for a CSV table of quantities",
    )
    p.add_argument(
        "--normalize",
        default=None,
        choices=NORMALIZE_CHOICES,
        help="normalize the values per cell type (with --value): cpm, log1p, cpm_log1p, quantile, rank, zscore",
    )
    p.add_argument("--genome", required=True, help="genomepy genome name or FASTA path (plain or bgzip)")
    p.add_argument("--width", type=int, default=600, help="model input width in bp")
    p.add_argument("--pad", action="store_true", help="fill bases beyond a chromosome end with N instead of failing")
    p.add_argument(
        "--background",
        type=int,
        default=None,
        help="number of GC-matched background windows (default: as many as open regions; 0: none)",
    )
    p.add_argument(
        "--val",
        nargs="*",
        default=None,
        help="validation chromosomes (default: whole chromosomes drawn at random, seeded, for 10%% of the regions; "
        "1-Mb blocks when there is one chromosome)",
    )
    p.add_argument("--test", nargs="*", default=None, help="test chromosomes (default: as --val, another 10%%)")
    p.add_argument("-o", "--output", "--out", dest="output", required=True, help="output .h5ad")


def prepare(args: argparse.Namespace) -> None:
    from . import pp
    from ._io_utils import write_h5ad_atomic

    sources: object
    if len(args.regions) == 1 and "=" not in args.regions[0]:
        sources = args.regions[0]
    else:
        bad = [r for r in args.regions if "=" not in r]
        if bad:
            raise ValueError(f"--regions expects CELLTYPE=FILE pairs, got {bad}.")
        sources = dict(r.split("=", 1) for r in args.regions)
    if args.normalize and args.value is None:
        raise ValueError("--normalize needs quantities: pass --value (e.g. --value signalValue) as well.")
    value = int(args.value) if args.value and args.value.isdigit() else args.value
    adata = pp.read_regions(sources, width=args.width, value=value)
    if args.normalize:
        pp.normalize_targets(adata, args.normalize)
    pp.add_sequences(adata, args.genome, pad=args.pad)
    if args.background != 0:
        pp.add_background(adata, args.genome, n=args.background)
    pp.split_by_chromosome(adata, val=args.val or None, test=args.test or None)
    write_h5ad_atomic(adata, Path(args.output))
    logger.info("wrote %s (%d regions x %d cell types)", args.output, adata.n_obs, adata.n_vars)


# -- training ---------------------------------------------------------------------------------------
def pretrain_args(p: argparse.ArgumentParser) -> None:
    _training_args(p, celltype=False)
    p.add_argument(
        "--celltypes",
        "--celltype",
        dest="celltypes",
        nargs="+",
        default=None,
        metavar="CELLTYPE",
        help="cell types (columns of the labels) trained as extra outputs beside 'open' (multi-task "
        "pretraining; default: 'open' alone, as in the paper)",
    )


def train_args(p: argparse.ArgumentParser) -> None:
    _training_args(p, celltype=True, scratch=True)


def pretrain(args: argparse.Namespace) -> None:
    from . import tl

    run_step(args, tl.pretrain, celltypes=args.celltypes, **_training_kwargs(args))


def finetune(args: argparse.Namespace) -> None:
    from . import tl
    from .tl._add_model import is_keras_file

    kwargs = _training_kwargs(args, preset=False)  # the preset comes from the pretrained model
    base = args.base
    if base is not None and (Path(base).is_dir() or is_keras_file(base)):

        def step(adata, **kw):  # a Keras .h5 or model folder: record it, then fine-tune from it
            name = tl.add_model(adata, base, save_dir=kw.get("save_dir"), overwrite=kw["existing"] == "overwrite")
            return tl.finetune(adata, base=name, **kw)

        run_step(args, step, **kwargs)
        return
    if base is not None:
        kwargs["base"] = base
    run_step(args, tl.finetune, **kwargs)


def finetune_args(p: argparse.ArgumentParser) -> None:
    _training_args(p, celltype=True, preset=False)
    p.add_argument(
        "--base",
        default=None,
        help="pretrained model: a name in uns (default: 'pretrained'), a Keras .h5 file or a model folder",
    )


def train(args: argparse.Namespace) -> None:
    from . import tl

    run_step(args, tl.train, **_training_kwargs(args))


# -- predict / evaluate -----------------------------------------------------------------------------
def predict_args(p: argparse.ArgumentParser) -> None:
    _io_args(p)
    p.add_argument(
        "--models",
        nargs="+",
        default=None,
        help="model names recorded in the input, model folders, Keras .h5 files, or an .h5ad whose models to apply",
    )
    p.add_argument("--batch-size", type=int, default=256, help="sequences per batch")


def predict(args: argparse.Namespace) -> None:
    from . import tl

    models = None
    if args.models is not None:
        models = [_model_source(m) for m in args.models]
    run_step(args, tl.predict, models=models, batch_size=args.batch_size)


def _model_source(text: str):
    """Return the AnnData of an ``.h5ad`` path (its models are applied), or ``text`` unchanged."""
    path = Path(text)
    if path.suffix == ".h5ad":
        from ._io_utils import read_h5ad_checked

        return read_h5ad_checked(path)
    return text


def evaluate_args(p: argparse.ArgumentParser) -> None:
    _io_args(p)
    p.add_argument("--no-baselines", action="store_true", help="skip the GC and k-mer composition baselines")
    p.add_argument("--csv", default=None, help="also write the metrics table to this CSV file")


def evaluate(args: argparse.Namespace) -> None:
    from . import _keys as K
    from . import tl
    from ._io_utils import atomic_path

    run_step(args, tl.evaluate, baselines=not args.no_baselines)
    if args.csv:
        from ._io_utils import read_h5ad_checked

        table = read_h5ad_checked(Path(args.output)).uns[K.UNS][K.UNS_METRICS]
        with atomic_path(args.csv) as tmp:
            table.to_csv(tmp, index=False)
        logger.info("wrote %s", args.csv)


# -- interpretation ---------------------------------------------------------------------------------
def contributions_args(p: argparse.ArgumentParser) -> None:
    _io_args(p)
    p.add_argument(
        "--celltype", "--celltypes", dest="celltype", required=True, help="cell type whose fine-tuned model to explain"
    )
    p.add_argument(
        "--method",
        default="deep_lift_shap",
        choices=["deep_lift_shap", "ism", "grad_x_input"],
        help="deep_lift_shap: DeepLIFT/SHAP against dinucleotide-shuffled references; ism: in-silico mutagenesis "
        "(every base changed, slower); grad_x_input: gradient x input (fastest, noisiest)",
    )
    p.add_argument("--split", default=None, help="only regions of this split (e.g. test)")
    p.add_argument("--positives", action="store_true", help="only regions labelled open for the cell type")
    p.add_argument("--n-shuffles", type=int, default=20, help="dinucleotide-shuffled references per region")


def contributions(args: argparse.Namespace) -> None:
    from . import tl

    def step(adata):
        mask = _region_mask(adata, args.celltype, split=args.split, positives=args.positives)
        return tl.contributions(adata, args.celltype, mask=mask, method=args.method, n_shuffles=args.n_shuffles)

    run_step(args, step)


def _region_mask(adata, celltype: str, *, split: str | None, positives: bool):
    import numpy as np

    from . import _keys as K

    mask = np.ones(adata.n_obs, dtype=bool)
    if split is not None:
        if K.SPLIT not in adata.obs:
            raise KeyError(f"adata.obs[{K.SPLIT!r}] is missing: run chromseq prepare (split_by_chromosome) first.")
        mask &= (adata.obs[K.SPLIT] == split).to_numpy()
    if positives:
        if celltype not in adata.var_names:
            raise KeyError(f"unknown cell type {celltype!r}; adata.var_names are {list(adata.var_names)}.")
        mask &= np.asarray(adata[:, celltype].X).ravel() == 1
    if not mask.any():
        raise ValueError(f"no region selected (celltype={celltype!r}, split={split!r}, positives={positives}).")
    return mask


def motifs_args(p: argparse.ArgumentParser) -> None:
    _io_args(p)
    p.add_argument(
        "--celltype", "--celltypes", dest="celltype", required=True, help="cell type whose stored contributions to use"
    )
    p.add_argument("--motif-db", default=None, help="JASPAR release (e.g. JASPAR2024) or a MEME file")


def motifs(args: argparse.Namespace) -> None:
    from . import tl

    kwargs = {"motif_db": args.motif_db} if args.motif_db else {}
    run_step(args, tl.motifs, celltype=args.celltype, **kwargs)


# -- report / demo ----------------------------------------------------------------------------------
def report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="an .h5ad after evaluate (and optionally contributions/motifs)")
    p.add_argument("--out", "-o", "--output", dest="out", required=True, help="output folder for figures and report.md")


def report(args: argparse.Namespace) -> None:
    from ._io_utils import read_h5ad_checked
    from ._report import write_report

    write_report(read_h5ad_checked(Path(args.input)), Path(args.out))


def demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", "-o", "--output", dest="out", default="demo_out",
        help="output folder (h5ad, models, metrics, figures, report)",
    )  # fmt: skip
    p.add_argument(
        "--celltype", "--celltypes", dest="celltype", nargs="+", default=None,
        help="cell types to fine-tune (default: all six)",
    )  # fmt: skip
    p.add_argument(
        "--preset",
        default="auto",
        choices=PRESET_CHOICES,
        help="'auto' (a GPU: chromtransfer, a CPU: fast, the recipe the README times), 'fast', 'tiny', 'chromtransfer'",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="one epoch per model and fewer regions explained (a smoke test, not a result)",
    )
    p.add_argument("--no-explain", action="store_true", help="skip contributions, motifs and logos")


def demo(args: argparse.Namespace) -> None:
    from ._demo import run_demo
    from .datasets._chromtransfer import CELLTYPES
    from .models import resolve_preset

    unknown = [c for c in args.celltype or [] if c not in CELLTYPES]
    if unknown:  # before the output folder is made
        raise ValueError(f"unknown --celltype {unknown}: the bundled data has {', '.join(CELLTYPES)}.")
    run_demo(
        Path(args.out),
        celltypes=args.celltype,
        preset=resolve_preset(args.preset),
        quick=args.quick,
        explain=not args.no_explain,
    )
