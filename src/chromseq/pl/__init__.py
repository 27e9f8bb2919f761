"""Plotting."""

from __future__ import annotations

from ._history import history
from ._curves import roc, pr
from ._metrics import metrics
from ._transfer import transfer_curve
from ._contributions import contributions
from ._motifs import motifs

__all__ = ["history", "roc", "pr", "metrics", "transfer_curve", "contributions", "motifs"]
