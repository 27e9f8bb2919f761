"""Placeholder: being written."""

from __future__ import annotations


def contributions(*args, **kwargs):  # noqa: D103
    raise NotImplementedError('tl.contributions is not written yet')
