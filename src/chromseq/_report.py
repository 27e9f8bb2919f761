"""A short report a person opens first: metrics, curves, logos and motifs, as PNGs and markdown."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import _keys as K
from ._intervals import verdict
from ._io_utils import atomic_path
from ._report_regression import regression_lines
from ._report_verdicts import verdict_lines
from ._settings import logger
from .store import MATCH_QVAL, regression_meta

#: Patterns per cell type in the report's motif table, and in its figure (logos of the patterns with most seqlets).
_MOTIF_ROWS = 12
_MOTIF_FIGURE = 6
#: Bases per row of a region's contribution logo (a 600-bp window is drawn in 3 rows, letters readable).
_LOGO_ROW = 200

if TYPE_CHECKING:
    from anndata import AnnData

    from .store import ModelRecord


def write_report(adata: AnnData, out: str | os.PathLike, *, split: str = "test") -> Path:
    """Write figures and ``report.md`` for an evaluated AnnData.

    Classification models get the AUROC table, verdicts and ROC curves; regression models (predictions
    with ``task='regression'``) a section of their own: predicted vs observed per cell type, the
    Pearson/Spearman/MSE table and verdicts on Pearson r with paired block-bootstrap intervals.

    Parameters
    ----------
    adata
        Regions x cell types after :func:`chromseq.tl.evaluate`; contributions and motifs are
        included when present.
    out
        Output folder; figures go to ``out/figures``.
    split
        Split whose metrics, ROC curves, scatter plots and logos are shown.

    Returns
    -------
    Path of the markdown report.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from . import pl

    uns = adata.uns.get(K.UNS, {})
    if K.UNS_METRICS not in uns:
        raise KeyError(f"adata.uns[{K.UNS!r}][{K.UNS_METRICS!r}] is missing: run chromseq.tl.evaluate(adata) first.")
    out = Path(out)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    metrics = pd.DataFrame(uns[K.UNS_METRICS])
    classification = _metrics_summary(metrics, split)
    lines = ["# chromseq report", ""]
    lines += _provenance_lines(adata)
    lines += _dataset_lines(adata)
    if len(classification) or not regression_meta(adata):
        lines += [
            "## Held-out performance",
            "",
            f"AUROC and AUPRC on the `{split}` split, beside composition baselines.",
            "",
        ]
        lines += [_markdown_table(classification), ""]

    def figure(name: str, draw) -> list[str]:
        """Draw one figure into ``figures/``; return its markdown lines (none if the AnnData lacks a piece)."""
        try:
            draw(save=figures / f"{name}.png")
        except (KeyError, ValueError) as err:  # a missing piece of the AnnData skips its figure
            logger.warning("report: skipped figure %s (%s)", name, err)
            return []
        finally:
            plt.close("all")
        return [f"![{name}](figures/{name}.png)", ""]

    if len(classification) or not regression_meta(adata):
        lines += verdict_lines(adata, split)
        lines += figure("metrics_auroc", lambda save: pl.metrics(adata, "auroc", split=split, show=False, save=save))
        lines += figure("roc", lambda save: pl.roc(adata, split=split, show=False, save=save))
    lines += regression_lines(adata, split, metrics, figure=figure, markdown=_markdown_table)
    lines += figure("history", lambda save: pl.history(adata, show=False, save=save))
    if K.UNS_TRANSFER in uns:
        lines += ["## Transfer learning vs training from scratch", ""]
        intervals = uns.get(f"{K.UNS_TRANSFER}_intervals")
        if intervals is not None:
            params = uns.get(K.UNS_PARAMS, {}).get(K.UNS_TRANSFER, {})
            lines += _cross_validated_lines(intervals, params)
            lines += figure("transfer_intervals", lambda save: pl.transfer_intervals(adata, show=False, save=save))
            lines += figure(
                "transfer_differences",
                lambda save: pl.transfer_intervals(adata, differences=True, show=False, save=save),
            )
        else:
            lines += _transfer_curve_lines(uns[K.UNS_TRANSFER], uns.get(K.UNS_PARAMS, {}).get(K.UNS_TRANSFER, {}))
            lines += figure("transfer_curve", lambda save: pl.transfer_curve(adata, show=False, save=save))
    lines += _reference_lines(adata)
    lines += _interpretation_lines(adata, figure)
    path = out / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    logger.info("wrote %s", path)
    return path


def _cross_validated_lines(intervals: pd.DataFrame, params: dict) -> list[str]:
    """Return the lines of a cross-validated transfer benchmark: mean over cell types, intervals, verdicts.

    ``params`` are the benchmark's parameters (``cv``, ``unit``, ``seeds``, ``level``).
    """
    mean = intervals[intervals["celltype"] == "mean"]
    table = mean.assign(
        interval=[f"{e:.3f} [{lo:.3f}, {hi:.3f}]" for e, lo, hi in mean[["estimate", "lower", "upper"]].to_numpy()]
    ).pivot_table(index="fraction", columns="kind", values="interval", aggfunc="first", sort=False)
    table = table[[k for k in mean["kind"].unique() if k in table.columns]].sort_index(ascending=False)
    table.index = [f"{f:g}" for f in table.index]
    table.index.name = "fraction"
    lines = [
        f"Cross-validated ({params.get('cv', '?')} folds of {params.get('unit', 'unit')}s, seeds "
        f"{params.get('seeds', '?')}): {_estimate(params)[1]} of the pooled out-of-fold scores, mean over cell types "
        f"[{100 * float(params.get('level', 0.95)):g}% block-bootstrap interval]. Every region is scored by "
        "models that never saw its fold, pretraining included.",
        "",
        _markdown_table(table.reset_index()),
        "",
    ]
    for _, row in mean[mean["kind"].str.contains("-")].iterrows():
        lines.append(
            f"- {row['kind']} at fraction {row['fraction']:g}: {row['estimate']:+.3f} "
            f"[{row['lower']:+.3f}, {row['upper']:+.3f}], **{verdict(row['lower'], row['upper'])}**"
        )
    return [*lines, ""]


def _transfer_curve_lines(table: pd.DataFrame, params: dict) -> list[str]:
    """Text of a single-split transfer benchmark: test AUROC (Pearson r) per fraction and kind, mean and range over runs."""
    column, name = _estimate(params)
    if table is None or len(table) == 0 or column not in table:
        return []
    runs = table.groupby(["fraction", "kind"], sort=False)[column]
    summary = runs.agg(["mean", "min", "max", "count"]).reset_index()
    summary["cell"] = [
        f"{m:.3f}" if n == 1 else f"{m:.3f} ({lo:.3f}-{hi:.3f})"
        for m, lo, hi, n in summary[["mean", "min", "max", "count"]].to_numpy()
    ]
    wide = summary.pivot_table(index="fraction", columns="kind", values="cell", aggfunc="first", sort=False)
    wide = wide[[k for k in summary["kind"].unique() if k in wide.columns]].sort_index(ascending=False)
    wide.index = [f"{f:g}" for f in wide.index]
    wide.index.name = "fraction"
    celltypes = sorted(map(str, table["celltype"].unique())) if "celltype" in table else []
    split = params.get("split", table["split"].iloc[0] if "split" in table else "test")
    return [
        f"Fine-tuning the pretrained body vs training the same network from scratch on a fraction of each cell "
        f"type's training regions ({', '.join(celltypes)}), scored on the `{split}` split: {name}, mean over cell "
        "types and seeds (in parentheses, the range over runs where there are several). One split gives no intervals: "
        "`chromseq.tl.transfer_benchmark(..., cv=5)` adds block-bootstrap intervals (see the cross-validated "
        "reference below, where there is one).",
        "",
        _markdown_table(wide.reset_index()),
        "",
    ]


def _estimate(params: dict) -> tuple[str, str]:
    """Metric column and name of a transfer benchmark: Pearson r for a regression benchmark, else AUROC."""
    return ("pearson", "Pearson r") if str(params.get("task", "")) == K.TASKS[1] else ("auroc", "AUROC")


def _reference_lines(adata: AnnData) -> list[str]:
    """For a demo run: the cross-validated benchmark of its preset on the same data, shipped with chromseq."""
    from .datasets._chromtransfer import cv_reference

    demo = adata.uns.get(K.UNS, {}).get(K.UNS_PARAMS, {}).get(K.PARAMS_DEMO)
    reference = cv_reference(demo.get("preset")) if demo and not demo.get("quick") else None
    if reference is None:
        return []
    settings = reference["settings"]
    intro = (
        f"How preset `{settings['preset']}` does on this data when every region is scored out of fold, from "
        f"`benchmarks/transfer.py` ({reference['source']}; {settings['width']}-bp windows; pretraining "
        f"{_options(settings['pretrain'])}; fine-tuning and scratch {_options(settings['runs'])}). It was "
        "measured once and ships with chromseq; this run's single split (above) is too small to decide a "
        "difference of a few hundredths."
    )
    table = pd.DataFrame(reference["intervals"])
    return ["## Cross-validated reference", "", intro, "", *_cross_validated_lines(table, settings)]


def _provenance_lines(adata: AnnData) -> list[str]:
    """Say what produced the report: the demo's preset, recipe and mode, and each model's preset and epochs."""
    uns = adata.uns.get(K.UNS, {})
    demo = uns.get(K.UNS_PARAMS, {}).get(K.PARAMS_DEMO)
    lines = []
    if demo:
        if demo.get("quick"):
            lines += [
                "> **QUICK MODE (`--quick`): a smoke test of the path, trained for a single epoch. The numbers "
                "and figures below are not meaningful results.**",
                "",
            ]
        recipe = demo.get("recipe", {})
        lines += [
            f"Produced by `chromseq demo`: preset `{demo.get('preset')}`, recipe `{demo.get('recipe_name')}` "
            f"(pretraining {_options(recipe.get('pretrain', {}))}; fine-tuning and training from scratch "
            f"{_options(recipe.get('celltype', {}))}; network changes {_options(recipe.get('config', {}))}), "
            f"quick mode {'on' if demo.get('quick') else 'off'}.",
            "",
        ]
        if demo.get("predicted"):
            lines += [f"Predictions were made for the {demo['predicted']} regions only.", ""]
    from chromseq.store import records_of

    described = [_model_line(name, rec) for name, rec in records_of(adata).items()]
    if described:
        lines += ["Models:", "", *described, ""]
    return lines


def _options(options: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "none"


def _model_line(name: str, record: ModelRecord) -> str:
    """One line per model: kind, task, preset, threads, epochs, and the validation AUROC (Pearson r) of the epoch it kept."""
    from ._metrics import kept_index

    history = record.history
    epochs = len(history.get("epoch", []))
    monitor = str(record.params.get("monitor", "val_loss"))
    kept = ""
    if epochs and len(history.get(monitor, [])) == epochs:
        i = kept_index(history, record.params)
        key, label = ("val_pearson", "val Pearson r") if record.task == K.TASKS[1] else ("val_auroc", "val AUROC")
        metric = history.get(key, [])
        value = float(metric[i]) if i < len(metric) and metric[i] is not None else float("nan")
        shown = f"{label} {value:.3f}" if np.isfinite(value) else f"{monitor} {float(history[monitor][i]):.4f}"
        kept = f", kept epoch {history['epoch'][i]} (best {monitor}): {shown}"
    threads = record.params.get("torch_threads")
    threads = f", {threads} torch thread{'' if threads == 1 else 's'}" if threads else ""
    task = f", regression ({record.loss or 'mse'} loss)" if record.task == K.TASKS[1] else ""
    return (
        f"- `{name}` ({record.kind}{task}, preset `{record.preset or '?'}`{threads}): "
        f"{epochs} epoch{'' if epochs == 1 else 's'}{kept}"
    )


def _dataset_lines(adata: AnnData) -> list[str]:
    lines = [f"{adata.n_obs:,} regions x {adata.n_vars} cell types ({', '.join(map(str, adata.var_names))}).", ""]
    if K.SPLIT in adata.obs:
        counts = adata.obs[K.SPLIT].value_counts()
        lines += ["Regions per split: " + ", ".join(f"{s} {counts.get(s, 0):,}" for s in K.SPLITS) + ".", ""]
    return lines


def _metrics_summary(metrics: pd.DataFrame, split: str) -> pd.DataFrame:
    """Classification rows of ``split`` (regression rows have their own section)."""
    table = metrics[metrics["split"] == split]
    if "task" in table:
        table = table[table["task"].astype(str) != K.TASKS[1]]
    columns = [c for c in ("target", "model", "kind", "n", "n_pos", "auroc", "auprc", "f1_best") if c in table]
    return table[columns].sort_values(["target", "model"]).reset_index(drop=True)


def _interpretation_lines(adata: AnnData, figure) -> list[str]:
    from . import pl
    from .store import get_contributions, motif_result, stored_contributions

    stored = stored_contributions(adata)
    if not [ct for ct in adata.var_names if ct in stored]:
        return []
    lines = ["## What the models learned", ""]
    missing = {}
    for ct in adata.var_names:
        names = get_contributions(adata, ct)[1] if ct in stored else []
        motifs = motif_result(adata, ct)
        motif_table = _motif_table(motifs)
        if motif_table is None:
            missing[ct] = _why_no_motifs(adata, ct, len(names), motifs)
        if not len(names):
            continue
        region = _most_confident(adata, ct, adata.obs_names.get_indexer(names))
        lines += [f"### {ct}", "", f"Contribution scores of region `{region}`:", ""]
        lines += figure(
            f"contributions_{ct}",
            lambda save, r=region, c=ct: pl.contributions(adata, r, c, wrap=_LOGO_ROW, show=False, save=save),
        )
        if motif_table is not None:
            lines += [_LOGO_NOTE, "", _MOTIF_NOTE, "", _markdown_table(motif_table), ""]
            lines += [_motif_count_line(motifs, len(motif_table)), ""]
            lines += figure(
                f"motifs_{ct}", lambda save, c=ct: pl.motifs(adata, c, _MOTIF_FIGURE, show=False, save=save)
            )
    if missing:
        lines += ["### Cell types without motif patterns", ""]
        lines += [f"- {ct}: {why}" for ct, why in missing.items()] + [""]
    return lines


_LOGO_NOTE = (
    "Letter heights are the contribution of each observed base to the model's output (its logit; for a regression "
    "model the predicted value, or its log for the Poisson loss; the window drawn in rows "
    f"of {_LOGO_ROW} bp). Seqlets (stretches of significant contribution) are marked in a lane under the "
    "letters, coloured by the sign of their contribution (legend), with the name of their best JASPAR match; "
    "`?` marks a seqlet whose best match is not significant (Bonferroni-adjusted p > 0.01 over the database). "
    "A track without seqlets says why."
)
_MOTIF_NOTE = (
    "Motifs discovered by TF-MoDISco and their best JASPAR matches. `match_beyond_composition` is True "
    f"only where the match is significant (q-value at most {MATCH_QVAL:g}) and better than that of a matrix "
    "with the pattern's base composition and no positional information (`info_content`: bits per position, "
    "0-2): a small q-value alone does not make a motif, and a q-value near 1 means no database motif matches."
)


def _motif_count_line(motifs: dict, n_table: int) -> str:
    """Say how many of the patterns found the table and the figure below it show."""
    n_found = len(motifs[K.MOTIF_PATTERNS])
    n_figure = min(_MOTIF_FIGURE, n_found)
    table = f"all {n_found}" if n_table == n_found else f"the {n_table} with most seqlets of {n_found}"
    figure = f"all {n_figure}" if n_figure == n_table else f"the {n_figure} with most seqlets of the table's {n_table}"
    return f"TF-MoDISco found {n_found} pattern{'s' if n_found != 1 else ''}: the table lists {table}; the figure shows {figure}."


def _why_no_motifs(adata: AnnData, celltype: str, n_regions: int, motifs) -> str:
    """One phrase saying why ``celltype`` has no motif table."""
    demo = adata.uns.get(K.UNS, {}).get(K.UNS_PARAMS, {}).get(K.PARAMS_DEMO, {})
    noted = (demo.get("no_motifs") or {}).get(celltype)
    if noted:
        return str(noted)
    if not n_regions:
        return "no contribution scores were computed for it (no explained regions)."
    if not motifs:
        return f"chromseq.tl.motifs was not run on its {n_regions} explained regions."
    params = motifs.get(K.UNS_PARAMS, {})
    size = params.get("modisco", {}).get("min_metacluster_size")
    return f"TF-MoDISco found no pattern among the seqlets of {params.get('n_regions', n_regions)} regions" + (
        f" (a pattern needs at least {size} seqlets)." if size else "."
    )


def _most_confident(adata: AnnData, celltype: str, rows: np.ndarray) -> str:
    pred = adata.obsm.get(K.PRED)
    if pred is not None:
        columns = [c for c in pred.columns if str(c).endswith(celltype) and str(c).startswith("finetuned")]
        if columns:
            return str(adata.obs_names[rows[np.argmax(pred[columns[0]].to_numpy()[rows])]])
    return str(adata.obs_names[rows[0]])


def _motif_table(result) -> pd.DataFrame | None:
    if not result or K.MOTIF_PATTERNS not in result:
        return None
    patterns = pd.DataFrame(result[K.MOTIF_PATTERNS])
    if patterns.empty:
        return None
    columns = ("sign", "n_seqlets", "info_content", "match_id", "match_name", "match_qval", "match_beyond_composition")
    columns = [c for c in columns if c in patterns]
    table = patterns[columns].rename_axis("pattern").reset_index()
    if {"match_qval", "match_beyond_composition"} <= set(table.columns):  # results of older versions too
        significant = table["match_qval"].astype(float).le(MATCH_QVAL).to_numpy()
        table["match_beyond_composition"] = table["match_beyond_composition"].astype(bool).to_numpy() & significant
    if "n_seqlets" in table:
        table = table.sort_values("n_seqlets", ascending=False, kind="stable")
    return table.head(_MOTIF_ROWS)


#: Number format per column of the report's tables (default: 3 decimals); q-values in scientific notation.
_FORMATS = {"match_qval": "{:.2e}", "info_content": "{:.2f}", "n": "{:,.0f}", "n_pos": "{:,.0f}"}


def _markdown_table(table: pd.DataFrame) -> str:
    def cell(column: str, v) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else _FORMATS.get(column, "{:.3f}").format(v)
        return str(v)

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = [
        "| " + " | ".join(cell(c, v) for c, v in zip(table.columns, row, strict=True)) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])
