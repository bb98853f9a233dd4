"""Optional entropy regularisation of a continuous actor with a learned temperature (``learn.target_entropy``).

Not part of the method, whose actor has no entropy term and explores only through added noise. This is soft
actor-critic's device: the actor loss gains ``alpha * log pi(a | s)`` for a reparameterised ``a ~ pi(s)``, and
alpha adapts so that the policy's entropy stays near a target (SAC's default: minus the number of action
dimensions). Why: on a sparse-reward task (the AIB double integrator) a plain SAC learns from the few rewards
its broad early behaviour finds, while the method's actor, pulled only by a critic that has seen no reward yet,
settles on a behaviour that finds none (``docs/findings/aib-double-integrator.md``).

Only the actor sees the term: the critic still learns the value of rewards alone, so the BC filter and every
value metric keep their meaning. The temperature is a buffer of the learner (checkpointed with it), adapted by
plain gradient steps on log alpha that the learner takes after the optimiser step, from the mean log
probability the loss reports: inside the optimiser its gradient, (log pi + target), would join the global
gradient-norm clip and shrink every other update.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from icrl.config import LearnConfig
from icrl.errors import ConfigError
from icrl.spaces import ActionSpec

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


def make_temperature(cfg: LearnConfig, action_spec: ActionSpec) -> EntropyTemperature | None:
    """The entropy weight ``learn.target_entropy`` asks for ("auto": -action dims), or None when it is null."""
    if cfg.target_entropy is None:
        return None
    if action_spec.kind != "box":
        raise ConfigError(f"learn.target_entropy={cfg.target_entropy!r} regularises continuous (Box) actions; "
                          f"this env's actions are {action_spec.kind}. Remove it (categorical policies keep "
                          "their probabilities above 0.001 and explore with explore.eps_*).")
    target = -float(action_spec.box_dim) if cfg.target_entropy == "auto" else float(cfg.target_entropy)
    return EntropyTemperature(target, cfg.alpha_lr, cfg.init_alpha)


def add_entropy_loss(alpha: torch.Tensor | None, pi, loss: torch.Tensor, metrics: dict[str, torch.Tensor]
                     ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
    """``loss + alpha * mean log pi(a ~ pi)`` over the policy's (N, G) batch, its metrics, and the detached mean
    log probability that adapts the temperature (None when there is nothing to adapt from). Unchanged for
    ``alpha`` None (no temperature). ``pi`` is the actor's tanh-Gaussian at the valid transitions."""
    if alpha is None:
        return loss, metrics, None
    _, logp = pi.rsample_with_log_prob()  # (N, G), differentiable through the policy's parameters
    if logp.numel() == 0:  # a batch without valid transitions: nothing to weigh, nothing to adapt
        return loss, {**metrics, "actor/alpha": alpha, "actor/entropy_sampled": torch.zeros(())}, None
    mean_logp = logp.float().mean()
    entropy_main = -logp[..., -1].detach().float().mean()
    metrics = {**metrics, "actor/alpha": alpha, "actor/entropy_sampled": entropy_main}
    return loss + alpha * mean_logp, metrics, mean_logp.detach()
