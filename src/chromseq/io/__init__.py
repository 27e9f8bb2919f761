"""Interoperability: other tools' AnnData layouts to and from chromseq's."""

from __future__ import annotations

from ._crested import from_crested, to_crested

__all__ = ["from_crested", "to_crested"]
