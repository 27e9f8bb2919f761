"""Bundled and generated datasets."""

from __future__ import annotations

from ._chromtransfer import chromtransfer_chr20
from ._synthetic import synthetic

__all__ = ["chromtransfer_chr20", "synthetic"]
