"""The AMAGO loss (method 7.2), top to bottom like the paper's algorithm box.

One pass of the encoders over the whole window gives the states ``s`` (B, L, D); every head reads them (with
``model.separate_actor_trunk``, the actor and target actor read a second pass, of the actor's own trunk).

    targets   y  = n-step(r, d, reduce_C( PopArt^-1( Q_target(s', a' ~ pi_target(s')) ) ))   no gradient
    critic       = || PopArt(Q(s, a_buf)) - PopArt_normalise(y) ||^2                          per member, gamma
    actor        = online_coeff * -PopArt(min_C Q(sg(s), a ~ pi(s)))                          DPG, frozen critic
                 + offline_coeff * -filter(Q(s, a_buf) - E_pi Q(s, .)) * log pi(a_buf | s)   filtered BC
    loss         = mean(actor) + critic_loss_weight * mean(critic)        means over valid transitions
                 (+ dynamics_coeff * next-step prediction, optional, not in the method: icrl.learn.auxiliary)
                 (+ alpha * log pi(a ~ pi(s)), optional, not in the method: icrl.learn.entropy)

PopArt's statistics count the batch's targets before the critic term normalises them; the loss only computes
those statistics and returns them (``icrl.learn.stats``), and the learner takes them after the optimiser step.

Axes: B sequences, T = L - 1 transitions, N valid transitions (flattened), C critics, G discounts (main gamma
last), A encoded action width.
The critic is read through one interface whatever its kind (``icrl.learn.critics``): for a single categorical
action E_pi Q is an exact sum over actions, otherwise a mean over policy samples; either way the critic used by
the actor never accumulates gradients.

The pieces every variant shares (the window pass, the n-step bootstrap, the filter, the actor loss, pure
behaviour cloning, the optional terms) are public here; ``icrl.learn.multitask`` builds the AMAGO-2 loss from
them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from icrl.config import LearnConfig
from icrl.learn.auxiliary import add_dynamics_loss
from icrl.learn.critics import as_critic
from icrl.learn.entropy import add_entropy_loss
from icrl.learn.filters import binary_filter, exp_filter
from icrl.learn.stats import LossOutput, StatsUpdate, StatsView
from icrl.learn.targets import nstep_targets
from icrl.records import Batch


def amago_loss(agent, batch: Batch, cfg: LearnConfig, stats: StatsView) -> LossOutput:
    """The whole update's loss for one batch of windows, detached metrics, and the statistics update it asks for.

    The sequence model runs over the padded (B, L) windows; the heads only over the N valid transitions
    (flattened), so padding costs no head computation and every mean below is over valid entries.
    """
    w = encode_window(agent, batch)
    if cfg.fake_filter and cfg.online_coeff == 0:
        return behaviour_cloning_loss(agent, batch, w, cfg)

    y = td_targets(agent, w, batch, cfg, stats.popart.denormalize)  # (N, G), reward-multiplied units
    popart = stats.popart.after(y)  # the statistics that count these targets
    # Q(s, a_buf) and E_pi Q(sg(s), .), (N, C, G) each: reparameterised, since DPG (when on) differentiates it
    q_buf, q_pi = as_critic(agent.critic).read(w.s_now, w.a_buf, w.pi, cfg.actor_samples, through_policy=True)
    q_pi = q_pi.float()
    critic_loss = valid_mean((popart.scale(q_buf) - popart.normalize(y).unsqueeze(-2)) ** 2)

    weights = torch.ones_like(w.logp) if cfg.fake_filter else bc_weights(q_buf, q_pi, cfg)
    actor = actor_loss(w.logp, weights, popart.scale(q_pi), cfg)
    loss = actor + cfg.critic_loss_weight * critic_loss

    with torch.no_grad():
        main = -1  # the main gamma is last
        metrics = {
            "critic/loss": critic_loss.detach(), "actor/loss": actor.detach(), **actor_metrics(w, weights),
            "q/mean": valid_mean(popart.denormalize(q_buf)[..., main].mean(-1)),
            "q/target_mean": valid_mean(y[..., main]),
            "q/ensemble_std": valid_mean(q_buf.std(-2, correction=0)[..., main]),
            "popart/sigma": popart.sigma[main],
            "popart/mu": popart.mu[main].clone()}  # a copy: metrics are read after later updates move the statistics
    return optional_terms(agent, batch, w, cfg, stats, LossOutput(loss, metrics, StatsUpdate(popart=popart)))


@dataclass
class Window:
    """The encoders' pass over a batch, and the policy at the N valid transitions.

    Attributes:
        s_now: (N, D) states before the valid transitions (``batch.transition_mask`` order).
        s_next: (N, D) states after them, detached (TD targets take no gradient).
        a_buf: (N, G, A) buffer actions, repeated over the discounts.
        pi: policy with batch shape (N, G), read from the actor's states before the transitions.
        logp: (N, G) log pi(a_buf | .).
        actor_next: (N, D) the actor's states after the transitions, detached: ``s_next`` itself unless the actor
            has its own trunk.
    """

    s_now: torch.Tensor
    s_next: torch.Tensor
    a_buf: torch.Tensor
    pi: Any
    logp: torch.Tensor
    actor_next: torch.Tensor


def encode_window(agent, batch: Batch) -> Window:
    """One causal pass over the padded windows; the heads then only see the N valid transitions."""
    mask = batch.transition_mask  # (B, T)
    s = agent.state_sequence(batch)  # (B, L, D)
    s_now, s_next = s[:, :-1][mask], s[:, 1:][mask].detach()  # (N, D) each
    actor_now, actor_next = s_now, s_next
    if agent.separate_actor_trunk:
        s_actor = agent.actor_state_sequence(batch)
        actor_now, actor_next = s_actor[:, :-1][mask], s_actor[:, 1:][mask].detach()
    G = len(agent.gammas)
    actions = batch.actions[mask].float()  # (N, A)
    a_buf = actions.unsqueeze(-2).expand(actions.shape[0], G, actions.shape[-1])
    pi = agent.actor.distribution(actor_now)  # batch shape (N, G)
    return Window(s_now, s_next, a_buf, pi, pi.log_prob(a_buf), actor_next)


def behaviour_cloning_loss(agent, batch: Batch, w: Window, cfg: LearnConfig) -> LossOutput:
    """Pure behaviour cloning (``fake_filter`` without DPG): no critic at all (method 7.2, notes), no statistics
    update; the optional dynamics term still applies."""
    loss = valid_mean(-cfg.offline_coeff * w.logp)
    metrics = {"actor/loss": loss.detach(), "actor/logp": valid_mean(w.logp.detach())}
    return LossOutput(*add_dynamics_loss(agent, batch, w.s_now, cfg.dynamics_coeff, loss, metrics), StatsUpdate())


@torch.no_grad()
def td_targets(agent, w: Window, batch: Batch, cfg: LearnConfig,
               to_reward_units: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """y (N, G) for the N valid transitions, in reward-multiplied units; no gradient.

    The target critic's expected value under pi_target at the next states (the critic's states ``w.s_next``, the
    actor's ``w.actor_next``) is mapped to reward units by ``to_reward_units`` (the AMAGO critic's PopArt
    outputs) or used as it is (a binned critic's values), then bootstrapped.
    """
    pi_next = next_policy(agent, w.actor_next, cfg)
    values = as_critic(agent.target_critic).expected_value(w.s_next, pi_next, cfg.critic_samples)  # (N, C, G)
    if to_reward_units is not None:
        values = to_reward_units(values.float())
    return bootstrap_targets(values, batch, agent, cfg)


def next_policy(agent, s_next: torch.Tensor, cfg: LearnConfig):
    """pi_target(s') (or pi(s') without a target actor), batch shape (N, G)."""
    actor = agent.target_actor if cfg.use_target_actor else agent.actor
    return agent.family.distribution(actor(s_next))


def bootstrap_targets(values_next: torch.Tensor, batch: Batch, agent, cfg: LearnConfig) -> torch.Tensor:
    """Per-member values of the next states (N, C, G), reward-multiplied units -> n-step targets y (N, G).

    The ensemble is reduced per entry, the values are scattered back to (B, T, G) for the n-step sums over the
    windows, and the targets of the N valid transitions are returned.
    """
    mask = batch.transition_mask
    v_flat = reduce_ensemble(values_next, cfg.num_critics_td, cfg.online_coeff > 0)
    v_next = v_flat.new_zeros(*mask.shape, v_flat.shape[-1])
    v_next[mask] = v_flat
    rewards = cfg.reward_multiplier * batch.rewards.float()
    y = nstep_targets(rewards, batch.dones, mask, v_next, agent.gamma_values, cfg.n_step)
    return y[mask]


def reduce_ensemble(values: torch.Tensor, subset: int, use_min: bool) -> torch.Tensor:
    """values (..., C, G) -> (..., G): per entry and gamma, ``subset`` members drawn with replacement; min or mean.

    The min (clipped double-Q / REDQ) counters overestimation when the actor maximises Q (DPG on); without DPG
    the mean is used, since the min alone underestimates strongly.
    """
    *lead, C, G = values.shape
    idx = torch.randint(C, (*lead, subset, G), device=values.device)
    picked = values.gather(-2, idx)
    return picked.min(-2).values if use_min else picked.mean(-2)


def bc_weights(q_buf: torch.Tensor, q_pi: torch.Tensor, cfg: LearnConfig) -> torch.Tensor:
    """Filter of the BC term (N, G) from the advantage mean_C Q(s, a_buf) - mean_C E_pi Q(s, .) (N, C, G each)."""
    with torch.no_grad():
        adv = q_buf.mean(-2) - q_pi.mean(-2)
        if cfg.filter == "binary":
            return binary_filter(adv)
        return exp_filter(adv, cfg.exp_beta, cfg.exp_clip)


def actor_loss(logp: torch.Tensor, weights: torch.Tensor, q_pi_normalized: torch.Tensor,
               cfg: LearnConfig) -> torch.Tensor:
    """Mean over (N, G) of -online_coeff * min_C Q_norm(s, a ~ pi) - offline_coeff * weights * log pi(a_buf).

    ``q_pi_normalized`` (N, C, G): E_pi Q in PopArt-normalised space, differentiable through the policy's
    reparameterised samples; ``weights`` (N, G) from the advantage filter (or ones for pure BC).
    """
    terms = torch.zeros_like(logp)
    if cfg.online_coeff > 0:
        terms = terms - cfg.online_coeff * q_pi_normalized.min(-2).values
    if cfg.offline_coeff > 0:
        terms = terms - cfg.offline_coeff * weights * logp
    return valid_mean(terms)


def actor_metrics(w: Window, weights: torch.Tensor) -> dict[str, torch.Tensor]:
    """Log-probability, filter weight and entropy of the main gamma's policy (detached)."""
    with torch.no_grad():
        return {"actor/logp": valid_mean(w.logp[..., -1]), "actor/bc_weight": valid_mean(weights[..., -1]),
                "actor/entropy": valid_mean(w.pi.entropy()[..., -1])}


def optional_terms(agent, batch: Batch, w: Window, cfg: LearnConfig, stats: StatsView,
                   out: LossOutput) -> LossOutput:
    """The terms outside the method: entropy (with a temperature: its step joins the update), then dynamics."""
    loss, metrics, mean_logp = add_entropy_loss(stats.alpha, w.pi, out.loss, out.metrics)
    loss, metrics = add_dynamics_loss(agent, batch, w.s_now, cfg.dynamics_coeff, loss, metrics)
    return LossOutput(loss, metrics, StatsUpdate(out.update.popart, mean_logp))


def valid_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over all entries; 0 for an empty tensor (a batch without transitions contributes nothing)."""
    return x.sum() / max(x.numel(), 1)
