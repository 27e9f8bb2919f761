"""Bundled and generated datasets."""

from __future__ import annotations

from ._chromtransfer import chromtransfer_chr20
from ._chromtransfer_full import chromtransfer
from ._synthetic import synthetic

__all__ = ["chromtransfer_chr20", "chromtransfer", "synthetic"]
