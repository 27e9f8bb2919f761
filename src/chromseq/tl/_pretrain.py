"""Placeholder: being written."""

from __future__ import annotations


def pretrain(*args, **kwargs):  # noqa: D103
    raise NotImplementedError('tl.pretrain is not written yet')
