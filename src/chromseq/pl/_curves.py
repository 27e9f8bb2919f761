"""Placeholder: being written."""

from __future__ import annotations


def roc(*args, **kwargs):  # noqa: D103
    raise NotImplementedError('pl.roc is not written yet')


def pr(*args, **kwargs):  # noqa: D103
    raise NotImplementedError('pl.pr is not written yet')
