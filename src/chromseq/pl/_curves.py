"""Placeholder: being written."""

from __future__ import annotations


def roc(*args, **kwargs):
    raise NotImplementedError("pl.roc is not written yet")


def pr(*args, **kwargs):
    raise NotImplementedError("pl.pr is not written yet")
