"""Model inputs for the training loop: one-hot batches of codes, or cached body embeddings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from chromseq.data import BatchSampler, SequenceDataset, augment_codes, make_loader, to_one_hot
from chromseq.train._distributed import dist_info, gather_interleaved
from chromseq.train._inference import embed

if TYPE_CHECKING:
    from chromseq.train._spec import TrainSpec


class Batches:
    """Turns index batches into model inputs: one-hot sequences, or cached embeddings when the body is frozen."""

    def __init__(self, model, data: SequenceDataset, spec: TrainSpec, device, *, cache: bool, train: bool) -> None:
        self.data, self.spec, self.device, self.train = data, spec, device, train
        self.share: tuple[int, int] = (0, 1)  # (rank, world) of the last loader
        self._sizes = iter(())  # global batch sizes of the last loader's batches (several ranks)
        self.emb = None
        if cache:  # body frozen: one embedding per strand, reused every epoch
            strands = (False, True) if (train and spec.rc_augment) else (False,)
            self.emb = [self._embed(model, rc) for rc in strands]

    def _embed(self, model, rc: bool) -> torch.Tensor:
        rank, world = dist_info()
        size = max(self.spec.batch_size, 256)
        if world == 1:
            return embed(model, self.data, rc=rc, batch_size=size, device=self.device)
        # several ranks: each embeds every world-th row, then all gather the whole table
        share = SequenceDataset(self.data.codes, self.data.labels, self.data.rows[rank::world])
        return gather_interleaved(embed(model, share, rc=rc, batch_size=size, device=self.device))

    def loader(self, generator: torch.Generator | None, rank: int = 0, world: int = 1):
        # a last batch of one sequence (per rank) would break batch norm in training mode: drop it then
        rest = len(self.data) % self.spec.batch_size
        drop_last = self.train and (rest == 1 if world == 1 else 0 < rest < 2 * world)
        sampler = BatchSampler(
            len(self.data),
            self.spec.batch_size,
            shuffle=self.train,
            generator=generator,
            drop_last=drop_last,
            rank=rank,
            world_size=world,
        )
        self.share, self._sizes = (rank, world), iter(sampler.global_sizes())
        if self.emb is not None:
            return ((torch.as_tensor(idx), None) for idx in sampler), len(sampler)
        pin = self.device.type == "cuda"
        return make_loader(self.data, sampler, num_workers=self.spec.num_workers, pin_memory=pin), len(sampler)

    def _global_share(self) -> tuple[int, int, int] | None:
        """``(global batch size, rank, world)`` of the next batch with several ranks, else ``None``."""
        rank, world = self.share
        return None if world == 1 else (next(self._sizes), rank, world)

    def inputs(self, item, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Return ``(x, y, is_embedding)`` on the device for one loader item.

        With several ranks, the random draws are made for the whole global batch (from the
        generator every rank shares) and this rank's share of them used.
        """
        if self.emb is not None:
            idx = item[0]
            y = torch.from_numpy(self.data.labels[self.data.rows[idx.numpy()]]).to(self.device)
            x = self.emb[0][idx.to(self.emb[0].device)]
            if len(self.emb) == 2:
                share = self._global_share()
                n, keep = (len(idx), slice(None)) if share is None else (share[0], slice(share[1], None, share[2]))
                flip = (torch.rand(n, generator=generator)[keep] < 0.5).to(x.device)
                x = torch.where(flip[:, None], self.emb[1][idx.to(x.device)], x)
            return x.to(self.device, non_blocking=True), y, True
        codes, y = item
        codes = codes.to(self.device, non_blocking=True)
        if self.train and (self.spec.rc_augment or self.spec.max_shift):
            codes, _ = augment_codes(
                codes,
                generator=generator,
                rc=self.spec.rc_augment,
                max_shift=self.spec.max_shift,
                share=self._global_share(),
            )
        return to_one_hot(codes), y.to(self.device, non_blocking=True), False
