"""The optional next-step prediction loss (``learn.dynamics_coeff``): off by default, hand-computed target,
gradient routing, and its weight in both agents' losses."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from icrl.config import LearnConfig
from icrl.errors import ConfigError
from icrl.learn import amago_loss
from icrl.learn.amago import encode_window
from icrl.learn.auxiliary import dynamics_loss
from scaffold import AGENTS, agent_loss, fresh_stats, random_batch, tiny_agent


def test_off_by_default_builds_no_head_and_logs_nothing() -> None:
    agent, cfg = tiny_agent()
    assert agent.dynamics is None and not any(k.startswith("dynamics.") for k in agent.state_dict())
    stats = fresh_stats(agent, cfg).view()
    _, metrics, _ = amago_loss(agent, random_batch(first_terminates=False), cfg, stats)
    assert not any(k.startswith("aux/") for k in metrics)
    with pytest.raises(ConfigError, match="dynamics_coeff"):
        LearnConfig(dynamics_coeff=-1.0)


def test_target_is_the_change_of_next_observation_and_reward() -> None:
    agent, _ = tiny_agent(dynamics_coeff=1.0)
    agent.eval()  # fresh input statistics (mean 0, std 1): the normalised input is the raw input
    last = agent.dynamics.net[-1]
    torch.nn.init.zeros_(last.weight), torch.nn.init.zeros_(last.bias)  # predicts no change: loss = mean target^2
    batch = random_batch(lengths=(5, 3), pad_to=6, first_terminates=False)
    w = encode_window(agent, batch)
    expected = []
    for b, n in enumerate((5, 3)):
        for t in range(n - 1):
            d_obs = batch.obs["x"][b, t + 1] - batch.obs["x"][b, t]
            d_rew = batch.prev_reward[b, t + 1] - batch.prev_reward[b, t]
            expected.append(torch.cat([d_obs, d_rew.view(1)]))
    expected = torch.stack(expected)  # 6 valid transitions x (3 obs + 1 reward); the action part is not a target
    assert dynamics_loss(agent, batch, w.s_now).item() == pytest.approx((expected**2).mean().item(), rel=1e-5)


def test_gradient_reaches_the_sequence_model_and_the_head() -> None:
    agent, _ = tiny_agent(dynamics_coeff=1.0)
    batch = random_batch(first_terminates=False)
    dynamics_loss(agent, batch, encode_window(agent, batch).s_now).backward()
    for module in (agent.dynamics, agent.sequence, agent.encoder):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters()), type(module)
    assert all(p.grad is None for p in agent.critic.parameters())  # the prediction does not train the critic


@pytest.mark.parametrize("learn_agent", AGENTS)
def test_the_coefficient_weights_the_prediction_in_the_total_loss(learn_agent) -> None:
    agent, cfg = tiny_agent(agent=learn_agent, dynamics_coeff=1.0)
    agent.eval()  # no input-statistics updates
    batch = random_batch(first_terminates=False)
    stats = fresh_stats(agent, cfg)
    base, metrics, _ = agent_loss(agent, batch, cfg, stats=stats)  # both seeded alike
    tripled, _, _ = agent_loss(agent, batch, dataclasses.replace(cfg, dynamics_coeff=3.0), stats=stats)
    aux = metrics["aux/dynamics_loss"]
    assert aux > 0 and (tripled - base).item() == pytest.approx(2 * aux.item(), rel=1e-4)
