"""Placeholder: being written."""

from __future__ import annotations


def synthetic(*args, **kwargs):
    raise NotImplementedError("datasets.synthetic is not written yet")
