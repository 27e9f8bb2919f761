"""Placeholder: being written."""

from __future__ import annotations


def contributions(*args, **kwargs):
    raise NotImplementedError("tl.contributions is not written yet")
