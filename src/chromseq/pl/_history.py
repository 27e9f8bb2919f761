"""Placeholder: being written."""

from __future__ import annotations


def history(*args, **kwargs):
    raise NotImplementedError("pl.history is not written yet")
