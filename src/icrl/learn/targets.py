"""Multi-gamma n-step TD targets (method 7.3), and the labels of critics that classify values into bins (7.6).

**n-step targets.** Termination and truncation are kept apart.

For transition ``t``, discount ``g`` and horizon ``n``, let ``m`` be the last index < n such that transitions
``t .. t+m`` are all inside the window and none before ``t+m`` terminated. Then

    y_t = sum_{i<=m} g^i r_{t+i}  +  g^(m+1) (1 - d_{t+m}) V[t+m]          V[u] = value of observation u+1

Only termination sets ``d``: a time-limit truncation or the end of the window bootstraps from ``V``.

**Value bins** (AMAGO-2, DreamerV3, HL-Gauss). A binned critic predicts a categorical distribution over ``K`` fixed
bin centres ``c`` (K,) that are evenly spaced in symlog space (``icrl.nets.heads.symlog_bins``); its value is
``symexp(sum_k p_k c_k)``. A scalar target ``y`` becomes a label distribution over the same bins:

* two-hot: all mass on the two centres bracketing ``symlog(y)``, split by proximity, so the expectation in
  symlog space is exactly ``symlog(y)`` (one bin gets everything when ``symlog(y)`` sits on a centre);
* HL-Gauss (Farebrother et al. 2024): a Normal(symlog(y), (sigma * bin width)^2) integrated over each bin's
  edges and renormalised; near the ends of the range the truncated mass pulls the expectation inwards (by
  about 0.37 bin widths at the last centre with sigma = 0.75, under 1e-3 widths three bins further in).

Targets outside ``[c_0, c_{K-1}]`` are clipped to the nearest end: pick the range (``learn.critic_min_value``,
``learn.critic_max_value``, in reward-multiplied units) to cover every discounted return.
"""

from __future__ import annotations

import math

import torch

from icrl.nets.layers import symexp, symlog


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


def twohot_labels(y: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """y (...) scalar targets; bins (K,) increasing symlog-space centres -> labels (..., K) summing to 1."""
    x = symlog(y.float()).clamp(bins[0], bins[-1])
    idx = (torch.searchsorted(bins, x.contiguous(), right=True) - 1).clamp(0, bins.numel() - 2)
    low, high = bins[idx], bins[idx + 1]
    upper = ((x - low) / (high - low)).unsqueeze(-1)  # weight of the upper neighbour, in [0, 1]
    labels = torch.zeros(*x.shape, bins.numel(), dtype=x.dtype, device=x.device)
    labels.scatter_(-1, idx.unsqueeze(-1), 1.0 - upper)
    return labels.scatter_add_(-1, idx.unsqueeze(-1) + 1, upper)


def hlgauss_labels(y: torch.Tensor, bins: torch.Tensor, sigma: float = 0.75) -> torch.Tensor:
    """y (...) -> labels (..., K): Normal(symlog(y), sigma bin widths) integrated over each bin, renormalised."""
    x = symlog(y.float()).clamp(bins[0], bins[-1]).unsqueeze(-1)
    width = (bins[-1] - bins[0]) / (bins.numel() - 1)
    edges = torch.cat([bins[:1] - width / 2, (bins[1:] + bins[:-1]) / 2, bins[-1:] + width / 2])  # (K + 1,)
    cdf = 0.5 * (1.0 + torch.erf((edges - x) / (sigma * width * math.sqrt(2.0))))  # (..., K + 1)
    mass = cdf[..., 1:] - cdf[..., :-1]
    return mass / mass.sum(-1, keepdim=True).clamp_min(1e-12)


def expected_value(probs: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """probs (..., K) over the bins -> value (...) = symexp(E[c]) (the expectation is taken in symlog space)."""
    return symexp((probs * bins.to(probs.dtype)).sum(-1))


def bin_values(logits: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """A binned critic's logits (..., K) -> scalar values (...): the expected value under their softmax."""
    return expected_value(torch.softmax(logits.float(), dim=-1), bins)
