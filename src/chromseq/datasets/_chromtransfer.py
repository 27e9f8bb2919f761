"""The real ChromTransfer chr20 dataset, shipped inside the package."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from chromseq import _keys as K
from chromseq._anndata import replace_contents
from chromseq._codes import gc_fraction
from chromseq._settings import logger
from chromseq._validate import uns_chromseq
from chromseq.datasets._bundle import GenomeSlice

#: Folder of the bundled files (label BEDs, background windows, sequences, manifest).
BUNDLE_DIR = Path(__file__).parent / "_data" / "chromtransfer_chr20"
#: The six cell lines, as the files name them.
CELLTYPES = ("A549", "GM12878", "HCT116", "HepG2", "K562", "MCF7")
GENOME_BUILD = "GRCh37"
GENOME_CHROM = "20"
REGION_CHROM = "chr20"
BUNDLED_WIDTH = 600
#: Seed of the canonical split of the bundled data (contiguous 1-Mb blocks of chr20), whatever ``settings.seed`` is.
CANONICAL_SPLIT_SEED = 0


def chromtransfer_chr20(
    *,
    celltypes: Sequence[str] | None = None,
    width: int = BUNDLED_WIDTH,
    background: bool = True,
    split: bool = True,
    split_seed: int = CANONICAL_SPLIT_SEED,
) -> AnnData:
    """Load the ChromTransfer labels of six cell lines on GRCh37 chr20, with sequences.

    The labels are those of the ChromTransfer paper (Salvatore et al., NAR Genom Bioinform 2023,
    ENCODE DNase-seq rDHS, 600-bp regions), lifted over to GRCh37 chr20: per cell line, ``<CELL>``
    (open there and only there), ``<CELL>_NEG`` (a DHS of other cell lines) and ``Negative``
    (shared background). The files and the GRCh37 bases under every region ship inside the
    package, so this works offline and without any genome; the result is what
    :func:`chromseq.pp.read_regions` (``specific=True``), :func:`chromseq.pp.add_sequences`,
    :func:`chromseq.pp.add_background` and :func:`chromseq.pp.split_by_chromosome` give on the
    original files and genome.

    Parameters
    ----------
    celltypes
        Cell lines to load (default all six: ``A549``, ``GM12878``, ``HCT116``, ``HepG2``,
        ``K562``, ``MCF7``).
    width
        Window width (bp), centred on each region; at most 600 (the bundle holds the 600-bp
        regions; for wider windows use :func:`chromseq.pp.add_sequences` with a GRCh37 genome).
    background
        Append the bundled GC-matched closed-chromatin windows (drawn once with
        :func:`chromseq.pp.add_background`, seeded) as rows with ``obs['background']`` True.
    split
        Set ``obs['split']`` with :func:`chromseq.pp.split_by_chromosome` (contiguous blocks of
        chr20, since there is one chromosome).
    split_seed
        Seed of the blocks drawn for validation and test. The default, 0, is the canonical split:
        it does not change with :attr:`chromseq.settings.seed`, so test metrics of different users
        and runs on the bundled data are comparable (the shipped cross-validated reference, the
        README's numbers and the tests use it). Pass another seed only to study how much a result
        depends on the split.

    Returns
    -------
    AnnData of 12,061 regions (plus 6,000 background windows) x cell lines with:

    - ``X``: float32, 1 open, 0 closed, NaN unknown (background windows are NaN, as
      :func:`chromseq.pp.add_background` leaves them).
    - ``obs['chrom']`` (``chr20``), ``obs['start']``, ``obs['end']`` (GRCh37, 0-based half-open),
      ``obs['open']``, ``obs['background']``, ``obs['gc']``, ``obs['split']`` (if ``split``).
    - ``obsm['sequence']``: uint8 codes ``(n_obs, width)``, A0 C1 G2 T3 N4.
    - ``uns['chromseq']['genome']``: names ``GRCh37`` (chr20 is ``20`` there), so steps that need
      more sequence (e.g. :func:`chromseq.pp.add_background` without ``genome=``) reopen GRCh37
      through genomepy.
    - ``uns['chromseq']['params']``: ``read_regions``, ``split_by_chromosome`` and
      ``chromtransfer_chr20`` (the options, and how the background windows were drawn).

    Examples
    --------
    >>> import chromseq as cs
    >>> adata = cs.datasets.chromtransfer_chr20(celltypes=["K562", "HepG2"], background=False)
    >>> adata.var_names.tolist()
    ['K562', 'HepG2']
    """
    from chromseq import pp

    cts = _check_celltypes(celltypes)
    if not isinstance(width, int | np.integer) or not 0 < width <= BUNDLED_WIDTH:
        raise ValueError(
            f"width={width!r}: the bundled sequences cover the {BUNDLED_WIDTH}-bp regions, so width must be an int in "
            f"1..{BUNDLED_WIDTH}. For wider windows use chromseq.pp.add_sequences(adata, genome=<GRCh37 FASTA>)."
        )
    _require_bundle()
    adata = pp.read_regions({ct: BUNDLE_DIR / f"{ct}.bed.gz" for ct in cts}, specific=True, width=int(width))
    genome = _slice()
    _attach_sequences(adata, genome)
    if background:
        _append_background(adata, genome, int(width))
    if split:
        if isinstance(split_seed, bool) or not isinstance(split_seed, int | np.integer) or split_seed < 0:
            raise ValueError(f"split_seed must be a non-negative int (0: the canonical split), got {split_seed!r}.")
        pp.split_by_chromosome(adata, random_state=int(split_seed))
    manifest = _manifest()
    uns_chromseq(adata).setdefault(K.UNS_PARAMS, {})["chromtransfer_chr20"] = {
        "celltypes": cts,
        "width": int(width),
        "background": bool(background),
        "split": bool(split),
        "split_seed": int(split_seed),
        "background_source": manifest["background"],
        "genome_sha256": manifest["genome"]["sha256"],
    }
    logger.info(
        "chromtransfer_chr20: %d regions (%d background) x %d cell lines from the bundled files",
        adata.n_obs,
        int(adata.obs[K.BACKGROUND].sum()),
        adata.n_vars,
    )
    return adata


def _attach_sequences(adata: AnnData, genome: GenomeSlice) -> None:
    """Set what ``pp.add_sequences`` sets, reading the bundled bases instead of a genome."""
    chrom, start, end = (adata.obs[k].to_numpy() for k in (K.CHROM, K.START, K.END))
    if set(chrom.astype(str)) != {REGION_CHROM}:
        raise ValueError(f"bundled regions must all be on {REGION_CHROM}, found {sorted(set(chrom.astype(str)))}.")
    codes = genome.windows(start, int(end[0] - start[0]))
    adata.obsm[K.SEQUENCE] = codes
    adata.obs[K.GC] = gc_fraction(codes)
    uns_chromseq(adata)[K.UNS_GENOME] = {
        "name": GENOME_BUILD,
        "path": str(BUNDLE_DIR / "sequences.npz"),
        "source": "chromseq.datasets.chromtransfer_chr20",
        "chrom_map": {REGION_CHROM: genome.chrom},
        "sizes": {genome.chrom: int(genome.size)},
    }


def _append_background(adata: AnnData, genome: GenomeSlice, width: int) -> None:
    """Append the bundled background windows as ``pp.add_background`` appends the windows it draws."""
    from chromseq.pp._background import _append

    start, end = _background_windows()
    start = (start + end) // 2 - width // 2  # centred, as read_regions resizes the regions
    codes = genome.windows(start, width)
    windows = pd.DataFrame({"chrom": REGION_CHROM, "start": start, "end": start + width, "gc": gc_fraction(codes)})
    replace_contents(adata, _append(adata, windows, codes))


def _check_celltypes(celltypes: Sequence[str] | None) -> list[str]:
    if celltypes is None:
        return list(CELLTYPES)
    cts = [celltypes] if isinstance(celltypes, str) else list(celltypes)
    unknown = [c for c in cts if c not in CELLTYPES]
    if unknown or not cts or len(set(cts)) != len(cts):
        raise ValueError(f"celltypes must be distinct names from {list(CELLTYPES)}, got {cts}.")
    return cts


def _require_bundle() -> None:
    names = [f"{ct}.bed.gz" for ct in CELLTYPES] + ["background.bed.gz", "sequences.npz", "manifest.json"]
    missing = [n for n in names if not (BUNDLE_DIR / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"the bundled chr20 data is incomplete: {missing} missing in {BUNDLE_DIR}. Reinstall chromseq, or "
            "rebuild it from a source checkout with `python scripts/build_chr20_bundle.py`."
        )


@lru_cache(maxsize=1)
def _slice() -> GenomeSlice:
    return GenomeSlice.load(BUNDLE_DIR / "sequences.npz")


def cv_reference(preset: str | None) -> dict | None:
    """Return the shipped cross-validated transfer benchmark of ``preset`` on this dataset (``None``: none).

    A dict with ``source`` (the benchmark's output folder), ``settings`` (preset, width, folds,
    seeds, training budgets) and ``intervals`` (records of ``tl.transfer_benchmark``'s interval
    table); written by ``scripts/update_cv_reference.py`` from a ``benchmarks/transfer.py --cv`` run.
    """
    path = BUNDLE_DIR.parent / "cv_reference" / f"{preset}.json"
    return json.loads(path.read_text()) if preset and path.is_file() else None


def _manifest() -> dict:
    return json.loads((BUNDLE_DIR / "manifest.json").read_text())


def _background_windows() -> tuple[np.ndarray, np.ndarray]:
    bed = pd.read_csv(BUNDLE_DIR / "background.bed.gz", sep="\t", header=None, names=[K.CHROM, K.START, K.END])
    return bed[K.START].to_numpy(np.int64), bed[K.END].to_numpy(np.int64)
