"""Small building blocks: symlog, sigma-reparameterised linear, running input normalisation, MLPs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(torch.abs(x))


def make_activation(name: str = "leaky_relu") -> nn.Module:
    """Leaky ReLU by default: no dead units, which helps plasticity over long training (method 6.4)."""
    table = {"leaky_relu": nn.LeakyReLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
    return table[name]()


def mlp(in_dim: int, hidden: int, n_layers: int, out_dim: int, activation: str = "leaky_relu",
        norm: bool = False) -> nn.Sequential:
    """``n_layers`` hidden layers of width ``hidden`` (optional LayerNorm), then a linear output."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(n_layers):
        layers += [nn.Linear(d, hidden)] + ([nn.LayerNorm(hidden)] if norm else []) + [make_activation(activation)]
        d = hidden
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class SigmaReparamLinear(nn.Module):
    """Linear layer with ``W_hat = gamma * W / sigma(W)`` (Zhai et al. 2023), against attention entropy collapse.

    ``sigma`` is the top singular value, tracked by one power-iteration step per update (``power_iteration``, which
    the learner runs through ``Agent.observe`` before the loss); ``u``, ``v`` are buffers treated as constants for
    the gradient. The forward pass only reads them.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(nn.init.trunc_normal_(torch.empty(out_features, in_features), std=0.02))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.gamma = nn.Parameter(torch.ones(()))
        u, _, vh = torch.linalg.svd(self.weight.detach(), full_matrices=False)
        self.register_buffer("u", u[:, 0].clone())
        self.register_buffer("v", vh[0].clone())

    @torch.no_grad()
    def power_iteration(self) -> None:
        """One step of the power iteration on the current weights: u, v move toward the top singular vectors."""
        with torch.autocast(self.weight.device.type, enabled=False):
            v = F.normalize(torch.mv(self.weight.t(), self.u), dim=0)
            self.u.copy_(F.normalize(torch.mv(self.weight, v), dim=0))
            self.v.copy_(v)

    def sigma(self) -> torch.Tensor:
        """u^T W v, in fp32 even under autocast (a few matrix-vector products: bf16 would only add casts)."""
        with torch.autocast(self.weight.device.type, enabled=False):
            return torch.dot(self.u, torch.mv(self.weight, self.v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * (self.gamma / self.sigma()), self.bias)


class InputNorm(nn.Module):
    """Running per-feature mean/std normalisation; ``update`` moves the statistics (unmasked rows only), ``forward``
    only reads them: the learner counts a batch before its loss (``Agent.observe``), so no loss changes state.

    Bias-corrected EMA (method 6.6): ``beta_t = beta / (1 - (1 - beta)^t)``, so early updates move fast.
    A data-parallel learner (``icrl.learn.parallel``) sets ``reduce_moments`` (rows (M, D) -> the mean and mean
    square over every rank's rows, None when no rank has one), so the statistics stay identical on every rank.
    """

    def __init__(self, dim: int, beta: float = 1e-4) -> None:
        super().__init__()
        self.beta = beta
        self.register_buffer("mu", torch.zeros(dim))
        self.register_buffer("nu", torch.ones(dim))
        self.register_buffer("t", torch.zeros((), dtype=torch.long))
        self.reduce_moments = None

    @property
    def sigma(self) -> torch.Tensor:
        return torch.sqrt(torch.clamp(self.nu - self.mu**2, min=1e-5)).clamp(1e-3, 1e6)

    @torch.no_grad()
    def update(self, x: torch.Tensor, mask: torch.Tensor | None) -> None:
        rows = x.reshape(-1, x.shape[-1]).float()
        if mask is not None:
            rows = rows[mask.reshape(-1)]
        if self.reduce_moments is not None:
            moments = self.reduce_moments(rows)  # a collective: every rank calls it, even with no row
            if moments is None:
                return
            mean, sq_mean = moments
        elif rows.shape[0] == 0:
            return
        else:
            mean, sq_mean = rows.mean(0), (rows**2).mean(0)
        self.t += 1
        # float64 keeps the bias correction exact for small t; a tensor op, so no device sync
        beta_t = (self.beta / (1.0 - (1.0 - self.beta) ** self.t.double())).to(self.mu.dtype)
        self.mu.lerp_(mean, beta_t)
        self.nu.lerp_(sq_mean, beta_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., D) normalised by the current statistics."""
        return self.normalize(x)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """x normalised by the current statistics (no update)."""
        return ((x - self.mu) / self.sigma).clamp(-1e4, 1e4)
