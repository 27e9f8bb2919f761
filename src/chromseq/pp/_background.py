"""Placeholder: being written."""

from __future__ import annotations


def add_background(*args, **kwargs):
    raise NotImplementedError("pp.add_background is not written yet")
