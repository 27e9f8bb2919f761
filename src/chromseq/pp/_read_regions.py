"""Placeholder: being written."""

from __future__ import annotations


def read_regions(*args, **kwargs):
    raise NotImplementedError("pp.read_regions is not written yet")
