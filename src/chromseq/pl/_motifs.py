"""Placeholder: being written."""

from __future__ import annotations


def motifs(*args, **kwargs):
    raise NotImplementedError("pl.motifs is not written yet")
