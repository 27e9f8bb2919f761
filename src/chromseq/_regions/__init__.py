"""Regions, in one home below ``pp``, ``io`` and ``tl``: names, coordinates, chromosome lists, the genome record.

- ``_names``: the ``chrom:start-end`` names, built and parsed in one place.
- ``_tables``: coordinates from other tools' tables (columns or names), checked once.
- ``_adata``: the regions of an AnnData (coordinates, width, chromosomes), the genome recorded in
  ``uns['chromseq']['genome']``, and the ``params`` record of the ``pp`` functions.
"""

from __future__ import annotations

from ._adata import check_same_genome, chromosomes, genome_of, get_params, record_genome, regions, set_params
from ._names import (
    END_SEPARATORS,
    START_SEPARATORS,
    chrom_base,
    one_spelling,
    parse_region_names,
    reconcile_chromosomes,
    region_names,
)
from ._tables import CHROM_COLUMNS, check_coordinates, coordinates, split_categorical, to_numbers

__all__ = [
    "CHROM_COLUMNS",
    "END_SEPARATORS",
    "START_SEPARATORS",
    "check_coordinates",
    "check_same_genome",
    "chrom_base",
    "chromosomes",
    "coordinates",
    "genome_of",
    "get_params",
    "one_spelling",
    "parse_region_names",
    "reconcile_chromosomes",
    "record_genome",
    "region_names",
    "regions",
    "set_params",
    "split_categorical",
    "to_numbers",
]
