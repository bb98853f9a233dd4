"""The optional next-step prediction loss (``learn.dynamics_coeff``): off by default, hand-computed target,
gradient routing, and its weight in both agents' losses."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from icrl.agent import make_agent
from icrl.config import LearnConfig, ModelConfig, RunConfig
from icrl.errors import ConfigError
from icrl.learn import amago_loss, make_learner_stats, multitask_loss
from icrl.learn.amago import encode_window
from icrl.learn.auxiliary import dynamics_loss
from icrl.records import Batch
from icrl.spaces import ActionSpec, ObsSpec

OBS, BOX = ObsSpec({"x": (3,)}, {"x": "float32"}), ActionSpec("box", box_dim=2)


def _agent(**learn):
    model = ModelConfig(d_model=16, n_layers=1, n_heads=2, encoder_hidden=16, encoder_out=8, head_hidden=16,
                        dropout_emb=0.0, dropout_ff=0.0)
    cfg = RunConfig(model=model, learn=LearnConfig(extra_gammas=(0.9,), **learn))
    return make_agent(cfg, OBS, BOX, max_seq_len=12, max_time_idx=32), cfg.learn


def _batch(lengths=(6, 4, 2), pad_to: int = 0) -> Batch:
    """Random rollouts of the given lengths, right-padded with zeros."""
    gen = torch.Generator().manual_seed(0)
    B, L = len(lengths), max(max(lengths), pad_to)
    valid = torch.arange(L)[None] < torch.tensor(lengths)[:, None]
    keep = lambda x: x * valid.view(B, L, *([1] * (x.dim() - 2))).to(x.dtype)  # noqa: E731
    return Batch({"x": keep(torch.randn(B, L, 3, generator=gen))}, keep(torch.rand(B, L, 2, generator=gen) * 2 - 1),
                 keep(torch.randn(B, L, generator=gen)), torch.arange(L).repeat(B, 1) * valid,
                 torch.zeros(B, L, dtype=torch.bool), valid)


def test_off_by_default_builds_no_head_and_logs_nothing() -> None:
    agent, cfg = _agent()
    assert agent.dynamics is None and not any(k.startswith("dynamics.") for k in agent.state_dict())
    stats = make_learner_stats(cfg, len(agent.gammas), agent.family.spec).view()
    _, metrics, _ = amago_loss(agent, _batch(), cfg, stats)
    assert not any(k.startswith("aux/") for k in metrics)
    with pytest.raises(ConfigError, match="dynamics_coeff"):
        LearnConfig(dynamics_coeff=-1.0)


def test_target_is_the_change_of_next_observation_and_reward() -> None:
    agent, _ = _agent(dynamics_coeff=1.0)
    agent.eval()  # fresh input statistics (mean 0, std 1): the normalised input is the raw input
    last = agent.dynamics.net[-1]
    torch.nn.init.zeros_(last.weight), torch.nn.init.zeros_(last.bias)  # predicts no change: loss = mean target^2
    batch = _batch(lengths=(5, 3), pad_to=6)
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
    agent, _ = _agent(dynamics_coeff=1.0)
    batch = _batch()
    dynamics_loss(agent, batch, encode_window(agent, batch).s_now).backward()
    for module in (agent.dynamics, agent.sequence, agent.encoder):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters()), type(module)
    assert all(p.grad is None for p in agent.critic.parameters())  # the prediction does not train the critic


@pytest.mark.parametrize(("agent_kind", "loss_fn"), [("amago", amago_loss), ("multitask", multitask_loss)])
def test_the_coefficient_weights_the_prediction_in_the_total_loss(agent_kind, loss_fn) -> None:
    agent, cfg = _agent(agent=agent_kind, dynamics_coeff=1.0)
    agent.eval()  # no input-statistics updates
    batch = _batch()
    stats = make_learner_stats(cfg, len(agent.gammas), agent.family.spec).view()
    torch.manual_seed(0)
    base, metrics, _ = loss_fn(agent, batch, cfg, stats)
    torch.manual_seed(0)
    tripled, _, _ = loss_fn(agent, batch, dataclasses.replace(cfg, dynamics_coeff=3.0), stats)
    aux = metrics["aux/dynamics_loss"]
    assert aux > 0 and (tripled - base).item() == pytest.approx(2 * aux.item(), rel=1e-4)
