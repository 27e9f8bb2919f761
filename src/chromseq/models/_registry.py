"""The registry of model families: ``arch`` -> (config class, network class, presets).

Everything that builds or reads a network goes through here (:func:`build`, :func:`config_from_dict`),
so that saving, loading, training and the verbs work for any registered family and never name one.
Adding a family is one module (its config, body and network, see :mod:`chromseq.models._family`)
and one :func:`register` line below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from . import _dilated, _topic
from ._config import PRESETS, ChromTransferConfig
from ._network import ChromTransfer
from ._protocol import ModelConfig, SequenceModel


@dataclass(frozen=True)
class Family:
    """One registered family: its config class, its network class and a one-line description."""

    arch: str
    config: type
    network: type
    description: str


#: Registered families by ``arch``.
FAMILIES: dict[str, Family] = {}
#: A stored config without ``arch`` (written before families existed) is this family's.
DEFAULT_ARCH = "chromtransfer"


def register(config: type, network: type, presets: dict[str, Any], description: str) -> None:
    """Register a family under ``config.arch`` and add its ``presets`` to :data:`chromseq.models.PRESETS`.

    Parameters
    ----------
    config
        Frozen dataclass following :class:`~chromseq.models._protocol.ModelConfig`.
    network
        Module class ``network(config, generator=...)`` following :class:`~chromseq.models._protocol.SequenceModel`.
    presets
        Named configs of the family; names must be new.
    description
        One line for model cards (``README.md`` of a model folder).
    """
    taken = sorted(set(presets) & set(PRESETS))
    if config.arch in FAMILIES or taken:
        raise ValueError(f"family {config.arch!r} or preset(s) {taken} already registered.")
    FAMILIES[config.arch] = Family(config.arch, config, network, description)
    PRESETS.update(presets)


register(
    ChromTransferConfig,
    ChromTransfer,
    {},
    "ChromTransfer network (Salvatore et al. 2023, NAR Genom Bioinform lqad026)",
)
register(_dilated.DilatedConfig, _dilated.DilatedCNN, _dilated.PRESETS, "dilated residual CNN (ChromBPNet style)")
register(_topic.TopicConfig, _topic.TopicCNN, _topic.PRESETS, 'conv-pool "topic" CNN (DeepTopic / CREsted style)')


def family(arch: str) -> Family:
    """Return the registered family ``arch``; a :class:`ValueError` lists the known ones."""
    if arch not in FAMILIES:
        raise ValueError(
            f"unknown model architecture {arch!r}; this chromseq knows {sorted(FAMILIES)}. Upgrade chromseq (the "
            "model was saved by a newer version), or fix 'arch' in the model's config."
        )
    return FAMILIES[arch]


def config_from_dict(d: dict[str, Any]) -> ModelConfig:
    """Return the config of any registered family from its stored dict.

    Parameters
    ----------
    d
        A config's ``to_dict`` output, as saved in ``config.json`` or an h5ad record (numpy arrays for
        lists are accepted). Without ``arch`` (saved before families existed) it is ChromTransfer's.

    Returns
    -------
    The frozen config of the family ``d['arch']`` names.

    Raises
    ------
    ValueError
        If the family is not registered, or a field is unknown or invalid.
    """
    arch = d.get("arch", DEFAULT_ARCH)
    if not isinstance(arch, str):  # an h5ad round trip gives numpy strings
        arch = str(getattr(arch, "item", lambda: arch)())
    return family(arch).config.from_dict({**d, "arch": arch})


def build(config: ModelConfig, *, generator: torch.Generator | None = None) -> SequenceModel:
    """Build the network of ``config``, of whichever registered family its ``arch`` names.

    Parameters
    ----------
    config
        A config of a registered family, e.g. ``PRESETS['dilated_fast']`` or :func:`get_config`'s output.
    generator
        Seeds the initialisation (``None``: torch's global generator).

    Returns
    -------
    The network (train mode), one-hot (N, 4, L) -> logits (N, n_outputs), with ``body``, ``heads``
    and ``head_logits``.

    Raises
    ------
    ValueError
        If ``config``'s family is not registered.

    Examples
    --------
    >>> import torch
    >>> from chromseq.models import PRESETS, build
    >>> build(PRESETS["topic_fast"]).eval()(torch.zeros(2, 4, 600)).shape
    torch.Size([2, 1])
    """
    return family(getattr(config, "arch", "?")).network(config, generator=generator)


def load_body(model: nn.Module, base: nn.Module, *, base_name: str = "the base model") -> None:
    """Copy the body weights of ``base`` into ``model``; a body only goes into a network of its own family and shape.

    Parameters
    ----------
    model
        The network being fine-tuned (its heads are new).
    base
        The pretrained network whose body weights are copied.
    base_name
        How error messages name ``base``.

    Raises
    ------
    ValueError
        If the two networks are of different families, or their bodies differ in shape.
    """
    have, want = base.config, model.config
    if have.arch != want.arch:
        raise ValueError(
            f"{base_name} is a {have.arch!r} network (preset {have.preset!r}) and cannot be fine-tuned into a "
            f"{want.arch!r} network: a body is fine-tuned only into its own family. Pretrain a {want.arch!r} model "
            f"(chromseq.tl.pretrain(adata, preset={want.preset!r})), or fine-tune with the base's preset."
        )
    if have.body_key() != want.body_key():
        diff = sorted(k for k, v in have.body_key().items() if want.body_key().get(k) != v)
        raise ValueError(f"the body of {base_name} differs from the network's in {diff}: use the base's own config.")
    model.body.load_state_dict(base.body.state_dict())
