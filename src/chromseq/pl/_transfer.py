"""Placeholder: being written."""

from __future__ import annotations


def transfer_curve(*args, **kwargs):
    raise NotImplementedError("pl.transfer_curve is not written yet")
