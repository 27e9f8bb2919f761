"""Placeholder: being written."""

from __future__ import annotations


def chromtransfer_chr20(*args, **kwargs):
    raise NotImplementedError("datasets.chromtransfer_chr20 is not written yet")
