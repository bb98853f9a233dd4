"""Optional entropy regularisation of a continuous actor with a learned temperature (``learn.target_entropy``).

Not part of the method, whose actor has no entropy term and explores only through added noise. This is soft
actor-critic's device: the actor loss gains ``alpha * log pi(a | s)`` for a reparameterised ``a ~ pi(s)``, and
alpha adapts so that the policy's entropy stays near a target (SAC's default: minus the number of action
dimensions). Why: on a sparse-reward task (the AIB double integrator) a plain SAC learns from the few rewards
its broad early behaviour finds, while the method's actor, pulled only by a critic that has seen no reward yet,
settles on a behaviour that finds none (``docs/findings/aib-double-integrator.md``).

Only the actor sees the term: the critic still learns the value of rewards alone, so the BC filter and every
value metric keep their meaning. The temperature is a buffer (checkpointed with the agent) adapted by plain
gradient steps on log alpha inside the loss, like PopArt's statistics: inside the optimiser its gradient,
(log pi + target), would join the global gradient-norm clip and shrink every other update.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_ALPHA_LOW, LOG_ALPHA_HIGH = -20.0, 5.0  # keeps alpha finite and positive whatever the entropy does


class EntropyTemperature(nn.Module):
    """alpha = exp(log_alpha); ``adapt`` raises it while the policy's entropy is below ``target``, else lowers it."""

    def __init__(self, target: float, lr: float, init_alpha: float = 1.0) -> None:
        super().__init__()
        self.target, self.lr = float(target), float(lr)
        self.register_buffer("log_alpha", torch.tensor(math.log(init_alpha)))

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp()

    @torch.no_grad()
    def adapt(self, mean_log_prob: torch.Tensor) -> None:
        """One gradient step on ``-log_alpha * (log pi + target)``, whose gradient is ``-(log pi + target)``."""
        step = self.lr * (mean_log_prob.float() + self.target)
        self.log_alpha.add_(step).clamp_(LOG_ALPHA_LOW, LOG_ALPHA_HIGH)


def add_entropy_loss(agent, pi, loss: torch.Tensor,
                     metrics: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``loss + alpha * mean log pi(a ~ pi)`` over the policy's (N, G) batch, and adapts alpha; unchanged for an
    agent without a temperature. ``pi`` is the actor's tanh-Gaussian at the valid transitions."""
    if agent.temperature is None:
        return loss, metrics
    alpha = agent.temperature.alpha  # a function of a buffer: no gradient
    _, logp = pi.rsample_with_log_prob()  # (N, G), differentiable through the policy's parameters
    if logp.numel() == 0:  # a batch without valid transitions: nothing to weigh, nothing to adapt
        return loss, {**metrics, "actor/alpha": alpha, "actor/entropy_sampled": torch.zeros(())}
    mean_logp = logp.float().mean()
    agent.temperature.adapt(mean_logp.detach())
    entropy_main = -logp[..., -1].detach().float().mean()
    return loss + alpha * mean_logp, {**metrics, "actor/alpha": alpha, "actor/entropy_sampled": entropy_main}
