"""Placeholder: being written."""

from __future__ import annotations


def evaluate(*args, **kwargs):
    raise NotImplementedError("tl.evaluate is not written yet")
