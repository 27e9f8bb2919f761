"""``chromseq.settings.override``: settings for one block, restored afterwards."""

from __future__ import annotations

import logging

import pytest

import chromseq as cs


def test_override_sets_values_in_the_block_and_restores_them():
    before = (cs.settings.seed, cs.settings.verbosity, cs.settings.compile)
    with cs.settings.override(seed=before[0] + 5, verbosity=3, compile=True) as s:
        assert s is cs.settings
        assert (cs.settings.seed, cs.settings.verbosity, cs.settings.compile) == (before[0] + 5, 3, True)
        assert logging.getLogger("chromseq").level == logging.DEBUG
    assert (cs.settings.seed, cs.settings.verbosity, cs.settings.compile) == before


def test_override_restores_on_error():
    seed = cs.settings.seed
    with pytest.raises(RuntimeError, match="boom"), cs.settings.override(seed=seed + 1):
        raise RuntimeError("boom")
    assert cs.settings.seed == seed


def test_override_rejects_bad_values_and_names_and_changes_nothing():
    before = repr(cs.settings)
    with pytest.raises(ValueError, match="verbosity"), cs.settings.override(seed=123, verbosity=7):
        pass
    assert repr(cs.settings) == before
    with pytest.raises(KeyError, match="unknown setting.*'sed'"), cs.settings.override(sed=1):
        pass
    assert repr(cs.settings) == before
