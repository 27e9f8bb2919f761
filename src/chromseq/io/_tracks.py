"""Genome-browser tracks (IGV, UCSC): predictions and contributions as bigWig/bedGraph, seqlets as BED.

Overlap rule (predictions and contributions): model windows may overlap; each base takes the value
of the window whose centre is nearest to it, among the windows that cover it (ties: the window
that starts first; identical windows: the first row). A base covered by no window (or only by
windows without a value) is absent from the track. Chromosomes keep the data's names
(``obs['chrom']``); their sizes come from the genome (``chr20`` reads the size of ``20``).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chromseq import _keys as K
from chromseq._docs import RETURNS_PATH, fill_docs
from chromseq._io_utils import atomic_path, disk_errors, incomplete_write, verify_lines
from chromseq._settings import logger
from chromseq._validate import sequence_codes
from chromseq.store import get_contributions, motif_result, prediction_units, stored_seqlets

if TYPE_CHECKING:
    from anndata import AnnData

    from chromseq.genome import Genome

_BIGWIG = (".bw", ".bigwig")
_BEDGRAPH = (".bedgraph", ".bg", ".bdg")


@fill_docs(returns_path=RETURNS_PATH)
def write_predictions(
    adata: AnnData,
    path: str | os.PathLike,
    column: str | None = None,
    *,
    genome: Genome | str | os.PathLike | None = None,
) -> Path:
    """Write the predictions of :func:`~chromseq.tl.predict` as a bigWig or bedGraph track.

    Every base of a region's window gets the region's prediction, as stored: a probability (0-1) for a
    classification model, a value in the target's units for a regression model (any real number; a
    rate for a Poisson model), see ``uns['chromseq']['predictions'][column]['task']``. Values are
    written as they are, never rescaled or thresholded. Overlapping windows are resolved by the
    nearest-centre rule (see :mod:`chromseq.io`). Regions without a prediction (NaN) are left out.

    Parameters
    ----------
    adata
        Regions AnnData with ``obs['chrom']``, ``obs['start']``, ``obs['end']`` and ``obsm['chromseq_pred']``.
    path
        Output file: ``.bw``/``.bigwig`` (bigWig) or ``.bedgraph``/``.bg``/``.bdg`` (bedGraph); written atomically.
    column
        Prediction column (a model name, see ``obsm['chromseq_pred']``); may be omitted if there is one.
    genome
        Genome for the chromosome sizes (:class:`~chromseq.Genome`, FASTA path, genomepy name); ``None`` uses
        the sizes recorded by :func:`~chromseq.pp.add_sequences` in ``uns['chromseq']['genome']``.

    {returns_path}

    Examples
    --------
    >>> cs.io.write_predictions(adata, "K562.bw", "finetuned_K562")  # doctest: +SKIP
    """
    preds = adata.obsm.get(K.PRED)
    if not isinstance(preds, pd.DataFrame):
        raise KeyError(f"adata.obsm[{K.PRED!r}] is missing: run chromseq.tl.predict(adata) first.")
    if column is None:
        if preds.shape[1] != 1:
            raise ValueError(f"adata has several prediction columns {list(preds.columns)}: pass column=<one of them>.")
        column = str(preds.columns[0])
    if column not in preds.columns:
        raise KeyError(f"no prediction column {column!r}; obsm[{K.PRED!r}] has {list(preds.columns)}.")
    values = preds[column].to_numpy(np.float64)
    keep = np.flatnonzero(np.isfinite(values))
    chrom, start, end = _windows(adata, keep)
    segments = _segments(chrom, start, end)
    rows = [(c, a, b, values[keep[i]]) for c, i, a, b in segments]
    logger.info("writing predictions %r (%s) to %s", column, prediction_units(adata, column).label, path)
    return _write(Path(path), rows, _sizes(adata, genome, chrom), per_base=None)


@fill_docs(returns_path=RETURNS_PATH)
def write_contributions(
    adata: AnnData,
    path: str | os.PathLike,
    celltype: str,
    *,
    genome: Genome | str | os.PathLike | None = None,
) -> Path:
    """Write the contribution scores of :func:`~chromseq.tl.contributions` as a per-base bigWig/bedGraph.

    The value of a base is the contribution of the observed base (hypothetical scores times the one-hot
    sequence), in the units of the model's raw output: logit for classification, the value (or the
    Poisson log-rate) for regression, as ``uns['chromseq']['contributions'][celltype]['target']`` says.
    Overlapping windows: the nearest-centre rule (see :mod:`chromseq.io`).

    Parameters
    ----------
    adata
        Regions AnnData with contributions for ``celltype`` and ``obsm['sequence']``.
    path
        ``.bw``/``.bigwig`` or ``.bedgraph``/``.bg``/``.bdg``; written atomically.
    celltype
        Key the contributions were stored under (a cell type or model name).
    genome
        As in :func:`write_predictions`.

    {returns_path}

    Examples
    --------
    >>> cs.tl.contributions(adata, "K562", mask=adata.obs.split == "test")  # doctest: +SKIP
    >>> cs.io.write_contributions(adata, "K562_contributions.bw", "K562")  # doctest: +SKIP
    """
    rows, hyp = contribution_rows(adata, celltype)
    codes = sequence_codes(adata, rows)
    observed = np.where(codes < 4, np.take_along_axis(hyp, np.minimum(codes, 3)[:, None, :], 1)[:, 0], 0.0)
    chrom, start, end = _windows(adata, rows)
    if np.any(end - start != observed.shape[1]):
        raise ValueError("the regions' windows (obs start/end) are not the width of the contribution scores.")
    segments = _segments(chrom, start, end)
    out = [(c, a, b, i) for c, i, a, b in segments]
    return _write(Path(path), out, _sizes(adata, genome, chrom), per_base=(observed, start))


def contribution_rows(adata: AnnData, celltype: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows with contribution scores for ``celltype``, and their hypothetical scores.

    The one place where tracks read stored contributions.

    Returns
    -------
    tuple of np.ndarray
        ``(n,)`` int64 row positions and ``(n, 4, width)`` float32 hypothetical contributions (ACGT).
    """
    scores, names = get_contributions(adata, celltype)  # KeyError naming tl.contributions if none stored
    if not len(names):
        raise ValueError(f"no region of this AnnData has contribution scores for {celltype!r}.")
    return adata.obs_names.get_indexer(names).astype(np.int64), scores


@fill_docs(returns_path=RETURNS_PATH)
def write_seqlets(
    adata: AnnData,
    path: str | os.PathLike,
    celltype: str,
    *,
    max_padj: float | None = None,
    motif_db: str | os.PathLike | None = None,
) -> Path:
    """Write the seqlets of :func:`~chromseq.tl.motifs` and their JASPAR matches as a BED6 file.

    ``name`` is the best-matching motif (``'<name> <id>'``; ``'unmatched'`` without a match), ``score`` the
    seqlet's absolute summed contribution scaled to 0-1000 (UCSC's range; the largest seqlet is 1000),
    ``strand`` the strand on which the matched motif fits the seqlet's sequence best (``'.'`` without a
    match). A seqlet found in two overlapping windows at the same place is written once.

    Parameters
    ----------
    adata
        Regions AnnData after :func:`~chromseq.tl.motifs` for ``celltype``, with ``obsm['sequence']``.
    path
        Output ``.bed`` (written atomically).
    celltype
        Cell type the motifs were found for.
    max_padj
        Keep only seqlets whose match has a Bonferroni-adjusted TOMTOM p-value at most this (``None``: all).
    motif_db
        Motif database the matches came from (to find their strand): ``None`` reads the one recorded by
        ``tl.motifs``, else as ``motif_db`` of :func:`~chromseq.tl.motifs`.

    {returns_path}

    Examples
    --------
    >>> cs.tl.motifs(adata, "K562")  # doctest: +SKIP
    >>> cs.io.write_seqlets(adata, "K562_seqlets.bed", "K562", max_padj=0.01)  # doctest: +SKIP
    """
    seqlets = _seqlets(adata, celltype, max_padj)
    region = adata.obs_names.get_indexer(seqlets["region"].astype(str))
    if (region < 0).any():
        raise KeyError("seqlets name regions that are not in adata.obs_names; was adata subset after tl.motifs?")
    chrom, start, _ = _windows(adata, region)
    strand = _strands(adata, seqlets, region, celltype, motif_db)
    size = np.abs(seqlets["attribution"].to_numpy(np.float64))
    bed = pd.DataFrame(
        {
            "chrom": chrom,
            "start": start + seqlets["start"].to_numpy(np.int64),
            "end": start + seqlets["end"].to_numpy(np.int64),
            "name": np.where(
                seqlets["motif_name"].astype(str) != "",
                seqlets["motif_name"].astype(str) + " " + seqlets["motif_id"].astype(str),
                "unmatched",
            ),
            "score": np.rint(1000 * size / max(size.max(initial=0), 1e-12)).astype(np.int64),
            "strand": strand,
        }
    )
    bed = bed.drop_duplicates(["chrom", "start", "end", "name", "strand"]).sort_values(["chrom", "start", "end"])
    with atomic_path(path) as tmp, disk_errors(path):
        bed.to_csv(tmp, sep="\t", header=False, index=False)
        verify_lines(tmp, Path(path), len(bed))
    logger.info("wrote %d seqlets of %s to %s", len(bed), celltype, path)
    return Path(path)


# -- helpers ----------------------------------------------------------------------------------------
def _windows(adata: AnnData, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    for key in (K.CHROM, K.START, K.END):
        if key not in adata.obs:
            raise KeyError(f"adata.obs[{key!r}] is missing: tracks need the regions' coordinates (pp.read_regions).")
    obs = adata.obs.iloc[rows]
    return obs[K.CHROM].astype(str).to_numpy(), obs[K.START].to_numpy(np.int64), obs[K.END].to_numpy(np.int64)


def _segments(chrom: np.ndarray, start: np.ndarray, end: np.ndarray) -> list[tuple[str, int, int, int]]:
    """Nearest-centre partition: ``[(chrom, row index into the inputs, seg_start, seg_end)]``, sorted."""
    out = []
    for c in sorted(set(chrom.tolist())):
        idx = np.flatnonzero(chrom == c)
        twice_centre = start[idx] + end[idx]
        order = idx[np.lexsort((start[idx], twice_centre))]  # stable: equal windows keep row order
        order = order[np.concatenate([[True], np.diff(start[order] + end[order]) > 0])]  # same centre: first wins
        s, e, c2 = start[order], end[order], start[order] + end[order]
        # base x (centre 2x+1 in half-bp units) goes to window i rather than i+1 iff 4x + 2 <= c2_i + c2_{i+1}
        split = (c2[:-1] + c2[1:] - 2) // 4 + 1
        lo = np.maximum(s, np.concatenate([[np.iinfo(np.int64).min], split]))
        hi = np.minimum(e, np.concatenate([split, [np.iinfo(np.int64).max]]))
        lo = np.maximum(lo, np.concatenate([[0], np.maximum.accumulate(hi)[:-1]]))  # duplicates: the first row keeps
        out.extend((c, int(i), int(a), int(b)) for i, a, b in zip(order, lo, hi, strict=True) if b > a)
    return out


def _sizes(adata: AnnData, genome, chroms: np.ndarray) -> dict[str, int]:
    names = sorted(set(chroms.tolist()))
    if genome is not None:
        from chromseq.genome import as_genome

        g = as_genome(genome)
        return {c: g.size(c) for c in names}
    info = adata.uns.get(K.UNS, {}).get(K.UNS_GENOME, {})
    sizes, chrom_map = dict(info.get("sizes", {})), dict(info.get("chrom_map", {}))
    missing = [c for c in names if str(chrom_map.get(c, c)) not in sizes]
    if missing:
        raise KeyError(
            f"no chromosome size recorded for {missing} in adata.uns['chromseq']['genome']: pass genome=<FASTA "
            "path, genomepy name or chromseq.Genome>."
        )
    return {c: int(sizes[str(chrom_map.get(c, c))]) for c in names}


def _write(path: Path, segments: list, sizes: dict[str, int], per_base) -> Path:
    """Write ``(chrom, start, end, value or row)`` segments; ``per_base=(values (n, L), window starts)``."""
    suffix = path.suffix.lower()
    if suffix not in _BIGWIG + _BEDGRAPH:
        raise ValueError(f"{path.name}: use a .bw/.bigwig (bigWig) or .bedgraph/.bg/.bdg (bedGraph) file name.")
    for c, _, b, _ in segments:
        if b > sizes[c]:
            raise ValueError(f"a window on {c} ends at {b:,}, past the chromosome's end ({sizes[c]:,}): wrong genome?")
    covered = sum(b - a for _, a, b, _ in segments)
    with atomic_path(path) as tmp, disk_errors(path):
        if suffix in _BIGWIG:
            try:
                _write_bigwig(tmp, segments, sizes, per_base)
            except (RuntimeError, SystemError) as err:  # pyBigWig: no errno, sometimes no message
                raise incomplete_write(path, f"pyBigWig failed: {str(err) or type(err).__name__}") from None
            _verify_bigwig(tmp, path, sizes, covered)
        else:
            _write_bedgraph(tmp, segments, per_base)
            verify_lines(tmp, path, covered if per_base is not None else len(segments))
    logger.info("wrote %s (%d segments)", path, len(segments))
    return path


def _write_bigwig(tmp: Path, segments: list, sizes: dict[str, int], per_base) -> None:
    import pyBigWig

    bw = pyBigWig.open(str(tmp), "w")
    try:
        bw.addHeader(list(sizes.items()), maxZooms=10)
        if per_base is None:
            if segments:
                c, a, b, v = (list(x) for x in zip(*segments, strict=True))
                bw.addEntries(c, np.array(a, np.int64), ends=np.array(b, np.int64), values=np.array(v, np.float64))
        else:
            values, starts = per_base
            for c, a, b, i in segments:
                seg = values[i, a - starts[i] : b - starts[i]].astype(np.float64)
                bw.addEntries(c, int(a), values=seg, span=1, step=1)
    finally:
        bw.close()


def _verify_bigwig(tmp: Path, path: Path, sizes: dict[str, int], covered: int) -> None:
    """Reopen a written bigWig: header, chromosome sizes and covered bases must be what was written.

    pyBigWig's ``close`` does not raise when the disk fills up: it prints to stderr and leaves a
    truncated file, so the file is read back before it takes the final name. A track with data
    always has a zoom level (``maxZooms=10``); one written without is cut short.
    """
    import pyBigWig

    problem = None
    try:
        bw = pyBigWig.open(str(tmp))
    except RuntimeError:
        bw = None
    if bw is None or not bw.isBigWig():
        problem = "it cannot be read back"
    else:
        try:
            if bw.chroms() != sizes:
                problem = "its chromosome sizes differ from those written"
            elif covered and int(bw.header()["nBasesCovered"]) != covered:
                problem = f"it covers {int(bw.header()['nBasesCovered']):,} bases, not the {covered:,} written"
            elif covered and int(bw.header()["nLevels"]) == 0:  # zoom levels are written last, when it closes
                problem = "its zoom levels, written last, are missing"
            elif max(_bbi_offsets(tmp)) >= tmp.stat().st_size:
                problem = f"its header points past its end ({tmp.stat().st_size:,} bytes): it was cut short"
        finally:
            bw.close()
    if problem:
        raise incomplete_write(path, problem)


def _bbi_offsets(path: Path) -> list[int]:
    """File offsets a bigWig header points to: chromosome tree, data, index, and each zoom level's data and index."""
    with open(path, "rb") as fh:
        head = fh.read(64 + 24 * 10)
    _, _, n_zoom, *offsets = struct.unpack_from("<IHHQQQ", head, 0)
    for i in range(min(n_zoom, 10)):
        offsets += struct.unpack_from("<QQ", head, 64 + 24 * i + 8)
    return offsets


def _write_bedgraph(tmp: Path, segments: list, per_base) -> None:
    with open(tmp, "w") as fh:
        for c, a, b, v in segments:
            if per_base is None:
                fh.write(f"{c}\t{a}\t{b}\t{v:.6g}\n")
                continue
            values, starts = per_base
            seg = values[v, a - starts[v] : b - starts[v]]
            fh.writelines(f"{c}\t{x}\t{x + 1}\t{y:.6g}\n" for x, y in zip(range(a, b), seg, strict=True))


def _seqlets(adata: AnnData, celltype: str, max_padj: float | None) -> pd.DataFrame:
    seqlets = stored_seqlets(adata, celltype)
    if seqlets is None:
        raise KeyError(f"no seqlets for {celltype!r}: run chromseq.tl.motifs(adata, {celltype!r}) first.")
    if max_padj is not None:
        seqlets = seqlets[seqlets["motif_padj"].fillna(np.inf) <= max_padj]
    return seqlets.reset_index(drop=True)


def _strands(adata, seqlets: pd.DataFrame, region: np.ndarray, celltype: str, motif_db) -> np.ndarray:
    """``'+'``/``'-'``: the strand where the matched motif's log-odds (best offset) is highest; ``'.'`` unmatched."""
    from chromseq._jaspar import load_motif_database

    strand = np.full(len(seqlets), ".", dtype=object)
    matched = np.flatnonzero(seqlets["motif_id"].astype(str).to_numpy() != "")
    if not len(matched):
        return strand
    if motif_db is None:
        source = str(motif_result(adata, celltype).get(K.UNS_PARAMS, {}).get("motif_db", ""))
        motif_db = source.split()[0] if source.upper().startswith("JASPAR") else (source or None)
    db = load_motif_database(motif_db)
    ppms = dict(zip(db.ids, db.ppms, strict=True))
    codes = np.asarray(sequence_codes(adata))
    for j in matched:
        ppm = ppms.get(str(seqlets.at[j, "motif_id"]))
        if ppm is not None:
            seq = codes[region[j], int(seqlets.at[j, "start"]) : int(seqlets.at[j, "end"])]
            strand[j] = _best_strand(np.log(np.asarray(ppm) + 1e-3) - np.log(0.25), seq)
    return strand


def _best_strand(log_odds: np.ndarray, seq: np.ndarray) -> str:
    """Strand of the best ungapped match of a ``(4, w)`` log-odds matrix on codes ``seq`` (either may be longer)."""

    def best(lo: np.ndarray) -> float:
        w, n = lo.shape[1], len(seq)
        padded = np.concatenate([np.full(w - 1, 4), seq, np.full(w - 1, 4)]).astype(np.int64)
        table = np.vstack([lo, np.zeros((1, w))])  # N (and padding) scores 0
        windows = np.lib.stride_tricks.sliding_window_view(padded, w)[: n + w - 1]
        return float(table[windows, np.arange(w)].sum(axis=1).max())

    return "+" if best(log_odds) >= best(log_odds[::-1, ::-1]) else "-"
