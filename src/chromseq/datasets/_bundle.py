"""A compact slice of a genome: the bases under a set of intervals, 2-bit packed.

The bundled chr20 dataset ships the sequence of its regions and background
windows this way (about 2 bits per base, deflated) so that it needs no genome
file. Nothing here knows about AnnData.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

_N_CODE = 4
_SHIFTS = np.array([6, 4, 2, 0], dtype=np.uint8)


def pack_2bit(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pack uint8 codes (A0 C1 G2 T3 N4) four to a byte.

    Parameters
    ----------
    codes
        ``(L,)`` uint8 codes.

    Returns
    -------
    packed
        ``(ceil(L / 4),)`` uint8, first base in the two high bits.
    n_runs
        ``(k, 2)`` int64 half-open ``[start, end)`` runs of N, which 2 bits cannot hold.
    """
    codes = np.asarray(codes, dtype=np.uint8)
    is_n = codes == _N_CODE
    edges = np.flatnonzero(np.diff(np.concatenate([[0], is_n.view(np.int8), [0]])))
    n_runs = edges.reshape(-1, 2).astype(np.int64)
    padded = np.zeros(-(-codes.size // 4) * 4, dtype=np.uint8)
    padded[: codes.size] = np.where(is_n, 0, codes)
    packed = np.bitwise_or.reduce(padded.reshape(-1, 4) << _SHIFTS, axis=1).astype(np.uint8)
    return packed, n_runs


def unpack_2bit(packed: np.ndarray, length: int, n_runs: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`pack_2bit`: return ``(length,)`` uint8 codes."""
    codes = ((np.asarray(packed, dtype=np.uint8)[:, None] >> _SHIFTS) & 3).reshape(-1)[:length]
    if n_runs is not None and len(n_runs):
        delta = np.zeros(length + 1, dtype=np.int32)
        np.add.at(delta, n_runs[:, 0], 1)
        np.add.at(delta, n_runs[:, 1], -1)
        codes[np.cumsum(delta[:-1]) > 0] = _N_CODE
    return codes


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge overlapping or touching half-open intervals of one chromosome; return sorted starts and ends."""
    order = np.argsort(starts, kind="stable")
    s, e = np.asarray(starts, np.int64)[order], np.asarray(ends, np.int64)[order]
    if not s.size:
        return s, e
    reach = np.maximum.accumulate(e)
    first = np.flatnonzero(np.concatenate([[True], s[1:] > reach[:-1]]))
    return s[first], np.maximum.reduceat(e, first)


@dataclass(frozen=True)
class GenomeSlice:
    """Bases of one chromosome under sorted, disjoint intervals.

    Attributes
    ----------
    chrom
        Chromosome name as the source FASTA spells it.
    size
        Length of the whole chromosome (bp).
    starts, ends
        ``(k,)`` int64 sorted disjoint intervals (bp, 0-based half-open).
    codes
        uint8 codes of the intervals, concatenated in order.
    """

    chrom: str
    size: int
    starts: np.ndarray
    ends: np.ndarray
    codes: np.ndarray

    @classmethod
    def from_chromosome(cls, chrom: str, sequence: np.ndarray, starts, ends) -> GenomeSlice:
        """Cut the (merged) intervals ``[starts, ends)`` out of a whole-chromosome code array."""
        s, e = merge_intervals(np.asarray(starts), np.asarray(ends))
        if s.size and (s[0] < 0 or e[-1] > sequence.size):
            raise ValueError(f"intervals run outside {chrom} ({sequence.size:,} bp).")
        delta = np.zeros(sequence.size + 1, dtype=np.int32)
        np.add.at(delta, s, 1)
        np.add.at(delta, e, -1)
        return cls(chrom, int(sequence.size), s, e, np.asarray(sequence)[np.cumsum(delta[:-1]) > 0])

    def save(self, path: str | os.PathLike) -> None:
        """Write to a compressed ``.npz`` (2-bit packed bases, N runs, intervals)."""
        packed, n_runs = pack_2bit(self.codes)
        np.savez_compressed(
            path,
            chrom=np.array(self.chrom),
            size=np.array(self.size, dtype=np.int64),
            starts=self.starts,
            ends=self.ends,
            length=np.array(self.codes.size, dtype=np.int64),
            packed=packed,
            n_runs=n_runs,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> GenomeSlice:
        """Read a slice written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            codes = unpack_2bit(z["packed"], int(z["length"]), z["n_runs"])
            codes.flags.writeable = False
            return cls(str(z["chrom"]), int(z["size"]), z["starts"], z["ends"], codes)

    def covered(self, starts: np.ndarray, width: int) -> np.ndarray:
        """Return a bool ``(n,)``: whether each window ``[start, start + width)`` lies inside one interval."""
        starts = np.asarray(starts, dtype=np.int64)
        i = np.searchsorted(self.starts, starts, side="right") - 1
        ok = i >= 0
        ok[ok] = starts[ok] + width <= self.ends[i[ok]]
        return ok

    def windows(self, starts: np.ndarray, width: int) -> np.ndarray:
        """Return ``(n, width)`` uint8 codes of windows that lie inside the slice.

        Raises
        ------
        ValueError
            If a window is not covered; the message names the first ones.
        """
        starts = np.asarray(starts, dtype=np.int64)
        ok = self.covered(starts, width)
        if not ok.all():
            bad = starts[~ok][:5]
            shown = ", ".join(f"{self.chrom}:{s}-{s + width}" for s in bad)
            raise ValueError(f"{int((~ok).sum())} window(s) of {width} bp lie outside the bundled sequence: {shown}.")
        offsets = np.concatenate([[0], np.cumsum(self.ends - self.starts)[:-1]])
        i = np.searchsorted(self.starts, starts, side="right") - 1
        pos = offsets[i] + starts - self.starts[i]
        if not starts.size:
            return np.zeros((0, width), dtype=np.uint8)
        return np.lib.stride_tricks.sliding_window_view(self.codes, width)[pos].copy()
