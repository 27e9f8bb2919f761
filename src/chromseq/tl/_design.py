"""``tl.design``: sequences that a trained model predicts open in one cell type (and closed in the others)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from chromseq._settings import logger, settings
from chromseq.tl import _design_result as result
from chromseq.tl._design_objectives import Objective, resolve_objective
from chromseq.tl._design_start import check_start, random_start, training_gc

if TYPE_CHECKING:
    from anndata import AnnData

Method = Literal["evolve", "implant"]
_METHODS = ("evolve", "implant")


def design(
    adata: AnnData,
    celltype: str,
    *,
    start: AnnData | int = 10,
    method: Method = "evolve",
    objective: Objective = "raise",
    model: str | None = None,
    steps: int = 20,
    beam: int = 1,
    min_gain: float = 0.0,
    motif: str | None = None,
    positions: Sequence[int] | None = None,
    weights: Mapping[str, float] | None = None,
    gc: float | None = None,
    rc_average: bool = True,
    batch_size: int = 1024,
    device: str | None = None,
    random_state: int | None = None,
) -> AnnData:
    """Design DNA sequences for a cell type with a trained model: in-silico evolution or motif implantation.

    **Evolution** (``method='evolve'``): at each step every single-base substitution of every
    sequence (``3 L`` mutants of a ``L``-bp sequence) is scored in batches, built on the device,
    and the best one is kept (``beam=1``, greedy) or the ``beam`` best distinct ones; a sequence
    stops after ``steps`` substitutions or when no mutant improves the objective by more than
    ``min_gain``. **Implantation** (``method='implant'``): a motif (its most probable bases) is
    written over each start at every position in ``positions``, on both strands, and the best
    position of each sequence is kept.

    Sequences are scored as :func:`~chromseq.tl.predict` scores regions: forward and reverse
    complement averaged. The objective works on the scale of the model's raw output: for a
    classification model on logits (the logit of that average probability), so that it keeps
    improving near probability 1; for a regression model on the predicted value in the target's
    units (``mse``, ``mse_cosine`` losses) or, for a Poisson model, on the log of the predicted
    rate. ``'raise'`` maximises the cell type's score, ``'specific'`` its score minus the highest
    other output's (or minus a weighted sum of the others, ``weights``; for a Poisson model a log
    fold change), ``'lower'`` minimises it (silencing).

    Parameters
    ----------
    adata
        AnnData with the trained model in ``uns['chromseq']['models']`` (and, for random starts
        with ``gc=None``, the regions whose GC fraction to match: ``obs['gc']`` or ``obsm['sequence']``,
        the train split where there is one).
    celltype
        The output (cell type) to design for.
    start
        The sequences to start from: an AnnData of regions with ``obsm['sequence']`` of the model's
        width and no N (e.g. background or closed regions), or a number of random sequences.
    method
        ``'evolve'`` or ``'implant'``.
    objective
        ``'raise'``, ``'specific'`` (needs a model with several outputs) or ``'lower'``.
    model
        Name of the model in ``uns['chromseq']['models']``; ``None``: a fine-tuned (else scratch)
        model that predicts ``celltype``, one with several outputs for ``'specific'``.
    steps
        Most substitutions per sequence (``'evolve'``).
    beam
        Sequences kept per start at each step (``'evolve'``; 1 is greedy).
    min_gain
        Smallest gain of the objective (its units: logit, value or log-rate) that counts as an
        improvement (``'evolve'``).
    motif
        For ``'implant'``: a JASPAR matrix ID (``'MA0035'``) or TF name (``'GATA1'``) of the bundled
        JASPAR (CORE vertebrates), or a consensus of A/C/G/T (``'AGATAA'``).
    positions
        For ``'implant'``: first positions (0-based bp) to try; ``None``: every position.
    weights
        For ``'specific'``: other output -> weight; the objective is the target's score minus the
        weighted sum of theirs. ``None``: minus the highest other output's score.
    gc
        GC fraction of random starts; ``None``: the mean GC of ``adata``'s (training) regions.
    rc_average
        Average forward and reverse-complement predictions.
    batch_size
        Rows per forward pass, a sequence and its reverse complement being two (does not change the
        result). On a CPU a few hundred is fastest; on a GPU, thousands.
    device
        Torch device (``None``: :attr:`chromseq.settings.device`); autocast on CUDA as in
        :func:`~chromseq.tl.predict`.
    random_state
        Seed of the random starts (``None``: :attr:`chromseq.settings.seed`).

    Returns
    -------
    AnnData
        A new AnnData, designed sequences x the model's outputs, ready for
        :func:`~chromseq.tl.predict`, :func:`~chromseq.tl.contributions`,
        :func:`~chromseq.pl.contributions` and ``write_h5ad``:

        - ``obs``: ``source`` (the start's obs name, or ``random_<i>``), ``method``, ``n_steps``
          (substitutions made; 1 for an implanted motif), ``score_start`` and ``score`` (objective:
          logit, value or log-rate units), ``pred_<output>`` (final prediction of each output:
          probability; for regression the value in the target's units, or the rate of a Poisson
          model), and for ``'implant'`` ``motif_position`` and ``motif_strand`` (``+``/``-``).
        - ``X``: NaN (no labels: these sequences were never measured); ``var``: ``target`` (bool).
        - ``obsm['sequence']``: uint8 codes ``(n, L)`` of the designs; ``obsm['design_start']``:
          the starts' codes.
        - ``obsm['design_trajectory']``: float32 ``(n, steps + 1, n_outputs)`` predictions of every
          output at each step (flat after a sequence stopped; two steps for ``'implant'``);
          ``obsm['design_objective']``: float32 ``(n, steps + 1)``.
        - ``obsm['design_position_scores']`` (``'implant'``): float32 ``(n, n_positions)`` objective
          with the motif at each position tried (better strand).
        - ``uns['chromseq']['models']``: the model's record; ``uns['chromseq']['design']``: the
          parameters, the objective in words, the model name and its weights' sha256, the task,
          what predictions are (``scores``: ``probability``, ``value`` or ``rate``) and the
          objective's units (``objective_units``: ``logit``, ``value`` or ``log_rate``).

    Examples
    --------
    >>> designs = cs.tl.design(adata, "K562", start=20, objective="specific", steps=15)  # doctest: +SKIP
    >>> designs.obs[["score_start", "score", "pred_K562"]].describe()  # doctest: +SKIP
    >>> implanted = cs.tl.design(adata, "K562", start=closed, method="implant", motif="GATA1")  # doctest: +SKIP
    """
    _check_args(method, steps, beam, batch_size, motif)
    name, record = result.pick_model(adata, celltype, model, objective)
    outputs, width = list(record.outputs), record.network.seq_len
    goal = resolve_objective(objective, celltype, outputs, weights)
    found = result.prepare_motif(motif, positions, width) if method == "implant" else None
    seed = settings.seed if random_state is None else int(random_state)
    if isinstance(start, int | np.integer) and not isinstance(start, bool):
        gc = training_gc(adata) if gc is None else float(gc)
        codes, sources = random_start(int(start), width, gc, seed)
    else:
        if gc is not None:
            raise ValueError(f"gc={gc} only applies to random starts (start=<number>); drop it for start=<AnnData>.")
        codes, sources = check_start(start, width)
    run = result.Run(name, record, goal, rc_average, batch_size, settings.resolve_device(device))
    logger.info(
        "design: %s %d sequence(s) of %d bp for %s (objective %s) with model %r on %s",
        method,
        len(codes),
        width,
        celltype,
        goal.describe(outputs),
        name,
        run.device,
    )
    if method == "evolve":
        found_out = run.evolve(codes, steps=steps, beam=beam, min_gain=min_gain, seed=seed)
    else:
        found_out = run.implant(codes, *found)
    params = {
        "celltype": celltype,
        "method": method,
        "objective": objective,
        "objective_text": goal.describe(outputs),
        "steps": int(steps) if method == "evolve" else 1,
        "beam": int(beam),
        "min_gain": float(min_gain),
        "rc_average": bool(rc_average),
        "start": "random" if sources[0].startswith("random_") else "anndata",
        "gc": float(gc) if gc is not None else float("nan"),
        "random_state": seed,
        "weights": {str(k): float(v) for k, v in (weights or {}).items()},
    }
    return result.assemble(codes, sources, found_out, run, params, celltype, found)


def _check_args(method: str, steps: int, beam: int, batch_size: int, motif: str | None) -> None:
    if method not in _METHODS:
        raise ValueError(f"method={method!r} is not one of {list(_METHODS)}.")
    for label, value in (("steps", steps), ("beam", beam), ("batch_size", batch_size)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{label} must be an int >= 1, got {value!r}.")
    if method == "implant" and motif is None:
        raise ValueError("method='implant' needs motif=: a JASPAR matrix ID ('MA0035'), TF name ('GATA1') or bases.")
    if method == "evolve" and motif is not None:
        raise ValueError(f"motif={motif!r} is only used by method='implant'; drop it or pass method='implant'.")
