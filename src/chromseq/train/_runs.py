"""One run per checkpoint folder, and model folders that are never replaced unasked.

A training run owns its checkpoint folder (``save_dir/.<name>.ckpt``) while it trains: it holds
``run.lock`` there, a file with its process id, host and start time, locked with
:func:`fcntl.flock` where the platform has it. A second run that would use the same folder fails
at once. The lock of a run that died (``kill -9``, a crashed node) is recognised on the same host
(the flock is free, or its process is gone) and taken over with a log line.

A finished run saves its model to ``save_dir/<name>``; if that folder exists (another AnnData's
record may point to it), the model goes to ``save_dir/<name>-2`` (``-3``, ...) instead, unless
the run overwrites (``existing='overwrite'`` of the training verbs).
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chromseq._settings import logger

try:  # POSIX; elsewhere the process id alone tells a live run from a dead one
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "run.lock"
_OPTIONS = "give this run its own folder (save_dir=, --save-dir) or its own model name (key_added=)"


class RunBusyError(ValueError):
    """The checkpoint folder is in use by another run that is still alive."""


class RunLock:
    """The lock a training run holds on its checkpoint folder; release it with :meth:`release`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd

    def release(self) -> None:
        """Remove the lock file (and the folder, if nothing else is left in it); idempotent."""
        if self.fd < 0:
            return
        try:
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = -1
        try:
            self.path.parent.rmdir()
        except OSError:  # a checkpoint to resume from, or another run's lock, is in it
            pass

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(fd: int) -> dict[str, Any]:
    """Return the JSON a lock file holds (``{}`` if empty or unreadable)."""
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        info = json.loads(raw.decode() or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _stale(info: dict[str, Any], flocked: bool | None) -> bool:
    """Whether the run named by ``info`` is gone: only decidable on this host.

    With a working :func:`fcntl.flock` a free lock means its holder is gone (whatever its pid is
    used for now); where flock does not work (some network file systems), the process id is asked.
    """
    if not info:
        return True
    if info.get("host") != socket.gethostname():
        return False
    if flocked is not None:
        return flocked
    return os.name == "posix" and not _pid_alive(int(info.get("pid", -1)))


def _busy(folder: Path, info: dict[str, Any], name: str) -> RunBusyError:
    who = f"pid {info.get('pid', '?')} on host {info.get('host', '?')}, started {info.get('started', '?')}"
    return RunBusyError(
        f"checkpoint folder {str(folder)!r} is in use by another chromseq run of model {name!r} ({who}); "
        f"two runs may not share it. Wait for that run to finish, or {_OPTIONS}; to continue that run "
        f"after it stopped, rerun with existing='resume' (--resume). If no run is using it any more, delete "
        f"{str(folder / LOCK_FILE)!r}."
    )


def _try_flock(fd: int) -> bool | None:
    """Lock ``fd`` without waiting: ``True`` if locked, ``False`` if another process holds it, ``None`` if unsupported."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # e.g. ENOLCK on a network file system without locks
        return None
    return True


def acquire(folder: Path, name: str) -> RunLock:
    """Take the lock of checkpoint folder ``folder`` for a run of model ``name``.

    Raises
    ------
    RunBusyError
        If a live run holds it (the message names the folder, the run and the options).
    """
    path = folder / LOCK_FILE
    for _ in range(5):  # the folder or lock file may vanish under us as another run finishes
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            continue
        try:
            flocked = _try_flock(fd)
            info = _holder(fd)
            if flocked is False or not _stale(info, flocked):
                raise _busy(folder, info, name)
            try:
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    os.close(fd)
                    continue
            except FileNotFoundError:
                os.close(fd)
                continue
            if info:
                logger.warning(
                    "taking over the lock of %s: its run (pid %s on %s, started %s) is no longer running",
                    folder,
                    info.get("pid"),
                    info.get("host"),
                    info.get("started"),
                )
            _write_holder(fd)
            return RunLock(path, fd)
        except BaseException:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
            raise
    raise RunBusyError(f"could not lock {str(folder)!r}: other runs keep replacing it; {_OPTIONS}.")


def _write_holder(fd: int) -> None:
    text = json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now(UTC).isoformat(timespec="seconds")}
    )
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode())
    os.fsync(fd)


def checkpoint_files(folder: Path) -> list[Path]:
    """Return the training checkpoints (``*.pt``) in ``folder``, sorted."""
    return sorted(folder.glob("*.pt")) if folder.is_dir() else []


def clear_checkpoints(folder: Path, *, name: str, resume: bool, overwrite: bool) -> None:
    """Deal with what an earlier run left in the (locked) checkpoint ``folder``.

    With ``resume`` the checkpoints stay (the run continues from them); with ``overwrite``
    they are deleted; otherwise an interrupted run's checkpoint is kept and this raises,
    naming the flag to pass. Half-written ``.tmp`` files are deleted; nothing else in the folder is touched.

    Raises
    ------
    ValueError
        Checkpoints of an interrupted run, and neither ``resume`` nor ``overwrite``.
    """
    found = checkpoint_files(folder)
    if found and not resume and not overwrite:
        raise ValueError(
            f"{str(folder)!r} holds the checkpoint of an interrupted run of model {name!r} "
            f"({', '.join(p.name for p in found)}); it is kept. Pass existing='resume' (--resume) to "
            f"continue that run, or existing='overwrite' (--overwrite) to discard it and start over."
        )
    if found and not resume:
        logger.info("existing='overwrite': discarding the checkpoints of an earlier run in %s", folder)
    keep = set(found) if resume else set()
    for item in run_files(folder):
        if item not in keep:
            item.unlink()


def run_files(folder: Path) -> list[Path]:
    """Return the files a run writes in its checkpoint ``folder`` (``*.pt``, ``*.tmp``): the only ones deleted."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.suffix in (".pt", ".tmp") and p.is_file() and not p.is_symlink()]


def model_folder(root: Path, name: str, *, overwrite: bool) -> Path:
    """Where a new model ``name`` is saved: ``root/name``, or the first free ``root/name-2``, ``-3``, ...

    An existing folder is only reused with ``overwrite`` (an AnnData's record may point to it);
    a name whose checkpoint folder is in use by another run is skipped too.
    """
    path = root / name
    if overwrite or not path.exists():
        return path
    k = 2
    while (root / f"{name}-{k}").exists() or (root / f".{name}-{k}.ckpt").exists():
        k += 1
    free = root / f"{name}-{k}"
    logger.info(
        "model folder %s already exists (an AnnData's record may point to it): saving model %r to %s instead "
        "(overwrite it with existing='overwrite' / --overwrite, or overwrite=True in tl.add_model)",
        path,
        name,
        free,
    )
    return free
