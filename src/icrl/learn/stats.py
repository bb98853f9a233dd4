"""What the learner adapts besides the weights (PopArt statistics, the entropy temperature), and what flows
between the learner and a loss.

A loss only computes: it reads the statistics (``StatsView``) and returns, next to the loss and its metrics,
what the batch asks of them (``StatsUpdate``: the PopArt statistics that count its targets, the policy's mean
log probability). The learner applies that update after the optimiser step, so a loss can be called any number
of times (tests, probes, a retried batch) without moving anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from icrl.config import LearnConfig
from icrl.learn.entropy import EntropyTemperature, make_temperature
from icrl.learn.popart import PopArt, PopArtStats
from icrl.spaces import ActionSpec


@dataclass(frozen=True)
class StatsView:
    """What a loss reads: the PopArt statistics, and the entropy weight alpha (None without a temperature)."""

    popart: PopArtStats
    alpha: torch.Tensor | None = None


@dataclass(frozen=True)
class StatsUpdate:
    """What a loss asks the learner to apply after the step; None leaves that part as it is.

    Attributes:
        popart: the statistics that count this batch's TD targets (the ones the loss already normalised with).
        mean_log_prob: the policy's mean log probability of its own samples, the temperature's step.
    """

    popart: PopArtStats | None = None
    mean_log_prob: torch.Tensor | None = None


class LossOutput(NamedTuple):
    """A loss's result: the scalar to minimise, detached metrics, and the statistics update it asks for."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor]
    update: StatsUpdate


class LearnerStats(nn.Module):
    """The learner's PopArt statistics and (``learn.target_entropy`` set) entropy temperature, as one module so
    that one ``state_dict`` checkpoints them (keys ``popart.*``, ``temperature.*``)."""

    def __init__(self, popart: PopArt, temperature: EntropyTemperature | None = None) -> None:
        super().__init__()
        self.popart, self.temperature = popart, temperature

    def view(self) -> StatsView:
        alpha = self.temperature.alpha if self.temperature is not None else None
        return StatsView(self.popart.stats(), alpha)

    def apply(self, update: StatsUpdate) -> None:
        if update.popart is not None:
            self.popart.assign(update.popart)
        if update.mean_log_prob is not None and self.temperature is not None:
            self.temperature.adapt(update.mean_log_prob)


def make_learner_stats(cfg: LearnConfig, num_gammas: int, action_spec: ActionSpec) -> LearnerStats:
    """Fresh statistics for ``num_gammas`` discounts; ConfigError for an entropy target the actions cannot have."""
    popart = PopArt(num_gammas, beta=cfg.popart_beta, enabled=cfg.popart)
    return LearnerStats(popart, make_temperature(cfg, action_spec))
