"""Tools: training, prediction, evaluation, interpretation."""

from __future__ import annotations

from chromseq.store import get_contributions

from ._add_model import add_model
from ._baselines import composition_baseline
from ._contributions import contributions
from ._design import design
from ._evaluate import evaluate
from ._finetune import finetune
from ._motifs import motifs
from ._options import TrainingOptions
from ._predict import predict
from ._pretrain import pretrain
from ._train import train
from ._transfer import transfer_benchmark
from ._variants import score_variants

__all__ = [
    "TrainingOptions",
    "pretrain",
    "finetune",
    "train",
    "transfer_benchmark",
    "predict",
    "add_model",
    "composition_baseline",
    "evaluate",
    "contributions",
    "get_contributions",
    "motifs",
    "score_variants",
    "design",
]
