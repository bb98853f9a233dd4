"""The contract both agents' losses (``learn.agent`` = amago, multitask) and their learner keep: gradient routing
(online networks only, actor terms never into the critic, separate trunks), right-padding invariance, pure BC,
statistics moved only after the step, warm-up and Polyak, refusing an agent of the other kind."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from icrl.errors import ConfigError
from icrl.learn import Learner, StatsUpdate
from scaffold import AGENTS, SPECS, agent_loss, random_batch, tiny_agent


@pytest.mark.parametrize("learn_agent", AGENTS)
@pytest.mark.parametrize("kind", list(SPECS))
def test_loss_is_finite_and_trains_online_networks_only(kind, learn_agent) -> None:
    agent, cfg = tiny_agent(kind, agent=learn_agent)
    loss, metrics, _ = agent_loss(agent, random_batch(kind), cfg)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(v).all() for v in metrics.values())
    for name, p in agent.named_parameters():
        if name.startswith(("target_actor.", "target_critic.")):
            assert p.grad is None, name
    grads = {n: p.grad for n, p in agent.named_parameters() if p.requires_grad}
    for prefix in ("encoder.", "sequence.", "actor.", "critic."):
        assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith(prefix)), prefix


# (online_coeff, offline_coeff): the agent's defaults, filtered BC alone, DPG alone, both at full weight
ACTOR_TERMS = [(None, None), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]


@pytest.mark.parametrize(("online_coeff", "offline_coeff"), ACTOR_TERMS)
@pytest.mark.parametrize("learn_agent", AGENTS)
@pytest.mark.parametrize("kind", list(SPECS))
def test_actor_terms_never_train_the_critic(kind, learn_agent, online_coeff, offline_coeff) -> None:
    """Filtered BC and DPG (through the policy's samples) reach the actor; the critic learns from its own loss only."""
    agent, cfg = tiny_agent(kind, agent=learn_agent, critic_loss_weight=0.0, online_coeff=online_coeff,
                            offline_coeff=offline_coeff)
    loss, _, _ = agent_loss(agent, random_batch(kind), cfg)
    loss.backward()
    for name, p in agent.critic.named_parameters():
        assert p.grad is None or p.grad.abs().max() == 0, name
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.actor.parameters())


CRITIC_TRUNK, ACTOR_TRUNK = ("encoder.", "sequence."), ("actor_encoder.", "actor_sequence.")


def _trunk_grads(agent, cfg, batch) -> dict[str, torch.Tensor]:
    """Gradients of one loss (seeded) on the two trunks' parameters, zeros where none reached."""
    agent = copy.deepcopy(agent)  # each call's gradients start from none
    agent_loss(agent, batch, cfg)[0].backward()
    return {n: torch.zeros_like(p) if p.grad is None else p.grad.clone() for n, p in agent.named_parameters()
            if n.startswith(CRITIC_TRUNK + ACTOR_TRUNK)}


@pytest.mark.parametrize("learn_agent", AGENTS)
@pytest.mark.parametrize("kind", list(SPECS))
def test_separate_actor_trunk_takes_the_actor_loss_and_the_critic_trunk_the_critic_loss(kind, learn_agent) -> None:
    agent, cfg = tiny_agent(kind, model={"separate_actor_trunk": True}, agent=learn_agent)
    agent.eval()  # frozen input statistics: both losses below see the same states
    batch = random_batch(kind)
    actor_only = _trunk_grads(agent, dataclasses.replace(cfg, critic_loss_weight=0.0), batch)
    both = _trunk_grads(agent, cfg, batch)
    for name, g in actor_only.items():
        if name.startswith(CRITIC_TRUNK):
            assert g.abs().max() == 0, name  # the actor's loss never reaches the critic's trunk
        else:  # and the critic's loss never reaches the actor's
            assert torch.allclose(both[name], g, atol=1e-6), name
    assert any(g.abs().sum() > 0 for n, g in actor_only.items() if n.startswith(ACTOR_TRUNK))
    assert any(g.abs().sum() > 0 for n, g in both.items() if n.startswith(CRITIC_TRUNK))


@pytest.mark.parametrize("learn_agent", AGENTS)
@pytest.mark.parametrize("kind", list(SPECS))
@pytest.mark.parametrize("sequence", ["transformer", "gru"])
def test_right_padding_does_not_change_the_loss(kind, sequence, learn_agent) -> None:
    agent, cfg = tiny_agent(kind, model={"sequence": sequence}, agent=learn_agent)
    agent.eval()  # freeze input-normalisation statistics; no dropout in this model anyway
    base = random_batch(kind, seed=3)
    padded = random_batch(kind, pad_to=11, seed=3)
    for key in ("prev_action", "prev_reward", "time_idx", "terminated"):  # same real data, longer padding
        getattr(padded, key)[:, : base.valid.shape[1]] = getattr(base, key)
    padded.obs["x"][:, : base.valid.shape[1]] = base.obs["x"]
    a, b = copy.deepcopy(agent), copy.deepcopy(agent)
    loss_a, m_a, _ = agent_loss(a, base, cfg)
    loss_b, m_b, _ = agent_loss(b, padded, cfg)
    assert loss_a.item() == pytest.approx(loss_b.item(), rel=1e-5, abs=1e-6)
    assert m_a["critic/loss"].item() == pytest.approx(m_b["critic/loss"].item(), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("learn_agent", AGENTS)
def test_pure_behaviour_cloning_skips_the_critic(learn_agent) -> None:
    agent, cfg = tiny_agent("discrete", agent=learn_agent, online_coeff=0.0, offline_coeff=1.0, fake_filter=True)
    loss, metrics, update = agent_loss(agent, random_batch("discrete"), cfg)
    loss.backward()
    assert all(p.grad is None for p in agent.critic.parameters())
    assert update == StatsUpdate()  # no TD targets were computed: no statistics to move
    assert loss.item() == pytest.approx(-metrics["actor/logp"].item(), rel=1e-6)


@pytest.mark.parametrize("learn_agent", AGENTS)
def test_a_loss_moves_no_statistics_and_the_update_applies_them_after_the_step(learn_agent) -> None:
    """PopArt and the entropy temperature: a loss only reports the statistics of its batch; an update computes the
    same loss (the statistics before it), then takes them, by PopArt's and the temperature's rules. The agent's
    input statistics count the batch before the loss (``Agent.observe``), never inside it."""
    beta, alpha_lr, init_alpha = 0.1, 0.1, 0.5
    agent, cfg = tiny_agent("box", agent=learn_agent, target_entropy="auto", popart_beta=beta, alpha_lr=alpha_lr,
                            init_alpha=init_alpha)
    probe, learner = Learner(copy.deepcopy(agent), cfg), Learner(agent, cfg)
    batch = random_batch("box")
    before = copy.deepcopy(probe.stats.state_dict())
    assert set(before) == {"popart.mu", "popart.nu", "popart.w", "popart.b", "popart.t", "temperature.log_alpha"}
    probe.agent.train()
    probe.agent.observe(batch)  # what update does first
    agent_buffers = copy.deepcopy(dict(probe.agent.named_buffers()))
    assert any(key.endswith("norm.t") and int(value) == 1 for key, value in agent_buffers.items())
    torch.manual_seed(0)
    out = probe.loss(batch)
    probe.loss(batch)  # a loss, however often called, moves nothing: neither the learner's nor the agent's statistics
    for key, value in probe.stats.state_dict().items():
        assert torch.equal(value, before[key]), key
    for key, value in probe.agent.named_buffers():
        assert torch.equal(value, agent_buffers[key]), key
    asked = out.update
    assert int(asked.popart.t) == 2 and not torch.equal(asked.popart.mu, before["popart.mu"])
    assert asked.mean_log_prob is not None

    torch.manual_seed(0)
    metrics = learner.update(batch)
    assert metrics["loss"].item() == out.loss.item()  # the update's loss read the statistics from before it
    popart = learner.stats.popart
    for name in ("mu", "nu", "w", "b", "t"):
        assert torch.equal(getattr(popart, name), getattr(asked.popart, name)), name
    beta_t = beta / (1.0 - (1.0 - beta) ** 2)  # the second batch PopArt counts; mu started at 0
    assert popart.mu[-1].item() == pytest.approx(beta_t * metrics["q/target_mean"].item(), rel=1e-5)
    want_log_alpha = math.log(init_alpha) + alpha_lr * (asked.mean_log_prob.item() - 2.0)  # target -2 ("auto")
    assert learner.stats.temperature.log_alpha.item() == pytest.approx(want_log_alpha, rel=1e-6)
    assert metrics["actor/alpha"].item() == pytest.approx(init_alpha)  # the loss weighed with alpha before its step


@pytest.mark.parametrize("learn_agent", AGENTS)
def test_learner_warmup_polyak_and_non_finite_loss(learn_agent) -> None:
    agent, cfg = tiny_agent("discrete", agent=learn_agent, lr=1e-3, warmup_steps=4, tau=0.25)
    learner = Learner(agent, cfg)
    batch = random_batch("discrete")
    lrs = []
    for _ in range(5):
        target_before = [p.clone() for p in agent.target_critic.parameters()]
        metrics = learner.update(batch)
        lrs.append(float(metrics["lr"]))
        for old, target, online in zip(target_before, agent.target_critic.parameters(), agent.critic.parameters()):
            assert torch.allclose(target, 0.75 * old + 0.25 * online, atol=1e-6)
    assert lrs == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])
    assert learner.num_updates == 5
    batch.prev_reward[0, 1] = float("nan")
    with pytest.raises(FloatingPointError, match="loss became"):
        learner.update(batch)


@pytest.mark.parametrize("learn_agent", AGENTS)
def test_learner_refuses_an_agent_built_for_the_other_loss(learn_agent) -> None:
    other = next(a for a in AGENTS if a != learn_agent)
    _, cfg = tiny_agent("multidiscrete", agent=learn_agent)
    other_agent, _ = tiny_agent("multidiscrete", agent=other)
    with pytest.raises(ConfigError, match=f"learn.agent='{learn_agent}'"):
        Learner(other_agent, cfg)
