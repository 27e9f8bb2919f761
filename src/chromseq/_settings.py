"""Global settings of chromseq (``chromseq.settings``)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, get_args

logger = logging.getLogger("chromseq")

_VERBOSITY = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.DEBUG}


class _StderrHandler(logging.Handler):
    """chromseq's own handler: writes to the current ``sys.stderr``, and only while no other handler would.

    It steps aside (without removing itself) as soon as the user configures logging, on the
    ``'chromseq'`` logger or on the root logger (``logging.basicConfig``), so a message is never
    printed twice.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s chromseq: %(message)s", "%H:%M:%S"))

    def handle(self, record: logging.LogRecord) -> bool:
        others = any(h is not self for h in logger.handlers)
        if others or (logger.propagate and logging.getLogger().hasHandlers()):
            return False
        return bool(super().handle(record))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


def _ensure_stderr_handler() -> None:
    """Add :class:`_StderrHandler` to the ``'chromseq'`` logger once."""
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())


#: Default of :attr:`ChromseqSettings.threads`: one torch thread, measured fastest for every CPU preset
#: on a loaded 2-core machine (``benchmarks/bench_threads.py``; see ``benchmarks/README.md``).
DEFAULT_THREADS = 1


def log_progress(msg: str, *args: object) -> None:
    """Log a progress line (one per training epoch): at level INFO, and also at the default verbosity 1.

    At verbosity 1 a plain script (output to a file or a pipe, where tqdm shows no bar) would
    otherwise print nothing while training; the line goes to the handlers of the user's logging
    configuration when there are any, else to chromseq's stderr handler. Verbosity 0 hides it, and so
    does a Jupyter kernel with ipywidgets at verbosity 1, where the widget bars show progress.
    """
    if logger.isEnabledFor(logging.INFO):
        logger.info(msg, *args)
        return
    if settings.verbosity < 1 or not logger.isEnabledFor(logging.ERROR) or _widget_bars():
        return
    _ensure_stderr_handler()
    logger.handle(logger.makeRecord(logger.name, logging.INFO, "(progress)", 0, msg, args, None))


def _widget_bars() -> bool:
    """Whether this process is a Jupyter kernel showing tqdm's widget bars (ipywidgets installed)."""
    if "ipykernel" not in sys.modules:
        return False
    import importlib.util

    return importlib.util.find_spec("ipywidgets") is not None


DeviceName = Literal["auto", "cpu", "cuda", "mps"] | str
CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]
_COMPILE_MODES = get_args(CompileMode)


def check_device(value: object) -> str:
    """Return ``value`` if it names a torch device (or ``'auto'``), else raise a one-line ``ValueError``."""
    import torch

    if value == "auto":
        return value
    try:
        torch.device(value)  # raises on nonsense such as 'gpu'
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device={value!r} is not a device: use 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps' (--device)."
        ) from err
    return str(value)


class ChromseqSettings:
    """Settings shared by all chromseq functions.

    Attributes are read at call time, so changing them affects later calls only.
    Nothing is changed at import: the logging configuration of the user's
    program is left alone.
    """

    def __init__(self) -> None:
        self._device: str = "auto"
        self._seed: int = 0
        self._verbosity: int = 1
        self._cache_dir: Path = Path(os.environ.get("CHROMSEQ_CACHE_DIR", Path.home() / ".cache" / "chromseq"))
        self._model_dir: Path = Path("chromseq_models")
        self._n_workers: int = 0
        self._compile: bool | CompileMode = False
        self._threads: int | None = DEFAULT_THREADS

    # -- device ---------------------------------------------------------------
    @property
    def device(self) -> str:
        """Device for training and inference: ``'auto'`` (CUDA, then MPS, then CPU), or a torch device string."""
        return self._device

    @device.setter
    def device(self, value: str) -> None:
        self._device = check_device(value)

    def resolve_device(self, device: str | None = None):
        """Return the :class:`torch.device` that ``device`` (or :attr:`device`) names.

        Parameters
        ----------
        device
            ``None`` uses :attr:`device`; ``'auto'`` picks CUDA, then MPS, then CPU.

        Returns
        -------
        torch.device
        """
        import torch

        name = self._device if device is None else device
        if name == "auto":
            if torch.cuda.is_available():
                return torch.device("cuda")
            if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
                return torch.device("mps")
            return torch.device("cpu")
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={name!r} was requested but CUDA is not available; use device='auto' or 'cpu'.")
        return dev

    # -- seed -----------------------------------------------------------------
    @property
    def seed(self) -> int:
        """Default random seed of every function that takes ``random_state``/``seed``."""
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**63 - 1:
            raise ValueError(f"seed must be an int from 0 to 2**63 - 1 (--seed), got {value!r}.")
        self._seed = value

    # -- verbosity ------------------------------------------------------------
    @property
    def verbosity(self) -> int:
        """Logging level of the ``'chromseq'`` logger: 0 errors, 1 warnings, 2 info, 3 debug.

        Setting it makes messages at that level reach ``stderr``: through the handlers of the
        user's logging configuration when there are any (``logging.basicConfig``, or handlers on
        the ``'chromseq'`` logger), else through chromseq's own stderr handler. Training logs one
        line per epoch (losses, validation AUROC, seconds) at level 1 (the default) and above, so a
        plain script shows progress where tqdm shows no bar (output to a file or a pipe); at level
        1 in a Jupyter kernel with widget bars it is left out, and level 0 hides it.
        """
        return self._verbosity

    @verbosity.setter
    def verbosity(self, value: int) -> None:
        if value not in _VERBOSITY:
            raise ValueError(f"verbosity must be one of {sorted(_VERBOSITY)}, got {value!r}.")
        self._verbosity = value
        logger.setLevel(_VERBOSITY[value])
        _ensure_stderr_handler()

    # -- directories ----------------------------------------------------------
    @property
    def cache_dir(self) -> Path:
        """Folder for downloaded genomes and data (default ``~/.cache/chromseq`` or ``$CHROMSEQ_CACHE_DIR``)."""
        return self._cache_dir

    @cache_dir.setter
    def cache_dir(self, value: str | os.PathLike) -> None:
        self._cache_dir = Path(value)

    @property
    def model_dir(self) -> Path:
        """Folder where trained models are saved when no ``save_dir`` is given (default ``./chromseq_models``)."""
        return self._model_dir

    @model_dir.setter
    def model_dir(self, value: str | os.PathLike) -> None:
        self._model_dir = Path(value)

    @property
    def n_workers(self) -> int:
        """Number of DataLoader worker processes (0: load in the main process)."""
        return self._n_workers

    @n_workers.setter
    def n_workers(self, value: int) -> None:
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"n_workers must be a non-negative int, got {value!r}.")
        self._n_workers = value

    # -- CPU threads ----------------------------------------------------------
    @property
    def threads(self) -> int | None:
        """Torch CPU threads while training on a CPU (default 1; ``None``: leave torch's count alone).

        Training (``tl.pretrain``, ``tl.finetune``, ``tl.train`` and what calls them) on a CPU runs
        with this many :func:`torch.set_num_threads` threads and restores the caller's count
        afterwards; the count used is kept in the model record (``params['torch_threads']``). ``None``
        respects a count the user set with :func:`torch.set_num_threads` (or torch's own default,
        one thread per core). The default 1 is measured (``benchmarks/bench_threads.py``): on the
        team's 2-core machine shared with other jobs, a training step of the CPU presets (``tiny``,
        ``fast``) and of ``chromtransfer`` took 4-6x longer with 2 threads than with 1. Raise it on an
        idle machine with many cores (and measure with that script).
        """
        return self._threads

    @threads.setter
    def threads(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"threads must be a positive int or None (torch's own count), got {value!r}.")
        self._threads = value

    @contextmanager
    def cpu_threads(self, device) -> Iterator[int]:
        """Run the block with :attr:`threads` torch threads when ``device`` is a CPU; yield the count in effect.

        Parameters
        ----------
        device
            The :class:`torch.device` training runs on; on other devices the count is left alone.
        """
        import torch

        previous = torch.get_num_threads()
        wanted = self._threads if getattr(device, "type", str(device)) == "cpu" else None
        if wanted is None or wanted == previous:
            yield previous
            return
        torch.set_num_threads(wanted)
        try:
            yield wanted
        finally:
            torch.set_num_threads(previous)

    # -- compilation ----------------------------------------------------------
    @property
    def compile(self) -> bool | CompileMode:
        """Compile the training step with :func:`torch.compile` (default ``False``: run eagerly).

        ``True`` (mode ``'default'``) or a :func:`torch.compile` mode (``'default'``,
        ``'reduce-overhead'``, ``'max-autotune'``, ``'max-autotune-no-cudagraphs'``) compiles the
        forward and backward pass of every training step of ``tl.pretrain``, ``tl.finetune`` and
        ``tl.train``; validation, prediction and an epoch's smaller last batch run eagerly. The
        step is compiled once per training stage, which takes seconds to minutes (about 75 s for
        the ``tiny`` preset on one loaded CPU core, where the compiled step is also slower than
        eager), so it can only pay for long runs on a GPU: measure with
        ``benchmarks/bench_train.py --compile``. It needs a C compiler on CPU and Triton on CUDA.
        The model itself is not replaced: saved models and checkpoints hold the uncompiled
        module's weights (no ``_orig_mod.`` prefix). Compiled kernels round differently and draw
        their own dropout masks, so a run with compilation is not bit-identical to the same run
        without it.

        Examples
        --------
        >>> import chromseq as cs
        >>> cs.settings.compile = True
        >>> cs.settings.compile = False
        """
        return self._compile

    @compile.setter
    def compile(self, value: bool | CompileMode) -> None:
        if not isinstance(value, bool) and value not in _COMPILE_MODES:
            raise ValueError(f"compile must be True, False or one of {list(_COMPILE_MODES)}, got {value!r}.")
        self._compile = value

    @contextmanager
    def override(self, **values) -> Iterator[ChromseqSettings]:
        """Set settings for the ``with`` block only; the previous values come back on exit, even on error.

        Parameters
        ----------
        **values
            Settings and their values for the block, e.g. ``verbosity=3, device="cpu"``; each is
            checked as by assigning it.

        Yields
        ------
        This settings object.

        Raises
        ------
        KeyError
            A name that is not a setting (nothing is changed).

        Examples
        --------
        >>> import chromseq as cs
        >>> with cs.settings.override(seed=1, verbosity=0):
        ...     cs.settings.seed
        1
        """
        unknown = sorted(set(values) - set(_FIELDS))
        if unknown:
            raise KeyError(f"unknown setting(s) {unknown}; the settings are {list(_FIELDS)}.")
        previous = {name: getattr(self, name) for name in values}
        try:
            for name, value in values.items():
                setattr(self, name, value)
            yield self
        finally:
            for name, value in previous.items():
                setattr(self, name, value)

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in _FIELDS)
        return f"ChromseqSettings({inner})"


_FIELDS = ("device", "seed", "verbosity", "cache_dir", "model_dir", "n_workers", "threads", "compile")

settings = ChromseqSettings()
