"""``pl.history``: training curves of the recorded models, with their training stages marked."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._docs import SHOW_SAVE, fill_docs
from chromseq._regions import to_numbers
from chromseq._validate import FIX

from ._utils import finish, panels

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes

#: Line style of each history key; keys not listed are drawn solid.
_KEY_STYLES = {"train_loss": {"ls": "--", "color": "#1f77b4"}, "val_loss": {"ls": "-", "color": "#d62728"}}
#: The validation metric of each task: a key asked for and missing from a history is drawn as its counterpart.
_COUNTERPART = {"val_auroc": "val_pearson", "val_pearson": "val_auroc"}


@fill_docs(show_save=SHOW_SAVE)
def history(
    adata: AnnData,
    models: str | Sequence[str] | None = None,
    *,
    keys: str | Sequence[str] = ("train_loss", "val_loss"),
    ncols: int = 3,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | list[Axes]:
    """Plot training curves per epoch, one panel per model, with stage changes marked.

    The x axis counts epochs over all stages of a model (for a fine-tuned model: stage 1 with the
    body frozen, then stage 2 with all layers), so stages follow each other; a dotted vertical line
    and the stage names mark where a stage starts. The epoch with the lowest validation loss (the
    kept checkpoint) is marked with a dot.

    Parameters
    ----------
    adata
        AnnData with models recorded in ``uns['chromseq']['models']`` (by :func:`chromseq.tl.pretrain`,
        :func:`chromseq.tl.finetune` or :func:`chromseq.tl.train`).
    models
        Model name(s); ``None``: every model with a history.
    keys
        History columns to draw: ``'train_loss'``, ``'val_loss'``, ``'val_auroc'`` (classification),
        ``'val_pearson'`` (regression), ``'lr'`` (any list in the history). A regression model's
        history has ``val_pearson`` where a classification history has ``val_auroc``: asking for one
        draws the other for models that lack it, so one call covers both kinds of models.
    ncols
        Panels per row.
    ax
        Axes to draw in (one per model); ``None`` makes a new figure.
    {show_save}

    Returns
    -------
    The Axes, or a list of Axes with one panel per model.

    Examples
    --------
    >>> chromseq.tl.pretrain(adata, preset="tiny")  # doctest: +SKIP
    >>> chromseq.tl.finetune(adata, celltype="K562")  # doctest: +SKIP
    >>> chromseq.pl.history(adata, ["pretrained", "finetuned_K562"])  # doctest: +SKIP
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    tables = _histories(adata, models)
    drawn = {name: [_key_in(k, t) for k in keys] for name, t in tables.items()}
    missing = {name: [k for k in drawn[name] if k not in t.columns] for name, t in tables.items()}
    missing = {name: ks for name, ks in missing.items() if ks}
    if missing:
        some = next(iter(tables.values()))
        raise KeyError(f"history key(s) missing: {missing}; a history has {list(some.columns)}.")
    fig, axes, created = panels(len(tables), ax=ax, ncols=ncols)
    for (name, table), panel in zip(tables.items(), axes, strict=True):
        _draw(panel, name, table, drawn[name])
    return finish(fig, axes, created=created, show=show, save=save)


def _key_in(key: str, table: pd.DataFrame) -> str:
    """``key``, or its other task's counterpart (``val_auroc`` / ``val_pearson``) when only that is in ``table``."""
    other = _COUNTERPART.get(key)
    return other if key not in table.columns and other in table.columns else key


def _histories(adata: AnnData, models: str | Sequence[str] | None) -> dict[str, pd.DataFrame]:
    from chromseq.store import records_of

    recorded = records_of(adata)
    if not recorded:
        raise KeyError(f"no model in adata.uns[{K.UNS!r}][{K.UNS_MODELS!r}]: run {FIX[K.UNS_MODELS]} first.")
    names = list(recorded) if models is None else [models] if isinstance(models, str) else list(models)
    unknown = [m for m in names if m not in recorded]
    if unknown:
        raise KeyError(f"unknown model(s) {unknown}; recorded models are {list(recorded)}.")
    tables = {m: _as_table(recorded[m].history) for m in names}
    tables = {m: t for m, t in tables.items() if len(t)}
    if not tables:
        raise ValueError(f"model(s) {names} have no training history to plot.")
    return tables


def _as_table(hist) -> pd.DataFrame:
    """History dict of equal-length lists (or arrays, after read_h5ad) -> DataFrame with numeric columns."""
    if not hist:
        return pd.DataFrame()
    table = pd.DataFrame({k: list(np.ravel(v)) for k, v in hist.items()})
    for column in table.columns:
        if column != "stage":
            table[column] = to_numbers(table[column])
    return table


def _draw(panel: Axes, name: str, table: pd.DataFrame, keys: list[str]) -> None:
    from matplotlib.ticker import MaxNLocator

    x = np.arange(1, len(table) + 1)
    for key in keys:
        style = _KEY_STYLES.get(key, {"ls": "-"})
        panel.plot(x, table[key].to_numpy(float), label=key.replace("_", " "), lw=1.6, **style)
    _mark_stages(panel, x, table)
    if "val_loss" in keys and table["val_loss"].notna().any():
        best = int(np.nanargmin(table["val_loss"].to_numpy(float)))
        panel.plot(x[best], table["val_loss"].iloc[best], "o", color="#d62728", ms=5, label=f"best (epoch {x[best]})")
    if "lr" in keys and len(keys) == 1:
        panel.set_yscale("log")
    ylabel = (
        "loss" if all(k.endswith("loss") for k in keys) else keys[0].replace("_", " ") if len(keys) == 1 else "value"
    )
    panel.set(xlabel="epoch (all stages)", ylabel=ylabel, xlim=(0.5, len(x) + 0.5))
    panel.xaxis.set_major_locator(MaxNLocator(integer=True))
    panel.set_title(name, fontsize="medium")
    panel.legend(fontsize="small", frameon=False)


def _mark_stages(panel: Axes, x: np.ndarray, table: pd.DataFrame) -> None:
    if "stage" not in table.columns:
        return
    stage = table["stage"].astype(str).to_numpy()
    starts = np.flatnonzero(np.r_[True, stage[1:] != stage[:-1]])
    if len(starts) < 2 and stage[0] in ("", "nan", "None"):
        return
    low, high = panel.get_ylim()
    panel.set_ylim(low, high + 0.12 * (high - low))  # headroom for the stage names
    transform = panel.get_xaxis_transform()
    ends = [*starts[1:], len(x)]
    for j, (i, end) in enumerate(zip(starts, ends, strict=True)):
        if j % 2:
            panel.axvspan(x[i] - 0.5, x[end - 1] + 0.5, color="0.94", zorder=0, lw=0)
        if i > 0:
            panel.axvline(x[i] - 0.5, color="0.5", ls=":", lw=1)
        panel.text(
            x[i] - 0.3, 0.98, stage[i], transform=transform, va="top", ha="left", fontsize="x-small", color="0.3"
        )
