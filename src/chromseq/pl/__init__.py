"""Plotting."""

from __future__ import annotations

from ._contributions import contributions
from ._curves import pr, roc
from ._design import design, design_logo
from ._history import history
from ._intervals import transfer_intervals
from ._metrics import metrics
from ._motifs import motifs
from ._scatter import predicted_vs_observed
from ._specificity import specificity
from ._transfer import transfer_curve
from ._variants import variant_effect, variant_ranking

__all__ = [
    "history",
    "roc",
    "pr",
    "metrics",
    "predicted_vs_observed",
    "specificity",
    "transfer_curve",
    "transfer_intervals",
    "contributions",
    "motifs",
    "variant_effect",
    "variant_ranking",
    "design",
    "design_logo",
]
