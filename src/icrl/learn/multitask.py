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
sum_a pi(a) value(Q(s, a)) (with DPG on, its gradient reaches the policy through the probabilities). The loss
reads either critic through ``icrl.learn.critics``.

Why scale-free: the labels live on a fixed symlog grid, so the cross-entropy neither grows nor shrinks with
the returns of a task; the binary filter keeps only the sign of the advantage. For Box and multi-categorical
actions the value baseline is a mean over ``actor_samples`` policy samples (the action-input critic has no
per-action output to sum over, method 7.6.1). PopArt statistics still follow y: they scale the optional DPG term
and are logged, but the critic loss never uses them (the loss returns them; the learner takes them after the step).

Axes: N valid transitions, C critics, G discounts (main gamma last), K value bins, A encoded action width.
"""

from __future__ import annotations

import torch

from icrl.config import LearnConfig
from icrl.learn.amago import (
    actor_loss,
    actor_metrics,
    bc_weights,
    behaviour_cloning_loss,
    encode_window,
    optional_terms,
    td_targets,
    valid_mean,
)
from icrl.learn.critics import as_critic
from icrl.learn.stats import LossOutput, StatsUpdate, StatsView
from icrl.learn.targets import hlgauss_labels, twohot_labels
from icrl.nets.layers import symexp
from icrl.records import Batch


def multitask_loss(agent, batch: Batch, cfg: LearnConfig, stats: StatsView) -> LossOutput:
    """The AMAGO-2 loss for one batch of windows, detached metrics, and the statistics update it asks for."""
    w = encode_window(agent, batch)
    if cfg.fake_filter and cfg.online_coeff == 0:
        return behaviour_cloning_loss(agent, batch, w, cfg)
    critic = as_critic(agent.critic)
    bins = agent.critic.bins  # (K,)
    N, G, K, C = w.logp.shape[0], len(agent.gammas), bins.numel(), cfg.num_critics

    y = td_targets(agent, w, batch, cfg)  # (N, G): a binned critic's values are in reward units already
    popart = stats.popart.after(y)  # for the optional DPG term and logging only
    labels = value_labels(y, bins, cfg)  # (N, G, K)
    # logits of Q(s, a_buf) (N, C, G, K) and E_pi value(Q(sg(s), .)) (N, C, G): a gradient path only for DPG
    logits, q_pi = critic.read(w.s_now, w.a_buf, w.pi, cfg.actor_samples, through_policy=cfg.online_coeff > 0)
    assert logits.shape == (N, C, G, K) and labels.shape == (N, G, K), (logits.shape, labels.shape)
    critic_loss = valid_mean(-(labels.unsqueeze(-3) * torch.log_softmax(logits, dim=-1)).sum(-1))

    q_buf = critic.values(logits.detach())  # (N, C, G)
    weights = torch.ones_like(w.logp) if cfg.fake_filter else bc_weights(q_buf, q_pi, cfg)  # (N, G)
    actor = actor_loss(w.logp, weights, popart.normalize(q_pi), cfg)
    loss = actor + cfg.critic_loss_weight * critic_loss

    with torch.no_grad():
        y_main = y[..., -1]  # the main gamma is last
        outside = (y_main < symexp(bins[0])) | (y_main > symexp(bins[-1]))  # labels clipped to the range
        metrics = {
            "critic/loss": critic_loss.detach(), "actor/loss": actor.detach(), **actor_metrics(w, weights),
            "q/mean": valid_mean(q_buf[..., -1].mean(-1)), "q/target_mean": valid_mean(y_main),
            "q/ensemble_std": valid_mean(q_buf[..., -1].std(-1, correction=0)),
            "q/target_clipped": valid_mean(outside.float()),
            "popart/sigma": popart.sigma[-1], "popart/mu": popart.mu[-1].clone()}
    return optional_terms(agent, batch, w, cfg, stats, LossOutput(loss, metrics, StatsUpdate(popart=popart)))


def value_labels(y: torch.Tensor, bins: torch.Tensor, cfg: LearnConfig) -> torch.Tensor:
    """Scalar targets y (...) -> label distributions over the bins (..., K), as ``learn.critic_labels`` says."""
    if cfg.critic_labels == "hlgauss":
        return hlgauss_labels(y, bins, cfg.hlgauss_sigma)
    return twohot_labels(y, bins)
