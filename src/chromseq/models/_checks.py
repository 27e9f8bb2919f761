"""One rule for the fields every model family's config shares, and one way to read a stored config back.

:func:`check_config` is called by each config's ``__post_init__``; :func:`config_kwargs` by each
config's ``from_dict`` (the same ``arch`` and unknown-field checks for every family).

Every config (:class:`~chromseq.models.ChromTransferConfig`, the dilated and topic configs, and any
family added later) checks its sizes and common fields here, so that the same fault gives the same
message whichever family it is in: ``<ConfigClass>.<field> must ..., got <value>.``. Sequence
fields are normalised to tuples of Python ints (lists and numpy values, as read back from JSON or
h5ad, are accepted). The family's own structural rules (an even ``inner_filters``, an odd dilated
``kernel``...) stay in its config.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterable
from typing import Any

import numpy as np

#: Heads a network can carry: the pre-training head (``outputs=('open',)``) or the fine-tuning one.
HEAD_KINDS = ("pretrain", "finetune")
#: k-mer lengths ``composition_k`` may hold (4**6 = 4,096 features at most per length).
KMER_RANGE = (1, 6)


def check_config(config: Any, *, ints: Iterable[str] = (), int_tuples: Iterable[str] = ()) -> None:
    """Check (and normalise) a family config's fields; raise one :class:`ValueError` naming the first fault.

    Checked for every family: ``seq_len`` and the ``ints`` are positive ints; ``pretrain_hidden``,
    ``finetune_hidden`` and the ``int_tuples`` are tuples of positive ints; ``dropout`` is in [0, 1);
    ``l2`` is not negative; ``composition_k`` holds distinct k-mer lengths 1..6; ``head`` is
    ``'pretrain'`` or ``'finetune'``; ``outputs`` is non-empty and unique.

    Parameters
    ----------
    config
        A frozen dataclass config (``object.__setattr__`` normalises its tuple fields in place).
    ints
        The family's size fields that must be positive ints (beside ``seq_len``).
    int_tuples
        The family's size fields that must be tuples of positive ints (beside the head sizes).

    Raises
    ------
    ValueError
        ``<ConfigClass>.<field> must ..., got <value>.``
    """
    for name in ("seq_len", *ints):
        _positive_int(config, name)
    for name in (*int_tuples, "pretrain_hidden", "finetune_hidden"):
        _positive_ints(config, name)
    if not 0 <= config.dropout < 1:
        _fail(config, "dropout", "be in [0, 1)")
    if not config.l2 >= 0:
        _fail(config, "l2", "be >= 0 (an L2 penalty)")
    _composition(config)
    if config.head not in HEAD_KINDS:
        _fail(config, "head", f"be {HEAD_KINDS[0]!r} or {HEAD_KINDS[1]!r}")
    outputs = config.outputs
    if not outputs or len(set(outputs)) != len(outputs):
        _fail(config, "outputs", "be non-empty and unique")


def _fail(config: Any, name: str, rule: str) -> None:
    raise ValueError(f"{type(config).__name__}.{name} must {rule}, got {getattr(config, name)!r}.")


def _int_tuple(value: Any) -> tuple[int, ...] | None:
    """``value`` as a tuple of Python ints (numpy ints accepted), or ``None`` if it is not a sequence of ints."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return None
    values = tuple(value)
    if any(isinstance(v, bool) or not hasattr(v, "__index__") for v in values):
        return None
    return tuple(operator.index(v) for v in values)


def _positive_int(config: Any, name: str) -> None:
    value = getattr(config, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        _fail(config, name, "be a positive int")


def _positive_ints(config: Any, name: str) -> None:
    values = _int_tuple(getattr(config, name))
    if values is None or any(v < 1 for v in values):
        _fail(config, name, "hold positive ints")
    object.__setattr__(config, name, values)


def _composition(config: Any) -> None:
    low, high = KMER_RANGE
    ks = _int_tuple(config.composition_k)
    if ks is None or any(k < low or k > high for k in ks) or len(set(ks)) != len(ks):
        _fail(config, "composition_k", f"hold distinct k-mer lengths {low}..{high}")
    object.__setattr__(config, "composition_k", ks)


def config_kwargs(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of the dataclass config ``cls`` from a stored dict (``to_dict`` output, JSON or h5ad).

    Parameters
    ----------
    cls
        The config class (its ``arch`` class attribute names the family).
    d
        The stored fields; ``arch`` (if present) must be ``cls.arch``. Numpy arrays and scalars (an
        h5ad round trip) and lists become Python scalars and tuples.

    Raises
    ------
    ValueError
        If ``arch`` names another family, or a field is unknown (the known ones are listed).
    """
    d = dict(d)
    arch = d.pop("arch", cls.arch)
    if arch != cls.arch:
        raise ValueError(f"a {cls.__name__} holds arch {cls.arch!r}, but the config says {arch!r}.")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; known fields are {sorted(names)}.")
    kw = {k: python(v) for k, v in d.items()}
    kw["outputs"] = tuple(str(x) for x in np.atleast_1d(kw.get("outputs", ("open",))))
    return kw


def plain(v: Any) -> Any:
    """Return a config value JSON/h5ad-safe: tuples become lists."""
    return list(v) if isinstance(v, tuple) else v


def python(v: Any) -> Any:
    """Return numpy arrays/scalars (as read back from h5ad) and lists as Python scalars and tuples."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, list | tuple):
        return tuple(python(x) for x in v)
    return v
