"""Torch datasets over AnnData: uint8 codes in, one-hot on the device; arrays on disk read batch by batch."""

from __future__ import annotations

from chromseq._arrays import read_columns, read_rows

from ._backed import read_backed
from ._dataset import BatchSampler, SequenceDataset, augment_codes, dataset_from_anndata, make_loader, to_one_hot

__all__ = [
    "BatchSampler",
    "SequenceDataset",
    "augment_codes",
    "dataset_from_anndata",
    "make_loader",
    "read_backed",
    "read_columns",
    "read_rows",
    "to_one_hot",
]
