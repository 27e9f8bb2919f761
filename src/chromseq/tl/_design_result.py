"""The AnnData side of :func:`chromseq.tl.design`: the model, the motif, the run on the device, the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._settings import logger
from chromseq._validate import FIX
from chromseq.store import ModelRecord, Units, get_record, load_recorded, records_of, units_of
from chromseq.tl._design_motifs import Motif, resolve_motif
from chromseq.tl._design_objectives import DesignObjective

if TYPE_CHECKING:
    import torch
    from anndata import AnnData

_KIND_ORDER = {"finetune": 0, "scratch": 1}


def pick_model(adata: AnnData, celltype: str, model: str | None, objective: str) -> tuple[str, ModelRecord]:
    """Return the name and record of the model to design with (see ``model=`` of :func:`chromseq.tl.design`).

    Raises
    ------
    KeyError
        ``model`` is not in ``adata``, ``adata`` has no models, or none predicts ``celltype``.
    """
    if model is not None:
        return model, get_record(adata, model)
    records = records_of(adata)
    if not records:
        raise KeyError(f"adata has no trained models to design with: run {FIX[K.UNS_MODELS]} first.")
    found = [(n, r) for n, r in records.items() if celltype in r.outputs]
    if not found:
        outputs = {n: list(r.outputs) for n, r in records.items()}
        raise KeyError(
            f"unknown cell type {celltype!r}: no model of adata predicts it (models and outputs: {outputs}); "
            f"pass one of those outputs, or train a model for it (chromseq.tl.finetune(adata, {celltype!r}))."
        )
    multi = objective == "specific"
    found.sort(key=lambda item: (_KIND_ORDER.get(item[1].kind, 2), -len(item[1].outputs) if multi else 0, item[0]))
    return found[0]


def prepare_motif(motif: str, positions: Sequence[int] | None, width: int) -> tuple[Motif, np.ndarray]:
    """Resolve the motif and the positions to try (``None``: all), checked against the model width."""
    found = resolve_motif(motif)
    k = len(found.consensus)
    if k > width:
        raise ValueError(f"motif {found.label!r} is {k} bp long, longer than the model's {width}-bp input.")
    last = width - k
    pos = np.arange(last + 1, dtype=np.int64) if positions is None else np.asarray(positions, dtype=np.int64)
    bad = pos[(pos < 0) | (pos > last)]
    if pos.ndim != 1 or not len(pos) or len(bad):
        raise ValueError(
            f"positions must be first positions in 0..{last} (a {k}-bp motif in {width} bp), got {bad[:5].tolist()}."
        )
    return found, np.unique(pos)


@dataclass(frozen=True)
class Run:
    """One design run: the model (loaded from its record), the objective and how to batch."""

    name: str
    record: ModelRecord
    objective: DesignObjective
    rc_average: bool
    batch_size: int
    device: torch.device

    @property
    def units(self) -> Units:
        """What the model's scores are: logits and probabilities, or a regression model's values (or rates)."""
        return units_of(self.record)

    def _scorer(self, model):
        from chromseq.tl._design_search import Scorer
        from chromseq.train import resolve_precision

        dtype = resolve_precision("auto", self.device)
        return Scorer(model, self.objective, self.batch_size, self.rc_average, self.units.link, dtype)

    def _run(self, codes: np.ndarray, call) -> Any:
        import torch

        from chromseq.train import model_state

        model = load_recorded(self.name, self.record)
        with model_state(model, self.device), torch.inference_mode():
            return call(self._scorer(model), torch.from_numpy(np.ascontiguousarray(codes)).to(self.device))

    def evolve(self, codes: np.ndarray, *, steps: int, beam: int, min_gain: float, seed: int) -> dict[str, Any]:
        """Evolve ``codes`` ``(n, L)``; return the result's arrays (NumPy)."""
        from chromseq.tl._design_search import evolve

        out = self._run(codes, lambda s, x: evolve(s, x, steps=steps, beam=beam, min_gain=min_gain, seed=seed))
        return {
            "codes": out.codes,
            "n_steps": out.n_steps,
            "scores": out.scores,
            "objective": out.objective,
        }

    def implant(self, codes: np.ndarray, motif: Motif, positions: np.ndarray) -> dict[str, Any]:
        """Implant ``motif`` into ``codes`` ``(n, L)`` at ``positions``; return the result's arrays."""
        import torch

        from chromseq.tl._design_search import implant

        def call(scorer, x):
            return implant(scorer, x, torch.from_numpy(motif.codes), torch.from_numpy(positions).to(x.device))

        out = self._run(codes, call)
        return {
            "codes": out.codes,
            "n_steps": torch.ones(len(codes), dtype=torch.long),
            "scores": out.scores,
            "objective": out.objective,
            "position": out.position,
            "strand": out.strand,
            "position_objective": out.position_objective,
        }


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def assemble(
    start: np.ndarray, sources: list[str], found: dict, run: Run, params: dict, celltype: str, motif
) -> AnnData:
    """Build the design AnnData (see the Returns section of :func:`chromseq.tl.design`)."""
    from anndata import AnnData

    arrays = {k: _numpy(v) for k, v in found.items()}
    outputs = list(run.record.outputs)
    scores = arrays["scores"].astype(np.float64)
    preds = run.units.predict(scores)
    n = len(start)
    obs = pd.DataFrame(
        {
            K.DESIGN_SOURCE: pd.Categorical(sources),
            K.DESIGN_METHOD: pd.Categorical([params["method"]] * n, categories=["evolve", "implant"]),
            K.DESIGN_STEPS: arrays["n_steps"].astype(np.int64),
            K.DESIGN_SCORE_START: arrays["objective"][:, 0].astype(np.float32),
            K.DESIGN_SCORE: arrays["objective"][:, -1].astype(np.float32),
            **{K.design_pred_key(o): preds[:, -1, j].astype(np.float32) for j, o in enumerate(outputs)},
        },
        index=pd.Index([f"design_{i}" for i in range(n)], dtype=object),
    )
    if "position" in arrays:
        obs[K.DESIGN_POSITION] = arrays["position"].astype(np.int64)
        obs[K.DESIGN_STRAND] = pd.Categorical(np.where(arrays["strand"] == 0, "+", "-"), categories=["+", "-"])
    var = pd.DataFrame({"target": [o == celltype for o in outputs]}, index=pd.Index(outputs, dtype=object))
    ddata = AnnData(np.full((n, len(outputs)), np.nan, dtype=np.float32), obs=obs, var=var)
    ddata.obsm[K.SEQUENCE] = arrays["codes"].astype(np.uint8)
    ddata.obsm[K.DESIGN_START_SEQUENCE] = start.astype(np.uint8)
    ddata.obsm[K.DESIGN_TRAJECTORY] = preds.astype(np.float32)
    ddata.obsm[K.DESIGN_OBJECTIVE] = arrays["objective"].astype(np.float32)
    if "position_objective" in arrays:
        ddata.obsm[K.DESIGN_POSITION_SCORES] = arrays["position_objective"].astype(np.float32)
    info = {
        **params,
        "model": run.name,
        "model_kind": run.record.kind,
        "weights_sha256": run.record.weights_sha256,
        "outputs": outputs,
        "task": run.units.task,
        "scores": run.units.prediction,
        "objective_units": run.units.output,
        "device": str(run.device),
    }
    if motif is not None:
        info.update(motif=motif[0].label, motif_consensus=motif[0].consensus, motif_source=motif[0].source)
        info["n_positions"] = len(motif[1])
    ddata.uns[K.UNS] = {K.UNS_MODELS: {run.name: run.record.to_dict()}, K.UNS_DESIGN: info}
    gain = obs[K.DESIGN_SCORE] - obs[K.DESIGN_SCORE_START]
    logger.info(
        "design: %d sequence(s), objective %.3g -> %.3g (mean, %s units; mean gain %.3g, %.1f steps); "
        "new AnnData with obs %s, obsm %s, uns['chromseq'][%r]",
        n,
        float(obs[K.DESIGN_SCORE_START].mean()),
        float(obs[K.DESIGN_SCORE].mean()),
        run.units.output,
        float(gain.mean()),
        float(obs[K.DESIGN_STEPS].mean()),
        list(obs.columns),
        list(ddata.obsm),
        K.UNS_DESIGN,
    )
    return ddata
