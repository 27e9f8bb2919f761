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


#: Augmentation options of the training functions.
AUGMENT = """\
rc_augment
    Reverse-complement half of the training sequences at random.
max_shift
    Random shift of training sequences, in bp."""

#: ``train_fraction`` of ``tl.finetune`` and ``tl.train``.
TRAIN_FRACTION = """\
train_fraction
    Train on this random fraction of the labelled training rows (stratified by label,
    seeded by ``random_state``; validation rows unchanged): the paper's small-data
    experiment."""

#: Where the training functions run and write.
DEVICE_SAVE_DIR = """\
device
    Torch device, ``'cpu'``, ``'cuda'``, ... (``None``: :attr:`chromseq.settings.device`).
save_dir
    Folder for the model folders (``None``: :attr:`chromseq.settings.model_dir`)."""

#: The last options of the training functions.
SEED_RESUME_COPY = """\
random_state
    Seed (``None``: :attr:`chromseq.settings.seed`).
resume
    Continue an interrupted run from its checkpoint in ``save_dir/.<name>.ckpt``. Without
    it (and without ``overwrite``), a checkpoint left by an interrupted run is kept and the
    call fails, naming both options. A live run of the same model in ``save_dir`` always
    makes the call fail at once.
overwrite
    Discard an interrupted run's checkpoint, and save into an existing model folder
    ``save_dir/<name>``, replacing it. Without it an existing folder is kept (another
    AnnData's record may point to it) and the new model goes to ``save_dir/<name>-2``
    (``-3``, ...).
copy
    Return a modified copy instead of writing to ``adata``."""
