"""The AMAGO loss and its learner: the separate actor trunk's rollout and targets, the critic's regression target by
hand, ensemble reduction, filters, PopArt, logged statistics, and DPG on a known critic. The contract it shares with
the multi-task loss (gradient routing, padding, BC only, warm-up, Polyak) is in test_losses.py."""

from __future__ import annotations

import pytest
import torch

from icrl.learn import Learner, PopArt, amago_loss, reduce_ensemble
from icrl.learn.filters import binary_filter, exp_filter
from scaffold import agent_loss, fresh_stats, random_batch, tiny_agent


def test_separate_actor_trunk_feeds_the_target_actor_and_the_rollout_policy() -> None:
    agent, cfg = tiny_agent("box", model={"separate_actor_trunk": True})
    agent.eval()
    batch = random_batch("box", lengths=(5,))
    # rollouts step the actor's trunk: the cached steps give the policy of its full pass
    state = agent.initial_state(1, torch.device("cpu"))
    stepped = []
    for t in range(5):
        action, state = agent.act({"x": batch.obs["x"][:, t]}, batch.prev_action[:, t], batch.prev_reward[:, t],
                                  batch.time_idx[:, t], torch.tensor([t == 0]), state, sample=False)
        stepped.append(action)
    with torch.no_grad():
        full = agent.family.distribution(agent.actor(agent.actor_state_sequence(batch))[:, :, -1]).mode()
        shared = agent.family.distribution(agent.actor(agent.state_sequence(batch))[:, :, -1]).mode()
    assert torch.allclose(torch.stack(stepped, 1), full, atol=1e-5)
    assert not torch.allclose(full, shared, atol=1e-3)  # the critic's trunk gives another policy
    # the TD targets read the target actor on the actor's trunk: changing that trunk alone moves them
    y = agent_loss(agent, batch, cfg)[1]["q/target_mean"]
    with torch.no_grad():
        for p in agent.actor_encoder.parameters():
            p.add_(0.5 * torch.randn_like(p))
    assert not torch.allclose(agent_loss(agent, batch, cfg)[1]["q/target_mean"], y)


def test_critic_regresses_onto_one_step_target_by_hand() -> None:
    """Critic loss of a single terminal transition equals (PopArt(Q(s, a)) - normalise(r * multiplier))^2."""
    agent, cfg = tiny_agent("discrete", n_step=1, offline_coeff=0.1, popart_beta=1e-9)
    agent.eval()
    batch = random_batch("discrete", lengths=(2,))
    batch.terminated[0, 1] = True
    loss, metrics, update = agent_loss(agent, batch, cfg)
    popart = update.popart  # the statistics that count this target: the loss normalised with them
    s = agent.state_sequence(batch)[0, 0]
    q = (agent.critic(s) * batch.actions[0, 0]).sum(-1)  # (C, G)
    y = popart.normalize(cfg.reward_multiplier * batch.rewards[0, 0] * torch.ones(2))
    want = ((popart.scale(q) - y) ** 2).mean()
    assert metrics["critic/loss"].item() == pytest.approx(want.item(), rel=1e-4)


def test_reduce_ensemble_draws_from_members() -> None:
    values = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1).expand(500, 4, 3)
    low = reduce_ensemble(values, 2, use_min=True)
    mean = reduce_ensemble(values, 2, use_min=False)
    assert low.shape == (500, 3) and set(low.unique().tolist()) <= {1.0, 2.0, 3.0, 4.0}
    assert low.mean() < mean.mean()  # the min of a random pair is below its mean
    assert reduce_ensemble(values, 1, use_min=True).unique().numel() == 4  # every member is drawn
    assert torch.equal(reduce_ensemble(values[:, :1], 3, use_min=True), values[:, 0])


def test_filters() -> None:
    adv = torch.tensor([-1.0, 0.0, 0.5, 10.0])
    assert torch.equal(binary_filter(adv), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert torch.equal(binary_filter(adv * 1000), binary_filter(adv))  # scale-free
    w = exp_filter(adv, beta=1.0, clip_high=5.0)
    assert torch.allclose(w, torch.tensor([torch.e**-1, 1.0, torch.e**0.5, 5.0]))


def test_popart_preserves_outputs_and_tracks_moments() -> None:
    popart = PopArt(2, beta=0.5)
    x = torch.randn(10, 2)
    before = popart.denormalize(x)
    for _ in range(20):
        popart.update_stats(torch.tensor([[10.0, -3.0], [12.0, -5.0]]))
        assert torch.allclose(popart.denormalize(x), before, atol=1e-4)
    assert torch.allclose(popart.mu, torch.tensor([11.0, -4.0]), atol=1e-3)
    assert torch.allclose(popart.sigma, torch.tensor([1.0, 1.0]), atol=1e-2)
    y = torch.tensor([[11.0, -4.0]])
    assert torch.allclose(popart.normalize(y), torch.zeros(1, 2), atol=1e-2)


def test_popart_config_fields_reach_the_learner() -> None:
    agent, cfg = tiny_agent("discrete", popart_beta=0.25)
    popart = Learner(agent, cfg).stats.popart
    assert popart.beta == 0.25 and popart.enabled
    off_agent, cfg = tiny_agent("discrete", popart=False)
    off = Learner(off_agent, cfg).stats.popart
    y = torch.tensor([[30.0, -7.0], [50.0, 1.0]])
    for _ in range(3):
        off.update_stats(y)
    x = torch.randn(4, 2)
    assert torch.equal(off(x), x) and torch.equal(off.denormalize(x), x)
    assert torch.equal(off.normalize(y), y)  # learn.popart=false: the critic regresses on raw targets


def test_logged_statistics_keep_the_value_of_their_update() -> None:
    """The trainer reads metrics after the epoch (no device sync per update): a logged PopArt mean must not follow
    the statistics of later updates."""
    agent, cfg = tiny_agent("discrete", popart_beta=0.1)
    learner = Learner(agent, cfg)
    logged, values = [], []
    for seed in range(3):
        metrics = learner.update(random_batch("discrete", seed=seed))
        logged.append(metrics["popart/mu"])
        values.append(metrics["popart/mu"].item())
    assert [m.item() for m in logged] == values and len(set(values)) == 3


class _QuadraticCritic(torch.nn.Module):
    """Q(s, a) = -|a - target|^2 for every member and gamma: (N, D), (N, G, A) -> (N, C, G)."""

    def __init__(self, target: torch.Tensor, members: int) -> None:
        super().__init__()
        self.target, self.members = target, members

    def forward(self, s: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        q = -((actions - self.target) ** 2).sum(-1)  # (N, G)
        return q.unsqueeze(-2).expand(q.shape[0], self.members, q.shape[-1])


@pytest.mark.slow
def test_dpg_moves_a_box_policy_to_the_critics_maximum() -> None:
    """With a fixed critic whose best action is known, the DPG term alone drives the policy's mode there."""
    torch.manual_seed(0)
    agent, cfg = tiny_agent("box", offline_coeff=0.0, online_coeff=1.0, num_critics=4)
    target = torch.tensor([0.6, -0.4])
    agent.critic, agent.target_critic = _QuadraticCritic(target, 4), _QuadraticCritic(target, 4)
    params = [p for n, p in agent.named_parameters() if n.startswith(("actor.", "encoder.", "sequence."))]
    opt = torch.optim.Adam(params, lr=3e-3)
    batch = random_batch("box", lengths=(6, 6, 6))
    stats = fresh_stats(agent, cfg)
    for _ in range(100):
        opt.zero_grad()
        loss, _, update = amago_loss(agent, batch, cfg, stats.view())
        loss.backward()
        opt.step()
        stats.apply(update)
    with torch.no_grad():
        mode = agent.actor.distribution(agent.state_sequence(batch)[:, :-1][batch.transition_mask]).mode()
    assert (mode - target).abs().max() < 0.05  # every state, every gamma's policy

