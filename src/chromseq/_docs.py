"""Parameter descriptions shared by several public functions, filled into their docstrings.

A docstring names a shared block by a line holding only ``{name}``; :func:`fill_docs` replaces
that line with the block, indented like the placeholder (as scanpy's ``_doc_params``).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

#: ``show`` and ``save`` of every plotting function.
SHOW_SAVE = """\
show
    Show the figure; ``None`` shows a new figure when the backend is interactive.
save
    Write the figure to this path (format from the suffix)."""

#: ``ncols`` and ``ax`` of the plots drawing one panel per cell type (or target).
NCOLS_AX = """\
ncols
    Panels per row.
ax
    Axes to draw in (one per panel); ``None`` makes a new figure."""


#: The Returns section of the plots drawing one panel per cell type.
RETURNS_PANELS = """\
Returns
-------
The Axes, or a list of Axes with one panel per cell type."""

#: The Returns section of the functions writing one file.
RETURNS_PATH = """\
Returns
-------
Path
    The file written."""


def fill_docs(**blocks: str) -> Callable[[F], F]:
    """Return a decorator that replaces ``{name}`` lines of a docstring with ``blocks[name]``.

    Parameters
    ----------
    **blocks
        Text per placeholder name, without indentation.

    Returns
    -------
    The decorator; it raises ``ValueError`` at import time if a placeholder is missing, so a
    renamed block cannot silently vanish from the documentation.
    """

    def decorate(obj: F) -> F:
        doc = obj.__doc__ or ""
        for name, text in blocks.items():
            pattern = re.compile(r"^( *)\{" + re.escape(name) + r"\}$", flags=re.MULTILINE)
            if not pattern.search(doc):
                raise ValueError(f"{obj.__qualname__}: docstring has no line '{{{name}}}' to fill.")
            doc = pattern.sub(lambda m, t=text: textwrap.indent(t, m.group(1)), doc)
        obj.__doc__ = doc
        return obj

    return decorate


#: The options shared by ``tl.pretrain``, ``tl.finetune`` and ``tl.train``.
TRAINING_OPTIONS = """\
options
    How to train: a :class:`~chromseq.tl.TrainingOptions` (default: the paper's settings,
    ``TrainingOptions()``): patience, fine-tuning stages, training fraction, augmentation,
    optimizer, precision, device, seed.
max_epochs, batch_size, learning_rate
    Shortcuts for the fields of ``options`` of the same names (``None``: the value in
    ``options``; defaults 100 epochs, 128 sequences per step, 1e-3)."""

#: What the training verbs learn: the task and where its targets are.
TASK_LAYER = """\
task
    ``'classification'`` (binary labels: 1 open, 0 closed, NaN unknown; class-balanced BCE),
    ``'regression'`` (a quantity per region and cell type: the network predicts it in the
    target's units; loss ``options.loss``) or ``None`` (default): detected from the targets, only
    0, 1 and NaN meaning classification (the choice is logged). An explicit ``task`` always wins.
    Values are checked before training: inf, negative values for ``loss='poisson'``, a constant
    column, or fewer than two known train or val values are refused.
layer
    Take the targets from ``adata.layers[layer]`` instead of ``X`` (e.g. ``'signal'`` of
    :func:`chromseq.pp.aggregate_celltypes`); the model record keeps the layer and the
    transform :func:`chromseq.pp.normalize_targets` applied to it."""

#: Where the training functions write, and what they do with an earlier run's files.
SAVE_EXISTING_COPY = """\
save_dir
    Folder for the model folders (``None``: :attr:`chromseq.settings.model_dir`).
existing
    What to do with what an earlier run of the same model left in ``save_dir``.
    ``'keep'`` (default): an interrupted run's checkpoint (``save_dir/.<name>.ckpt``) is kept
    and the call fails, naming the other choices; an existing model folder is kept (another
    AnnData's record may point to it) and the new model goes to ``save_dir/<name>-2``
    (``-3``, ...). ``'resume'``: continue the interrupted run from its checkpoint, with the
    same settings (another seed, learning rate, batch size, ... is refused; only ``max_epochs``
    and ``patience`` may change). ``'overwrite'``: discard its checkpoint and replace the model
    folder ``save_dir/<name>`` (only a model folder chromseq wrote: anything else is refused).
    A live run of the same model in ``save_dir`` always makes the call fail at once. Model
    names (``key_added``, and ``<kind>_<celltype>`` made from cell types) are plain names:
    letters, digits, ``_ . + -``, starting with a letter or digit, at most 100 characters.
copy
    Return a modified copy instead of writing to ``adata``."""
