"""What a model's numbers mean: the units of its raw outputs, predictions and variant effects.

The one place that turns a model's task and loss (:attr:`ModelRecord.link`) into units, read by
everything downstream of a trained model (contributions, motifs, variant scores, design, tracks, plots):

- ``'logit'`` (classification, bce): raw output a logit; prediction a probability; variant ``delta``
  ``logit(alt) - logit(ref)``;
- ``'identity'`` (regression, mse and mse_cosine): raw output and prediction a value in the target's
  units; ``delta`` ``alt - ref``;
- ``'log'`` (regression, poisson): raw output the log-rate; prediction the rate (counts); ``delta``
  ``alt - ref``.

Contributions explain the raw output (the logit; the value; the log-rate of a Poisson model).
Predictions and the ``ref``/``alt`` of variants are in the prediction's units (a probability,
or the target's units); ``delta`` is the difference of logits for classification and of
predictions (the target's units) for regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chromseq._keys import UNS, UNS_PREDICTIONS

from ._record import ModelRecord

_OUTPUT = {"logit": "logit", "identity": "value", "log": "log_rate"}
_PREDICTION = {"logit": "probability", "identity": "value", "log": "rate"}


@dataclass(frozen=True)
class Units:
    """The units of one model's numbers (see the table of :mod:`chromseq.store._units`).

    Attributes
    ----------
    link
        ``'logit'``, ``'identity'`` or ``'log'`` (:attr:`ModelRecord.link`).
    transform
        How the regression targets were transformed (``ModelRecord.target_transform``), in words; empty: as read.
    """

    link: str
    transform: str = ""

    @property
    def task(self) -> str:
        """``'classification'`` or ``'regression'``."""
        return "classification" if self.link == "logit" else "regression"

    @property
    def output(self) -> str:
        """What the network outputs and contributions explain: ``'logit'``, ``'value'`` or ``'log_rate'``."""
        return _OUTPUT[self.link]

    @property
    def prediction(self) -> str:
        """What a prediction is: ``'probability'``, ``'value'`` (the target's units) or ``'rate'`` (counts)."""
        return _PREDICTION[self.link]

    @property
    def delta(self) -> str:
        """How a variant's ``delta`` is computed: ``'logit(alt) - logit(ref)'`` or ``'alt - ref'``."""
        return "logit(alt) - logit(ref)" if self.link == "logit" else "alt - ref"

    @property
    def label(self) -> str:
        """A prediction's units for axis labels: ``'probability'``, ``'value (log1p CPM)'``, ``'rate'``."""
        return f"{self.prediction} ({self.transform})" if self.transform and self.link != "logit" else self.prediction

    def effect(self, ref: np.ndarray, alt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return a variant's ``ref``, ``alt`` (predictions) and ``delta`` from its windows' scores (float64).

        Scores are logits for classification (returned as probabilities; ``delta`` the difference of
        the logits) and predictions for regression (``delta`` their difference, in the target's units).
        """
        ref, alt = np.asarray(ref, dtype=np.float64), np.asarray(alt, dtype=np.float64)
        if self.link == "logit":
            return self.predict(ref), self.predict(alt), alt - ref
        return ref, alt, alt - ref

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Predictions (float64) from raw outputs: ``sigmoid``, identity or ``exp``."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.link == "logit":
            return 1 / (1 + np.exp(-raw))
        return np.exp(raw) if self.link == "log" else raw


def units_of(record: ModelRecord | None) -> Units:
    """Return the :class:`Units` of a model's record; ``None`` (a bare network): a classifier's logits."""
    if record is None:
        return Units("logit")
    return Units(record.link, str(record.target_transform or ""))


def prediction_units(adata, column: str) -> Units:
    """Return the :class:`Units` of the prediction column ``column`` of ``obsm['chromseq_pred']``.

    Read from ``uns['chromseq']['predictions'][column]``: ``task`` (missing: classification) and,
    for regression, the recorded model's loss (a Poisson model predicts a rate).
    """
    meta = adata.uns.get(UNS, {}).get(UNS_PREDICTIONS, {}).get(column, {})
    if str(meta.get("task") or "classification") != "regression":
        return Units("logit")
    from ._models import records_of

    record = records_of(adata).get(str(meta.get("model", "")))
    return units_of(record) if record is not None and record.task == "regression" else Units("identity")
