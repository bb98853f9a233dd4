"""A data-parallel learner over ``torch.distributed`` ranks: each rank updates from its own share of the batch and
every rank takes the same step, the one a single learner would take from all shares together.

What is combined, and how (one update, K ranks, rank r holding N_r valid transitions, N = sum N_r):

- Gradients. Every term of the loss is a mean over the valid transitions (times gammas, critics, features), so the
  combined batch's gradient is ``sum_r N_r g_r / N``. Each rank scales its gradient by N_r, one all-reduce sums
  them (with N and the entropy step's ``N_r * mean log pi``), and every rank divides by N. Gradient clipping and
  the optimiser then see identical gradients on every rank, so the weights stay identical.
- PopArt statistics and the input normalisers (``InputNorm``): their ``reduce_moments`` hook all-reduces the sum,
  sum of squares and count of the rows they count, so they move by the moments of the combined batch, identically
  on every rank, before the loss normalises with them (as the single learner does).
- Nothing else in a training forward holds batch statistics: the sigma-reparameterised layers' power iteration
  reads the weights only.

Random draws inside the loss (policy samples of continuous actions, the TD ensemble subset, dropout) are drawn per
rank from each rank's own generator: the same distribution as one learner's draws, not the same numbers.

The ``torch.nn.parallel.DistributedDataParallel`` wrapper is not used: it synchronises gradients of one
module's ``forward``, and the losses call many of the agent's modules (and the normalisers need their own
reductions anyway). Gradients go in one flattened all-reduce per update, after backward.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from icrl.config import LearnConfig
from icrl.learn.learner import Learner
from icrl.learn.stats import StatsUpdate
from icrl.nets.layers import InputNorm
from icrl.records import Batch


def global_moments(rows: torch.Tensor, group=None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """rows (M, D) on this rank -> the mean and mean square (D,) over every rank's rows; None when no rank has one.

    A collective: every rank of ``group`` must call it, in the same order. Sums in float64 (the counts of a long
    run's batches stay exact), results in the rows' dtype.
    """
    rows = rows.reshape(rows.shape[0], -1)
    packed = torch.cat([rows.sum(0).double(), (rows.double() ** 2).sum(0),
                        torch.tensor([rows.shape[0]], dtype=torch.float64, device=rows.device)])
    dist.all_reduce(packed, group=group)
    count = packed[-1]
    if count.item() == 0:
        return None
    dim = rows.shape[1]
    return (packed[:dim] / count).to(rows.dtype), (packed[dim:2 * dim] / count).to(rows.dtype)


class DataParallelLearner(Learner):
    """A ``Learner`` whose every rank takes the step of the combined batch (module docstring).

    Construct it on every rank of an initialised process group, with agents built the same way: rank 0's weights
    and buffers are broadcast to the others, so the ranks start identical whatever their seeds.
    """

    def __init__(self, agent, cfg: LearnConfig, amp: bool = False, group=None) -> None:
        super().__init__(agent, cfg, amp)
        self.group = group
        for tensor in [*agent.state_dict().values(), *self.stats.state_dict().values()]:
            dist.broadcast(tensor, src=dist.get_global_rank(group, 0) if group is not None else 0, group=group)
        for module in agent.modules():
            if isinstance(module, InputNorm):
                module.reduce_moments = self._moments
        self.stats.popart.reduce_moments = self._moments

    def _moments(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        return global_moments(rows, self.group)

    def synchronize(self, batch: Batch, stats_update: StatsUpdate) -> StatsUpdate:
        """Every rank's gradients and entropy step, weighted by its valid transitions (module docstring)."""
        n = batch.transition_mask.sum().to(self.params[0].device, torch.float32)
        grads = [p.grad for p in self.params]
        parts = [(g.float() * n).reshape(-1) if g is not None else p.new_zeros(p.numel(), dtype=torch.float32)
                 for p, g in zip(self.params, grads, strict=True)]
        has_grad = torch.tensor([g is not None for g in grads], dtype=torch.float32, device=n.device)
        mean_logp = stats_update.mean_log_prob
        extra = [mean_logp.float().reshape(1) * n] if mean_logp is not None else []
        packed = torch.cat([*parts, has_grad, *extra, n.reshape(1)])
        dist.all_reduce(packed, group=self.group)
        total = packed[-1].clamp(min=1.0)  # no rank with a transition: every gradient is zero anyway
        flags = packed[sum(x.numel() for x in parts):][:len(self.params)].tolist()  # one device sync
        offset = 0
        for p, part, seen in zip(self.params, parts, flags, strict=True):
            if seen > 0:  # a parameter no rank's loss reached keeps no gradient, as in one learner
                p.grad = (packed[offset:offset + part.numel()] / total).view_as(p).to(p.dtype)
            offset += part.numel()
        if mean_logp is not None:
            stats_update = StatsUpdate(stats_update.popart, packed[-2] / total)
        return stats_update
