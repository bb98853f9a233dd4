"""The AMAGO loss (method 7.2), top to bottom like the paper's algorithm box.

One pass of the encoders over the whole window gives the states ``s`` (B, L, D); every head reads them.

    targets   y  = n-step(r, d, reduce_C( PopArt^-1( Q_target(s', a' ~ pi_target(s')) ) ))   no gradient
    critic       = || PopArt(Q(s, a_buf)) - PopArt_normalise(y) ||^2                          per member, gamma
    actor        = online_coeff * -PopArt(min_C Q(sg(s), a ~ pi(s)))                          DPG, frozen critic
                 + offline_coeff * -filter(Q(s, a_buf) - E_pi Q(s, .)) * log pi(a_buf | s)   filtered BC
    loss         = mean(actor) + critic_loss_weight * mean(critic)        means over valid transitions

Axes: B sequences, T = L - 1 transitions, N valid transitions (flattened), C critics, G discounts (main gamma
last), A encoded action width.
The critic used by the actor never accumulates gradients: for a single categorical, E_pi Q is an exact sum over
actions with the critic's output detached; otherwise the critic is called with detached parameters through
``torch.func.functional_call`` (the reference code's ever-growing copy gradients, method 14.1, cannot happen).
"""

from __future__ import annotations

import torch
from torch.func import functional_call

from icrl.config import LearnConfig
from icrl.learn.filters import binary_filter, exp_filter
from icrl.learn.targets import nstep_targets
from icrl.records import Batch


def reduce_ensemble(values: torch.Tensor, subset: int, use_min: bool) -> torch.Tensor:
    """values (..., C, G) -> (..., G): per entry and gamma, ``subset`` members drawn with replacement; min or mean.

    The min (clipped double-Q / REDQ) counters overestimation when the actor maximises Q (DPG on); without DPG
    the mean is used, since the min alone underestimates strongly.
    """
    *lead, C, G = values.shape
    idx = torch.randint(C, (*lead, subset, G), device=values.device)
    picked = values.gather(-2, idx)
    return picked.min(-2).values if use_min else picked.mean(-2)


def _frozen_critic(agent, s: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Critic with detached parameters: gradients reach ``actions`` only."""
    params = {k: v.detach() for k, v in agent.critic.named_parameters()}
    return functional_call(agent.critic, params, (s, actions))


def _critic_values(agent, s_now: torch.Tensor, pi, a_buf: torch.Tensor, cfg: LearnConfig):
    """Q(s, a_buf) with gradients (N, C, G), and E_pi Q(sg(s), .) through the policy only (N, C, G)."""
    if agent.discrete_critic:
        q_all = agent.critic(s_now)  # (N, C, G, A)
        q_buf = (q_all * a_buf.unsqueeze(-3)).sum(-1)
        q_pi = (pi.probs.unsqueeze(-3) * q_all.detach()).sum(-1)
        return q_buf, q_pi
    q_buf = agent.critic(s_now, a_buf)
    s_frozen = s_now.detach()
    q_pi = sum(_frozen_critic(agent, s_frozen, pi.rsample()) for _ in range(cfg.actor_samples)) / cfg.actor_samples
    return q_buf, q_pi


@torch.no_grad()
def td_targets(agent, s_next: torch.Tensor, batch: Batch, cfg: LearnConfig) -> torch.Tensor:
    """y (N, G) for the N valid transitions, in reward-multiplied units; no gradient.

    ``s_next`` (N, D) holds the states after the valid transitions (``batch.transition_mask`` order); the heads
    run on those rows only, and the values are scattered back to (B, T, G) for the n-step sums.
    """
    mask = batch.transition_mask
    actor = agent.target_actor if cfg.use_target_actor else agent.actor
    pi_next = agent.family.distribution(actor(s_next))
    if agent.discrete_critic:
        v_raw = (pi_next.probs.unsqueeze(-3) * agent.target_critic(s_next)).sum(-1)
    else:
        v_raw = sum(agent.target_critic(s_next, pi_next.sample()) for _ in range(cfg.critic_samples))
        v_raw = v_raw / cfg.critic_samples
    v_flat = reduce_ensemble(agent.popart.denormalize(v_raw.float()), cfg.num_critics_td, cfg.online_coeff > 0)
    v_next = v_flat.new_zeros(*mask.shape, v_flat.shape[-1])
    v_next[mask] = v_flat
    rewards = cfg.reward_multiplier * batch.rewards.float()
    y = nstep_targets(rewards, batch.dones, mask, v_next, agent.gamma_values, cfg.n_step)
    return y[mask]


def _bc_weights(q_buf: torch.Tensor, q_pi: torch.Tensor, cfg: LearnConfig) -> torch.Tensor:
    """Filter of the BC term (N, G) from the advantage on the raw critic scale."""
    with torch.no_grad():
        adv = q_buf.mean(-2) - q_pi.mean(-2)
        if cfg.filter == "binary":
            return binary_filter(adv)
        return exp_filter(adv, cfg.exp_beta, cfg.exp_clip)


def amago_loss(agent, batch: Batch, cfg: LearnConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The whole update's loss for one batch of windows, and detached metrics.

    The sequence model runs over the padded (B, L) windows; the heads only over the N valid transitions
    (flattened), so padding costs no head computation and every mean below is over valid entries.
    """
    mask = batch.transition_mask  # (B, T)
    s = agent.state_sequence(batch)  # (B, L, D)
    s_now = s[:, :-1][mask]  # (N, D)
    G = len(agent.gammas)
    actions = batch.actions[mask].float()  # (N, A)
    a_buf = actions.unsqueeze(-2).expand(actions.shape[0], G, actions.shape[-1])
    pi = agent.actor.distribution(s_now)  # batch shape (N, G)
    logp = pi.log_prob(a_buf)  # (N, G)
    metrics: dict[str, torch.Tensor] = {}

    if cfg.fake_filter and cfg.online_coeff == 0:  # pure behaviour cloning: no critic at all
        actor_loss = _mean(-cfg.offline_coeff * logp)
        metrics.update({"actor/loss": actor_loss.detach(), "actor/logp": _mean(logp.detach())})
        return actor_loss, metrics

    y = td_targets(agent, s[:, 1:][mask].detach(), batch, cfg)  # (N, G)
    agent.popart.update_stats(y)
    y_norm = agent.popart.normalize(y)
    q_buf, q_pi = _critic_values(agent, s_now, pi, a_buf, cfg)  # (N, C, G)
    critic_loss = _mean((agent.popart(q_buf.float()) - y_norm.unsqueeze(-2)) ** 2)

    actor_terms = torch.zeros_like(logp)
    if cfg.online_coeff > 0:
        actor_terms = actor_terms - cfg.online_coeff * agent.popart(q_pi.float().min(-2).values)
    weights = torch.ones_like(logp) if cfg.fake_filter else _bc_weights(q_buf.float(), q_pi.float(), cfg)
    if cfg.offline_coeff > 0:
        actor_terms = actor_terms - cfg.offline_coeff * weights * logp
    actor_loss = _mean(actor_terms)
    loss = actor_loss + cfg.critic_loss_weight * critic_loss

    with torch.no_grad():
        main = -1  # the main gamma is last
        q_main = agent.popart.denormalize(q_buf.float())[..., main].mean(-1)
        metrics.update({
            "critic/loss": critic_loss.detach(), "actor/loss": actor_loss.detach(),
            "actor/logp": _mean(logp[..., main]), "actor/bc_weight": _mean(weights[..., main]),
            "actor/entropy": _mean(pi.entropy()[..., main]),
            "q/mean": _mean(q_main), "q/target_mean": _mean(y[..., main]),
            "q/ensemble_std": _mean(q_buf.float().std(-2, correction=0)[..., main]),
            "popart/sigma": agent.popart.sigma[main], "popart/mu": agent.popart.mu[main]})
    return loss, metrics


def _mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over all entries; 0 for an empty tensor (a batch without transitions contributes nothing)."""
    return x.sum() / max(x.numel(), 1)
