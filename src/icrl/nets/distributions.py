"""Policy distributions over *encoded* actions (see ``icrl.spaces``): what the actor's numbers mean.

A family turns ``P`` raw numbers per (position, gamma) into a distribution whose samples are encoded action
vectors of width ``A``: one-hots for categorical actions, values in [-1, 1] for continuous ones. Every
distribution has the same methods, so the loss never branches on the action type except where the method does
(exact expectations for a single categorical).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from icrl.spaces import ActionSpec

PROB_LOW, PROB_HIGH = 1e-3, 0.99  # categorical probabilities are clamped into this range (method 6.5)
LOG_STD_LOW, LOG_STD_HIGH = -5.0, 2.0  # tanh-Gaussian std range, e^-5 .. e^2
ATANH_CLIP = 0.99  # actions are clamped to (-0.99, 0.99) before the inverse tanh of log_prob
GUMBEL_TEMPERATURE = 0.5  # straight-through Gumbel-softmax reparameterisation of multi-categorical actions


def clamped_probs(logits: torch.Tensor) -> torch.Tensor:
    """Softmax clamped to [1e-3, 0.99], renormalised by a detached sum (keeps every action explorable)."""
    probs = torch.softmax(logits.float(), dim=-1).clamp(PROB_LOW, PROB_HIGH)
    return probs / probs.sum(-1, keepdim=True).detach()


class Categorical:
    """One categorical over ``n`` actions; batch shape ``logits.shape[:-1]``, samples are one-hots (..., n)."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.probs = clamped_probs(logits)

    def log_prob(self, onehot: torch.Tensor) -> torch.Tensor:
        """Log probability of the action marked by the (argmax of the) one-hot ``onehot`` (..., n)."""
        idx = onehot.argmax(-1, keepdim=True)
        return torch.log(self.probs.gather(-1, idx).squeeze(-1))

    def sample(self) -> torch.Tensor:
        flat = self.probs.detach().reshape(-1, self.probs.shape[-1])
        idx = torch.multinomial(flat, 1).view(self.probs.shape[:-1])
        return F.one_hot(idx, self.probs.shape[-1]).to(self.probs.dtype)

    def rsample(self) -> torch.Tensor:
        """Straight-through Gumbel-softmax sample: one-hot forward, soft gradient backward."""
        gumbel = -torch.log(-torch.log(torch.rand_like(self.probs).clamp_min(1e-20)))
        soft = torch.softmax((torch.log(self.probs) + gumbel) / GUMBEL_TEMPERATURE, dim=-1)
        hard = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
        return hard + soft - soft.detach()

    def mode(self) -> torch.Tensor:
        return F.one_hot(self.probs.argmax(-1), self.probs.shape[-1]).to(self.probs.dtype)

    def entropy(self) -> torch.Tensor:
        return -(self.probs * torch.log(self.probs)).sum(-1)


class MultiCategorical:
    """Independent categoricals, one per component; samples are concatenated one-hots (..., sum(nvec))."""

    def __init__(self, logits: torch.Tensor, nvec: tuple[int, ...]) -> None:
        self.nvec = nvec
        self.parts = [Categorical(chunk) for chunk in torch.split(logits, list(nvec), dim=-1)]
        self.probs = torch.cat([p.probs for p in self.parts], dim=-1)

    def _split(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(x, list(self.nvec), dim=-1))

    def log_prob(self, onehots: torch.Tensor) -> torch.Tensor:
        return sum(p.log_prob(x) for p, x in zip(self.parts, self._split(onehots)))

    def sample(self) -> torch.Tensor:
        return torch.cat([p.sample() for p in self.parts], dim=-1)

    def rsample(self) -> torch.Tensor:
        return torch.cat([p.rsample() for p in self.parts], dim=-1)

    def mode(self) -> torch.Tensor:
        return torch.cat([p.mode() for p in self.parts], dim=-1)

    def entropy(self) -> torch.Tensor:
        return sum(p.entropy() for p in self.parts)


class TanhGaussian:
    """Diagonal Gaussian squashed by tanh into (-1, 1); ``params`` (..., 2A) = (mean, raw std)."""

    def __init__(self, params: torch.Tensor) -> None:
        mean, raw_std = params.float().chunk(2, dim=-1)
        log_std = LOG_STD_LOW + 0.5 * (LOG_STD_HIGH - LOG_STD_LOW) * (torch.tanh(raw_std) + 1.0)
        self.mean, self.log_std, self.std = mean, log_std, torch.exp(log_std)

    def _normal_log_prob(self, u: torch.Tensor) -> torch.Tensor:
        z = (u - self.mean) / self.std
        return -0.5 * z**2 - self.log_std - 0.5 * math.log(2 * math.pi)

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        """Sum over action dimensions; actions clamped to (-0.99, 0.99) so the inverse tanh stays finite."""
        a = action.float().clamp(-ATANH_CLIP, ATANH_CLIP)
        u = torch.atanh(a)
        return (self._normal_log_prob(u) - torch.log1p(-(a**2))).sum(-1)

    def rsample(self) -> torch.Tensor:
        return torch.tanh(self.mean + self.std * torch.randn_like(self.mean))

    def sample(self) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample()

    def rsample_with_log_prob(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample and its exact log probability (summed over dimensions).

        Computed from the sample before squashing, so it needs no clamp: ``log(1 - tanh(u)^2)`` is written as
        ``2 (log 2 - u - softplus(-2u))``, finite however far ``u`` lies in the tails (a saturated policy keeps
        its full penalty, which ``log_prob`` of a clamped action would cap).
        """
        u = self.mean + self.std * torch.randn_like(self.mean)
        log_det = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
        return torch.tanh(u), (self._normal_log_prob(u) - log_det).sum(-1)

    def mode(self) -> torch.Tensor:
        return torch.tanh(self.mean)

    def entropy(self) -> torch.Tensor:
        """Entropy of the Gaussian before squashing (an upper bound; used only for logging)."""
        return (self.log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)


@dataclass(frozen=True)
class PolicyFamily:
    """Maps an action spec to ``param_dim`` raw numbers and to the distribution they define."""

    spec: ActionSpec

    @property
    def param_dim(self) -> int:
        return 2 * self.spec.box_dim if self.spec.kind == "box" else self.spec.dim

    @property
    def exact_expectation(self) -> bool:
        """A single categorical: E_pi[Q] is an exact sum over actions (discrete critic, method 7.2)."""
        return self.spec.kind == "discrete"

    def distribution(self, params: torch.Tensor) -> Categorical | MultiCategorical | TanhGaussian:
        """params (..., P) -> distribution with batch shape ``params.shape[:-1]``."""
        if self.spec.kind == "box":
            return TanhGaussian(params)
        if self.spec.kind == "discrete":
            return Categorical(params)
        return MultiCategorical(params, self.spec.nvec)


def make_policy_family(action_spec: ActionSpec) -> PolicyFamily:
    return PolicyFamily(action_spec)
