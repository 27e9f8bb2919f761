"""First-layer filters initialised from JASPAR motifs: an informed prior for small data sets.

Each filter of the stem convolution starts as the log-odds matrix of a known transcription-factor
motif (JASPAR CORE vertebrates, read offline through pyjaspar), centred in the kernel, scaled to the
norm of a He-normal filter, with a bias that keeps it silent on background sequence. Filters beyond
the list keep their random initialisation. Training then moves them freely.
"""

from __future__ import annotations

import numpy as np
import torch

#: Transcription factors tried in order, one filter each: the paper's cell-type TFs (K562 GATA,
#: HepG2 HNF4/FOXA/CEBP, GM12878 PU.1/IRF/EBF, epithelial AP-1/GRHL/TEAD, MCF7 ESR1/FOXA1) first,
#: then common promoter and insulator motifs.
STEM_TFS = (
    "GATA1", "HNF4A", "FOXA2", "CEBPB", "SPI1", "IRF4", "EBF1", "FOS::JUN", "GRHL2", "TEAD4", "ESR1",
    "FOXA1", "HNF1A", "NFE2", "RUNX1", "TFAP2A", "CTCF", "SP1", "KLF4", "NFYA", "ELK1", "NRF1", "YY1",
    "CREB1", "USF1", "ZNF143", "REST", "MAFK", "STAT3", "NFKB1", "TP53", "SOX2", "POU5F1", "MEF2A",
    "NR2F2", "ETS1", "GABPA", "MAX", "ATF3", "E2F1", "ZBTB33", "RFX1", "PAX5", "TCF7L2", "HNF1B",
    "TAL1::TCF3", "KLF1", "NFIA", "SRF", "THAP11", "IKZF1", "MEIS1", "HOXA9", "CDX2", "GATA3", "ELF3",
    "TP63", "SOX9", "FOXM1", "NR3C1", "PPARG", "BHLHE40", "JUND", "MYB",
)  # fmt: skip
_PSEUDO = 0.01


def jaspar_filters(n: int, kernel: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return up to ``n`` stem filters from JASPAR motifs, their biases and the TF names used.

    Parameters
    ----------
    n
        Number of filters wanted (the stem's output channels).
    kernel
        Kernel width (bp); motifs are centred, cropped to it when longer, zero-padded when shorter.

    Returns
    -------
    ``(weights (m, 4, kernel), biases (m,), names)`` with m <= n, float32; each filter has the
    expected norm of a He-normal filter (sqrt 2) and a bias of minus half its best match score.
    """
    from chromseq._jaspar import jaspar

    db = jaspar()
    by_name: dict[str, np.ndarray] = {}
    for name, ppm in zip(db.names, db.ppms, strict=True):
        by_name.setdefault(name.upper(), ppm)
    names = [tf for tf in STEM_TFS if tf.upper() in by_name][:n]
    weights = np.zeros((len(names), 4, kernel), dtype=np.float64)
    for i, tf in enumerate(names):
        ppm = by_name[tf.upper()]
        logodds = np.log2((ppm + _PSEUDO) / (0.25 + _PSEUDO))
        logodds -= logodds.mean(axis=0, keepdims=True)
        width = logodds.shape[1]
        if width > kernel:  # keep the most informative window
            info = np.convolve(np.abs(logodds).sum(axis=0), np.ones(kernel), mode="valid")
            start = int(np.argmax(info))
            logodds, width = logodds[:, start : start + kernel], kernel
        offset = (kernel - width) // 2
        weights[i, :, offset : offset + width] = logodds
    norms = np.linalg.norm(weights.reshape(len(names), -1), axis=1, keepdims=True)
    weights *= (np.sqrt(2.0) / np.maximum(norms, 1e-12))[:, :, None]
    biases = -0.5 * weights.max(axis=1).sum(axis=1)
    return weights.astype(np.float32), biases.astype(np.float32), names


def init_stem_from_jaspar(conv: torch.nn.Conv1d) -> list[str]:
    """Overwrite the first filters of ``conv`` (4 input channels) with :func:`jaspar_filters`; return the TFs."""
    weights, biases, names = jaspar_filters(conv.out_channels, conv.kernel_size[0])
    with torch.no_grad():
        conv.weight[: len(names)] = torch.from_numpy(weights)
        conv.bias[: len(names)] = torch.from_numpy(biases)
    return names
