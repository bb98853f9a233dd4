"""Multi-gamma n-step TD targets (method 7.3), with termination and truncation kept apart.

For transition ``t``, discount ``g`` and horizon ``n``, let ``m`` be the last index < n such that transitions
``t .. t+m`` are all inside the window and none before ``t+m`` terminated. Then

    y_t = sum_{i<=m} g^i r_{t+i}  +  g^(m+1) (1 - d_{t+m}) V[t+m]          V[u] = value of observation u+1

Only termination sets ``d``: a time-limit truncation or the end of the window bootstraps from ``V``.
"""

from __future__ import annotations

import torch


def nstep_targets(rewards: torch.Tensor, dones: torch.Tensor, mask: torch.Tensor, next_values: torch.Tensor,
                  gammas: torch.Tensor, n: int = 1) -> torch.Tensor:
    """rewards, dones, mask: (B, T); next_values (B, T, G); gammas (G,) -> targets (B, T, G).

    ``mask[b, t]`` is True where transition t is real; padding must be on the right (masks are prefixes).
    """
    B, T, G = next_values.shape
    r = rewards.to(next_values.dtype)
    d = dones.bool()
    valid = mask.bool()
    g = gammas.to(next_values.dtype).view(1, 1, G)
    total = torch.zeros_like(next_values)
    bootstrap = torch.zeros_like(next_values)
    discount = torch.ones_like(next_values)
    alive = torch.ones(B, T, dtype=torch.bool, device=rewards.device)
    for i in range(n):
        r_i, d_i, ok_i = _shift(r, i, 0.0), _shift(d, i, True), _shift(valid, i, False)
        v_i = _shift(next_values, i, 0.0)
        include = (alive & ok_i).unsqueeze(-1)  # (B, T, 1)
        total = total + torch.where(include, discount * r_i.unsqueeze(-1), 0.0)
        boot_i = discount * g * (~d_i).unsqueeze(-1).to(next_values.dtype) * v_i
        bootstrap = torch.where(include, boot_i, bootstrap)  # the last included step bootstraps
        alive = alive & ok_i & ~d_i
        discount = discount * g
    return total + bootstrap


def _shift(x: torch.Tensor, i: int, fill) -> torch.Tensor:
    """x[:, t + i] along axis 1, ``fill`` past the end."""
    if i == 0:
        return x
    pad = torch.full_like(x[:, :i], fill)
    return torch.cat([x[:, i:], pad], dim=1)
