"""Placeholder: being written."""

from __future__ import annotations


def motifs(*args, **kwargs):
    raise NotImplementedError("tl.motifs is not written yet")
