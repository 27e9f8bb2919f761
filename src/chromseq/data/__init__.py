"""Torch datasets over AnnData: uint8 codes in, one-hot on the device."""

from __future__ import annotations

from ._dataset import BatchSampler, SequenceDataset, augment_codes, dataset_from_anndata, make_loader, to_one_hot

__all__ = ["BatchSampler", "SequenceDataset", "augment_codes", "dataset_from_anndata", "make_loader", "to_one_hot"]
