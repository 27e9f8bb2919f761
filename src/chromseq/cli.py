"""The ``chromseq`` command line: the API's steps for pipelines, and ``chromseq demo``.

Every subcommand reads and writes ``.h5ad`` files (and model folders), logs to
stderr, and writes its outputs under a temporary name first, renaming them
into place only when the step has succeeded.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ._cli_checks import check_options, check_outputs, cli_message, interrupted_message
from ._cli_table import COMMANDS
from ._settings import DEFAULT_THREADS, logger, settings


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
    threads = settings.threads if args.threads is None else args.threads
    with _cli_logging(args.verbose), _torch_threads(threads):
        try:
            check_outputs(args)  # before any work: a bad -o/--out/--save-dir fails now, not after training
            check_options(args)  # and --batch-size 0, --learning-rate inf
            given = {"device": args.device, "seed": args.seed, "threads": threads}
            with settings.override(**{k: v for k, v in given.items() if v is not None}):
                args.func(args)
        except (ValueError, KeyError, OSError) as err:
            print(f"chromseq {args.command}: error: {cli_message(_one_line(err))}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"chromseq {args.command}: {interrupted_message(args)}", file=sys.stderr)
            return 130
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


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` torch CPU threads in the block (``None``: leave torch's choice); restore the count after."""
    if n is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def _cli_logging(verbose: int) -> Iterator[None]:
    """Log to stderr with times (``-v``: debug) in the block; leave the caller's logging and settings as they were."""
    saved = (list(logger.handlers), logger.level, logger.propagate)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    try:
        with settings.override(verbosity=2 if verbose == 0 else 3):
            try:
                logger.handlers[:] = [handler]
                logger.setLevel(logging.INFO if verbose == 0 else logging.DEBUG)
                logger.propagate = False
                yield
            finally:
                logger.handlers[:] = saved[0]
                logger.propagate = saved[2]
    finally:
        logger.setLevel(saved[1])


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
        help=f"CPU threads for torch (default: {DEFAULT_THREADS}, measured fastest for the CPU presets on a shared "
        "2-core machine: benchmarks/bench_threads.py); more can pay on an idle machine with many cores",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        p = sub.add_parser(
            command.name,
            parents=[common],
            help=command.help,
            description=command.help,
            epilog=command.example,
            formatter_class=_HelpFormatter,
        )
        command.add_args(p)
        p.set_defaults(func=command.func)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
