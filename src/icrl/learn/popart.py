"""PopArt (van Hasselt et al. 2016): per-gamma value normalisation that preserves outputs when statistics move.

The critic's raw output ``x`` is read as a normalised value ``w x + b``; in reward units it is
``sigma (w x + b) + mu``. When the running moments of the TD targets change, ``w`` and ``b`` are rescaled so that
every denormalised output stays exactly the same ("preserving outputs precisely"). ``w`` and ``b`` are buffers,
not learned. The gamma axis G is always the last axis of the tensors given here. ``enabled=False``
(``learn.popart=false``) makes every map the identity: sigma 1, mu 0, statistics never move.
"""

from __future__ import annotations

import torch
from torch import nn


class PopArt(nn.Module):
    def __init__(self, num_gammas: int, beta: float = 5e-4, init_nu: float = 100.0, enabled: bool = True) -> None:
        super().__init__()
        self.beta, self.enabled = beta, enabled
        self.register_buffer("mu", torch.zeros(num_gammas))
        self.register_buffer("nu", torch.full((num_gammas,), init_nu if enabled else 1.0))
        self.register_buffer("w", torch.ones(num_gammas))
        self.register_buffer("b", torch.zeros(num_gammas))
        self.register_buffer("t", torch.ones((), dtype=torch.long))

    @property
    def sigma(self) -> torch.Tensor:
        return torch.sqrt(torch.clamp(self.nu - self.mu**2, 1e-4, 1e8)).clamp(1e-4, 1e6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw critic output (..., G) -> normalised value ``w x + b``."""
        return self.w * x + self.b

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Raw critic output (..., G) -> value in reward units."""
        return self.sigma * (self.w * x + self.b) + self.mu

    def normalize(self, y: torch.Tensor) -> torch.Tensor:
        """Value in reward units (..., G) -> normalised space."""
        return (y - self.mu) / self.sigma

    @torch.no_grad()
    def update_stats(self, y: torch.Tensor) -> None:
        """y (N, G): the batch's valid targets in reward units. Moves mu, nu; rescales w, b to keep outputs."""
        if y.shape[0] == 0 or not self.enabled:
            return
        mean = y.mean(0)
        sq_mean = (y**2).mean(0)
        self.t += 1
        beta_t = self.beta / (1.0 - (1.0 - self.beta) ** float(self.t))
        mu_old, sigma_old = self.mu.clone(), self.sigma
        self.mu.lerp_(mean.float(), beta_t)
        self.nu.lerp_(sq_mean.float(), beta_t)
        sigma_new = self.sigma
        self.w.mul_(sigma_old / sigma_new)
        self.b.copy_((sigma_old * self.b + mu_old - self.mu) / sigma_new)
