"""The AMAGO-2 multi-task loss: shapes, the critic's cross-entropy by hand, the sampled value baseline, scale-free
filter decisions and the learner fitting its labels. The contract it shares with the AMAGO loss (gradient routing,
padding, BC only, warm-up, Polyak) is in test_losses.py."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from icrl.config import LearnConfig
from icrl.learn import Learner, as_critic
from icrl.learn import multitask as mt
from icrl.learn.amago import encode_window, td_targets
from icrl.learn.critics import PerActionCritic
from icrl.learn.targets import bin_values, twohot_labels
from icrl.nets.heads import BinnedCritic, DiscreteBinnedCritic
from icrl.records import Batch
from scaffold import SPECS, agent_loss, random_batch, tiny_agent

B, L, G, C, K = 3, 5, 2, 7, 11  # distinct primes: a swapped axis fails


def _agent(kind: str = "discrete", **learn):
    """The tiny agent with C critics of K bins over [-100, 100]."""
    return tiny_agent(kind, **{"agent": "multitask", "num_critics": C, "critic_bins": K, "critic_min_value": -100.0,
                               "critic_max_value": 100.0, **learn})


def test_every_action_space_gets_a_binned_critic() -> None:
    """A single categorical gets bins for every action; other spaces feed the action to the critic."""
    for kind in SPECS:
        agent, _ = _agent(kind)
        want = DiscreteBinnedCritic if kind == "discrete" else BinnedCritic
        assert isinstance(agent.critic, want) and isinstance(agent.target_critic, want)
        assert as_critic(agent.critic).binned and as_critic(agent.target_critic).binned  # read as value bins


def test_per_action_critic_selects_the_buffer_action_and_takes_the_exact_expectation() -> None:
    """Q(s, a_buf) is the one-hot's slice of the per-action logits; E_pi Q is sum_a pi(a) value(Q(s, a))."""
    agent, cfg = _agent("discrete")
    w = encode_window(agent, random_batch("discrete", lengths=(L, 4, 2)))
    every = agent.critic(w.s_now)
    N = w.s_now.shape[0]
    assert every.shape == (N, C, G, 4, K)
    passes = []
    hook = agent.critic.register_forward_hook(lambda *_: passes.append(1))
    logits, q_pi = as_critic(agent.critic).read(w.s_now, w.a_buf, w.pi, cfg.actor_samples, through_policy=False)
    hook.remove()
    picked = w.a_buf.argmax(-1)  # (N, G)
    want = every.gather(-2, picked.view(N, 1, G, 1, 1).expand(N, C, G, 1, K)).squeeze(-2)
    assert torch.allclose(logits, want) and len(passes) == 1  # both from one pass of the critic
    exact = sum(w.pi.probs[..., a].unsqueeze(-2) * bin_values(every[..., a, :], agent.critic.bins) for a in range(4))
    assert torch.allclose(q_pi, exact, atol=1e-6)


@pytest.mark.parametrize("kind", list(SPECS))
def test_shapes_of_targets_labels_logits_and_values(kind) -> None:
    agent, cfg = _agent(kind)
    batch = random_batch(kind, lengths=(L, L, L))
    w = encode_window(agent, batch)
    N = B * (L - 1)
    assert w.s_now.shape[0] == N and w.a_buf.shape == (N, G, SPECS[kind].dim) and w.logp.shape == (N, G)
    y = td_targets(agent, w, batch, cfg)
    assert y.shape == (N, G) and not y.requires_grad
    assert mt.value_labels(y, agent.critic.bins, cfg).shape == (N, G, K)
    critic = as_critic(agent.critic)
    logits, q_pi = critic.read(w.s_now, w.a_buf, w.pi, cfg.actor_samples, through_policy=False)
    assert logits.shape == (N, C, G, K) and isinstance(critic, PerActionCritic) == (kind == "discrete")
    assert q_pi.shape == (N, C, G)
    loss, metrics, _ = agent_loss(agent, batch, cfg)
    assert loss.shape == () and torch.isfinite(loss) and all(torch.isfinite(v).all() for v in metrics.values())


@pytest.mark.parametrize("labels", ["twohot", "hlgauss"])
def test_critic_loss_is_cross_entropy_against_labels_of_the_target_by_hand(labels) -> None:
    """One terminal transition: y = reward_multiplier * r for every gamma; CE averaged over members and gammas."""
    agent, cfg = _agent("discrete", critic_labels=labels)
    agent.eval()
    batch = random_batch("discrete", lengths=(2,))
    batch.terminated[0, 1] = True
    _, metrics, _ = agent_loss(agent, batch, cfg)
    s = agent.state_sequence(batch)[0, :1]  # (1, D)
    logits = agent.critic(s)[..., int(batch.actions[0, 0].argmax()), :]  # the buffer action's bins: (1, C, G, K)
    y = cfg.reward_multiplier * batch.rewards[0, 0] * torch.ones(1, G)
    target = mt.value_labels(y, agent.critic.bins, cfg)  # (1, G, K)
    want = -(target.unsqueeze(1) * torch.log_softmax(logits, -1)).sum(-1).mean()
    assert metrics["critic/loss"].item() == pytest.approx(want.item(), rel=1e-5)
    assert metrics["q/target_mean"].item() == pytest.approx(y[0, -1].item(), rel=1e-5)


def test_sampled_baseline_estimates_the_policy_expectation() -> None:
    """mean_k value(Q(s, a_k)), a_k ~ pi, approaches the exact sum_a pi(a) value(Q(s, a)): an action-input
    critic (the method's) on a single categorical."""
    agent, cfg = _agent("discrete", actor_samples=600)
    agent.critic = BinnedCritic(agent.critic.net.layers[0].weight.shape[1], agent.gammas, 4, C, K, -100.0, 100.0, 16)
    w = encode_window(agent, random_batch("discrete", lengths=(L, 4, 2)))
    torch.manual_seed(0)
    sampled = as_critic(agent.critic).read(w.s_now, w.a_buf, w.pi, cfg.actor_samples, False).policy.detach()
    N = w.s_now.shape[0]
    exact = torch.zeros_like(sampled)
    with torch.no_grad():
        for a in range(4):
            onehot = torch.nn.functional.one_hot(torch.full((N, G), a), 4).float()
            exact += w.pi.probs[..., a].unsqueeze(-2) * bin_values(agent.critic(w.s_now, onehot), agent.critic.bins)
    spread = exact.abs().max()
    assert (sampled - exact).abs().max() < 0.1 * spread


def _filter_mask(agent, batch: Batch, cfg: LearnConfig, monkeypatch) -> tuple[torch.Tensor, dict]:
    """The filter weights the loss itself computes (recorded from its call of ``bc_weights``), and its metrics."""
    return _filter_call(agent, batch, cfg, monkeypatch)[:2]


def _filter_call(agent, batch: Batch, cfg: LearnConfig, monkeypatch) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """As ``_filter_mask``, plus the advantage (N, G) the filter decided on."""
    seen, advantages = [], []
    original = mt.bc_weights

    def spy(q_buf, q_pi, *rest):
        advantages.append(q_buf.mean(-2) - q_pi.mean(-2))
        seen.append(original(q_buf, q_pi, *rest))
        return seen[-1]

    with monkeypatch.context() as patch:
        patch.setattr(mt, "bc_weights", spy)
        agent.observe(batch)  # as the learner does before its loss: the input statistics count the batch
        torch.manual_seed(0)  # the same policy samples for every call
        _, metrics, _ = agent_loss(agent, batch, cfg)
    assert len(seen) == 1
    return seen[0], metrics, advantages[0]


@pytest.mark.parametrize("kind", ["discrete", "box"])
def test_scaling_rewards_by_1000_leaves_filter_decisions_unchanged(kind, monkeypatch) -> None:
    """Same network state, rewards r and 1000 r: the TD targets scale, the filter's decisions do not.

    The rewards reach the filter only through the encoder's (normalised) previous-reward input and through
    what the critic learned; neither the targets nor any return statistic enters the decision.
    """
    agent, cfg = _agent(kind, critic_min_value=-1e5, critic_max_value=1e5)
    batch = random_batch(kind, lengths=(L, L, L), seed=4)
    scaled = copy.deepcopy(batch)
    scaled.prev_reward = batch.prev_reward * 1000.0
    mask, m = _filter_mask(copy.deepcopy(agent), batch, cfg, monkeypatch)
    mask_scaled, m_scaled = _filter_mask(copy.deepcopy(agent), scaled, cfg, monkeypatch)
    assert abs(m_scaled["q/target_mean"].item()) > 100 * abs(m["q/target_mean"].item())  # the targets did scale
    assert 0 < mask.sum() < mask.numel()  # some actions are imitated, some are not
    assert torch.equal(mask, mask_scaled)


class _ValueCritic(nn.Module):
    """A critic that has learned Q(s, a) = scale * v(s, a) exactly: logits of the two-hot labels of that value."""

    def __init__(self, bins: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.register_buffer("bins", bins)
        self.scale = scale

    def forward(self, s: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        v = s[..., :1] + (actions * torch.arange(1, actions.shape[-1] + 1)).sum(-1)  # (N, G)
        v = v.unsqueeze(-2) + 0.1 * torch.arange(C).view(C, 1)  # members disagree a little: (N, C, G)
        return torch.log(twohot_labels(self.scale * v, self.bins).clamp_min(1e-30))


def test_filter_decisions_ignore_the_scale_of_learned_values(monkeypatch) -> None:
    """A critic that learned 1000x larger values (as it would from 1000x rewards) imitates the same actions."""
    agent, cfg = _agent("discrete", critic_min_value=-1e5, critic_max_value=1e5)
    batch = random_batch("discrete", lengths=(L, L, L), seed=2)
    masks, advantages = [], []
    for scale in (1.0, 1000.0):
        scaled_agent = copy.deepcopy(agent)
        scaled_agent.critic = _ValueCritic(agent.critic.bins, scale)  # an action-input critic, targets too
        scaled_agent.target_critic = _ValueCritic(agent.critic.bins, scale)
        mask, _, adv = _filter_call(scaled_agent, batch, cfg, monkeypatch)
        masks.append(mask)
        advantages.append(adv / scale)
    assert 0 < masks[0].sum() < masks[0].numel()
    # Where the policy's value equals the buffer action's (a tie: advantage 0 up to float rounding), either decision
    # is right and the rounding picks one; every other decision must be the same at both scales.
    decided = advantages[0].abs() > 1e-4
    assert decided.float().mean() > 0.75
    assert torch.allclose(advantages[0], advantages[1], atol=1e-5)
    assert torch.equal(masks[0][decided], masks[1][decided])


def test_learner_fits_the_labels_of_a_fixed_batch() -> None:
    agent, cfg = _agent("multidiscrete", lr=1e-3, warmup_steps=1, tau=0.5)
    learner = Learner(agent, cfg)
    batch = random_batch("multidiscrete", lengths=(L, 4, 2))
    before = [p.clone() for p in agent.target_critic.parameters()]
    losses = [float(learner.update(batch)["critic/loss"]) for _ in range(30)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]  # the classifier fits the (moving) labels of a fixed batch
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.target_critic.parameters()))
