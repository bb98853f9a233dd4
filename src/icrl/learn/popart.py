"""PopArt (van Hasselt et al. 2016): per-gamma value normalisation that preserves outputs when statistics move.

The critic's raw output ``x`` is read as a normalised value ``w x + b``; in reward units it is
``sigma (w x + b) + mu``. When the running moments of the TD targets change, ``w`` and ``b`` are rescaled so that
every denormalised output stays exactly the same ("preserving outputs precisely"). ``w`` and ``b`` are buffers,
not learned. The gamma axis G is always the last axis of the tensors given here. ``enabled=False``
(``learn.popart=false``) makes every map the identity: sigma 1, mu 0, statistics never move.

A data-parallel learner (``icrl.learn.parallel``) sets ``reduce_moments``: the targets' moments are then those of
every rank's targets together, so the statistics stay identical on every rank.

``PopArtStats`` is a read-only value: the losses compute with it and ask for the statistics that include a
batch's targets (``after``) without changing anything; the learner's ``PopArt`` module holds the statistics
(checkpointed) and takes the new ones after the optimiser step (``assign``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


def _sigma(mu: torch.Tensor, nu: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.clamp(nu - mu**2, 1e-4, 1e8)).clamp(1e-4, 1e6)


@dataclass(frozen=True)
class PopArtStats:
    """The statistics at one moment: first and second moments ``mu``, ``nu`` (G,), output map ``w``, ``b`` (G,),
    the count ``t`` of batches seen (a 0-d long tensor), and the tracking rate. ``reduce_moments``, when set, maps
    a batch's targets (N, G) to the mean and mean square over every rank's targets (None: no rank has one)."""

    mu: torch.Tensor
    nu: torch.Tensor
    w: torch.Tensor
    b: torch.Tensor
    t: torch.Tensor
    beta: float
    enabled: bool
    reduce_moments: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor] | None] | None = None

    @property
    def sigma(self) -> torch.Tensor:
        return _sigma(self.mu, self.nu)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Raw critic output (..., G) -> normalised value ``w x + b``."""
        return self.w * x + self.b

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Raw critic output (..., G) -> value in reward units."""
        return self.sigma * (self.w * x + self.b) + self.mu

    def normalize(self, y: torch.Tensor) -> torch.Tensor:
        """Value in reward units (..., G) -> normalised space."""
        return (y - self.mu) / self.sigma

    @torch.no_grad()
    def after(self, y: torch.Tensor) -> PopArtStats:
        """The statistics once the batch's valid targets y (N, G), in reward units, are counted; ``self`` is left
        as it was. Moves mu, nu; rescales w, b so that every denormalised output stays the same."""
        if not self.enabled:
            return self
        if self.reduce_moments is not None:
            moments = self.reduce_moments(y.float())  # a collective: every rank calls it, even with no target
            if moments is None:
                return self
            mean, sq_mean = moments
        elif y.shape[0] == 0:
            return self
        else:
            mean, sq_mean = y.mean(0).float(), (y**2).mean(0).float()
        t = self.t + 1
        beta_t = self.beta / (1.0 - (1.0 - self.beta) ** float(t))
        mu = self.mu.lerp(mean, beta_t)
        nu = self.nu.lerp(sq_mean, beta_t)
        sigma_old, sigma_new = self.sigma, _sigma(mu, nu)
        w = self.w * (sigma_old / sigma_new)
        b = (sigma_old * self.b + self.mu - mu) / sigma_new
        return PopArtStats(mu, nu, w, b, t, self.beta, self.enabled, self.reduce_moments)


class PopArt(nn.Module):
    """The learner's PopArt statistics, as buffers (checkpointed); read them with ``stats()``."""

    def __init__(self, num_gammas: int, beta: float = 5e-4, init_nu: float = 100.0, enabled: bool = True) -> None:
        super().__init__()
        self.beta, self.enabled = beta, enabled
        self.reduce_moments = None  # set by a data-parallel learner (class docstring of ``PopArtStats``)
        self.register_buffer("mu", torch.zeros(num_gammas))
        self.register_buffer("nu", torch.full((num_gammas,), init_nu if enabled else 1.0))
        self.register_buffer("w", torch.ones(num_gammas))
        self.register_buffer("b", torch.zeros(num_gammas))
        self.register_buffer("t", torch.ones((), dtype=torch.long))

    def stats(self) -> PopArtStats:
        """The current statistics. They share memory with the buffers: a later ``assign`` shows through."""
        return PopArtStats(self.mu, self.nu, self.w, self.b, self.t, self.beta, self.enabled, self.reduce_moments)

    @torch.no_grad()
    def assign(self, stats: PopArtStats) -> None:
        """Take ``stats`` (e.g. ``stats().after(y)``) as the current statistics."""
        for name in ("mu", "nu", "w", "b", "t"):
            getattr(self, name).copy_(getattr(stats, name))

    def update_stats(self, y: torch.Tensor) -> None:
        """Count the targets y (N, G): ``assign(stats().after(y))``."""
        self.assign(self.stats().after(y))

    @property
    def sigma(self) -> torch.Tensor:
        return self.stats().sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw critic output (..., G) -> normalised value ``w x + b``."""
        return self.stats().scale(x)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return self.stats().denormalize(x)

    def normalize(self, y: torch.Tensor) -> torch.Tensor:
        return self.stats().normalize(y)
