"""The ``chromseq`` command line: the API's steps for pipelines, and ``chromseq demo``.

Every subcommand reads and writes ``.h5ad`` files (and model folders), logs to
stderr, and writes its outputs under a temporary name first, renaming them
into place only when the step has succeeded.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ._cli_checks import check_outputs, cli_message, interrupted_message
from ._settings import logger, settings

_EPILOG = {
    "demo": "example: chromseq demo --out demo_out",
    "prepare": (
        "example: chromseq prepare --regions K562=K562.bed HepG2=HepG2.narrowPeak --genome hg38.fa "
        "--background 10000 --val chr8 --test chr2 chr3 -o regions.h5ad"
    ),
    "pretrain": "example: chromseq pretrain regions.h5ad -o pretrained.h5ad --preset tiny --save-dir models",
    "finetune": (
        "example: chromseq finetune pretrained.h5ad -o finetuned.h5ad --celltype K562 HepG2; from the published "
        "model: chromseq finetune regions.h5ad -o finetuned.h5ad --celltype K562 --base model_compiled.h5"
    ),
    "train": "example: chromseq train pretrained.h5ad -o scratch.h5ad --celltype K562",
    "predict": "example: chromseq predict new_regions.h5ad -o predicted.h5ad --models finetuned.h5ad",
    "evaluate": "example: chromseq evaluate predicted.h5ad -o evaluated.h5ad --csv metrics.csv",
    "contributions": "example: chromseq contributions evaluated.h5ad -o contrib.h5ad --celltype K562 --split test",
    "motifs": "example: chromseq motifs contrib.h5ad -o motifs.h5ad --celltype K562",
    "report": "example: chromseq report motifs.h5ad --out report/",
    "variants": "example: chromseq variants my.vcf.gz --models finetuned.h5ad --genome 20.fa.gz -o v.h5ad --tsv v.tsv",
    "tracks": "example: chromseq tracks motifs.h5ad --out tracks/ --genome 20.fa.gz",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``chromseq`` command line.

    Parameters
    ----------
    argv
        Arguments without the program name; ``None`` reads :data:`sys.argv`.

    Returns
    -------
    The process exit status: 0 on success, 1 on bad input or a failed step.
    """
    parser = _build_parser()
    if not (sys.argv[1:] if argv is None else argv):  # a bare `chromseq`: the list of subcommands, not an error
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    saved = (list(logger.handlers), logger.level, logger.propagate, settings.verbosity, settings.device, settings.seed)
    _configure_logging(args.verbose)
    threads = _torch_threads(args.threads)
    try:
        check_outputs(args)  # before any work: a bad -o/--out/--save-dir fails now, not after training
        if args.device is not None:
            settings.device = args.device
        if args.seed is not None:
            settings.seed = args.seed
        args.func(args)
    except (ValueError, KeyError, OSError) as err:
        print(f"chromseq {args.command}: error: {cli_message(_one_line(err))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"chromseq {args.command}: {interrupted_message(args)}", file=sys.stderr)
        return 130
    finally:  # leave the logging and settings of a calling program (or test) as they were
        logger.handlers[:] = saved[0]
        logger.propagate = saved[2]
        settings.verbosity, settings.device, settings.seed = saved[3], saved[4], saved[5]
        logger.setLevel(saved[1])
        _torch_threads(threads)
    return 0


def _one_line(err: BaseException) -> str:
    """Return the message of ``err``: a KeyError's text without quotes, an OSError as ``path: reason``."""
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    if isinstance(err, OSError) and err.strerror and not isinstance(err, FileNotFoundError | NotADirectoryError):
        return f"{err.filename}: {err.strerror}" if err.filename else err.strerror
    return str(err)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: ...)`` only where the help text does not already say it and there is a value."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False) or "default" in text:
            return text
        return super()._get_help_string(action)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _torch_threads(n: int | None) -> int | None:
    """Set torch's CPU thread count to ``n`` (``None``: leave it); return the previous count to restore."""
    if n is None:
        return None
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    return previous


def _configure_logging(verbose: int) -> None:
    level = logging.INFO if verbose == 0 else logging.DEBUG
    settings.verbosity = 2 if verbose == 0 else 3
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chromseq",
        description="Cell-type specific chromatin accessibility from DNA sequence (ChromTransfer).",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"chromseq {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more log output (debug)")
    common.add_argument("--device", default=None, help="'auto' (default), 'cpu', 'cuda', 'cuda:1', 'mps'")
    common.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    common.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="CPU threads for torch (default: torch's choice, one per core); 1 is often fastest on a busy machine",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from . import _cli_steps as steps

    for name, (help_text, add_args, func) in steps.SUBCOMMANDS.items():
        p = sub.add_parser(
            name,
            parents=[common],
            help=help_text,
            description=help_text,
            epilog=_EPILOG.get(name),
            formatter_class=_HelpFormatter,
        )
        add_args(p)
        p.set_defaults(func=func)
    return parser


def run_step(args: argparse.Namespace, step: Callable, **kwargs) -> None:
    """Read ``args.input``, apply ``step(adata, **kwargs)`` and write ``args.output`` atomically."""
    from ._io_utils import read_h5ad_checked, write_h5ad_atomic
    from .train._distributed import barrier, is_main_process

    adata = read_h5ad_checked(Path(args.input))
    result = step(adata, **kwargs)
    if result is not None and hasattr(result, "obs"):
        adata = result
    if is_main_process():  # under torchrun, rank 0 writes the output and the other ranks wait for it
        write_h5ad_atomic(adata, Path(args.output))
        logger.info("wrote %s", args.output)
    barrier()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
