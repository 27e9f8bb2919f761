"""Interoperability: other tools' AnnData layouts, variant files (VCF/BCF) and genome-browser tracks.

Overlap rule of the tracks (predictions and contributions): model windows may overlap; each base takes
the value of the window whose centre is nearest to it, among the windows that cover it (ties: the window
that starts first; windows with the same centre: the first row). Bases covered by no window are absent.
"""

from __future__ import annotations

from ._crested import from_crested, to_crested
from ._tracks import write_contributions, write_predictions, write_seqlets
from ._vcf import read_vcf

__all__ = ["from_crested", "to_crested", "read_vcf", "write_predictions", "write_contributions", "write_seqlets"]
