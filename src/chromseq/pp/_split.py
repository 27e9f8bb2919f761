"""``pp.split_by_chromosome``: train/val/test by chromosome, or by contiguous blocks of one chromosome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from chromseq import _keys as K
from chromseq._anndata import writable
from chromseq._regions import get_params, regions, set_params
from chromseq._settings import logger, settings

TRAIN, VAL, TEST = K.SPLITS


def split_by_chromosome(
    adata: AnnData,
    val: str | Sequence[str] | None = None,
    test: str | Sequence[str] | None = None,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    by: Literal["auto", "chromosome", "block"] = "auto",
    block_size: int = 1_000_000,
    random_state: int | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Assign every region to ``train``, ``val`` or ``test`` so that no chromosome segment is shared.

    Parameters
    ----------
    adata
        Regions with ``obs['chrom']``, ``obs['start']`` and ``obs['end']``.
    val, test
        Chromosomes held out for validation and test (``'chr8'`` or ``['chr2', 'chr3']``; ``8`` and
        ``chr8`` are the same chromosome). ``None`` picks whole chromosomes at random (seeded) until
        ``val_fraction``/``test_fraction`` of the regions are held out.
    val_fraction, test_fraction
        Fractions of regions to hold out when ``val``/``test`` are ``None``.
    by
        ``'chromosome'`` holds out whole chromosomes; ``'block'`` cuts each chromosome into contiguous
        ``block_size`` blocks and holds out random blocks (seeded) until the fractions are reached;
        ``'auto'`` uses blocks when the data has a single chromosome (such as chr20), else chromosomes.
        A region belongs to the block holding its centre. Windows on either side of a block border
        may overlap by less than their width.
    block_size
        Length of a block (bp) for ``by='block'``.
    random_state
        Seed for the choice of chromosomes or blocks (default: ``chromseq.settings.seed``).
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Sets the following fields:

    ``adata.obs['split']`` : categorical
        ``train``, ``val`` or ``test``.
    ``adata.uns['chromseq']['params']['split_by_chromosome']`` : dict
        The parameters and the layout (held-out chromosomes, or the split of every block), so that
        regions added later (:func:`chromseq.pp.add_background`) are assigned the same way.

    Examples
    --------
    >>> import chromseq as cs
    >>> adata = cs.datasets.chromtransfer_chr20(background=False)  # doctest: +SKIP
    >>> cs.pp.split_by_chromosome(adata, random_state=0)  # doctest: +SKIP
    >>> adata.obs["split"].value_counts()  # doctest: +SKIP
    """
    chrom, start, end, _ = regions(adata)
    _check_args(val_fraction, test_fraction, by, block_size)
    seed = settings.seed if random_state is None else random_state
    rng = np.random.default_rng(seed)
    present = list(pd.unique(chrom))
    mode = by if by != "auto" else ("block" if len(present) == 1 and val is None and test is None else "chromosome")
    if mode == "block":
        if val is not None or test is not None:
            raise ValueError(
                "by='block' holds out random blocks: leave val and test as None (use val_fraction/test_fraction)."
            )
        layout = _block_layout(adata, chrom, (start + end) // 2, block_size, val_fraction, test_fraction, rng)
    else:
        layout = _chromosome_layout(chrom, present, val, test, val_fraction, test_fraction, rng)
    params = {"by": mode, "block_size": int(block_size), "val_fraction": float(val_fraction)}
    params |= {"test_fraction": float(test_fraction), "random_state": int(seed), **layout}
    labels = assign_splits(params, chrom, start, end)
    _check_nonempty(labels, mode, present)

    adata = writable(adata, copy, "split_by_chromosome")
    if K.SPLIT in adata.obs:
        logger.info("split_by_chromosome: replacing obs[%r]", K.SPLIT)
    adata.obs[K.SPLIT] = pd.Categorical(labels, categories=list(K.SPLITS))
    set_params(adata, split_by_chromosome.__name__, params)
    counts = pd.Series(labels).value_counts().reindex(list(K.SPLITS)).to_dict()
    logger.info("split_by_chromosome (%s): wrote obs[%r] %s", mode, K.SPLIT, counts)
    return adata if copy else None


def _check_args(val_fraction: float, test_fraction: float, by: str, block_size: int) -> None:
    if by not in ("auto", "chromosome", "block"):
        raise ValueError(f"by must be 'auto', 'chromosome' or 'block', got {by!r}.")
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must each be in (0, 1) and sum to less than 1."
        )
    if not isinstance(block_size, int | np.integer) or block_size <= 0:
        raise ValueError(f"block_size must be a positive int (bp), got {block_size!r}.")


# -- chromosomes ----------------------------------------------------------------
def _match_chromosomes(names, present: list[str], what: str) -> list[str]:
    if names is None:
        return []
    names = [names] if isinstance(names, str | int) else list(names)
    if not names:
        raise ValueError(
            f"{what}=[] holds out nothing: name at least one chromosome, or pass None to choose at random."
        )
    by_base = {_base(c): c for c in present}
    matched, unknown = [], []
    for name in names:
        name = str(name)
        found = name if name in present else by_base.get(_base(name))
        (matched if found else unknown).append(found or name)
    if unknown:
        raise KeyError(f"{what} chromosome(s) {unknown} are not in the data; its chromosomes are {present}.")
    return list(dict.fromkeys(matched))


def _base(chrom: str) -> str:
    base = chrom[3:] if chrom.lower().startswith("chr") else chrom
    return "M" if base.upper() in ("M", "MT") else base


def _chromosome_layout(chrom, present, val, test, val_fraction, test_fraction, rng) -> dict[str, Any]:
    val_chroms = _match_chromosomes(val, present, "val")
    test_chroms = _match_chromosomes(test, present, "test")
    both = sorted(set(val_chroms) & set(test_chroms))
    if both:
        raise ValueError(f"chromosome(s) {both} are in both val and test; hold out each chromosome once.")
    counts = pd.Series(chrom).value_counts()
    free = [c for c in rng.permutation(np.array(present, dtype=object)) if c not in val_chroms + test_chroms]
    for held, fraction, given in (
        (test_chroms, test_fraction, test is not None),
        (val_chroms, val_fraction, val is not None),
    ):
        while not given and free and counts.reindex(held).sum() < fraction * len(chrom):
            held.append(free.pop(0))
    logger.info("split_by_chromosome: val=%s, test=%s", val_chroms, test_chroms)
    return {VAL: val_chroms, TEST: test_chroms}


# -- blocks ---------------------------------------------------------------------
def _block_layout(adata, chrom, center, block_size, val_fraction, test_fraction, rng) -> dict[str, Any]:
    sizes = _chromosome_sizes(adata, chrom)
    keys = [(c, b) for c in sizes for b in range(-(-sizes[c] // block_size))]
    counts = pd.DataFrame({"c": chrom, "b": center // block_size}).value_counts()
    per_block = counts.reindex(pd.MultiIndex.from_tuples(keys), fill_value=0).to_numpy()
    labels = np.full(len(keys), TRAIN, dtype=object)
    order = rng.permutation(len(keys))
    for split, fraction in ((TEST, test_fraction), (VAL, val_fraction)):
        free = order[labels[order] == TRAIN]
        taken_before = np.cumsum(per_block[free]) - per_block[free]
        labels[free[taken_before < fraction * len(chrom)]] = split
    blocks = {c: [] for c in sizes}
    for (c, _), label in zip(keys, labels, strict=True):
        blocks[c].append(str(label))
    return {"blocks": blocks}


def _chromosome_sizes(adata: AnnData, chrom: np.ndarray) -> dict[str, int]:
    """Chromosome lengths from the recorded genome, else the furthest region end."""
    info = adata.uns.get(K.UNS, {}).get(K.UNS_GENOME, {})
    recorded, chrom_map = dict(info.get("sizes", {})), dict(info.get("chrom_map", {}))
    ends = pd.Series(adata.obs[K.END].to_numpy()).groupby(chrom).max()
    return {str(c): max(int(ends[c]), int(recorded.get(chrom_map.get(c, c), 0))) for c in ends.index}


# -- assignment -----------------------------------------------------------------
def assign_splits(params: dict[str, Any], chrom: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Split label of each region under a recorded layout (``params`` of :func:`split_by_chromosome`)."""
    chrom = np.asarray(chrom, dtype=object).astype(str)
    labels = np.full(len(chrom), TRAIN, dtype=object)
    if params["by"] == "chromosome":
        labels[np.isin(chrom, list(params[VAL]))] = VAL
        labels[np.isin(chrom, list(params[TEST]))] = TEST
        return labels
    block = (np.asarray(start) + np.asarray(end)) // 2 // int(params["block_size"])
    outside = 0
    for c, layout in params["blocks"].items():
        rows = np.flatnonzero(chrom == c)
        layout = np.asarray(list(layout), dtype=object)
        inside = block[rows] < len(layout)
        labels[rows[inside]] = layout[block[rows[inside]]]
        outside += int((~inside).sum())
    outside += int((~np.isin(chrom, list(params["blocks"]))).sum())
    if outside:
        logger.warning(
            "split_by_chromosome: %d region(s) lie outside the recorded blocks and were put in %r", outside, TRAIN
        )
    return labels


def _check_nonempty(labels: np.ndarray, mode: str, present: list[str]) -> None:
    empty = [s for s in K.SPLITS if not (labels == s).any()]
    if not empty:
        return
    hint = (
        "use a smaller block_size or larger fractions"
        if mode == "block"
        else f"the data has chromosome(s) {present}; hold out fewer/more of them"
        + (", or leave val and test as None to split one chromosome into blocks" if len(present) == 1 else "")
    )
    raise ValueError(f"split(s) {empty} would be empty: {hint}.")


def existing_split_params(adata: AnnData) -> dict[str, Any] | None:
    """Return the recorded split layout of ``adata``, or ``None``."""
    return get_params(adata, split_by_chromosome.__name__)
