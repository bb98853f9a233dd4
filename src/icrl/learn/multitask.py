"""The AMAGO-2 multi-task loss (method 7.6): both terms independent of the scale of returns.

Same window pass, n-step bootstrap, filter and actor loss as ``icrl.learn.amago``; what changes is the critic
(a classifier over K value bins, ``icrl.nets.heads.BinnedCritic``) and, with it, how values are read:

    value(logits) = symexp( sum_k softmax(logits)_k bins_k )            bins evenly spaced in symlog space
    targets   y  = n-step(r, d, reduce_C( mean_k value(Q_target(s', a'_k ~ pi_target(s'))) ))   no gradient
    critic       = CE( Q(s, a_buf) logits, labels(y) )                 per member, gamma; two-hot or HL-Gauss
    actor        = offline_coeff * -filter( value Q(s, a_buf) - mean_k value Q(sg(s), a_k ~ pi(s)) ) * log pi(a_buf)
                 + online_coeff * -PopArt_normalise( min_C mean_k value Q(sg(s), a_k ~ pi(s)) )   optional DPG
    loss         = mean(actor) + critic_loss_weight * mean(critic)       means over valid transitions

For a single categorical action the critic is a ``DiscreteBinnedCritic`` (bins of every action from one pass):
Q(s, a_buf) is selected by the one-hot, and every mean over policy samples above becomes the exact expectation
sum_a pi(a) value(Q(s, a)) (with DPG on, its gradient reaches the policy through the probabilities).

Why scale-free: the labels live on a fixed symlog grid, so the cross-entropy neither grows nor shrinks with
the returns of a task; the binary filter keeps only the sign of the advantage. For Box and multi-categorical
actions the value baseline is a mean over ``actor_samples`` policy samples (the action-input critic has no
per-action output to sum over, method 7.6.1). PopArt statistics still follow y: they scale the optional DPG term
and are logged, but the critic loss never uses them.

Axes: N valid transitions, C critics, G discounts (main gamma last), K value bins, A encoded action width.
"""

from __future__ import annotations

import torch

from icrl.config import LearnConfig
from icrl.learn.amago import (
    Window,
    actor_loss,
    actor_metrics,
    bc_weights,
    behaviour_cloning_loss,
    bootstrap_targets,
    encode_window,
    frozen_critic,
    next_policy,
    sample_mean,
    valid_mean,
)
from icrl.learn.auxiliary import add_dynamics_loss
from icrl.learn.entropy import add_entropy_loss
from icrl.learn.targets import bin_values, hlgauss_labels, twohot_labels
from icrl.nets.heads import DiscreteBinnedCritic
from icrl.nets.layers import symexp
from icrl.records import Batch


def value_labels(y: torch.Tensor, bins: torch.Tensor, cfg: LearnConfig) -> torch.Tensor:
    """Scalar targets y (...) -> label distributions over the bins (..., K), as ``learn.critic_labels`` says."""
    if cfg.critic_labels == "hlgauss":
        return hlgauss_labels(y, bins, cfg.hlgauss_sigma)
    return twohot_labels(y, bins)


@torch.no_grad()
def binned_td_targets(agent, s_next: torch.Tensor, actor_next: torch.Tensor, batch: Batch,
                      cfg: LearnConfig) -> torch.Tensor:
    """y (N, G) in reward-multiplied units; no gradient. Values are decoded first, then averaged over samples.

    ``s_next`` / ``actor_next``: the critic's and the actor's states after the transitions (``Window``).
    """
    pi_next = next_policy(agent, actor_next, cfg)
    critic = agent.target_critic
    if per_action(agent):
        values = (pi_next.probs.unsqueeze(-3) * bin_values(critic(s_next), critic.bins)).sum(-1)  # (N, C, G)
    else:
        values = sample_mean(lambda: bin_values(critic(s_next, pi_next.sample()), critic.bins), cfg.critic_samples)
    return bootstrap_targets(values, batch, agent, cfg)


def per_action(agent) -> bool:
    """True when the critic outputs bins for every action (a single categorical action)."""
    return isinstance(agent.critic, DiscreteBinnedCritic)


def buffer_logits(agent, w: Window) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits of Q(s, a_buf) (N, C, G, K) with gradients, and those of every action (N, C, G, A, K) or None."""
    if not per_action(agent):
        return agent.critic(w.s_now, w.a_buf).float(), None
    every = agent.critic(w.s_now).float()  # (N, C, G, A, K)
    n, c, g, _, k = every.shape
    index = w.a_buf.argmax(-1).view(n, 1, g, 1, 1).expand(n, c, g, 1, k)  # a gather keeps no (N, C, G, A, K) copy
    return every.gather(-2, index).squeeze(-2), every


def policy_values(agent, w: Window, cfg: LearnConfig, every: torch.Tensor | None = None) -> torch.Tensor:
    """E_pi Q(sg(s), .) (N, C, G): mean value of ``actor_samples`` policy samples under the frozen critic.

    With DPG on, the samples are reparameterised so the term's gradient reaches the policy; otherwise they are
    plain samples (the filter's baseline needs no gradient). ``every``: the per-action critic's logits
    (N, C, G, A, K); then the expectation is exact, its gradient (DPG on) through the policy's probabilities.
    """
    if every is not None:
        probs = w.pi.probs if cfg.online_coeff > 0 else w.pi.probs.detach()
        return (probs.unsqueeze(-3) * bin_values(every.detach(), agent.critic.bins)).sum(-1)
    s_frozen = w.s_now.detach()
    draw = w.pi.rsample if cfg.online_coeff > 0 else w.pi.sample
    bins = agent.critic.bins
    return sample_mean(lambda: bin_values(frozen_critic(agent, s_frozen, draw()), bins), cfg.actor_samples)


def multitask_loss(agent, batch: Batch, cfg: LearnConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The AMAGO-2 loss for one batch of windows, and detached metrics."""
    w = encode_window(agent, batch)
    if cfg.fake_filter and cfg.online_coeff == 0:
        return add_dynamics_loss(agent, batch, w.s_now, cfg.dynamics_coeff, *behaviour_cloning_loss(w, cfg))
    bins = agent.critic.bins  # (K,)
    N, G, K, C = w.logp.shape[0], len(agent.gammas), bins.numel(), cfg.num_critics

    y = binned_td_targets(agent, w.s_next, w.actor_next, batch, cfg)  # (N, G)
    agent.popart.update_stats(y)  # for the optional DPG term and logging only
    labels = value_labels(y, bins, cfg)  # (N, G, K)
    logits, every = buffer_logits(agent, w)  # (N, C, G, K), (N, C, G, A, K) or None
    assert logits.shape == (N, C, G, K) and labels.shape == (N, G, K), (logits.shape, labels.shape)
    critic_loss = valid_mean(-(labels.unsqueeze(-3) * torch.log_softmax(logits, dim=-1)).sum(-1))

    q_buf = bin_values(logits.detach(), bins)  # (N, C, G)
    q_pi = policy_values(agent, w, cfg, every)  # (N, C, G)
    weights = torch.ones_like(w.logp) if cfg.fake_filter else bc_weights(q_buf, q_pi, cfg)  # (N, G)
    actor = actor_loss(w.logp, weights, agent.popart.normalize(q_pi), cfg)
    loss = actor + cfg.critic_loss_weight * critic_loss

    with torch.no_grad():
        y_main = y[..., -1]  # the main gamma is last
        outside = (y_main < symexp(bins[0])) | (y_main > symexp(bins[-1]))  # labels clipped to the range
        metrics = {
            "critic/loss": critic_loss.detach(), "actor/loss": actor.detach(), **actor_metrics(w, weights),
            "q/mean": valid_mean(q_buf[..., -1].mean(-1)), "q/target_mean": valid_mean(y_main),
            "q/ensemble_std": valid_mean(q_buf[..., -1].std(-1, correction=0)),
            "q/target_clipped": valid_mean(outside.float()),
            "popart/sigma": agent.popart.sigma[-1], "popart/mu": agent.popart.mu[-1]}
    loss, metrics = add_entropy_loss(agent, w.pi, loss, metrics)
    return add_dynamics_loss(agent, batch, w.s_now, cfg.dynamics_coeff, loss, metrics)
