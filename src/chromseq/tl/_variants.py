"""``tl.score_variants``: the effect of genetic variants on predicted accessibility, as a new AnnData."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._settings import logger, settings
from chromseq.io._vcf import as_variant_table
from chromseq.store import ModelRecord
from chromseq.tl import _variant_windows as vw

if TYPE_CHECKING:
    from anndata import AnnData

    from chromseq.genome import Genome

RefMismatch = Literal["error", "flag", "skip"]


def score_variants(
    adata: AnnData | None,
    variants: str | os.PathLike | pd.DataFrame,
    *,
    genome: Genome | str | os.PathLike | None = None,
    models: str | os.PathLike | AnnData | list | None = None,
    celltype: str | list[str] | None = None,
    ref_mismatch: RefMismatch = "error",
    rc_average: bool = True,
    contributions: bool = False,
    contrib_method: Literal["deep_lift_shap", "ism", "grad_x_input"] = "deep_lift_shap",
    n_shuffles: int = 20,
    store_sequences: bool = False,
    batch_size: int = 512,
    device: str | None = None,
) -> AnnData:
    """Score genetic variants: predicted accessibility (or signal) of the reference and alternative sequence.

    Each variant gets a reference and an alternative window of the models' width, centred on it
    (rule below); both windows are predicted (forward and reverse complement, as
    :func:`~chromseq.tl.predict`) with every selected model output, in batches.

    **Window rule.** The first REF base sits at index ``L // 2`` of both windows (``L`` = model
    width). The alternative window shares the left flank, then reads ALT and the genome after
    REF, extended (deletions) or trimmed (insertions) on the right to keep width ``L``. So an SNV
    changes one base at ``L // 2``; the reference window is ``[pos - 1 - L // 2, pos - 1 - L // 2 + L)``.

    Parameters
    ----------
    adata
        Regions AnnData whose models (``uns['chromseq']['models']``) and genome to use; ``None``
        when ``models`` are model folders and ``genome`` is given.
    variants
        A VCF/BCF path (read by :func:`chromseq.io.read_vcf`, multi-allelic records split into one row
        per ALT), or a DataFrame with ``chrom``, ``pos`` (1-based), ``ref``, ``alt`` and optionally ``id``.
    genome
        :class:`~chromseq.Genome`, FASTA path or genomepy name; ``None`` reopens the genome recorded by
        :func:`~chromseq.pp.add_sequences`. Chromosome names are reconciled (``chr20`` reads ``20``).
    models
        As in :func:`~chromseq.tl.predict`: ``None`` (all models of ``adata``), a name, a model folder,
        an AnnData with models, or a list. Ignored for ``celltype`` without ``models``.
    celltype
        Score these cell types only: with ``models=None``, with each one's fine-tuned model (as
        :func:`~chromseq.tl.contributions` chooses it); ``var_names`` are then the cell types.
    ref_mismatch
        A REF that differs from the genome: ``'error'`` (a :class:`ValueError` naming them), ``'flag'``
        (score them, ``obs['flag'] = 'ref_mismatch'``) or ``'skip'`` (flag, do not score).
    rc_average
        Average forward and reverse-complement predictions (probabilities, or a regression model's
        values), as :func:`~chromseq.tl.predict` does.
    contributions
        Also compute the ref and alt windows' hypothetical contributions (of the raw output: the
        logit, or a regression model's value or Poisson log-rate; forward strand) for every output,
        in ``obsm['contrib_ref_<output>']``/``obsm['contrib_alt_<output>']``.
    contrib_method, n_shuffles
        Method (and DeepLIFT/SHAP references) of the contributions, see :func:`~chromseq.tl.contributions`.
    store_sequences
        Keep the windows' codes in ``obsm['sequence_ref']``/``obsm['sequence_alt']`` (always with
        ``contributions=True``).
    batch_size
        Windows per forward pass.
    device
        Torch device (``None``: :attr:`chromseq.settings.device`).

    Returns
    -------
    AnnData
        A new AnnData, variants x outputs. ``obs``: ``chrom``, ``pos``, ``ref``, ``alt``, ``id``,
        ``kind`` (snv/mnv/insertion/deletion/other), ``flag`` (``ok``; ``ref_mismatch``; skipped as
        ``symbolic`` (``<DEL>``, breakends), ``star`` (``*``), ``invalid_allele``, ``not_in_genome`` or
        ``chrom_end``), ``scored``, ``ref_match``, ``window_start``/``window_end``. ``var``: ``model``,
        ``output``, ``kind``, ``task`` (``classification``/``regression``), ``units`` (of ``ref``/``alt``:
        ``probability``, ``value`` or ``rate``) and ``delta`` (how it is computed).
        ``layers['ref']``/``layers['alt']``: float32 predictions, probabilities for a classification
        model, values in the target's units for a regression model (a rate for a Poisson model);
        ``layers['delta']``: float32, ``logit(alt) - logit(ref)`` for classification, ``alt - ref`` in
        the target's units for regression (NaN where not scored); ``X`` is ``delta``.
        ``uns['chromseq']``: ``variants`` (parameters; ``delta`` in words), ``models`` (with ``task``,
        ``loss`` and ``target_transform`` for regression models), ``genome``.

    Examples
    --------
    >>> vdata = cs.tl.score_variants(
    ...     adata, "cohort.vcf.gz", genome="GRCh37.fa", celltype=["K562", "HepG2"]
    ... )  # doctest: +SKIP
    >>> vdata.to_df("delta").abs().max(axis=1).sort_values().tail()  # doctest: +SKIP
    """
    from anndata import AnnData

    from chromseq._regions import genome_of
    from chromseq._validate import positive_int

    if ref_mismatch not in ("error", "flag", "skip"):
        raise ValueError(f"ref_mismatch={ref_mismatch!r}: choose 'error', 'flag' or 'skip'.")
    positive_int(batch_size, "batch_size")  # before the genome is read (--batch-size of chromseq variants)
    adata = AnnData() if adata is None else adata
    outputs = _outputs(adata, models, celltype)
    width = _model_width(outputs)
    table = as_variant_table(variants)
    if table.empty:
        raise ValueError("no variants to score: the VCF/table has no ALT alleles.")
    genome = genome_of(adata, genome)
    obs, ref_codes, alt_codes = _prepare(table, genome, width, ref_mismatch)
    scored = obs[K.VARIANT_SCORED].to_numpy()
    vdata = _assemble(obs, outputs, *_score(outputs, ref_codes, alt_codes, obs[scored], rc_average, batch_size, device))
    vdata.uns[K.UNS] = {
        K.UNS_VARIANTS: {
            "width": width,
            "centre_index": width // 2,
            "rc_average": rc_average,
            "ref_mismatch": ref_mismatch,
            "delta": _delta_text(vdata.var),
            "source": str(variants) if not isinstance(variants, pd.DataFrame) else "DataFrame",
            "flag_counts": {str(k): int(v) for k, v in obs[K.VARIANT_FLAG].value_counts().items() if v},
        },
        K.UNS_MODELS: {name: _plain(record) for _, name, record, _, _ in outputs},
        K.UNS_GENOME: genome.info(sorted(obs.loc[scored, K.CHROM].astype(str).unique())),
    }
    if contributions or store_sequences:
        _store_sequences(vdata, scored, ref_codes, alt_codes)
    if contributions:
        _contributions(vdata, outputs, scored, ref_codes, alt_codes, contrib_method, n_shuffles, device)
    return vdata


# -- outputs ----------------------------------------------------------------------------------------
Output = tuple[str, str, ModelRecord, int, str]  # var name, model name, record, output column, target


def _outputs(adata: AnnData, models, celltype) -> list[Output]:
    """``[(var_name, model, record, column, target)]`` of the outputs to score."""
    from chromseq._validate import require_celltypes
    from chromseq.store import get_record, output_index, records_of
    from chromseq.tl._resolve import default_model, model_columns, resolve_models

    if celltype is not None and models is None:
        cts = [celltype] if isinstance(celltype, str) else list(celltype)
        if adata.n_vars:
            require_celltypes(adata, cts)
        out = []
        for ct in cts:
            name = default_model(records_of(adata), ct)
            out.append((ct, name, get_record(adata, name), output_index(adata, name, ct), ct))
        return out
    wanted = None if celltype is None else ({celltype} if isinstance(celltype, str) else set(celltype))
    out = [
        (col, name, record, j, target)
        for name, record, _ in resolve_models(adata, models)
        for j, (col, target) in enumerate(model_columns(name, record))
        if wanted is None or target in wanted
    ]
    if not out:
        raise KeyError(f"none of the models predicts celltype={celltype!r}; pass other models or cell types.")
    if len({o[0] for o in out}) != len(out):
        raise ValueError("two models would give the same output name; score them in separate calls.")
    return out


def _model_width(outputs: list[Output]) -> int:
    widths = {rec.network.seq_len for _, _, rec, _, _ in outputs}
    if len(widths) != 1:
        raise ValueError(f"the models were trained on different widths {sorted(widths)}; score them separately.")
    return widths.pop()


def _plain(record: ModelRecord) -> dict[str, Any]:
    keep = ("kind", "outputs", "celltypes", "path", "preset", "fingerprint", "base", "config", "weights_sha256")
    task = ("task", "loss", "target_layer", "target_transform") if record.task != "classification" else ()
    stored = record.to_dict()
    return {k: stored[k] for k in keep + task if k in stored}


def _delta_text(var: pd.DataFrame) -> str:
    """``uns['chromseq']['variants']['delta']``: how ``delta`` was computed, per task when they differ."""
    found = dict(zip(var["task"], var["delta"], strict=True))
    if len(found) == 1:
        return str(var["delta"].iloc[0]) + ("" if "classification" in found else " (the target's units)")
    return f"{found['classification']} (classification outputs); {found['regression']} (regression outputs, the target's units)"


# -- variants ---------------------------------------------------------------------------------------
def _prepare(
    table: pd.DataFrame, genome: Genome, width: int, ref_mismatch: RefMismatch
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Return obs of every variant (flags, windows) and the codes of the scored ones ``(n_scored, width)``."""
    from anndata.utils import make_index_unique

    info = vw.classify(table, genome, width)
    ref_codes, alt_codes, match = vw.windows(table, info, genome, width)
    ok = np.flatnonzero(info["flag"].to_numpy() == "ok")
    ref_ok = np.zeros(len(table), dtype=bool)
    ref_ok[ok] = match
    bad = ok[~match]
    if len(bad) and ref_mismatch == "error":
        _raise_mismatch(table.iloc[bad], ref_codes[~match], width)
    flag = info["flag"].to_numpy().copy()
    flag[bad] = "ref_mismatch"
    keep = np.ones(len(ok), dtype=bool)
    if ref_mismatch == "skip":
        keep = match
    scored = np.zeros(len(table), dtype=bool)
    scored[ok[keep]] = True
    obs = table.copy()
    obs[K.CHROM] = obs[K.CHROM].astype("category")
    obs[K.VARIANT_KIND] = pd.Categorical(info["kind"])
    obs[K.VARIANT_FLAG] = pd.Categorical(flag, categories=list(vw.FLAGS))
    obs[K.VARIANT_SCORED] = scored
    obs[K.REF_MATCH] = ref_ok
    obs[K.WINDOW_START] = info["window_start"].to_numpy(np.int64)
    obs[K.WINDOW_END] = info["window_end"].to_numpy(np.int64)
    names = obs[K.CHROM].astype(str) + ":" + obs[K.POS].astype(str) + ":" + obs["ref"] + ">" + obs["alt"]
    obs.index = make_index_unique(pd.Index(names.to_numpy(str), dtype=object))
    _log_flags(obs, ref_mismatch)
    if not scored.any():
        raise ValueError(
            f"no variant could be scored (flags: {obs[K.VARIANT_FLAG].value_counts()[lambda s: s > 0].to_dict()}); "
            "check the chromosome names and genome build of the variants against the genome."
        )
    return obs, ref_codes[keep], alt_codes[keep]


def _raise_mismatch(bad: pd.DataFrame, codes: np.ndarray, width: int) -> None:
    from chromseq._codes import decode

    shown = [
        f"{r.chrom}:{r.pos} REF {r.ref} (genome {decode(c[width // 2 : width // 2 + len(r.ref)])})"
        for r, c in zip(bad.head(5).itertuples(), codes[:5], strict=False)
    ]
    raise ValueError(
        f"{len(bad)} variant(s) have a REF allele that differs from the genome: {', '.join(shown)}. Check that the "
        "VCF and the genome are the same build (and 1-based positions); or pass ref_mismatch='flag' to score them "
        "flagged, or 'skip' to leave them out."
    )


def _log_flags(obs: pd.DataFrame, ref_mismatch: str) -> None:
    counts = obs[K.VARIANT_FLAG].value_counts()
    skipped = {k: int(v) for k, v in counts.items() if v and k not in ("ok", "ref_mismatch")}
    if ref_mismatch == "skip" and counts.get("ref_mismatch", 0):
        skipped["ref_mismatch"] = int(counts["ref_mismatch"])
    if skipped:
        logger.warning(
            "score_variants: skipped %d of %d variants, flagged in obs['flag']: %s",
            sum(skipped.values()),
            len(obs),
            skipped,
        )
    if ref_mismatch == "flag" and counts.get("ref_mismatch", 0):
        logger.warning(
            "score_variants: %d variants with REF != genome scored, flagged 'ref_mismatch'", counts["ref_mismatch"]
        )
    logger.info("score_variants: scoring %d variants (%s)", int(obs[K.VARIANT_SCORED].sum()), _kinds(obs))


def _kinds(obs: pd.DataFrame) -> str:
    kinds = obs.loc[obs[K.VARIANT_SCORED], K.VARIANT_KIND].value_counts()
    return ", ".join(f"{v} {k}" for k, v in kinds.items() if v)


# -- scoring ----------------------------------------------------------------------------------------
def _score(outputs, ref_codes, alt_codes, obs, rc_average, batch_size, device) -> tuple[np.ndarray, ...]:
    """``ref``, ``alt`` and ``delta`` (float64, ``(n_scored, n_outputs)``) of every output, in its model's units."""
    from chromseq.store import load_recorded, units_of

    key = obs[K.CHROM].astype(str).to_numpy() + ":" + obs[K.WINDOW_START].astype(str).to_numpy()
    first, inverse = np.unique(key, return_index=True, return_inverse=True)[1:]
    unique_ref = ref_codes[first]  # multi-allelic records share their reference window
    ref = np.empty((len(obs), len(outputs)))
    alt, delta = np.empty_like(ref), np.empty_like(ref)
    kw = {"rc_average": rc_average, "batch_size": batch_size, "device": settings.resolve_device(device)}
    for name in dict.fromkeys(o[1] for o in outputs):
        cols = [i for i, o in enumerate(outputs) if o[1] == name]
        heads, units = [outputs[i][3] for i in cols], units_of(outputs[cols[0]][2])
        model = load_recorded(name, outputs[cols[0]][2])  # the folder checked against the record, as in predict
        r = vw.window_scores(model, unique_ref, link=units.link, **kw)[inverse.ravel()][:, heads]
        a = vw.window_scores(model, alt_codes, link=units.link, **kw)[:, heads]
        ref[:, cols], alt[:, cols], delta[:, cols] = units.effect(r, a)
    return ref, alt, delta


def _assemble(obs: pd.DataFrame, outputs: list[Output], ref: np.ndarray, alt: np.ndarray, delta: np.ndarray) -> AnnData:
    from anndata import AnnData

    from chromseq.store import units_of

    scored = obs[K.VARIANT_SCORED].to_numpy()
    layers = {}
    for key, values in ((K.VARIANT_REF, ref), (K.VARIANT_ALT, alt), (K.VARIANT_DELTA, delta)):
        full = np.full((len(obs), len(outputs)), np.nan, dtype=np.float32)
        full[scored] = values
        layers[key] = full
    units = [units_of(o[2]) for o in outputs]
    var = pd.DataFrame(
        {
            "model": [o[1] for o in outputs],
            "output": [o[4] for o in outputs],
            "kind": [o[2].kind for o in outputs],
            "task": [u.task for u in units],
            "units": [u.prediction for u in units],
            "delta": [u.delta for u in units],
        },
        index=pd.Index([o[0] for o in outputs], dtype=object),
    )
    return AnnData(X=layers[K.VARIANT_DELTA].copy(), obs=obs, var=var, layers=layers)


def _store_sequences(vdata: AnnData, scored: np.ndarray, ref_codes: np.ndarray, alt_codes: np.ndarray) -> None:
    for key, codes in ((K.SEQUENCE_REF, ref_codes), (K.SEQUENCE_ALT, alt_codes)):
        full = np.full((vdata.n_obs, ref_codes.shape[1]), 4, dtype=np.uint8)
        full[scored] = codes
        vdata.obsm[key] = full


def _contributions(vdata, outputs, scored, ref_codes, alt_codes, method, n_shuffles, device) -> None:
    from chromseq.store import load_recorded, units_of
    from chromseq.tl._contributions import attribute
    from chromseq.tl._resolve import explainable

    dev = settings.resolve_device(device)
    for var_name, name, record, column, _ in outputs:
        model = load_recorded(name, record).to(dev).eval()
        for allele, codes in (("ref", ref_codes), ("alt", alt_codes)):
            full = np.full((vdata.n_obs, 4, codes.shape[1]), np.nan, dtype=np.float32)
            ok = explainable(codes, method)
            rows = np.flatnonzero(scored)[ok]
            full[rows] = attribute(
                model,
                codes[ok],
                method=method,
                target=column,
                n_shuffles=n_shuffles,
                device=dev,
                random_state=settings.seed,
            )
            vdata.obsm[K.variant_contrib_key(allele, var_name)] = full
    vdata.uns[K.UNS][K.UNS_VARIANTS]["contributions"] = {
        "method": method,
        "n_shuffles": n_shuffles,
        "hypothetical": True,
        "target": {o[0]: units_of(o[2]).output for o in outputs},
    }
    logger.info("score_variants: added ref/alt contributions (%s) for %s", method, [o[0] for o in outputs])
