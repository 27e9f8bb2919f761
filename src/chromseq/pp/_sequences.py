"""Placeholder: being written."""

from __future__ import annotations


def add_sequences(*args, **kwargs):  # noqa: D103
    raise NotImplementedError('pp.add_sequences is not written yet')
