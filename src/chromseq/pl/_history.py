"""Placeholder: being written."""

from __future__ import annotations


def history(*args, **kwargs):  # noqa: D103
    raise NotImplementedError('pl.history is not written yet')
