"""Objectives of :func:`chromseq.tl.design`: one number per sequence, to maximise, from a model's scores.

Scores are on the scale of the model's raw output: logits for classification models (the logit of the
forward/reverse-complement averaged probability), values in the target's units for regression models
(``mse``, ``mse_cosine``) and log-rates for Poisson models (the log of the averaged rate). An objective
never looks at probabilities, so that a sequence already at 0.999 can still improve; every objective
applies to both tasks ('raise' maximises the predicted value of a regression model, 'lower' minimises
it, 'specific' maximises its difference to the other cell types' values; for a Poisson model that
difference of log-rates is a log fold change).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

Objective = Literal["raise", "specific", "lower"]
OBJECTIVES: tuple[str, ...] = ("raise", "specific", "lower")


@dataclass(frozen=True)
class DesignObjective:
    """What :func:`chromseq.tl.design` maximises, resolved against a model's outputs.

    Attributes
    ----------
    kind
        ``'raise'`` (the target's score), ``'specific'`` (the target's score minus the highest other
        output's, or minus a weighted sum of the others when ``weights`` are given) or ``'lower'``
        (minus the target's score: silencing).
    target
        Column of the target output in the model's scores.
    weights
        ``(n_outputs,)`` weights of the other outputs for the weighted specificity (0 for the target),
        or ``None``.
    """

    kind: str
    target: int
    weights: tuple[float, ...] | None = None

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        """Return the objective ``(n,)`` of scores ``(n, n_outputs)`` (logits, regression values or log-rates)."""
        target = scores[:, self.target]
        if self.kind == "raise":
            return target
        if self.kind == "lower":
            return -target
        if self.weights is not None:
            w = torch.as_tensor(self.weights, dtype=scores.dtype, device=scores.device)
            return target - scores @ w
        others = torch.cat([scores[:, : self.target], scores[:, self.target + 1 :]], dim=1)
        return target - others.amax(dim=1)

    def describe(self, outputs: Sequence[str]) -> str:
        """One line saying what is maximised, e.g. ``'K562 - max(HepG2, GM12878)'``."""
        name = outputs[self.target]
        if self.kind == "raise":
            return name
        if self.kind == "lower":
            return f"-{name}"
        if self.weights is None:
            return f"{name} - max({', '.join(o for i, o in enumerate(outputs) if i != self.target)})"
        terms = [f"{w:g}*{o}" for o, w in zip(outputs, self.weights, strict=True) if w]
        return f"{name} - ({' + '.join(terms)})"


def resolve_objective(
    objective: str, celltype: str, outputs: Sequence[str], weights: Mapping[str, float] | None = None
) -> DesignObjective:
    """Check ``objective`` (and ``weights``) against a model's ``outputs``; return the callable objective.

    Parameters
    ----------
    objective
        ``'raise'``, ``'specific'`` or ``'lower'``.
    celltype
        The target output.
    outputs
        The model's outputs, in logit order.
    weights
        For ``'specific'``: other output -> weight (its score is subtracted times the weight);
        ``None`` subtracts the highest other output.

    Raises
    ------
    ValueError
        An unknown objective, ``'specific'`` for a model with one output, weights for another
        objective or naming the target or an output the model lacks.
    KeyError
        ``celltype`` is not an output of the model.
    """
    outputs = list(outputs)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective={objective!r} is not one of {list(OBJECTIVES)}.")
    if celltype not in outputs:
        raise KeyError(f"celltype {celltype!r} is not an output of the model; its outputs are {outputs}.")
    target = outputs.index(celltype)
    if objective != "specific":
        if weights:
            raise ValueError(f"weights= only apply to objective='specific', got objective={objective!r}.")
        return DesignObjective(objective, target)
    if len(outputs) < 2:
        raise ValueError(
            f"objective='specific' needs a model with other outputs than {celltype!r}, but it predicts {outputs} "
            "only: pass a multi-cell-type model (chromseq.tl.finetune(adata, [<celltypes>]) trains one), or use "
            "objective='raise'."
        )
    if not weights:
        return DesignObjective("specific", target)
    unknown = [k for k in weights if k not in outputs or k == celltype]
    if unknown:
        raise ValueError(
            f"weights name {unknown}, which are not other outputs of the model; use some of "
            f"{[o for o in outputs if o != celltype]}."
        )
    return DesignObjective("specific", target, tuple(float(weights.get(o, 0.0)) for o in outputs))
