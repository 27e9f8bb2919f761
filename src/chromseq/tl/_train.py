"""Placeholder: being written."""

from __future__ import annotations


def train(*args, **kwargs):
    raise NotImplementedError("tl.train is not written yet")
