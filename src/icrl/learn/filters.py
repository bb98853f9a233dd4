"""Advantage filters of the behaviour-cloning term (method 7.4): which buffer actions to imitate, how much."""

from __future__ import annotations

import torch


def binary_filter(adv: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """1[adv > threshold]: imitate actions the critic thinks beat the policy; invariant to the return scale."""
    return (adv > threshold).to(adv.dtype)


def exp_filter(adv: torch.Tensor, beta: float = 1.0, clip_high: float | None = 100.0,
               clip_low: float = 1e-7) -> torch.Tensor:
    """clip(exp(beta * adv)) (AWR/AWAC style): weight grows with the advantage; depends on the return scale."""
    return torch.exp(beta * adv).clamp(min=clip_low, max=clip_high)
