"""One interface to every critic head, so that the losses never ask which kind they hold.

A critic's *outputs* are a scalar per member and gamma (the AMAGO critic, in PopArt-normalised units) or logits
over value bins (the AMAGO-2 critic); its *values* (N, C, G) are those scalars, or ``symexp`` of the expected bin
(reward-multiplied units, ``icrl.learn.targets.bin_values``). The losses ask two things:

* the outputs at the buffer actions, with gradients (the critic's regression or classification), together with
  the expected value under the policy with the critic frozen (the filter's baseline and the DPG term);
* the expected value under a policy (the target critic, for TD targets).

The heads differ in how an expectation under the policy is taken:

* per action (a single categorical action: ``DiscreteCritic``, ``DiscreteBinnedCritic``): one pass gives every
  action's outputs; the buffer action's are selected and the expectation is an exact sum over actions;
* action input (Box or several categoricals: ``ContinuousCritic``, ``BinnedCritic``): the action is an input and
  the expectation is a mean over policy samples. Frozen means called with detached parameters through
  ``torch.func.functional_call``, so gradients reach the sampled actions only and the critic never accumulates
  the actor's (the reference code's ever-growing copy gradients, method 14.1, cannot happen).

Axes: N states, C critics, G discounts, A encoded action width, K value bins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

import torch
from torch import nn
from torch.func import functional_call

from icrl.learn.targets import bin_values
from icrl.nets.heads import DiscreteBinnedCritic, DiscreteCritic

PER_ACTION_HEADS = (DiscreteCritic, DiscreteBinnedCritic)  # heads that output every action's Q from the state


class CriticRead(NamedTuple):
    """``buffer``: outputs at the buffer actions (N, C, G) or (N, C, G, K), fp32, with gradients to the critic and
    the states. ``policy``: E_pi value(Q(sg(s), .)) (N, C, G) under the frozen critic."""

    buffer: torch.Tensor
    policy: torch.Tensor


class Critic(Protocol):
    """What the losses ask of a critic head (see the module docstring)."""

    binned: bool  # outputs are logits over value bins

    def values(self, outputs: torch.Tensor) -> torch.Tensor:
        """Outputs at some actions (N, C, G) or (N, C, G, K) -> values (N, C, G)."""
        ...

    def expected_value(self, s: torch.Tensor, pi, samples: int) -> torch.Tensor:
        """E_{a ~ pi} value(Q(s, a)) (N, C, G) for states s (N, D) and a policy of batch shape (N, G);
        ``samples`` plain policy samples where the expectation is not exact. Call it under ``torch.no_grad``."""
        ...

    def read(self, s: torch.Tensor, a_buf: torch.Tensor, pi, samples: int, through_policy: bool) -> CriticRead:
        """Q(s, a_buf) for buffer actions a_buf (N, G, A), and E_pi value(Q(sg(s), .)) whose gradient reaches the
        policy (reparameterised samples, or its probabilities) only when ``through_policy``."""
        ...


def as_critic(module: nn.Module) -> Critic:
    """The interface of a critic head; the one place that knows the head classes.

    A critic with value bins (a ``bins`` tensor of K centres) is binned; one of ``PER_ACTION_HEADS`` reads every
    action from one pass; any other module is called with the action as input, ``module(s, actions)``.
    """
    binned = isinstance(getattr(module, "bins", None), torch.Tensor)
    if isinstance(module, PER_ACTION_HEADS):
        return PerActionCritic(module, binned)
    return ActionInputCritic(module, binned)


class _Values:
    def __init__(self, module: nn.Module, binned: bool) -> None:
        self.module, self.binned = module, binned

    def values(self, outputs: torch.Tensor) -> torch.Tensor:
        return bin_values(outputs, self.module.bins) if self.binned else outputs


class PerActionCritic(_Values):
    """A head that maps s (N, D) to outputs of every action (N, C, G, A) or (N, C, G, A, K)."""

    def expected_value(self, s: torch.Tensor, pi, samples: int) -> torch.Tensor:
        return _expectation(pi.probs, self.values(self.module(s)))

    def read(self, s: torch.Tensor, a_buf: torch.Tensor, pi, samples: int, through_policy: bool) -> CriticRead:
        every = self.module(s).float()
        probs = pi.probs if through_policy else pi.probs.detach()
        return CriticRead(_select(every, a_buf), _expectation(probs, self.values(every.detach())))


class ActionInputCritic(_Values):
    """A head that maps s (N, D) and actions (N, G, A) to outputs (N, C, G) or (N, C, G, K)."""

    def expected_value(self, s: torch.Tensor, pi, samples: int) -> torch.Tensor:
        return sample_mean(lambda: self.values(self.module(s, pi.sample())), samples)

    def read(self, s: torch.Tensor, a_buf: torch.Tensor, pi, samples: int, through_policy: bool) -> CriticRead:
        buffer = self.module(s, a_buf).float()
        frozen = {k: v.detach() for k, v in self.module.named_parameters()}
        s_frozen = s.detach()
        draw = pi.rsample if through_policy else pi.sample
        policy = sample_mean(lambda: self.values(functional_call(self.module, frozen, (s_frozen, draw()))), samples)
        return CriticRead(buffer, policy)


def _expectation(probs: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """sum_a pi(a) values(a): probs (N, G, A), values (N, C, G, A) -> (N, C, G)."""
    return (probs.unsqueeze(-3) * values).sum(-1)


def _select(every: torch.Tensor, a_buf: torch.Tensor) -> torch.Tensor:
    """Every action's outputs (N, C, G, A, ...) -> the one-hot buffer action's (N, C, G, ...), as a gather (no
    (N, C, G, A, ...) product is materialised)."""
    n, c, g, _, *rest = every.shape
    index = a_buf.argmax(-1).view(n, 1, g, 1, *(1 for _ in rest)).expand(n, c, g, 1, *rest)
    return every.gather(3, index).squeeze(3)


def sample_mean(draw: Callable[[], torch.Tensor], samples: int) -> torch.Tensor:
    """Mean of ``samples`` calls of ``draw()`` (Monte-Carlo estimate over policy samples)."""
    return sum(draw() for _ in range(samples)) / samples
