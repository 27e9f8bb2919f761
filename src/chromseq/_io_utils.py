"""Atomic writes of files, folders and ``.h5ad`` outputs."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anndata import AnnData


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Works for files and folders. On error the temporary is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)) / path.name
    try:
        yield tmp
        if path.is_dir() and tmp.is_dir():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def current_umask() -> int:
    """Return the process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(path: str | os.PathLike) -> None:
    """Give ``path`` (and, for a folder, everything in it) the permissions the user's umask asks for.

    :func:`tempfile.mkdtemp` makes folders 0700 and some writers (safetensors) make files 0600,
    whatever the umask: a model folder renamed into place from such a temporary would be
    unreadable to the user's group. Folders get ``0o777 & ~umask``, files ``0o666 & ~umask``.
    """
    mask = current_umask()
    path = Path(path)
    items = [path, *path.rglob("*")] if path.is_dir() else [path]
    for item in items:
        if not item.is_symlink():
            item.chmod((0o777 if item.is_dir() else 0o666) & ~mask)


def write_h5ad_atomic(adata: AnnData, path: str | os.PathLike) -> None:
    """Write ``adata`` to ``path`` through a temporary file, so a failed write leaves no half file."""
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)


def read_h5ad_checked(path: str | os.PathLike) -> AnnData:
    """Read an ``.h5ad`` file with a clear error when it is missing or not an AnnData file."""
    import anndata as ad

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: give the .h5ad written by an earlier chromseq step.")
    try:
        return ad.read_h5ad(path)
    except OSError as err:
        raise ValueError(f"{path} is not a readable .h5ad file ({err}).") from err
