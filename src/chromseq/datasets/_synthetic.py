"""Placeholder: being written."""

from __future__ import annotations


def synthetic(*args, **kwargs):  # noqa: D103
    raise NotImplementedError('datasets.synthetic is not written yet')
