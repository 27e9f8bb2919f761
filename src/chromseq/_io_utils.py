"""Atomic writes of files, folders and ``.h5ad`` outputs."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ._settings import logger

if TYPE_CHECKING:
    from anndata import AnnData


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Works for files and folders. On error the temporary is removed and ``path`` is left as it was;
    a folder already at ``path`` is swapped out in one step (see :func:`replace_dir`).
    """
    path = Path(path)
    tmp = temp_beside(path) / path.name
    try:
        yield tmp
        if tmp.is_dir():
            replace_dir(tmp, path)
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


def temp_beside(path: Path) -> Path:
    """Create an empty folder ``.<name>.<pid>.<random>.tmp`` beside ``path``, after removing stale ones.

    A save killed half-way leaves such a folder; the next save of ``path`` removes it (see
    :func:`remove_stale`). The pid in the name keeps the folders of saves still running.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent))


def remove_stale(path: Path) -> None:
    """Remove the temporary folders beside ``path`` left by saves that were killed (their process is gone)."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(?:(\d+)\.)?[a-z0-9_]{{8}}\.tmp|(?:(\d+)\.)?old)")
    for entry in path.parent.iterdir() if path.parent.is_dir() else ():
        match = pattern.fullmatch(entry.name)
        if match is None or not entry.is_dir() or entry.is_symlink():
            continue
        pid = match.group(1) or match.group(2)
        if pid is not None and _alive(int(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        logger.info("removed %s, left behind by an interrupted save of %s", entry, path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else (or unknown): leave its folder alone
    return True


def replace_dir(src: Path, dst: Path) -> None:
    """Move folder ``src`` onto ``dst``; a folder is at ``dst`` at every instant.

    An existing ``dst`` is exchanged with ``src`` in one system call (``renameat2(RENAME_EXCHANGE)``
    on Linux, ``renamex_np(RENAME_SWAP)`` on macOS), then the old folder is removed. Where the file
    system cannot exchange, ``dst`` is renamed aside and ``src`` renamed in (a short gap).
    """
    if not (dst.exists() or dst.is_symlink()):
        os.replace(src, dst)
        return
    if _exchange(src, dst):
        shutil.rmtree(src, ignore_errors=True)  # src now holds the old folder
        return
    logger.debug("%s: the file system cannot exchange folders; renaming the old one aside", dst.parent)
    old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.{os.getpid()}.", suffix=".tmp", dir=dst.parent)) / "old"
    os.replace(dst, old)
    os.replace(src, dst)
    shutil.rmtree(old.parent, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; ``False`` where the platform or file system cannot."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
            at_fdcwd, rename_exchange = -100, 2
            rc = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
        elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
            rc = libc.renamex_np(os.fsencode(a), os.fsencode(b), 2)  # RENAME_SWAP
        else:
            return False
    except OSError:
        return False
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def write_h5ad_atomic(adata: AnnData, path: str | os.PathLike) -> None:
    """Write ``adata`` to ``path`` through a temporary file, so a failed write leaves no half file.

    A full disk raises an :class:`OSError` naming ``path`` and "no space left" (see :func:`disk_errors`),
    checked first against the free space where it is cheap to know, since HDF5 can crash the process
    when its file cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_free_space(path, _h5ad_size(adata))
    with atomic_path(path) as tmp, disk_errors(path):
        adata.write_h5ad(tmp)


def _h5ad_size(adata: AnnData) -> int:
    """Bytes the arrays of ``adata`` take in memory (a lower bound of the uncompressed .h5ad)."""
    import numpy as np

    total = 0
    arrays = [adata.X, *adata.layers.values(), *adata.obsm.values()]
    for a in arrays:
        total += int(getattr(a, "nbytes", 0) or getattr(getattr(a, "data", None), "nbytes", 0) or 0)
    total += int(np.sum([adata.obs.memory_usage(deep=False).sum(), adata.var.memory_usage(deep=False).sum()]))
    return total


# -- full disks --------------------------------------------------------------------------------------------
#: Words of full-disk errors: HDF5 ("errno = 28"), torch's zip writer ("unexpected pos"), safetensors ("StorageFull").
_FULL = (
    "no space left",
    "errno 28",
    "errno = 28",
    "disk quota",
    "storagefull",
    "file write failed",
    "inline_container",
    "unexpected pos",
)


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` (an :class:`OSError`, or a writer's own error: torch, HDF5, safetensors) reports a full disk."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(t in str(err).lower() for t in _FULL)


def no_space(path: str | os.PathLike) -> OSError:
    """Return the one-line error of a write that ran out of disk space (``path: no space left on device ...``)."""
    return OSError(
        errno.ENOSPC,
        "no space left on device while writing it; free some space (or write elsewhere) and run again. "
        "The previous file, if any, was kept",
        str(path),
    )


def incomplete_write(path: str | os.PathLike, problem: str) -> OSError:
    """Return the error of a file written without an error that reads back wrong (a writer that hid one)."""
    return OSError(
        errno.EIO,
        f"the file written is incomplete ({problem}): no space left on device? Free some space and run again. "
        "The previous file, if any, was kept",
        str(path),
    )


@contextlib.contextmanager
def disk_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn a full-disk error of any writer (``OSError`` ENOSPC, torch's, HDF5's, safetensors') into :func:`no_space`."""
    try:
        yield
    except Exception as err:
        if is_disk_full(err) and not (isinstance(err, OSError) and err.errno == errno.EIO):  # EIO: incomplete_write
            raise no_space(path) from None
        raise


def check_free_space(path: Path, nbytes: int) -> None:
    """Raise :func:`no_space` if the file system of ``path`` has less than ``nbytes`` free (where it can tell)."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return
    if nbytes > free:
        raise OSError(
            errno.ENOSPC,
            f"no space left on device: writing it needs at least {nbytes:,} bytes but {free:,} are free; free some "
            "space (or write elsewhere) and run again. The previous file, if any, was kept",
            str(path),
        )


def verify_lines(tmp: Path, path: str | os.PathLike, n_lines: int) -> None:
    """Raise :func:`incomplete_write` unless the text file ``tmp`` holds ``n_lines`` complete lines."""
    count, last = 0, b"\n"
    with open(tmp, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    if count != n_lines or (n_lines and last != b"\n"):
        raise incomplete_write(path, f"{count:,} lines read back, {n_lines:,} written")


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
