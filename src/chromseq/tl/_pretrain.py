"""Placeholder: being written."""

from __future__ import annotations


def pretrain(*args, **kwargs):
    raise NotImplementedError("tl.pretrain is not written yet")
