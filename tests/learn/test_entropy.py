"""The optional entropy-regularised actor (``learn.target_entropy``, not in the method): exact squashed log
probabilities, the temperature's update rule, its place in both losses, errors, and its checkpointed state (the
learner's)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from icrl.config import LearnConfig, RunConfig, apply_overrides
from icrl.errors import ConfigError
from icrl.learn import Learner
from icrl.learn.entropy import EntropyTemperature, add_entropy_loss, make_temperature
from icrl.nets.distributions import TanhGaussian
from scaffold import AGENTS, SPECS, agent_loss, fresh_stats, random_batch, tiny_agent

BOX = SPECS["box"]


def _gaussian(mean: float, log_std_raw: float, shape=(5, 3, 2)) -> TanhGaussian:
    params = torch.cat([torch.full(shape, mean), torch.full(shape, log_std_raw)], -1)
    return TanhGaussian(params)


def test_sampled_log_prob_is_the_change_of_variables_density() -> None:
    torch.manual_seed(0)
    pi = TanhGaussian(torch.randn(64, 3, 4) * 0.5)
    torch.manual_seed(1)
    action, logp = pi.rsample_with_log_prob()
    inside = action.abs().amax(-1) < 0.95  # log_prob clamps beyond 0.99; compare where it does not
    assert inside.sum() > 100
    torch.testing.assert_close(logp[inside], pi.log_prob(action)[inside], rtol=1e-4, atol=1e-4)
    # by hand: sum over the two dimensions of log N(u; m, s) - log(1 - tanh(u)^2)
    torch.manual_seed(1)
    u = pi.mean + pi.std * torch.randn_like(pi.mean)
    by_hand = 0.0
    for d in range(2):
        m, s, x = pi.mean[0, 0, d].item(), pi.std[0, 0, d].item(), u[0, 0, d].item()
        normal = -0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
        by_hand += normal - math.log(1 - math.tanh(x) ** 2)
    assert logp[0, 0].item() == pytest.approx(by_hand, rel=1e-5)


def test_a_saturated_policy_keeps_a_finite_large_log_prob() -> None:
    _, logp = _gaussian(mean=30.0, log_std_raw=0.0).rsample_with_log_prob()
    assert torch.isfinite(logp).all() and (logp > 50).all()  # tanh(30) == 1.0 in float32, log(1 - a^2) = -inf


def test_temperature_step_by_hand() -> None:
    temp = EntropyTemperature(target=-2.0, lr=0.1, init_alpha=1.0)
    temp.adapt(torch.tensor(-1.0))  # entropy 1 > target -2: alpha falls by lr * (log pi + target) = -0.3
    assert temp.log_alpha.item() == pytest.approx(-0.3)
    temp.adapt(torch.tensor(5.0))  # entropy -5 < target -2: alpha rises by 0.1 * 3
    assert temp.log_alpha.item() == pytest.approx(0.0, abs=1e-6)
    temp.adapt(torch.tensor(1e6))
    assert temp.alpha.item() == pytest.approx(math.exp(5.0))  # clamped


def test_entropy_term_adds_alpha_times_log_prob_and_raises_a_narrow_policys_std() -> None:
    temperature = make_temperature(LearnConfig(target_entropy=-2.0, alpha_lr=0.0, init_alpha=0.5), BOX)
    raw = torch.full((7, 2, 4), -3.0)
    raw[..., :2] = 0.2
    raw.requires_grad_(True)
    pi = TanhGaussian(raw)
    base = torch.tensor(1.25)
    torch.manual_seed(3)
    loss, metrics, mean_logp = add_entropy_loss(temperature.alpha, pi, base, {})
    torch.manual_seed(3)
    _, logp = pi.rsample_with_log_prob()
    assert loss.item() == pytest.approx(1.25 + 0.5 * logp.mean().item(), rel=1e-5)
    assert mean_logp.item() == pytest.approx(logp.mean().item(), rel=1e-6) and not mean_logp.requires_grad
    assert add_entropy_loss(None, pi, base, {}) == (base, {}, None)  # no temperature: no term
    assert metrics["actor/alpha"].item() == pytest.approx(0.5)
    assert metrics["actor/entropy_sampled"].item() == pytest.approx(-logp[:, -1].mean().item(), rel=1e-5)
    loss.backward()
    assert (raw.grad[..., 2:] < 0).all()  # descending the loss widens the policy


@pytest.mark.parametrize("learn_agent", AGENTS)
def test_both_losses_carry_the_term_and_adapt_alpha(learn_agent) -> None:
    agent, cfg = tiny_agent(agent=learn_agent, target_entropy="auto")
    stats = fresh_stats(agent, cfg)
    assert stats.temperature.target == -2.0  # "auto": minus the action dimensions
    plain, plain_cfg = tiny_agent(agent=learn_agent)
    plain.load_state_dict(agent.state_dict())
    agent.eval(), plain.eval()
    batch = random_batch(first_terminates=False)
    with_term, metrics, update = agent_loss(agent, batch, cfg, stats=stats)  # both seeded alike
    without, plain_metrics, plain_update = agent_loss(plain, batch, plain_cfg)
    assert "actor/alpha" in metrics and "actor/alpha" not in plain_metrics
    assert (with_term - without).abs().item() > 1e-4
    assert update.mean_log_prob is not None and plain_update.mean_log_prob is None
    assert stats.temperature.log_alpha.item() == 0.0  # the loss only reports the step
    stats.apply(update)
    assert stats.temperature.log_alpha.item() != 0.0  # one adaptation step per update


def test_temperature_is_saved_with_the_learner_and_absent_when_off() -> None:
    learner = Learner(*tiny_agent(target_entropy=-1.0))
    learner.stats.temperature.log_alpha.fill_(-1.5)
    assert not any("temperature" in k for k in learner.agent.state_dict())  # the agent holds networks only
    restored = Learner(*tiny_agent(target_entropy=-1.0))
    restored.stats.load_state_dict(copy.deepcopy(learner.stats.state_dict()))
    assert restored.stats.temperature.log_alpha.item() == pytest.approx(-1.5)
    off = Learner(*tiny_agent())
    assert off.stats.temperature is None and not any(k.startswith("temperature.") for k in off.stats.state_dict())


def test_bad_settings_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="target_entropy"):
        LearnConfig(target_entropy="high")
    with pytest.raises(ConfigError, match="target_entropy"):
        LearnConfig(target_entropy=float("nan"))
    with pytest.raises(ConfigError, match="alpha_lr"):
        LearnConfig(alpha_lr=-1.0)
    with pytest.raises(ConfigError, match="target_entropy.*discrete"):
        Learner(*tiny_agent("discrete", target_entropy="auto"))
    assert apply_overrides(RunConfig(), ["learn.target_entropy=auto"]).learn.target_entropy == "auto"
    assert apply_overrides(RunConfig(), ["learn.target_entropy=-3"]).learn.target_entropy == -3.0
    with pytest.raises(ConfigError, match="target_entropy"):
        apply_overrides(RunConfig(), ["learn.target_entropy=[1]"])
