"""Run by tests/test_ddp.py under ``torch.distributed.run`` (and in-process for the single-process reference).

``python _ddp_worker.py OUT REGIONS`` trains a batch-norm-free toy model with the engine (written
to OUT/engine_rank<r>.json), then runs ``chromseq pretrain`` and ``chromseq finetune`` on REGIONS, with the
``tiny`` preset (OUT/pretrained.h5ad, OUT/finetuned.h5ad) and with another family's CPU preset,
:data:`FAMILY_PRESET` (OUT/<preset>_pretrained.h5ad, OUT/<preset>_finetuned.h5ad, models in OUT/<preset>_models).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

WIDTH = 60
MOTIF = np.array([2, 0, 3, 0, 0, 2, 2, 1], np.uint8)
#: A model family beside ChromTransfer, trained through the same CLI under torchrun.
FAMILY_PRESET = "topic_fast"


class Toy(nn.Module):
    """Convolution and pooling, no batch norm or dropout: data-parallel training equals one process."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(4, 8, 9, padding=4), nn.ReLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten())
        self.heads = nn.Linear(8, 1)
        generator = torch.Generator().manual_seed(seed)
        for p in self.parameters():
            nn.init.normal_(p, std=0.3, generator=generator)

    def head_logits(self, emb: torch.Tensor) -> torch.Tensor:
        return self.heads(emb)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_logits(self.body(x))


def planted(n: int = 203, seed: int = 0):
    """Codes with MOTIF planted in label-1 rows; a few labels unknown (NaN)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, WIDTH), dtype=np.uint8)
    y = (rng.random(n) < 0.5).astype(np.float32)
    for i in np.flatnonzero(y):
        pos = rng.integers(0, WIDTH - 8)
        codes[i, pos : pos + 8] = MOTIF
    y[rng.random(n) < 0.05] = np.nan
    return codes, y[:, None]


def train_toy() -> dict:
    """Two stages (all layers with RC and shift augmentation, then heads on cached embeddings)."""
    from chromseq.data import SequenceDataset
    from chromseq.train._engine import fit
    from chromseq.train._spec import TrainSpec

    codes, y = planted()
    train, val = SequenceDataset(codes, y, np.arange(150)), SequenceDataset(codes, y, np.arange(150, len(y)))
    model = Toy()
    common = {"batch_size": 20, "learning_rate": 1e-2, "seed": 3, "precision": "fp32"}
    first = fit(model, train, val, TrainSpec(max_epochs=3, max_shift=2, **common), device="cpu")
    second = fit(model, train, val, TrainSpec(max_epochs=2, stage="head", freeze_body=True, **common), device="cpu")
    weights = torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()
    return {"history": [first.history, second.history], "weights": weights}


def main(out: Path, regions: Path) -> None:
    from chromseq import cli
    from chromseq.train._distributed import dist_info

    result = train_toy()
    rank, world = dist_info()
    (out / f"engine_rank{rank}.json").write_text(json.dumps({**result, "world": world}))
    for preset, prefix in (("tiny", ""), (FAMILY_PRESET, f"{FAMILY_PRESET}_")):
        models = out / f"{prefix}models"
        common = ["--max-epochs", "2", "--batch-size", "64", "--save-dir", str(models), "--device", "cpu"]
        pretrained, finetuned = out / f"{prefix}pretrained.h5ad", out / f"{prefix}finetuned.h5ad"
        cli.main(["pretrain", str(regions), "-o", str(pretrained), "--preset", preset, *common])
        cli.main(["finetune", str(pretrained), "-o", str(finetuned), "--celltype", "K562", *common])


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
