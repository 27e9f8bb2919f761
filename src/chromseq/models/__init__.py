"""Sequence models: a registry of network families (ChromTransfer, dilated CNN, topic CNN), presets, save/load.

Pure torch: nothing here knows about AnnData or training. A model maps one-hot sequences
(N, 4, L) to logits (N, n_outputs); ``model.body`` gives the embedding. :func:`build` makes the
network of any registered family's config; :func:`load_model` reads any of them back.
"""

from __future__ import annotations

from ._config import PRESETS, ChromTransferConfig, get_config, resolve_preset
from ._costs import count_flops
from ._dilated import DilatedCNN, DilatedConfig
from ._io import load_model, read_model_card, save_model
from ._keras import read_keras
from ._network import ChromTransfer, ChromTransferBody, Head, count_parameters
from ._protocol import ModelConfig, SequenceModel
from ._registry import build, config_from_dict, load_body
from ._topic import TopicCNN, TopicConfig

__all__ = [
    "PRESETS",
    "ChromTransfer",
    "ChromTransferBody",
    "ChromTransferConfig",
    "DilatedCNN",
    "DilatedConfig",
    "Head",
    "ModelConfig",
    "SequenceModel",
    "TopicCNN",
    "TopicConfig",
    "build",
    "config_from_dict",
    "count_flops",
    "count_parameters",
    "get_config",
    "load_body",
    "load_model",
    "read_keras",
    "read_model_card",
    "resolve_preset",
    "save_model",
]
