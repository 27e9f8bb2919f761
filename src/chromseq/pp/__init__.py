"""Preprocessing: regions, sequences, background, splits."""

from __future__ import annotations

from ._aggregate import aggregate_celltypes
from ._background import add_background
from ._normalize import normalize_targets
from ._read_regions import read_regions
from ._sequences import add_sequences
from ._split import split_by_chromosome

__all__ = [
    "read_regions",
    "add_sequences",
    "add_background",
    "split_by_chromosome",
    "aggregate_celltypes",
    "normalize_targets",
]
