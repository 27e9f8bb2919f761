"""The report's verdict lines: each model against composition (and scratch), with block-bootstrap intervals.

A single held-out split is small (on chr20 a cell line can have a dozen test positives), so a point
AUROC above the baselines says little. Each verdict is therefore read from a 95% interval of the
paired AUROC difference, resampling 100-kb blocks of the genome (neighbouring regions are correlated;
a held-out split of a few Mb has too few 1-Mb blocks for a bootstrap), with the code of the
cross-validated transfer benchmark (:mod:`chromseq._intervals`). With fewer than
``MIN_BLOCKS`` blocks (regions without positions, or a tiny split) single regions are resampled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import _keys as K
from ._intervals import auroc_replicates, block_weights, interval_table, verdict, weighted_auroc
from .store import baseline_sources, labels, prediction_sources, task_predictions

if TYPE_CHECKING:
    import pandas as pd
    from anndata import AnnData

    from .store import ScoreSource

#: Genomic block (bp) resampled as one unit by the bootstrap.
BLOCK_SIZE = 100_000
#: Fewest blocks for a block bootstrap; below it, regions are resampled.
MIN_BLOCKS = 20
#: Bootstrap replicates behind each interval.
N_BOOT = 1000
#: Coverage of the intervals.
LEVEL = 0.95

_MAIN = {K.OPEN: ("pretrain", "pretrained")}
_CELLTYPE_MAIN = ("finetune", "fine-tuned")
_COMPARE = "best composition baseline"


def verdict_lines(adata: AnnData, split: str, *, random_state: int = 0) -> list[str]:
    """One line per target: the main model's AUROC and its differences, each with an interval and a verdict.

    Parameters
    ----------
    adata
        Evaluated regions AnnData (``obs['split']``, predictions in ``obsm['chromseq_pred']``, baselines
        in ``obsm['chromseq_baseline']``, genomic position in ``obs['chrom']``/``obs['start']`` or the
        ``chrom:start-end`` names).
    split
        Split scored (``'test'`` in the demo).
    random_state
        Seed of the bootstrap draws.

    Returns
    -------
    Markdown lines (empty when there is nothing to judge).
    """
    if K.SPLIT not in adata.obs or K.PRED not in adata.obsm:
        return []
    in_split, blocks, unit = resampling_units(adata, split)
    meta = task_predictions(adata, None, "classification")  # regression: see _report_regression
    lines = []
    for target in list(dict.fromkeys(m["target"] for m in meta.values())):
        line = _target_line(adata, target, meta, in_split, blocks, split, random_state)
        if line:
            lines.append(line)
    if not lines:
        return []
    note = (
        "A model has learned more than sequence composition only where it beats the better of the GC and "
        "k-mer baselines (fitted on the training split) on held-out regions. Brackets are 95% intervals "
        f"(bootstrap over {unit}, {N_BOOT} replicates); a verdict is "
        "'better' or 'worse' only when the interval of the difference excludes zero."
    )
    return [note, "", *lines, ""]


def _target_line(
    adata: AnnData,
    target: str,
    meta: dict[str, dict],
    in_split: np.ndarray,
    blocks: np.ndarray,
    split: str,
    random_state: int,
) -> str | None:
    kind, label = _MAIN.get(target, _CELLTYPE_MAIN)
    y = labels(adata, target)
    sources = prediction_sources(adata, meta, target)
    main = _best(sources, kind, y, in_split)
    baselines = baseline_sources(adata, target)
    if main is None or not baselines:
        return None
    scratch = _best(sources, "scratch", y, in_split) if target != K.OPEN else None
    rows = in_split & ~np.isnan(y) & ~np.isnan(main.scores)
    for s in (*baselines, *([scratch] if scratch else [])):
        rows &= ~np.isnan(s.scores)
    y_rows = y[rows]
    if (y_rows > 0.5).sum() == 0 or (y_rows <= 0.5).sum() == 0:
        return None
    weights = block_weights(blocks[rows], N_BOOT, random_state)
    named = {label: main, **({"from scratch": scratch} if scratch else {})}
    named |= {s.model: s for s in baselines}
    estimates = {(target, name): auroc_replicates(y_rows, s.scores[rows], weights) for name, s in named.items()}
    differences = [(f"vs {_COMPARE}", label, [s.model for s in baselines])]
    if scratch:
        differences.append(("vs from scratch", label, ["from scratch"]))
    table = interval_table(estimates, differences, level=LEVEL).set_index(["celltype", "kind"])
    return _format(target, label, table, differences, split, int((y_rows > 0.5).sum()), len(y_rows))


def _best(sources: list[ScoreSource], kind: str, y: np.ndarray, rows: np.ndarray) -> ScoreSource | None:
    """Return the source of ``kind`` with the highest AUROC on ``rows`` (several models may share a kind)."""
    candidates = [s for s in sources if s.kind == kind]
    if not candidates:
        return None

    def score(s: ScoreSource) -> float:
        keep = rows & ~np.isnan(y) & ~np.isnan(s.scores)
        value = weighted_auroc(y[keep], s.scores[keep])[0] if keep.any() else np.nan
        return -np.inf if np.isnan(value) else value

    return max(candidates, key=score)


def _format(target, label, table, differences, split, n_pos, n) -> str:
    name = f"{target} (pretraining target: open in any cell type)" if target == K.OPEN else target
    estimates, verdicts = verdict_text(target, label, table, differences)
    return f"- {name} ({n_pos} positives of {n} {split} regions): {split} AUROC {estimates}. {verdicts}."


def verdict_text(target: str, label: str, table: pd.DataFrame, differences) -> tuple[str, str]:
    """Return a verdict line's two halves: the estimates with intervals, and the verdicts of ``differences``.

    ``table`` is indexed by ``(target, row)`` with ``estimate``, ``lower`` and ``upper``; ``label`` names the
    fine-tuned row, ``differences`` the difference rows (first item of each); the best baseline is named.
    """
    parts = [f"{label} {_interval(table.loc[(target, label)])}"]
    if (target, "from scratch") in table.index:
        parts.append(f"from scratch {_interval(table.loc[(target, 'from scratch')])}")
    baseline_rows = [k for t, k in table.index if t == target and k.startswith("baseline")]
    best = max(baseline_rows, key=lambda k: table.loc[(target, k), "estimate"])
    parts.append(f"{_COMPARE} ({best}) {table.loc[(target, best), 'estimate']:.3f}")
    verdicts = []
    for diff, *_ in differences:
        row = table.loc[(target, diff)]
        verdicts.append(
            f"{diff}: {row['estimate']:+.3f} [{row['lower']:+.3f}, {row['upper']:+.3f}], "
            f"**{verdict(row['lower'], row['upper'])}**"
        )
    return ", ".join(parts), "; ".join(verdicts)


def _interval(row) -> str:
    return f"{row['estimate']:.3f} [{row['lower']:.3f}, {row['upper']:.3f}]"


def resampling_units(adata: AnnData, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Return ``(rows of split (n_obs,) bool, bootstrap unit of every region (n_obs,), the unit in words)``.

    The units are genome blocks (:func:`genome_blocks`), or single regions when ``split`` spans fewer
    than ``MIN_BLOCKS`` blocks.
    """
    in_split = adata.obs[K.SPLIT].astype(str).to_numpy() == split
    blocks = genome_blocks(adata)
    if np.unique(blocks[in_split]).size < MIN_BLOCKS:
        return in_split, np.arange(adata.n_obs).astype(str), "regions (too few genome blocks)"
    return in_split, blocks, f"{BLOCK_SIZE // 1000}-kb genome blocks"


def genome_blocks(adata: AnnData) -> np.ndarray:
    """``(n_obs,)`` block label ``chrom:index`` of every region (``BLOCK_SIZE`` bp blocks)."""
    if K.CHROM in adata.obs and K.START in adata.obs:
        chrom = adata.obs[K.CHROM].astype(str).to_numpy()
        start = adata.obs[K.START].to_numpy(dtype=np.int64)
    else:
        parsed = adata.obs_names.str.extract(r"^(.*):(\d+)-\d+$")
        if parsed.isna().any().any():
            return np.arange(adata.n_obs).astype(str)  # no position: the ordinary (region) bootstrap
        chrom, start = parsed[0].to_numpy(), parsed[1].astype(np.int64).to_numpy()
    return np.char.add(np.char.add(chrom.astype(str), ":"), (start // BLOCK_SIZE).astype(str))
