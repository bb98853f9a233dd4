"""Suite environments: POPGym, HalfCheetah-Vel, and the DI calibration script (the AIB itself: test_aib.py)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from icrl.envs import make_env
from icrl.errors import ICRLError

has = lambda module: importlib.util.find_spec(module) is not None  # noqa: E731


@pytest.mark.skipif(not has("popgym"), reason="needs the popgym extra")
@pytest.mark.parametrize("name,limit", [("RepeatPreviousEasy", 51), ("CountRecallEasy", 51),
                                        ("StatelessCartPoleEasy", 200), ("AutoencodeEasy", 103)])
def test_popgym_envs_construct_step_and_stay_in_unit_return(name, limit) -> None:
    env = make_env(f"popgym/{name}")
    assert env.max_rollout_steps == limit
    env.reset(seed=0)
    total, done, steps = 0.0, False, 0
    rng = np.random.default_rng(0)
    while not done:
        _, r, term, trunc, _ = env.step(int(rng.integers(env.action_space.n)))
        total, steps, done = total + r, steps + 1, term or trunc
        assert not trunc  # the episode end counts as termination (method's POPGym setting)
    assert -1.0 - 1e-6 <= total <= 1.0 + 1e-6 and steps <= limit


@pytest.mark.skipif(not has("popgym"), reason="needs the popgym extra")
def test_popgym_unknown_name_lists_choices() -> None:
    with pytest.raises(ICRLError, match="RepeatPreviousEasy"):
        make_env("popgym/NoSuchGame")


@pytest.mark.skipif(not has("popgym"), reason="needs the popgym extra")
def test_cartpole_endings_names_why_an_episode_ended() -> None:
    from pathlib import Path

    from icrl.envs.suites.popgym import make_popgym

    spec = importlib.util.spec_from_file_location(
        "cartpole_endings", Path(__file__).parents[2] / "benchmarks/cartpole_endings.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    endings: list = []
    env = bench._RecordEnding(make_popgym("StatelessCartPoleEasy"), endings)
    cart = env.unwrapped
    env.reset(seed=0)
    while not endings:  # always pushing right tips the pole over to the left long before the cart leaves
        env.step(1)
    steps, x, _, theta, _ = endings[0]
    assert steps < 30 and theta < -cart.theta_threshold_radians and bench.classify(x, theta, cart) == "pole fallen"
    env.reset(seed=0)
    cart.state = np.array([2.39, 3.0, 0.0, 0.0])  # at the right edge, moving right: one step takes it off
    env.step(0)
    assert endings[1][0] == 1 and bench.classify(endings[1][1], endings[1][3], cart) == "cart off the track, right"
    assert bench.classify(0.0, 0.0, cart) == "time limit"
    with pytest.raises(SystemExit, match="CartPoleEnv"):
        bench._RecordEnding(make_popgym("RepeatPreviousEasy"), endings)


@pytest.mark.skipif(not has("mujoco"), reason="needs the mujoco extra")
def test_halfcheetah_vel_keeps_its_target_across_episodes() -> None:
    env = make_env("halfcheetah-vel", episodes=2, episode_length=5)
    env.reset(seed=0)
    targets = set()
    done, info = False, {}
    while not done:
        _, _, term, trunc, info = env.step(env.action_space.sample())
        targets.add(info["target_velocity"])
        done = term or trunc
    assert len(targets) == 1 and 0.0 <= targets.pop() <= 3.0
    assert set(info["episode_metrics"]) >= {"attempt_1/return", "attempt_2/return", "return"}


@pytest.mark.skipif(not has("popgym"), reason="needs the popgym extra")
def test_popgym_multitask_pads_spaces_and_names_its_task() -> None:
    env = make_env("popgym-multitask")
    inner = env.unwrapped
    assert inner.task_names == ("RepeatPreviousEasy", "CountRecallEasy", "PositionOnlyCartPoleEasy")
    assert env.observation_space["observation"].shape == (4,) and env.action_space.n == 27  # widest task, most actions
    assert env.max_rollout_steps == 200
    seen = {}
    for seed in range(12):
        obs, info = env.reset(seed=seed)
        assert info["task"] == inner.current_task
        seen.setdefault(inner.current_task, obs["observation"])
    assert set(seen) == set(inner.task_names)  # every task is drawn
    assert np.all(seen["PositionOnlyCartPoleEasy"][2:] == 0.0)  # 2 real entries, 2 padded zeros
    assert np.all(np.isin(seen["RepeatPreviousEasy"], [0.0, 1.0]))


@pytest.mark.skipif(not has("popgym"), reason="needs the popgym extra")
def test_popgym_multitask_plays_padded_actions_modulo_the_task_size() -> None:
    env = make_env("popgym-multitask", tasks=["RepeatPreviousEasy", "PositionOnlyCartPoleEasy"])
    inner = env.unwrapped
    assert env.action_space.n == 4
    played = []
    for task_env in inner.envs:
        original = task_env.step
        task_env.step = lambda a, original=original: (played.append(a), original(a))[1]
    rng = np.random.default_rng(0)
    for seed in range(6):
        env.reset(seed=seed)
        n_task = inner.num_actions[inner.task_index]
        total, done, steps = 0.0, False, 0
        while not done:
            action = int(rng.integers(4))
            del played[:]
            _, reward, term, trunc, info = env.step(action)
            assert played == [action % n_task] and info["task"] == inner.current_task
            total, steps, done = total + reward, steps + 1, term or trunc
        assert steps <= 200 and -1.0 - 1e-6 <= total <= 1.0 + 1e-6


@pytest.mark.skipif(not has("popgym"), reason="needs the popgym extra")
def test_popgym_multitask_refuses_tasks_without_discrete_actions() -> None:
    with pytest.raises(ICRLError, match="PositionOnlyPendulumEasy"):
        make_env("popgym-multitask", tasks=["RepeatPreviousEasy", "PositionOnlyPendulumEasy"])


def _di_sac_reference():
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "di_sac_reference", Path(__file__).parents[2] / "benchmarks/di_sac_reference.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_di_sac_reference_log_prob_is_the_squashed_gaussians() -> None:
    """The calibration SAC of benchmarks/di_sac_reference.py: its log-probability is the tanh-Gaussian's."""
    import torch
    from torch.distributions import Normal, TransformedDistribution
    from torch.distributions.transforms import TanhTransform

    bench = _di_sac_reference()
    torch.manual_seed(0)
    assert bench.make_task("train-oracle").observation_space.shape == (5,)
    assert bench.make_task("train-hidden").observation_space.shape == (4,)
    agent = bench.SAC(4)
    obs = torch.randn(64, 4)
    action, logp = agent.act(obs)
    mean, log_std = agent.actor(obs).chunk(2, -1)
    squashed = TransformedDistribution(Normal(mean, log_std.clamp(-5, 2).exp()), [TanhTransform()])
    expected = squashed.log_prob(action.clamp(-1 + 1e-6, 1 - 1e-6)).sum(-1)
    assert torch.allclose(logp, expected, atol=1e-3)
    greedy, _ = agent.act(obs, greedy=True)
    assert torch.allclose(greedy, torch.tanh(mean))
    before = [p.clone() for p in agent.targets.parameters()]
    agent.update(obs, action.detach(), torch.ones(64), torch.randn(64, 4))
    moved = [not torch.equal(a, b) for a, b in zip(before, agent.targets.parameters())]
    assert all(moved)  # the Polyak step moves every target parameter towards the trained critics


def test_di_sac_reference_mirrored_transitions_replay_exactly() -> None:
    """--mirror: a mirrored transition replays exactly in the env of the other sign, with the sign feature
    (train-oracle) or the previous action (train-history) negated with the action."""
    bench = _di_sac_reference()
    assert bench.make_task("train-history").observation_space.shape == (10,)
    for task in ("train-oracle", "train-history"):
        env = bench.make_task(task, instance=1)  # sign +1
        env.reset(seed=3)
        obs = env.step(np.array([-0.4, 0.9], np.float32))[0]
        act = np.array([0.7, -0.3], np.float32)
        nxt = env.step(act)[0]
        if task == "train-history":
            np.testing.assert_array_equal(nxt[4:8], obs[:4])  # the previous observation and action follow
            np.testing.assert_array_equal(nxt[8:], act)
        flips = 0
        for k in range(16):
            o, a, o2 = bench.mirror(obs[None], act[None], nxt[None], np.random.default_rng(k),
                                    bench.MIRRORED_COLUMNS[task])
            if a[0, 0] != act[0]:
                flips += 1
                twin = bench.make_task(task, instance=2)  # sign -1
                twin.reset(seed=0)
                twin.unwrapped.p, twin.unwrapped.v = obs[:2].astype(np.float64), obs[2:4].astype(np.float64)
                twin.unwrapped.mass = env.unwrapped.mass
                if task == "train-history":
                    twin.last = obs[:4]
                np.testing.assert_allclose(twin.step(a[0])[0], o2[0], atol=1e-6)
                np.testing.assert_array_equal(a[0], -act)
                if task == "train-oracle":
                    assert o[0, -1] == -obs[-1]  # the sign feature flips with the action
            else:
                np.testing.assert_array_equal(o, obs[None])
                np.testing.assert_array_equal(o2, nxt[None])
        assert 0 < flips < 16


def test_di_sac_reference_icrl_details_train_what_they_say() -> None:
    """--shared-trunk: the critic loss trains the encoder and the actor loss leaves its gradient alone; --ensemble:
    the TD target's min over 2 drawn members lies between the min and the max over all members."""
    import torch

    bench = _di_sac_reference()
    torch.manual_seed(0)
    agent = bench.SAC(10, ensemble=4, shared_trunk=True, soft_target=False)
    obs, obs2 = torch.randn(32, 10), torch.randn(32, 10)
    act, rew = torch.rand(32, 2) * 2 - 1, torch.rand(32)
    features = agent.embed(obs).detach()
    values = torch.cat([net(torch.cat([features, act], -1)) for net in agent.critics], -1)
    drawn = agent.q(agent.critics, features, act, drawn=True)
    assert torch.all(drawn >= values.min(-1).values) and torch.all(drawn <= values.max(-1).values)
    assert torch.equal(agent.q(agent.critics, features, act), values.min(-1).values)
    grads = {}
    agent.opt_critic.step = lambda: grads.update(critic=[p.grad.clone() for p in agent.embed.parameters()])
    agent.opt_actor.step = lambda: grads.update(actor=[p.grad.clone() for p in agent.embed.parameters()])
    agent.update(obs, act, rew, obs2)
    assert all(g.abs().sum() > 0 for g in grads["critic"])  # the critic loss reaches the encoder
    assert all(torch.equal(c, a) for c, a in zip(grads["critic"], grads["actor"]))  # the actor loss adds nothing


def test_di_sac_reference_dynamics_head_trains_with_the_critic_and_action_spread_reads_the_action() -> None:
    """--dynamics: the head's error trains the head through the critic's optimiser; the action
    spread is max - min over the action grid: the grid's width for a Q that is the first action, 0 for a constant."""
    import torch

    bench = _di_sac_reference()
    torch.manual_seed(0)
    agent = bench.SAC(10, shared_trunk=True, dynamics=True)
    obs, obs2 = torch.randn(32, 10), torch.randn(32, 10)
    grads = {}
    agent.opt_critic.step = lambda: grads.update(head=[p.grad.clone() for p in agent.dynamics.parameters()])
    agent.update(obs, torch.rand(32, 2) * 2 - 1, torch.rand(32), obs2)
    assert all(g.abs().sum() > 0 for g in grads["head"])
    states = np.random.default_rng(0).normal(size=(8, 10)).astype(np.float32)
    agent.q = lambda nets, features, act, drawn=False: act[:, 0]
    assert bench.action_spread(agent, states)[0] == pytest.approx(1.96)
    agent.q = lambda nets, features, act, drawn=False: features[:, 0] * 0 + 0.5
    assert bench.action_spread(agent, states) == (0.0, 0.5)
