"""chromseq: cell-type specific chromatin accessibility from DNA sequence, with transfer learning."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import datasets, io, models, pl, pp, tl
from ._settings import settings
from .genome import Genome

try:
    __version__ = version("chromseq")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["Genome", "datasets", "io", "models", "pl", "pp", "settings", "tl", "__version__"]
