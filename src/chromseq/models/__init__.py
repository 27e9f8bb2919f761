"""ChromTransfer network: body, heads, presets, save/load.

Pure torch: nothing here knows about AnnData or training. A model maps one-hot
sequences (N, 4, L) to logits (N, n_outputs); ``model.body`` gives the 64-d embedding.
"""

from __future__ import annotations

from ._config import PRESETS, ChromTransferConfig, get_config, resolve_preset
from ._io import load_model, read_model_card, save_model
from ._keras import read_keras
from ._network import ChromTransfer, ChromTransferBody, Head, count_parameters

__all__ = [
    "PRESETS",
    "ChromTransfer",
    "ChromTransferBody",
    "ChromTransferConfig",
    "Head",
    "count_parameters",
    "get_config",
    "load_model",
    "read_keras",
    "read_model_card",
    "resolve_preset",
    "save_model",
]
