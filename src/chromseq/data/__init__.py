"""Torch datasets over AnnData: uint8 codes in, one-hot on the device; arrays on disk read batch by batch."""

from __future__ import annotations

from ._dataset import BatchSampler, SequenceDataset, augment_codes, dataset_from_anndata, make_loader, to_one_hot
from ._ondisk import read_backed, read_columns, read_rows

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
