"""Synthetic regions with planted JASPAR motifs and a known ground truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from chromseq import _keys as K
from chromseq._codes import base_counts, gc_fraction, reverse_complement_codes
from chromseq._jaspar import DEFAULT_RELEASE
from chromseq._regions import region_names
from chromseq._settings import logger, settings
from chromseq.datasets._synthetic_motifs import dosage, resolve_motifs, site_strengths

#: Default cell-type grammar: clearly distinct JASPAR (CORE, vertebrates) motifs per cell type.
DEFAULT_MOTIFS: dict[str, tuple[str, ...]] = {
    "K562": ("MA0035",),  # GATA1
    "HepG2": ("MA1494", "MA0047"),  # HNF4A (DR1), FOXA2
    "GM12878": ("MA0080",),  # SPI1 (PU.1)
}
#: Default 'open anywhere' grammar: CTCF makes a region open in every cell type.
DEFAULT_SHARED: tuple[str, ...] = ("MA0139",)  # CTCF
SHARED = "shared"
_N_CHROMS = 10  # fake chromosomes synth1..synth10: synth9 is val, synth10 is test
#: What ``X`` holds: 0/1 labels, or a quantity driven by the planted sites.
TARGETS = ("binary", "dosage")


def synthetic(
    n_regions: int = 2000,
    width: int = 600,
    *,
    celltypes: Sequence[str] | None = None,
    motifs: Mapping[str, str | Sequence[str]] | None = None,
    shared_motifs: str | Sequence[str] | None = DEFAULT_SHARED,
    frac_background: float = 0.4,
    frac_shared: float = 0.1,
    n_sites: int | tuple[int, int] = (1, 3),
    sharpen: float = 1.0,
    gc: float = 0.42,
    gc_sd: float = 0.04,
    cpg_depletion: float = 0.75,
    jaspar_release: str = DEFAULT_RELEASE,
    target: str = "binary",
    noise: float = 0.1,
    random_state: int | np.random.Generator | None = 0,
) -> AnnData:
    """Generate regions with planted real TF motifs per cell type, for tests and interpretation checks.

    Each region belongs to one class: *specific* to one cell type (its motifs planted, open only
    there), *shared* (the ``shared_motifs`` grammar planted, open in every cell type) or
    *background* (nothing planted, closed everywhere). Instances are sampled from the JASPAR
    position frequency matrices (read offline with :mod:`pyjaspar`), on a random strand, at
    non-overlapping positions. The rest of each window is random sequence whose GC fraction is
    drawn from the same distribution for every class, compensating for the GC of the planted
    bases, so that GC content alone does not predict the labels; CpG dinucleotides are depleted
    as in vertebrate genomes.

    Regions get fake, non-overlapping coordinates on ten chromosomes ``synth1`` ... ``synth10``
    (classes shuffled along them); ``obs['split']`` is ``val`` on ``synth9``, ``test`` on
    ``synth10`` and ``train`` elsewhere, the same as
    ``chromseq.pp.split_by_chromosome(adata, val=['synth9'], test=['synth10'])``.

    Parameters
    ----------
    n_regions
        Number of regions (rows).
    width
        Window width (bp).
    celltypes
        Cell types (``var_names``). ``None``: the keys of ``motifs``, or the default cell types
        ``K562`` (GATA1, ``MA0035``), ``HepG2`` (HNF4A ``MA1494`` and FOXA2 ``MA0047``) and
        ``GM12878`` (SPI1, ``MA0080``).
    motifs
        Cell type -> JASPAR matrix ID(s) (``'MA0035.4'``; without version, the latest in the
        release) or TF name(s) (``'GATA1'``; the lowest matrix ID among CORE vertebrate matches).
        ``None``: the defaults above. Note that JASPAR's GATA1, GATA2, GATA4 and GATA6 matrices
        are near-identical, so motif matching recovers "a GATA motif" for K562.
    shared_motifs
        Motif(s) that make a region open in every cell type (default CTCF, ``MA0139``).
        ``None`` or empty: no shared class.
    frac_background
        Fraction of regions with nothing planted (closed everywhere).
    frac_shared
        Fraction of regions with the shared grammar; the rest is split evenly among cell types.
    n_sites
        Number of motif instances per planted region: an int, or an inclusive ``(low, high)``
        range drawn uniformly.
    sharpen
        Exponent applied to the PWM probabilities before sampling instances: 1 samples from the
        JASPAR matrix as is (realistic, weak instances included), larger values move instances
        towards the consensus (easier to learn and to recover).
    gc
        Mean GC fraction of every window.
    gc_sd
        Standard deviation of the per-window GC fraction.
    cpg_depletion
        Fraction of background CpG dinucleotides mutated to TpG/CpA (0 disables; about 0.75
        gives the observed/expected CpG ratio of the human genome).
    jaspar_release
        JASPAR release shipped with pyjaspar (``'JASPAR2014'`` ... ``'JASPAR2026'``).
    target
        What ``X`` holds. ``'binary'`` (default): 1 open, 0 closed. ``'dosage'``: a quantity per
        region and cell type (regression targets), the summed *strength* of the region's sites
        that count for the cell type (its own motifs, and the shared grammar's for every cell
        type) plus Gaussian noise of standard deviation ``noise``, clipped at 0 (so it also
        suits ``loss='poisson'``). A site's strength in (0, 1] is the geometric mean over its
        positions of ``p(base) / max p`` under its PWM (1 for the consensus): more sites, and
        sites nearer the consensus, give more signal. Regions with nothing planted have only
        noise. ``obs['open']`` and ``obs['background']`` are as for ``'binary'``.
    noise
        Standard deviation of the noise added to the dosage (``target='dosage'`` only), >= 0.
    random_state
        Seed or :class:`numpy.random.Generator` (``None``: ``chromseq.settings.seed``); the same
        seed gives the same data.

    Returns
    -------
    AnnData with ``n_regions`` rows and one column per cell type:

    - ``X``: float32, 1 open, 0 closed (no unknowns); the dosage with ``target='dosage'``.
    - ``obs['chrom']``, ``obs['start']``, ``obs['end']``: fake coordinates (0-based, half-open).
    - ``obs['open']`` (open in some cell type), ``obs['background']`` (nothing planted),
      ``obs['gc']`` (float32), ``obs['split']`` (categorical train/val/test).
    - ``obsm['sequence']``: uint8 codes ``(n_regions, width)``, A0 C1 G2 T3.
    - ``uns['chromseq']['synthetic']``: the ground truth: ``motifs`` (DataFrame: matrix_id,
      name, group, length, consensus; group is a cell type or ``'shared'``), ``celltype_motifs``
      (cell type -> matrix IDs), ``pwms`` (matrix ID -> ``(4, length)`` probabilities, ACGT),
      ``sites`` (DataFrame, one row per planted instance: region (obs name), start, end (bp in
      the window, 0-based half-open), strand, matrix_id, name, group; with ``target='dosage'`` also
      ``strength``) and ``params``; with ``target='dosage'`` also ``dosage``, the noise-free
      ``(n_regions, n_celltypes)`` float32 dosage (``params`` then has ``target`` and ``noise``).

    Examples
    --------
    >>> import chromseq as cs
    >>> adata = cs.datasets.synthetic(500, width=200, random_state=1)
    >>> adata.uns["chromseq"]["synthetic"]["sites"].head()  # doctest: +SKIP
    >>> quantitative = cs.datasets.synthetic(500, width=200, target="dosage", random_state=1)
    >>> bool((quantitative.X >= 0).all())
    True
    """
    spec, celltypes, shared = _motif_spec(celltypes, motifs, shared_motifs)
    lo, hi = (n_sites, n_sites) if isinstance(n_sites, int) else (int(n_sites[0]), int(n_sites[1]))
    frac_shared = frac_shared if shared else 0.0
    params = {
        "n_regions": int(n_regions),
        "width": int(width),
        "frac_background": float(frac_background),
        "frac_shared": float(frac_shared),
        "n_sites": [lo, hi],
        "sharpen": float(sharpen),
        "gc": float(gc),
        "gc_sd": float(gc_sd),
        "cpg_depletion": float(cpg_depletion),
        "jaspar_release": jaspar_release,
    }
    seed = settings.seed if random_state is None else random_state
    params["random_state"] = int(seed) if isinstance(seed, int | np.integer) else -1  # -1: a Generator was passed
    _check_params(params)
    if target not in TARGETS:
        raise ValueError(f"target must be one of {list(TARGETS)}, got {target!r}.")
    if isinstance(noise, bool) or not (isinstance(noise, int | float) and 0 <= noise < np.inf):
        raise ValueError(f"noise must be a finite number >= 0 (the dosage's noise standard deviation), got {noise!r}.")
    table, pwms = resolve_motifs(spec, jaspar_release)
    if width // hi < int(table["length"].max()):
        raise ValueError(
            f"width={width} leaves {width // hi} bp per site for up to {hi} sites, shorter than the longest motif "
            f"({int(table['length'].max())} bp): increase width or lower n_sites."
        )

    rng = np.random.default_rng(seed)
    groups = [*celltypes, SHARED] if shared else list(celltypes)
    region_class = _assign_classes(n_regions, len(celltypes), frac_background, frac_shared, rng)
    sites = _place_sites(region_class, groups, table, width, lo, hi, rng)
    seq = _sequences(sites, table, pwms, params, rng)
    adata = _to_anndata(seq, region_class, celltypes, shared, width)
    truth = {
        "motifs": table.reset_index(),
        "celltype_motifs": {g: list(ids) for g, ids in spec.items()},
        "pwms": {mid: pwm.astype(np.float32) for mid, pwm in pwms.items()},
        "sites": _site_table(sites, table, groups, adata.obs_names.to_numpy()),
        "params": params,
    }
    if target == "dosage":
        strength = site_strengths(seq, sites, table, pwms)
        clean = dosage(n_regions, groups, celltypes, sites, strength)
        noisy = np.clip(clean + rng.normal(0.0, float(noise), size=clean.shape), 0.0, None)
        adata.X = noisy.astype(np.float32)
        truth["sites"]["strength"] = strength.astype(np.float32)
        truth["dosage"] = clean.astype(np.float32)
        params.update(target=target, noise=float(noise))
    adata.uns[K.UNS][K.UNS_SYNTHETIC] = truth
    logger.info(
        "synthetic: %d regions x %d cell types, %d planted sites of %d motifs (%s); set X, obs %s, obsm[%r], "
        "uns[%r][%r]",
        n_regions,
        len(celltypes),
        sites["region"].size,
        len(table),
        jaspar_release,
        [K.CHROM, K.START, K.END, K.OPEN, K.BACKGROUND, K.GC, K.SPLIT],
        K.SEQUENCE,
        K.UNS,
        K.UNS_SYNTHETIC,
    )
    return adata


def _sequences(sites: dict[str, np.ndarray], table, pwms, p: dict, rng) -> np.ndarray:
    """Sample the instances, draw the GC-compensated background around them, and plant them."""
    codes = _sample_instances(sites, table, pwms, p["sharpen"], rng)
    seq = _background(sites, codes, p["n_regions"], p["width"], p["gc"], p["gc_sd"], p["cpg_depletion"], rng)
    for mid, block in codes.items():
        is_m = sites["matrix_id"] == mid
        seq[sites["region"][is_m, None], sites["start"][is_m, None] + np.arange(block.shape[1])] = block
    return seq


def _site_table(sites: dict[str, np.ndarray], table: pd.DataFrame, groups: list[str], obs_names) -> pd.DataFrame:
    length = table.loc[sites["matrix_id"], "length"].to_numpy().astype(np.int64)
    return pd.DataFrame(
        {
            "region": pd.Categorical(obs_names[sites["region"]], categories=obs_names),
            "start": sites["start"].astype(np.int64),
            "end": sites["start"].astype(np.int64) + length,
            "strand": np.where(sites["strand"], "-", "+").astype(object),
            "matrix_id": sites["matrix_id"].astype(object),
            "name": table.loc[sites["matrix_id"], "name"].to_numpy().astype(object),
            "group": np.asarray(groups, dtype=object)[sites["group"]],
        }
    )


def _check_params(p: dict) -> None:
    if p["n_regions"] < 1 or p["width"] < 1:
        raise ValueError(f"n_regions and width must be positive, got n_regions={p['n_regions']}, width={p['width']}.")
    fb, fs = p["frac_background"], p["frac_shared"]
    if not (0 <= fb and 0 <= fs and fb + fs <= 1):
        raise ValueError(f"frac_background={fb} and frac_shared={fs} must be >= 0 and sum to at most 1.")
    lo, hi = p["n_sites"]
    if not 1 <= lo <= hi:
        raise ValueError(f"n_sites must be an int >= 1 or a (low, high) range with 1 <= low <= high, got {(lo, hi)}.")
    if not p["sharpen"] > 0:
        raise ValueError(f"sharpen must be > 0 (1 samples from the PWM as is), got {p['sharpen']}.")
    if not (0.05 <= p["gc"] <= 0.95 and 0 <= p["gc_sd"] <= 0.2):
        raise ValueError(f"gc must be in [0.05, 0.95] and gc_sd in [0, 0.2], got gc={p['gc']}, gc_sd={p['gc_sd']}.")
    if not 0 <= p["cpg_depletion"] <= 1:
        raise ValueError(f"cpg_depletion must be in [0, 1], got {p['cpg_depletion']}.")


def _motif_spec(
    celltypes: Sequence[str] | None,
    motifs: Mapping[str, str | Sequence[str]] | None,
    shared_motifs: str | Sequence[str] | None,
) -> tuple[dict[str, list[str]], list[str], bool]:
    """Return group -> motif specs (cell types, then 'shared'), the cell types, and whether there is a shared class."""
    source = DEFAULT_MOTIFS if motifs is None else motifs
    if celltypes is None:
        celltypes = list(source)
    celltypes = [celltypes] if isinstance(celltypes, str) else list(celltypes)
    if not celltypes or len(set(celltypes)) != len(celltypes):
        raise ValueError(f"celltypes must be non-empty and unique, got {celltypes}.")
    if SHARED in celltypes:
        raise ValueError(f"{SHARED!r} is reserved for the shared grammar; rename that cell type.")
    missing = [c for c in celltypes if c not in source]
    if missing:
        raise ValueError(
            f"no motifs for cell type(s) {missing}: pass motifs={{celltype: [JASPAR ID or TF name, ...]}}"
            f" (defaults exist for {list(DEFAULT_MOTIFS)})."
        )
    spec = {c: [source[c]] if isinstance(source[c], str) else list(source[c]) for c in celltypes}
    shared = [shared_motifs] if isinstance(shared_motifs, str) else list(shared_motifs or [])
    if shared:
        spec[SHARED] = shared
    empty = [g for g, ids in spec.items() if not ids]
    if empty:
        raise ValueError(f"empty motif list for {empty}: give at least one JASPAR ID or TF name each.")
    return spec, celltypes, bool(shared)


def _assign_classes(n: int, n_ct: int, frac_bg: float, frac_shared: float, rng: np.random.Generator) -> np.ndarray:
    """Class per region, shuffled: 0..n_ct-1 cell types, n_ct shared, -1 background."""
    n_bg = round(frac_bg * n)
    n_shared = round(frac_shared * n)
    n_spec = n - n_bg - n_shared
    per_ct = np.full(n_ct, n_spec // n_ct) + (np.arange(n_ct) < n_spec % n_ct)
    cls = np.concatenate([np.repeat(np.arange(n_ct), per_ct), np.full(n_shared, n_ct), np.full(n_bg, -1)])
    return rng.permutation(cls)


def _place_sites(
    region_class: np.ndarray, groups: list[str], table: pd.DataFrame, width: int, lo: int, hi: int, rng
) -> dict[str, np.ndarray]:
    """One entry per planted instance: region, group, matrix_id, start (in window), strand (True = minus)."""
    planted = np.flatnonzero(region_class >= 0)
    k = rng.integers(lo, hi + 1, size=planted.size)
    region = np.repeat(planted, k)
    slot = np.arange(region.size) - np.repeat(np.cumsum(k) - k, k)
    k_site = np.repeat(k, k)
    group = region_class[region]
    ids_by_group = [table.index[table["group"] == g].to_numpy() for g in groups]
    n_choices = np.array([len(ids) for ids in ids_by_group])
    offset = np.cumsum(n_choices) - n_choices
    pick = (rng.random(region.size) * n_choices[group]).astype(np.int64)
    matrix_id = np.concatenate(ids_by_group).astype(object)[offset[group] + pick]
    length = table.loc[matrix_id, "length"].to_numpy() if region.size else np.zeros(0, np.int64)
    seg = width // k_site  # window split into k equal segments, one site in each: no overlaps
    start = slot * seg + (rng.random(region.size) * (seg - length + 1)).astype(np.int64)
    strand = rng.random(region.size) < 0.5
    return {"region": region, "group": group, "matrix_id": matrix_id, "start": start, "strand": strand}


def _sample_instances(sites: dict[str, np.ndarray], table, pwms, sharpen: float, rng) -> dict[str, np.ndarray]:
    """Sample the bases of every instance from its PWM; minus-strand instances are reverse complemented."""
    out = {}
    for mid in table.index:
        is_m = sites["matrix_id"] == mid
        logp = sharpen * np.log(pwms[mid])
        prob = np.exp(logp - logp.max(axis=0))  # pwm ** sharpen, without underflow
        cum = np.cumsum(prob / prob.sum(axis=0), axis=0)[:-1].T  # (L, 3)
        u = rng.random((int(is_m.sum()), cum.shape[0]))
        codes = (u[:, :, None] >= cum[None]).sum(axis=-1).astype(np.uint8)
        minus = sites["strand"][is_m]
        codes[minus] = reverse_complement_codes(codes[minus])
        out[mid] = codes
    return out


def _background(sites, codes, n: int, width: int, gc: float, gc_sd: float, cpg: float, rng) -> np.ndarray:
    """Random sequence whose total GC (with the planted bases) has the same distribution in every region."""
    target = np.clip(rng.normal(gc, gc_sd, size=n), 0.05, 0.95)
    planted_gc = np.zeros(n)
    planted_len = np.zeros(n)
    for mid, block in codes.items():
        rows = sites["region"][sites["matrix_id"] == mid]
        np.add.at(planted_gc, rows, base_counts(block)[0])
        np.add.at(planted_len, rows, block.shape[1])
    q = np.clip((target * width - planted_gc) / np.maximum(width - planted_len, 1), 0.02, 0.98)
    # CpG depletion removes about cpg * p^2 / 4 GC per base: draw p so that the result is q on average
    p = q if cpg == 0 else (1 - np.sqrt(np.clip(1 - cpg * q, 0, None))) / (cpg / 2)
    is_gc = rng.random((n, width), dtype=np.float32) < p[:, None].astype(np.float32)
    second = rng.random((n, width), dtype=np.float32) < 0.5
    seq = np.where(is_gc, np.where(second, 2, 1), np.where(second, 3, 0)).astype(np.uint8)
    if cpg > 0:
        cg = (seq[:, :-1] == 1) & (seq[:, 1:] == 2) & (rng.random((n, width - 1), dtype=np.float32) < cpg)
        to_t = cg & (rng.random((n, width - 1), dtype=np.float32) < 0.5)  # C->T, else G->A (the other strand)
        seq[:, :-1][to_t] = 3
        seq[:, 1:][cg & ~to_t] = 0
    return seq


def _to_anndata(seq: np.ndarray, region_class: np.ndarray, celltypes: list[str], shared: bool, width: int) -> AnnData:
    n, n_ct = len(region_class), len(celltypes)
    X = np.zeros((n, n_ct), dtype=np.float32)
    spec = np.flatnonzero((region_class >= 0) & (region_class < n_ct))
    X[spec, region_class[spec]] = 1.0
    if shared:
        X[region_class == n_ct] = 1.0
    chrom_idx = np.arange(n) * _N_CHROMS // n
    rank = np.arange(n) - np.searchsorted(chrom_idx, chrom_idx)
    start = (rank * 2 * width + width).astype(np.int64)  # a window's width of gap between regions
    names = np.array([f"synth{i + 1}" for i in range(_N_CHROMS)])
    chrom = names[chrom_idx]
    split = np.where(chrom_idx == _N_CHROMS - 1, "test", np.where(chrom_idx == _N_CHROMS - 2, "val", "train"))
    obs = pd.DataFrame(
        {
            K.CHROM: pd.Categorical(chrom, categories=[c for c in names if c in set(chrom)]),
            K.START: start,
            K.END: start + width,
            K.OPEN: X.any(axis=1),
            K.BACKGROUND: region_class < 0,
            K.GC: gc_fraction(seq),
            K.SPLIT: pd.Categorical(split, categories=list(K.SPLITS)),
        },
        index=region_names(chrom, start, np.asarray(start) + width),
    )
    adata = AnnData(X=X, obs=obs, var=pd.DataFrame(index=pd.Index(celltypes)))
    adata.obsm[K.SEQUENCE] = seq
    adata.uns[K.UNS] = {}
    return adata
