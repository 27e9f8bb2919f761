"""Helpers shared by the plots: panels, ``ax``/``show``/``save`` handling, colours per model kind."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chromseq._settings import logger

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Colour of each model kind (baselines are grey, told apart by line style).
KIND_COLORS = {"finetune": "#1f77b4", "scratch": "#ff7f0e", "pretrain": "#2ca02c", "baseline": "#7f7f7f"}
#: Line style of each baseline model.
BASELINE_STYLES = {"baseline_kmer": "--", "baseline_ridge": "--", "baseline_gc": ":"}
_EXTRA_COLORS = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_NON_INTERACTIVE = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}


def panels(
    n: int, *, ax: Axes | Sequence[Axes] | None, ncols: int = 3, size: tuple[float, float] = (3.8, 3.4)
) -> tuple[Figure, list[Axes], bool]:
    """Return the figure, ``n`` axes to draw in, and whether the figure was created here.

    ``ax`` may be one Axes (for ``n == 1``) or a sequence of ``n`` Axes; ``None`` creates a grid of
    ``ncols`` columns and removes the unused cells.
    """
    import matplotlib.pyplot as plt

    if ax is not None:
        axes = [ax] if not isinstance(ax, Sequence | np.ndarray) else list(np.ravel(ax))
        if len(axes) != n:
            raise ValueError(
                f"this plot draws {n} panel(s) but {len(axes)} Axes were passed as ax=; pass {n} Axes, "
                "select fewer panels (e.g. one cell type), or leave ax=None."
            )
        return axes[0].figure, axes, False
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    cells = list(grid.ravel())
    for extra in cells[n:]:
        extra.remove()
    return fig, cells[:n], True


def finish(fig: Figure, axes: list[Axes], *, created: bool, show: bool | None, save: str | os.PathLike | None):
    """Save and/or show the figure; return the Axes (one panel) or the list of Axes.

    ``show=None`` shows a figure made here when the matplotlib backend is interactive (not when the
    caller passed ``ax=``).
    """
    import matplotlib.pyplot as plt

    if created:
        with warnings.catch_warnings():  # a crowded figure keeps its default layout rather than failing
            warnings.simplefilter("ignore", UserWarning)
            fig.tight_layout()
    if save is not None:
        save_figure(fig, save)
    if show is None:
        show = created and plt.get_backend().lower() not in _NON_INTERACTIVE
    if show:
        plt.show()
    return axes[0] if len(axes) == 1 else axes


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` atomically (format from the suffix, ``.png`` when there is none)."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix[1:])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("saved figure to %s", path)
    return path


def series_label(model: str, target: str) -> str:
    """Name a model's series across targets: ``finetuned_K562`` for target ``K562`` becomes ``finetuned``."""
    suffix = f"_{target}"
    return model[: -len(suffix)] if model.endswith(suffix) and len(model) > len(suffix) else model


class StylePicker:
    """Give each series a colour by kind (a new colour for a second series of the same kind) and a line style."""

    def __init__(self) -> None:
        self._seen: dict[str, dict] = {}
        self._extra = iter(_EXTRA_COLORS * 10)

    def __call__(self, label: str, kind: str, model: str | None = None) -> dict:
        """Return ``color`` and ``linestyle`` for the series ``label`` of ``kind``."""
        if label not in self._seen:
            used = {s["color"] for s in self._seen.values()}
            color = KIND_COLORS.get(kind)
            if color is None or (color in used and kind != "baseline"):
                color = next(self._extra)
            self._seen[label] = {"color": color, "linestyle": BASELINE_STYLES.get(model or label, "-")}
        return self._seen[label]


def select_rows(table: pd.DataFrame, column: str, wanted: str | Sequence[str] | None, what: str) -> pd.DataFrame:
    """Keep the rows of ``table`` whose ``column`` is in ``wanted`` (``None``: all rows).

    Raises ``KeyError`` naming the unknown values and those ``what`` (e.g. ``'transfer table'``) has.
    """
    if wanted is None:
        return table
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    unknown = [w for w in wanted if w not in set(table[column])]
    if unknown:
        raise KeyError(f"{column}(s) {unknown} not in the {what}; it has {sorted(set(table[column]))}.")
    return table[table[column].isin(wanted)]
