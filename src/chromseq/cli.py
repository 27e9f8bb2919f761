"""Placeholder: being written."""

from __future__ import annotations


def main(argv=None) -> int:  # noqa: D103
    raise NotImplementedError("the chromseq command is not written yet")
