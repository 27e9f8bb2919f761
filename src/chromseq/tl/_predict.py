"""Placeholder: being written."""

from __future__ import annotations


def predict(*args, **kwargs):
    raise NotImplementedError("tl.predict is not written yet")
