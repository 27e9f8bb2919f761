"""The tensor core of :func:`chromseq.tl.design`: in-silico evolution and motif implantation on codes.

Sequences are uint8 codes ``(n, L)`` (A0 C1 G2 T3) on the model's device; candidates (single-base
mutants, implanted motifs) are built there from an index, a batch at a time, never base by base in
Python. Each candidate is scored as :func:`chromseq.tl.predict` scores a region (forward and reverse
complement averaged) and its objective computed; the model runs through the inference helpers of
:mod:`chromseq.train` (eval mode, device and modes restored, autocast). Nothing here
knows about AnnData.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from chromseq._codes import reverse_complement_codes
from chromseq.train import forward_codes, mean_probability_logit, progress_bar, progress_disabled

Objective = Callable[[torch.Tensor], torch.Tensor]
#: Alternative bases per position: a mutant adds 1, 2 or 3 (mod 4) to the base.
_N_ALT = 3


@dataclass(frozen=True)
class Scorer:
    """Scores of code batches under one model, as :func:`chromseq.tl.predict` computes them.

    Attributes
    ----------
    model
        Maps one-hot ``(N, 4, L)`` to ``(N, n_outputs)`` raw outputs: logits, or a regression
        model's values (log-rates for a Poisson model).
    objective
        Scores ``(N, n_outputs)`` -> objective ``(N,)`` to maximise.
    batch_size
        Rows per forward pass; with ``rc_average`` a sequence and its reverse complement are two rows.
    rc_average
        Average the forward and reverse-complement predictions, as :func:`chromseq.tl.predict` does,
        and report the average on the scale of the raw output (see :func:`rc_mean`).
    link
        How raw outputs map to predictions (the model record's ``link``): ``'logit'``,
        ``'identity'`` or ``'log'``.
    dtype
        Autocast dtype (``torch.float32``: none).
    """

    model: nn.Module
    objective: Objective
    batch_size: int
    rc_average: bool = True
    link: str = "logit"
    dtype: torch.dtype = torch.float32

    @torch.inference_mode()
    def scores(self, codes: torch.Tensor) -> torch.Tensor:
        """Return float32 scores ``(n, n_outputs)`` of codes ``(n, L)`` (one batch, on the model's device).

        The step of the training core's inference loop (:func:`chromseq.train.forward_codes`).
        """
        forward, reverse = forward_codes(self.model, codes, rc=self.rc_average, dtype=self.dtype)
        return forward if reverse is None else rc_mean(forward, reverse, self.link)

    def batched(self, n: int, make: Callable[[torch.Tensor], torch.Tensor], device) -> tuple[torch.Tensor, ...]:
        """Scores ``(n, n_outputs)`` and objective ``(n,)`` of ``n`` candidates built by ``make(index)``."""
        out, obj = [], []
        size = max(1, self.batch_size // 2) if self.rc_average else self.batch_size
        for index in _chunks(n, size, device):
            s = self.scores(make(index))
            out.append(s)
            obj.append(self.objective(s))
        return torch.cat(out), torch.cat(obj)


def rc_mean(forward: torch.Tensor, reverse: torch.Tensor, link: str) -> torch.Tensor:
    """Mean of the forward and reverse-complement predictions, on the scale of the raw output.

    ``'logit'``: the logit of the mean probability; ``'identity'``: the mean value; ``'log'``: the
    log of the mean rate. Mapped through the link, it is what :func:`chromseq.tl.predict` reports.
    """
    if link == "logit":
        return mean_probability_logit(forward, reverse)
    if link == "log":
        return torch.logaddexp(forward, reverse) - math.log(2.0)
    return (forward + reverse) / 2


def _chunks(n: int, size: int, device) -> Iterator[torch.Tensor]:
    for a in range(0, n, size):
        yield torch.arange(a, min(a + size, n), device=device)


def mutants(parents: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Build single-base mutants of ``parents`` ``(m, L)`` by flat index.

    Mutant ``i`` of parent ``p`` (flat index ``p * 3L + i``) changes position ``i // 3`` to the base
    ``(b + 1 + i % 3) % 4``, where ``b`` is the parent's base there.

    Returns
    -------
    ``(len(index), L)`` codes of the same dtype as ``parents``.
    """
    per = _N_ALT * parents.shape[1]
    parent, i = index // per, index % per
    pos, shift = i // _N_ALT, i % _N_ALT + 1
    out = parents[parent]
    rows = torch.arange(len(index), device=out.device)
    out[rows, pos] = ((out[rows, pos].long() + shift) % 4).to(out.dtype)
    return out


def _mutant_hash(parent_hash: torch.Tensor, parents: torch.Tensor, index: torch.Tensor, table: torch.Tensor):
    """Hash of each mutant from its parent's: the sum over positions of ``table[pos, base]`` (int64, wrapping)."""
    per = _N_ALT * parents.shape[1]
    parent, i = index // per, index % per
    pos, shift = i // _N_ALT, i % _N_ALT + 1
    old = parents[parent, pos].long()
    return parent_hash[parent] - table[pos, old] + table[pos, (old + shift) % 4]


def _select(obj: torch.Tensor, hashes: torch.Tensor, k: int) -> torch.Tensor:
    """Columns ``(a, k)`` of the ``k`` best distinct candidates of each row, best first."""
    top = min(obj.shape[1], 4 * k)
    idx = obj.topk(top, dim=1).indices
    h = hashes.gather(1, idx)
    dup = (h[:, :, None] == h[:, None, :]).tril(-1).any(2)  # an earlier (better) candidate is the same sequence
    rank = torch.arange(top, device=obj.device) + dup.long() * top
    return idx.gather(1, rank.argsort(1)[:, : min(k, top)])


def _widen(x: torch.Tensor, k: int, fill) -> torch.Tensor:
    """``x`` ``(n, w, ...)`` widened to ``(n, k, ...)`` with ``fill`` (placeholders of stopped beams)."""
    if x.shape[1] >= k:
        return x
    pad = torch.full((x.shape[0], k - x.shape[1], *x.shape[2:]), fill, dtype=x.dtype, device=x.device)
    return torch.cat([x, pad], 1)


@dataclass
class Evolution:
    """Result of :func:`evolve`.

    Attributes
    ----------
    codes
        ``(n, L)`` designs (the best of each beam).
    n_steps
        ``(n,)`` steps taken (substitutions) before a start stopped improving or ran out of steps.
    scores
        ``(n, steps + 1, n_outputs)`` scores of the best sequence at each step (repeated once a start stopped).
    objective
        ``(n, steps + 1)`` objective of the best sequence at each step.
    """

    codes: torch.Tensor
    n_steps: torch.Tensor
    scores: torch.Tensor
    objective: torch.Tensor


def evolve(
    scorer: Scorer, start: torch.Tensor, *, steps: int, beam: int = 1, min_gain: float = 0.0, seed: int = 0
) -> Evolution:
    """In-silico evolution: each step, score every single-base mutant and keep the best (or the best ``beam``).

    Parameters
    ----------
    scorer
        The model, objective and batching.
    start
        ``(n, L)`` uint8 codes (ACGT only) on the model's device.
    steps
        Most steps (one substitution each).
    beam
        Sequences kept per start: 1 is greedy; more keeps the ``beam`` best distinct mutants of all
        kept sequences at each step.
    min_gain
        A start stops when its best mutant improves its best objective by no more than this.
    seed
        Seed of the random hash that tells beam members apart (only a hash collision depends on it).

    Returns
    -------
    The designs, their step counts and trajectories.
    """
    n, length = start.shape
    device, per = start.device, _N_ALT * start.shape[1]
    gen = torch.Generator().manual_seed(int(seed))
    table = torch.randint(-(2**62), 2**62, (length, 4), generator=gen).to(device)
    s0, o0 = scorer.batched(n, lambda i: start[i], device)
    codes, obj, hashes = start[:, None].clone(), o0[:, None].clone(), table.gather(1, start.long().T).sum(0)[:, None]
    best, traj, objs = s0.clone(), [s0.clone()], [o0.clone()]
    active, n_steps = torch.ones(n, dtype=torch.bool, device=device), torch.zeros(n, dtype=torch.long, device=device)
    tqdm = progress_bar()
    for _ in tqdm(range(steps), desc="design: evolve", leave=False, disable=progress_disabled()):
        rows = active.nonzero().squeeze(1)
        if not len(rows):
            break
        parents, parent_hash = codes[rows].reshape(-1, length), hashes[rows].reshape(-1)
        m = len(parents) * per
        s, o = scorer.batched(m, lambda i, p=parents: mutants(p, i), device)
        cand_hash = _mutant_hash(parent_hash, parents, torch.arange(m, device=device), table)
        keep = _select(o.view(len(rows), -1), cand_hash.view(len(rows), -1), beam)
        flat = keep + torch.arange(len(rows), device=device)[:, None] * (codes.shape[1] * per)
        better = o[flat[:, 0]] > obj[rows].amax(1) + min_gain
        active[rows[~better]] = False
        rows, flat = rows[better], flat[better]
        if len(rows):
            k = flat.shape[1]
            codes, obj, hashes = _widen(codes, k, 4), _widen(obj, k, float("-inf")), _widen(hashes, k, 0)
            codes[rows, :k] = mutants(parents, flat.reshape(-1)).view(len(rows), k, length)
            obj[rows, :k], hashes[rows, :k] = o[flat], cand_hash[flat]
            best[rows] = s[flat[:, 0]]
            n_steps[rows] += 1
        traj.append(best.clone())
        objs.append(obj.amax(1))
    pad = steps + 1 - len(traj)  # every start stopped early: the trajectories stay flat to the last step
    traj, objs = traj + [traj[-1]] * pad, objs + [objs[-1]] * pad
    designs = codes[torch.arange(n, device=device), obj.argmax(1)]
    return Evolution(designs, n_steps, torch.stack(traj, 1), torch.stack(objs, 1))


@dataclass
class Implantation:
    """Result of :func:`implant`.

    Attributes
    ----------
    codes
        ``(n, L)`` each start with the motif at its best position and strand.
    position
        ``(n,)`` best position (0-based bp of the motif's first base).
    strand
        ``(n,)`` 0 (the motif as given) or 1 (its reverse complement).
    scores
        ``(n, 2, n_outputs)`` scores of the start and of the design.
    objective
        ``(n, 2)`` objective of the start and of the design.
    position_objective
        ``(n, n_positions)`` objective at each position tried (the better strand).
    """

    codes: torch.Tensor
    position: torch.Tensor
    strand: torch.Tensor
    scores: torch.Tensor
    objective: torch.Tensor
    position_objective: torch.Tensor


def implant(scorer: Scorer, start: torch.Tensor, motif: torch.Tensor, positions: torch.Tensor) -> Implantation:
    """Write ``motif`` (and its reverse complement) over each start at every position; keep the best.

    Parameters
    ----------
    scorer
        The model, objective and batching.
    start
        ``(n, L)`` codes on the model's device.
    motif
        ``(k,)`` codes (ACGT) of the motif.
    positions
        ``(P,)`` int64 first positions tried, each in ``0 .. L - k``.

    Returns
    -------
    The best implantation of each start, and the objective at every position.
    """
    n, device = len(start), start.device
    strands = torch.stack([motif, reverse_complement_codes(motif)]).to(device=device, dtype=start.dtype)
    per, cols = 2 * len(positions), torch.arange(len(motif), device=device)

    def make(index: torch.Tensor) -> torch.Tensor:
        row, j = index // per, index % per
        out = start[row]
        out[torch.arange(len(index), device=device)[:, None], positions[j // 2, None] + cols] = strands[j % 2]
        return out

    s0, o0 = scorer.batched(n, lambda i: start[i], device)
    s, o = scorer.batched(n * per, make, device)
    o = o.view(n, len(positions), 2)
    at = o.view(n, -1).argmax(1)
    flat = at + torch.arange(n, device=device) * per
    return Implantation(
        codes=make(flat),
        position=positions[at // 2],
        strand=at % 2,
        scores=torch.stack([s0, s[flat]], 1),
        objective=torch.stack([o0, o.view(n, -1).gather(1, at[:, None])[:, 0]], 1),
        position_objective=o.amax(2),
    )
