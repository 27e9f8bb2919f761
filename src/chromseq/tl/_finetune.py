"""Placeholder: being written."""

from __future__ import annotations


def finetune(*args, **kwargs):
    raise NotImplementedError("tl.finetune is not written yet")
