"""Tools: training, prediction, evaluation, interpretation."""

from __future__ import annotations

from ._pretrain import pretrain
from ._finetune import finetune
from ._train import train
from ._predict import predict
from ._evaluate import evaluate
from ._contributions import contributions
from ._motifs import motifs

__all__ = ["pretrain", "finetune", "train", "predict", "evaluate", "contributions", "motifs"]
