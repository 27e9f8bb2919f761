"""``pp.add_background``: GC-matched random genomic windows as closed-chromatin negatives."""

from __future__ import annotations

import os
from copy import deepcopy
from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from chromseq import _keys as K
from chromseq._anndata import replace_contents
from chromseq._codes import window_stats
from chromseq._regions import check_same_genome, genome_of, region_names, regions
from chromseq._settings import logger, settings
from chromseq._validate import require_obs, require_obsm, sequence_codes
from chromseq.genome import Genome

from ._split import assign_splits, existing_split_params

_GC_EDGES = np.linspace(0.0, 1.0, 51)  # 50 GC bins of 0.02
_BATCH = 200_000  # candidate windows drawn per round
_MAX_ROUNDS = 200
_PATIENCE = 5  # rounds without progress before the last windows are taken from the nearest GC bins


def add_background(
    adata: AnnData,
    genome: Genome | str | os.PathLike | None = None,
    *,
    n: int | None = None,
    gc_match: bool = True,
    reference: Literal["open", "all"] = "open",
    max_n: float = 0.0,
    chroms: list[str] | None = None,
    random_state: int | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Append random genomic windows as closed-chromatin background regions.

    Windows of the regions' width are drawn uniformly over the chromosomes of the data, away
    from every region of ``adata`` (no overlap, checked with pyranges) and from each other,
    skipping windows with more than ``max_n`` N bases. With ``gc_match`` they are drawn so that
    their GC histogram (50 bins of 0.02) matches that of the reference regions; a bin the genome
    cannot fill is topped up from the nearest GC values, with a logged count.

    AnnData rows cannot be appended in place, so the new object is built first and then swapped
    into ``adata`` (as :func:`scanpy.pp.filter_cells` does for removals): an error leaves
    ``adata`` as it was. Background rows from an earlier call are replaced.

    Parameters
    ----------
    adata
        Regions with ``obsm['sequence']`` (from :func:`chromseq.pp.add_sequences`).
    genome
        The genome the sequences came from; ``None`` reopens the one recorded in
        ``uns['chromseq']['genome']``.
    n
        Number of windows to add; default: the number of open regions (a balanced
        pretraining set).
    gc_match
        Match the GC content of the reference regions; with ``False`` windows are uniform.
    reference
        Regions whose GC distribution is matched: ``'open'`` (``obs['open']``, the pretraining
        positives, so GC alone cannot tell them from background) or ``'all'`` regions.
    max_n
        Largest fraction of N bases (0-1) a window may hold.
    chroms
        Chromosomes to draw from (default: those of the regions).
    random_state
        Seed (default: ``chromseq.settings.seed``).
    copy
        Return a new AnnData instead of changing ``adata``.

    Returns
    -------
    ``None``, or the new AnnData if ``copy=True``. Appends ``n`` rows with:

    ``obs['background']`` True, ``obs['open']`` False
        The pretraining target: closed.
    ``X`` NaN
        The cell-type labels of a random window are unknown (not measured), so they stay NaN.
    ``obsm['sequence']``, ``obs['gc']``, ``obs['chrom']``, ``obs['start']``, ``obs['end']``
        As for other regions; ``obs['split']`` follows the recorded split layout if there is one.
        Other obs columns are missing (NaN), other float ``obsm``/``layers`` rows NaN.
    ``adata.uns['chromseq']['params']['add_background']`` : dict
        The parameters and the number of windows added.

    Examples
    --------
    >>> import chromseq as cs
    >>> cs.pp.add_background(adata, n=10_000, random_state=0)  # doctest: +SKIP
    >>> adata.obs["background"].sum()  # doctest: +SKIP
    10000
    """
    require_obsm(adata, K.SEQUENCE)
    require_obs(adata, K.OPEN)
    chrom, start, end, width = regions(adata)
    keep = ~adata.obs[K.BACKGROUND].to_numpy(bool) if K.BACKGROUND in adata.obs else np.ones(adata.n_obs, bool)
    gc_ref = _reference_gc(adata, keep, reference) if gc_match else None
    n = _default_n(adata, keep, n)
    _check_extras(adata, max_n)
    genome = genome_of(adata, genome)
    draw_chroms = _draw_chromosomes(chrom[keep], chroms, genome)
    check_same_genome(adata, genome, list(pd.unique(chrom)))
    seed = settings.seed if random_state is None else random_state

    bg = _sample(genome, draw_chroms, (chrom[keep], start[keep], end[keep]), width, n, gc_ref, max_n, seed)
    seq_new = genome.windows(bg["chrom"].to_numpy(), bg["start"].to_numpy(), bg["end"].to_numpy())
    new = _append(adata[keep] if not keep.all() else adata, bg, seq_new)
    params = {"n": int(n), "gc_match": gc_match, "reference": reference, "max_n": float(max_n)}
    params |= {"chroms": draw_chroms, "random_state": int(seed), "width": width}
    new.uns.setdefault(K.UNS, {}).setdefault(K.UNS_PARAMS, {})[add_background.__name__] = params
    if not keep.all():
        logger.info("add_background: replaced %d background rows from an earlier call", (~keep).sum())
    logger.info(
        "add_background: appended %d windows; wrote obs[%r, %r, %r], obsm[%r], X = NaN for them",
        n, K.BACKGROUND, K.OPEN, K.GC, K.SEQUENCE,
    )  # fmt: skip
    if copy:
        return new
    replace_contents(adata, new)
    return None


# -- checks ---------------------------------------------------------------------
def _reference_gc(adata: AnnData, keep: np.ndarray, reference: str) -> np.ndarray:
    if reference not in ("open", "all"):
        raise ValueError(f"reference must be 'open' or 'all', got {reference!r}.")
    rows = keep & adata.obs[K.OPEN].to_numpy(bool) if reference == "open" else keep
    gc, _ = window_stats(sequence_codes(adata, np.flatnonzero(rows)))
    gc = gc[np.isfinite(gc)]
    if not len(gc):
        raise ValueError(
            f"no {reference} regions with called bases to match GC to; pass reference='all' or gc_match=False."
        )
    return gc


def _default_n(adata: AnnData, keep: np.ndarray, n: int | None) -> int:
    if n is None:
        n = int((adata.obs[K.OPEN].to_numpy(bool) & keep).sum())
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n <= 0:
        raise ValueError(f"n must be a positive int (number of windows), got {n!r}.")
    return int(n)


def _check_extras(adata: AnnData, max_n: float) -> None:
    if not 0 <= max_n <= 1:
        raise ValueError(f"max_n is a fraction of the window and must be in [0, 1], got {max_n!r}.")
    if adata.isbacked:
        raise ValueError("adata is backed on disk: load it with adata = adata.to_memory() first.")
    if len(adata.obsp):
        raise ValueError(f"adata has obsp {list(adata.obsp)}, which cannot be extended to new rows; remove them first.")
    for where, mapping in (("obsm", adata.obsm), ("layers", adata.layers)):
        for key, value in mapping.items():
            if key == K.SEQUENCE or isinstance(value, pd.DataFrame):
                continue
            if not (isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)):
                raise ValueError(
                    f"{where}[{key!r}] ({type(value).__name__}) cannot hold NaN rows for new windows; remove it first."
                )


def _draw_chromosomes(data_chroms: np.ndarray, chroms, genome: Genome) -> list[str]:
    """Chromosomes to draw from, spelled as the data spells them (so overlap checks compare like with like)."""
    present = list(pd.unique(data_chroms))
    if chroms is None:
        return present
    names = [str(c) for c in ([chroms] if isinstance(chroms, str) else chroms)]
    if not names:
        raise ValueError("chroms=[] gives no chromosome to draw background windows from.")
    by_fasta = {genome.resolve(c): c for c in present}
    return list(dict.fromkeys(by_fasta.get(genome.resolve(c), c) for c in names))  # KeyError for unknown names


# -- sampling -------------------------------------------------------------------
def _sample(genome, chroms, existing, width, n, gc_ref, max_n, seed) -> pd.DataFrame:
    """Draw ``n`` windows that overlap neither ``existing`` nor each other; returns chrom, start, end, gc."""
    rng = np.random.default_rng(seed)
    need = _target_counts(gc_ref, n) if gc_ref is not None else np.array([n])
    sizes = np.array([genome.size(c) for c in chroms], dtype=np.int64)
    if (sizes < width).all():
        raise ValueError(f"chromosomes {chroms} are shorter than the window width ({width} bp).")
    exclude = pd.DataFrame({"Chromosome": existing[0], "Start": existing[1], "End": existing[2]})
    taken, spare, idle = [], [], 0
    for _ in range(_MAX_ROUNDS):
        if need.sum() == 0 or idle == _PATIENCE:
            break
        before = need.sum()
        cand = _candidates(genome, chroms, sizes, width, max_n, exclude, rng)
        bins = (
            np.clip(np.digitize(cand["gc"], _GC_EDGES[1:-1]), 0, 49) if gc_ref is not None else np.zeros(len(cand), int)
        )
        pick = _fill(bins, need)
        taken.append(cand[pick])
        spare = [cand[~pick]]
        exclude = pd.concat([exclude, _as_ranges(cand[pick])], ignore_index=True)
        idle = idle + 1 if need.sum() == before else 0
    missing = int(need.sum())
    if missing:
        taken.append(_nearest(pd.concat(spare) if spare else None, need, missing, chroms))
    out = pd.concat(taken, ignore_index=True)
    return out.sort_values(["chrom", "start"], key=_chrom_key(chroms)).reset_index(drop=True)


def _target_counts(gc_ref: np.ndarray, n: int) -> np.ndarray:
    """Windows wanted per GC bin: ``n`` split like the reference histogram (largest remainders)."""
    hist = np.histogram(np.clip(gc_ref, 0, 1), bins=_GC_EDGES)[0].astype(float)
    exact = hist / hist.sum() * n
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(counts - exact)[: n - counts.sum()]] += 1
    return counts


def _candidates(genome, chroms, sizes, width, max_n, exclude, rng) -> pd.DataFrame:
    import pyranges as pr

    slots = np.maximum(sizes - width + 1, 0)
    batch = int(np.clip(slots.sum() // (4 * width), 1_000, _BATCH))  # sparse enough that few candidates overlap
    pos = rng.integers(0, slots.sum(), size=batch)
    which = np.searchsorted(np.cumsum(slots), pos, side="right")
    start = pos - (np.cumsum(slots) - slots)[which]
    cand = pd.DataFrame({"Chromosome": np.asarray(chroms, dtype=object)[which], "Start": start, "End": start + width})
    cand["id"] = np.arange(len(cand))
    free = pr.PyRanges(cand).overlap(pr.PyRanges(exclude), invert=True) if len(exclude) else pr.PyRanges(cand)
    cand = cand.iloc[np.sort(free.df["id"].to_numpy())] if len(free) else cand.iloc[:0]
    cand = _drop_self_overlaps(cand)
    codes = genome.windows(cand["Chromosome"].to_numpy(), cand["Start"].to_numpy(), cand["End"].to_numpy())
    gc, n_frac = window_stats(codes)
    ok = (n_frac <= max_n) & np.isfinite(gc)
    frame = pd.DataFrame(
        {"chrom": cand["Chromosome"].to_numpy()[ok], "start": cand["Start"].to_numpy()[ok], "gc": gc[ok]}
    )
    frame["end"] = frame["start"] + width
    return frame


def _drop_self_overlaps(cand: pd.DataFrame) -> pd.DataFrame:
    """Keep candidates that do not overlap an earlier one on the same chromosome (sorted sweep)."""
    cand = cand.sort_values(["Chromosome", "Start"])
    reach = cand.groupby("Chromosome", sort=False)["End"].cummax()
    previous = reach.groupby(cand["Chromosome"], sort=False).shift(1)
    keep = previous.isna().to_numpy() | (cand["Start"].to_numpy() >= previous.fillna(0).to_numpy())
    return cand[keep].sort_values("id")


def _fill(bins: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Take candidates in their (random) order until each bin has what it needs; updates ``need``."""
    rank = pd.Series(bins).groupby(bins).cumcount().to_numpy()
    pick = rank < need[bins]
    need -= np.bincount(bins[pick], minlength=len(need))
    return pick


def _nearest(spare: pd.DataFrame | None, need: np.ndarray, missing: int, chroms) -> pd.DataFrame:
    """Top up bins the genome could not fill with spare windows of the nearest GC."""
    if spare is None or len(spare) < missing:
        raise ValueError(
            f"could not find {missing} more background windows on {chroms} (too few N-free windows away from the regions); "
            "ask for a smaller n, allow more N with max_n, or add chromosomes with chroms=."
        )
    centers = (_GC_EDGES[:-1] + _GC_EDGES[1:]) / 2
    wanted = np.repeat(centers, need)
    spare = spare.reset_index(drop=True)
    order = np.argsort(spare["gc"].to_numpy())
    sorted_gc = spare["gc"].to_numpy()[order]
    chosen = np.zeros(len(spare), bool)
    for gc in wanted:  # at most a few windows in extreme GC bins
        free = np.flatnonzero(~chosen[order])
        best = free[np.argmin(np.abs(sorted_gc[free] - gc))]
        chosen[order[best]] = True
    logger.warning(
        "add_background: %d window(s) could not be GC-matched exactly and come from the nearest GC bins", missing
    )
    need[:] = 0
    return spare[chosen]


def _as_ranges(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {"Chromosome": frame["chrom"].to_numpy(), "Start": frame["start"].to_numpy(), "End": frame["end"].to_numpy()}
    )


def _chrom_key(chroms):
    rank = {c: i for i, c in enumerate(chroms)}
    return lambda col: col.map(rank) if col.name == "chrom" else col


# -- appending ------------------------------------------------------------------
def _append(adata: AnnData, bg: pd.DataFrame, seq_new: np.ndarray) -> AnnData:
    names = region_names(bg["chrom"].astype(str), bg["start"], bg["end"])
    obs_new = pd.DataFrame(
        {
            K.CHROM: bg["chrom"].astype(str).to_numpy(),
            K.START: bg["start"].to_numpy(np.int64),
            K.END: bg["end"].to_numpy(np.int64),
            K.OPEN: False,
            K.BACKGROUND: True,
            K.GC: bg["gc"].to_numpy(np.float32),
        },
        index=names,
    )
    split = existing_split_params(adata)
    if K.SPLIT in adata.obs:
        if split is None:
            raise ValueError(
                f"obs[{K.SPLIT!r}] exists but its layout is not recorded: rerun chromseq.pp.split_by_chromosome."
            )
        obs_new[K.SPLIT] = assign_splits(
            split, obs_new[K.CHROM].to_numpy(), obs_new[K.START].to_numpy(), obs_new[K.END].to_numpy()
        )
    obs = _concat_obs(adata.obs, obs_new)
    x_new = np.full((len(bg), adata.n_vars), np.nan, dtype=np.float32)
    x_old = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    obsm = {k: _extend(v, len(bg), obs.index) for k, v in adata.obsm.items() if k != K.SEQUENCE}
    obsm[K.SEQUENCE] = np.concatenate([np.asarray(adata.obsm[K.SEQUENCE]), seq_new])
    layers = {k: _extend(v, len(bg), obs.index) for k, v in adata.layers.items()}
    return AnnData(
        X=np.concatenate([x_old.astype(np.float32), x_new]),
        obs=obs,
        var=adata.var.copy(),
        uns=deepcopy(dict(adata.uns)),
        obsm=obsm,
        varm={k: v.copy() for k, v in adata.varm.items()},
        varp={k: v.copy() for k, v in adata.varp.items()},
        layers=layers,
    )


def _concat_obs(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    if K.BACKGROUND not in old:
        old = old.assign(**{K.BACKGROUND: False})
    obs = pd.concat([old, new.reindex(columns=old.columns.union(new.columns, sort=False))], axis=0)
    for col in (K.CHROM, K.SPLIT):
        if col in old and isinstance(old[col].dtype, pd.CategoricalDtype):
            cats = list(old[col].cat.categories) + [
                c for c in pd.unique(new[col]) if c not in set(old[col].cat.categories)
            ]
            obs[col] = pd.Categorical(obs[col].astype(str), categories=cats)
    return obs


def _extend(value, n_new: int, index: pd.Index):
    if isinstance(value, pd.DataFrame):
        return value.reindex(index)
    pad = np.full((n_new, *value.shape[1:]), np.nan, dtype=value.dtype)
    return np.concatenate([value, pad])
