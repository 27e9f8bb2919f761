"""Batches of uint8 sequence codes and labels; one-hot and augmentation happen on the device.

Nothing here copies an AnnData: a dataset holds a reference to the code matrix
(``obsm['sequence']``) and the row indices of one split; each batch gathers only
its own rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from chromseq._arrays import read_rows
from chromseq._codes import one_hot, reverse_complement_codes
from chromseq._validate import sequence_codes

if TYPE_CHECKING:
    from anndata import AnnData

N_CODE = 4


class SequenceDataset(Dataset):
    """Rows of a code matrix with their labels; indexing with an index array returns a whole batch.

    Parameters
    ----------
    codes
        ``(n, L)`` uint8 codes A0 C1 G2 T3 N4 (e.g. ``adata.obsm['sequence']``), kept by reference:
        a NumPy array, or an array on disk (h5py dataset, zarr array) read batch by batch.
    labels
        ``(n, n_outputs)`` float32 labels (NaN = unknown), or ``None`` for inference.
    rows
        Rows of ``codes`` this dataset covers (default all), in order.

    Examples
    --------
    >>> ds = SequenceDataset(np.zeros((10, 600), np.uint8), np.ones((10, 1), np.float32), rows=np.arange(5))
    >>> codes, y = ds[np.array([0, 1])]
    >>> codes.shape, y.shape
    (torch.Size([2, 600]), torch.Size([2, 1]))
    """

    def __init__(self, codes: np.ndarray, labels: np.ndarray | None = None, rows: np.ndarray | None = None) -> None:
        if codes.ndim != 2:
            raise ValueError(f"codes must be a 2-d (n, L) array, got shape {codes.shape}.")
        if codes.dtype != np.uint8:
            raise ValueError(f"codes must be uint8 (A0 C1 G2 T3 N4), got dtype {codes.dtype}.")
        if labels is not None and (labels.ndim != 2 or labels.shape[0] != codes.shape[0]):
            raise ValueError(f"labels must be (n, n_outputs) with n = {codes.shape[0]}, got {labels.shape}.")
        self.codes = codes
        self.labels = labels
        self.rows = np.arange(codes.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)

    @property
    def width(self) -> int:
        """Sequence width L (bp)."""
        return int(self.codes.shape[1])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, idx: int | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(codes (B, L) uint8, labels (B, n_outputs) float32)`` for positions ``idx`` of :attr:`rows`."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        rows = self.rows[idx]
        order = np.argsort(rows, kind="stable")  # sorted reads are faster on backed/h5 arrays
        codes = np.empty((len(rows), self.width), dtype=np.uint8)
        codes[order] = read_rows(self.codes, rows[order])
        y = self.labels[rows] if self.labels is not None else np.zeros((len(rows), 0), np.float32)
        return torch.from_numpy(codes), torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))


class BatchSampler(Sampler):
    """Yields index arrays of ``batch_size`` positions, shuffled with ``generator``.

    Parameters
    ----------
    n
        Number of positions.
    batch_size
        Batch size (the last batch may be smaller unless ``drop_last``); with several ranks,
        the global batch size, summed over ranks.
    shuffle
        Draw a new permutation from ``generator`` at every iteration.
    generator
        Source of the permutation (required when shuffling: determinism is explicit).
    drop_last
        Drop a last, smaller batch.
    rank, world_size
        Shard this process reads, for DistributedDataParallel: every rank draws the same
        permutation, cuts it into the same global batches, and takes every ``world_size``-th
        position of each, starting at ``rank``. The ranks' batches at one step make up the
        batch a single process would get; a rank with nothing to take from a batch skips it.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        if shuffle and generator is None:
            raise ValueError("shuffle=True needs a torch.Generator (pass one seeded from random_state).")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}.")
        self.n, self.batch_size, self.shuffle, self.generator = n, batch_size, shuffle, generator
        self.drop_last, self.rank, self.world_size = drop_last, rank, world_size

    def __iter__(self) -> Iterator[np.ndarray]:
        pos = torch.randperm(self.n, generator=self.generator).numpy() if self.shuffle else np.arange(self.n)
        stop = self.n - self.n % self.batch_size if self.drop_last else self.n
        for start in range(0, stop, self.batch_size):
            batch = pos[start : start + self.batch_size]
            if self.world_size > 1:
                batch = batch[self.rank :: self.world_size]
                if not len(batch):
                    continue
            yield batch

    def global_sizes(self) -> list[int]:
        """Sizes of the global batches this rank takes a share of, in order (for :func:`~chromseq.data.augment_codes`)."""
        stop = self.n - self.n % self.batch_size if self.drop_last else self.n
        sizes = [min(self.batch_size, stop - start) for start in range(0, stop, self.batch_size)]
        return [g for g in sizes if g > self.rank]

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        n_full = full if self.batch_size > self.rank else 0
        return n_full + int(rest > self.rank and not self.drop_last)


def make_loader(
    dataset: SequenceDataset, sampler: BatchSampler, *, num_workers: int = 0, pin_memory: bool = False
) -> DataLoader:
    """Return a :class:`~torch.utils.data.DataLoader` whose items are whole batches from ``sampler``.

    The loader gets its own generator (for worker seeds), so iterating it leaves torch's
    global random state alone.

    Parameters
    ----------
    dataset
        The sequences (and labels) to batch.
    sampler
        Yields the row indices of one batch at a time.
    num_workers
        DataLoader worker processes (0: read batches in the calling process).
    pin_memory
        Pin batches in page-locked memory (faster copies to CUDA).

    Returns
    -------
    The loader; each item is one batch as returned by ``dataset[rows]``.
    """
    return DataLoader(
        dataset,
        sampler=sampler,
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(0),
    )


def augment_codes(
    codes: torch.Tensor,
    *,
    generator: torch.Generator,
    rc: bool = True,
    max_shift: int = 0,
    share: tuple[int, int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Randomly reverse-complement and shift a batch of codes, on the codes' device.

    Parameters
    ----------
    codes
        ``(B, L)`` uint8 codes.
    generator
        CPU generator for the random draws (drawn in a fixed order: flips, then shifts).
    rc
        Reverse-complement each sequence with probability 1/2.
    max_shift
        Shift each sequence by an integer in ``[-max_shift, max_shift]`` bp, filling with N.
    share
        ``(global batch size, rank, world_size)`` when ``codes`` is one rank's share
        (``[rank::world_size]``) of a global batch: the draws are made for the whole global
        batch and this share of them kept, so that every sequence is augmented as it would
        be in a single process.

    Returns
    -------
    ``(codes (B, L), flipped (B,) bool)``.
    """
    b, width = codes.shape
    n, keep = (b, slice(None)) if share is None else (share[0], slice(share[1], None, share[2]))
    flip = torch.rand(n, generator=generator)[keep] < 0.5 if rc else torch.zeros(b, dtype=torch.bool)
    shifts = torch.randint(-max_shift, max_shift + 1, (n,), generator=generator)[keep] if max_shift > 0 else None
    if len(flip) != b:
        raise ValueError(f"share={share} selects {len(flip)} draws for a batch of {b} sequences.")
    flip = flip.to(codes.device)
    if rc:
        rc_codes = reverse_complement_codes(codes)
        codes = torch.where(flip[:, None], rc_codes, codes)
    if shifts is not None:
        padded = torch.nn.functional.pad(codes, (max_shift, max_shift), value=N_CODE)
        pos = torch.arange(width, device=codes.device)[None, :] + max_shift - shifts.to(codes.device)[:, None]
        codes = padded.gather(1, pos)
    return codes, flip


def to_one_hot(codes: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Codes ``(B, L)`` -> one-hot ``(B, 4, L)`` on the codes' device (N = all zeros).

    Parameters
    ----------
    codes
        ``(B, L)`` uint8 codes (A0 C1 G2 T3 N4).
    dtype
        Floating dtype of the result.

    Returns
    -------
    ``(B, 4, L)`` one-hot tensor of ``dtype``; positions with N are all zeros.
    """
    return one_hot(codes, dtype=dtype)


def dataset_from_anndata(
    adata: AnnData, labels: np.ndarray | None = None, rows: np.ndarray | None = None
) -> SequenceDataset:
    """Wrap ``adata.obsm['sequence']`` (by reference) as a :class:`~chromseq.data.SequenceDataset`.

    Parameters
    ----------
    adata
        Regions AnnData with ``obsm['sequence']``.
    labels
        ``(n_obs, n_outputs)`` float32 labels (NaN = unknown) or ``None``.
    rows
        Integer rows (e.g. those of one split); default all.

    Returns
    -------
    The dataset; the AnnData is not copied, and sequences on disk (:func:`~chromseq.data.read_backed`) stay there.
    """
    return SequenceDataset(sequence_codes(adata), labels, rows)
