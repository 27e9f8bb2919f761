"""chromseq: cell-type specific chromatin accessibility from DNA sequence, with transfer learning."""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from ._settings import settings

if TYPE_CHECKING:
    from . import data, datasets, io, models, pl, pp, tl
    from .genome import Genome

try:
    __version__ = version("chromseq")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["Genome", "data", "datasets", "io", "models", "pl", "pp", "settings", "tl", "__version__"]

# The subpackages import torch, anndata and scanpy (seconds): they load on first use, so that
# `chromseq --help` and `import chromseq.cli` stay fast. `chromseq.tl` etc. work as usual.
_LAZY = {
    "data": ".data",
    "datasets": ".datasets",
    "io": ".io",
    "models": ".models",
    "pl": ".pl",
    "pp": ".pp",
    "tl": ".tl",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(_LAZY[name], __name__)
    if name == "Genome":
        from .genome import Genome

        return Genome
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """Return the public names (``__all__``) and the module's dunders: no imported helpers such as ``Any``."""
    return sorted({*__all__, *(n for n in globals() if n.startswith("__") and n.endswith("__"))})
