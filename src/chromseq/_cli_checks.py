"""What the command line checks before a step runs, and how it words what went wrong.

Kept apart from :mod:`chromseq.cli` (the parser and the dispatch) and free of heavy imports:
everything here runs before torch or anndata is loaded.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

#: Python functions whose CLI counterpart is another subcommand.
_SUBCOMMAND_OF = {
    "read_regions": "prepare --regions",
    "add_sequences": "prepare --genome",
    "add_background": "prepare --background",
    "split_by_chromosome": "prepare --val/--test",
}
_CALL = re.compile(r"chromseq\.(?:pp|tl)\.(\w+)(?:\((?:[^()]|\([^()]*\))*\))?")
_KEYWORDS = (
    # messages that already give both forms: keep the flag only
    (re.compile(r"\b\w+=(?:True|'[\w-]+')? \((--[\w-]+)\)"), r"\1"),
    (re.compile(r"\b\w+=(?:True)?, (--[\w-]+),?"), r"\1"),
    (re.compile(r"\boverwrite=True\b"), "--overwrite"),
    (re.compile(r"\bpass resume=False\b"), "rerun without --resume"),
    (re.compile(r"\bresume=False\b"), "no --resume"),
    (re.compile(r"\bresume=True\b"), "--resume"),
    (re.compile(r"\bpad=True\b"), "--pad"),
    (re.compile(r"\bcelltype=(?=[^\s,)])"), "--celltype "),
    (re.compile(r"\bpass value=None\b"), "leave out --value"),
    (re.compile(r"\bvalue='([\w.-]+)'"), r"--value \1"),
)


def cli_message(message: str) -> str:
    """Reword ``message`` for someone at the command line: Python calls become subcommands and flags.

    ``"run chromseq.tl.pretrain(adata) first"`` becomes ``"run chromseq pretrain first"``,
    ``"pass pad=True"`` becomes ``"pass --pad"``.
    """

    def subcommand(match: re.Match) -> str:
        name = match.group(1)
        return f"chromseq {_SUBCOMMAND_OF.get(name, name)}"

    text = _CALL.sub(subcommand, message)
    for pattern, replacement in _KEYWORDS:
        text = pattern.sub(replacement, text)
    return text


def check_outputs(args: argparse.Namespace) -> None:
    """Raise ``ValueError`` (one line) if an output of the subcommand cannot be written; create nothing.

    Files: ``-o/--output``, ``--csv`` and ``--fasta`` must not be folders and their folder must be writable
    (or creatable). Folders: ``--out`` and ``--save-dir`` must be writable folders (or creatable).
    """
    for flag, attr in (("-o/--output", "output"), ("--csv", "csv"), ("--fasta", "fasta")):
        if getattr(args, attr, None):
            _check_file(Path(getattr(args, attr)), flag)
    for flag, attr in (("--out", "out"), ("--save-dir", "save_dir")):
        if getattr(args, attr, None):
            _check_folder(Path(getattr(args, attr)), flag)


#: Numeric flags checked before any work: (flag, attribute, whole number?).
_NUMBERS = (
    ("--batch-size", "batch_size", True),
    ("--max-epochs", "max_epochs", True),
    ("--patience", "patience", True),
    ("--n-shuffles", "n_shuffles", True),
    ("--learning-rate", "learning_rate", False),
)


def check_options(args: argparse.Namespace) -> None:
    """Raise ``ValueError`` (one line) for a numeric flag out of range, before any file is read.

    ``--batch-size 0`` or ``--learning-rate inf`` would otherwise fail deep inside a step (a
    division by zero, a loss that is no number after a whole epoch).
    """
    for flag, attr, whole in _NUMBERS:
        value = getattr(args, attr, None)
        if value is None:
            continue
        if whole and value < 1:
            raise ValueError(f"{flag} must be 1 or more, got {value}.")
        if not whole and not 0 < value < float("inf"):
            raise ValueError(f"{flag} must be a finite number > 0, got {value}.")


def _check_file(path: Path, flag: str) -> None:
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder: give a file name, e.g. {path / 'out.h5ad'}.")
    _check_folder(path.parent, f"the folder of {flag} {path}")


def _check_folder(path: Path, what: str) -> None:
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} ({path}) exists and is not a folder.")
    existing = path
    while not existing.exists():  # the nearest folder that exists is where the new ones would be made
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{what} ({path}) cannot be created: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what} ({path}) is not writable: {existing} does not allow writing; choose another path.")


def interrupted_message(args: argparse.Namespace) -> str:
    """One line for Ctrl-C: what was kept and how to go on."""
    from ._cli_table import COMMANDS

    if COMMANDS[args.command].trains:
        from ._settings import settings

        folder = args.save_dir or settings.model_dir
        return (
            f"interrupted; {args.output} was not written. The checkpoint of the last finished epoch (if one finished) is kept "
            f"in {folder} (hidden .<model>.ckpt folder): rerun the same command with --resume to continue."
        )
    if args.command == "demo":
        return f"interrupted; {args.out} is incomplete: rerun the same command to run the demo again."
    written = getattr(args, "output", None) or getattr(args, "out", None)
    return f"interrupted; nothing was written to {written} (outputs appear only when a step finishes)."
