"""Placeholder: being written."""

from __future__ import annotations


def evaluate(*args, **kwargs):  # noqa: D103
    raise NotImplementedError('tl.evaluate is not written yet')
