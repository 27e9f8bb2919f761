"""Placeholder: being written."""

from __future__ import annotations


class Genome:  # noqa: D101
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("Genome is not written yet")
