"""Interoperability: other tools' AnnData layouts to and from chromseq's."""

from __future__ import annotations

from ._crested import from_crested, to_crested
from ._vcf import read_vcf

__all__ = ["from_crested", "to_crested", "read_vcf"]
