"""The collector assembles aligned trajectories, resets agent memory exactly at rollout boundaries, and reports
metrics per task for multi-task envs."""

from __future__ import annotations

import functools
import importlib.util

import gymnasium as gym
import numpy as np
import pytest
import torch

from icrl.agent import make_agent
from icrl.config import RunConfig, apply_overrides
from icrl.envs import make_env, wrap
from icrl.rollout import Collector, evaluate, make_vector_env, summarize
from icrl.spaces import ActionSpec


class CountEnv(gym.Env):
    """Observation = step count; reward = action + 10 * step; terminates after `length` steps."""

    def __init__(self, length: int = 3, truncate: bool = False) -> None:
        self.length, self.truncate = length, truncate
        self.observation_space = gym.spaces.Box(0, 100, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        end = self.t >= self.length
        info = {"episode_metrics": {"custom": 7.0}} if end else {}
        reward = float(action) + 10.0 * self.t
        return np.array([self.t], np.float32), reward, end and not self.truncate, end and self.truncate, info


class ScriptedAgent:
    """Acts `step_count % 3` per env and records the reset masks it is given."""

    def __init__(self, spec: ActionSpec) -> None:
        self.spec, self.resets, self.calls = spec, [], 0

    def initial_state(self, n: int, device) -> torch.Tensor:
        return torch.zeros(n)

    def act(self, obs, prev_action, prev_reward, time_idx, reset, state, sample):
        self.resets.append(reset.numpy().copy())
        state = torch.where(reset, torch.zeros_like(state), state) + 1
        actions = (state.long() - 1) % 3
        self.calls += 1
        return torch.from_numpy(self.spec.encode(actions.numpy())), state


def _collector(n_envs: int = 2, lengths=(3, 5), truncate: bool = False, chunk_len: int = 0):
    factories = [functools.partial(lambda L: wrap(CountEnv(L, truncate)), L) for L in lengths[:n_envs]]
    venv = gym.vector.SyncVectorEnv(factories, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    spec = ActionSpec("discrete", (3,))
    agent = ScriptedAgent(spec)
    return Collector(venv, agent, spec, torch.device("cpu"), "count", chunk_len=chunk_len, seed=0), agent


def test_trajectories_are_aligned_and_complete() -> None:
    collector, agent = _collector()
    trajs, stats = collector.collect(6)
    assert [len(t) for t in trajs] == [3, 5, 3]
    t = trajs[0]
    assert np.array_equal(t.obs["observation"][:, 0], [0, 1, 2, 3])  # final observation included
    assert np.array_equal(t.time_idx, [0, 1, 2, 3])
    actions = t.prev_action[1:].argmax(-1)
    assert np.array_equal(actions, [0, 1, 2]) and np.all(t.prev_action[0] == 0)
    assert np.allclose(t.prev_reward, [0, 10, 21, 32])
    assert np.array_equal(t.terminated, [False, False, False, True])
    assert trajs[1].env_name == "count"
    assert [s.ret for s in stats] == [63.0, 154.0, 63.0]  # 10+21+32 and 10+21+32+40+51
    assert stats[0].length == 3 and stats[0].metrics == {"custom": 7.0}


def test_memory_resets_exactly_after_each_rollout_end() -> None:
    collector, agent = _collector()
    collector.collect(7)
    resets = np.stack(agent.resets)
    assert np.array_equal(resets[:, 0], [1, 0, 0, 1, 0, 0, 1])
    assert np.array_equal(resets[:, 1], [1, 0, 0, 0, 0, 1, 0])


def test_truncation_is_not_termination() -> None:
    collector, _ = _collector(n_envs=1, lengths=(2,), truncate=True)
    trajs, _ = collector.collect(2)
    assert len(trajs) == 1 and not trajs[0].terminated.any()


def test_chunks_overlap_by_one_step_and_continue_time() -> None:
    collector, _ = _collector(n_envs=1, lengths=(10,), chunk_len=4)
    trajs, _ = collector.collect(10)
    assert [len(t) for t in trajs] == [4, 4, 2]
    assert np.array_equal(trajs[1].time_idx, [4, 5, 6, 7, 8])
    for a, b in zip(trajs, trajs[1:]):
        assert np.array_equal(a.obs["observation"][-1], b.obs["observation"][0])
        assert np.array_equal(a.prev_action[-1], b.prev_action[0])


def test_run_rollouts_counts_each_env_equally_and_summarize() -> None:
    collector, _ = _collector(lengths=(2, 5))
    stats = collector.run_rollouts(per_env=2)
    assert sorted(s.length for s in stats) == [2, 2, 5, 5]
    summary = summarize(stats, "eval")
    assert summary["eval/rollouts"] == 4 and summary["eval/custom"] == 7.0


def test_make_vector_env_modes() -> None:
    factory = functools.partial(lambda: wrap(CountEnv(3)))
    venv = make_vector_env(factory, 3, "inline")
    assert venv.num_envs == 3
    venv.close()


def _positioned(vector_index: int = -1):
    return wrap(CountEnv(2 + vector_index))


def test_make_vector_env_hands_env_i_its_index() -> None:
    """A factory with a ``vector_index`` keyword builds env i with vector_index=i, in this process or in
    subprocesses; make_env takes it and passes it on only to envs that use it (the AIB), not to t-maze."""
    venv = make_vector_env(_positioned, 3)
    assert [e.unwrapped.length for e in venv.envs] == [2, 3, 4]
    venv.close()
    venv = make_vector_env(functools.partial(make_env, "t-maze", length=4), 2)
    assert venv.num_envs == 2
    venv.close()
    venv = make_vector_env(functools.partial(make_env, "aib/di", split="eval_in"), 3, "subprocess")
    _, info = venv.reset(seed=0)
    venv.close()
    np.testing.assert_array_equal(info["context"]["mass"], [0.51, 0.55, 0.61])  # instances 0, 1, 2


class TaskEnv(CountEnv):
    """CountEnv whose rollouts alternate between tasks "short" (2 steps) and "long" (4 steps), named in info."""

    def reset(self, *, seed=None, options=None):
        self.episode = getattr(self, "episode", -1) + 1
        self.task = ("short", "long")[self.episode % 2]
        self.length = 2 if self.task == "short" else 4
        obs, info = super().reset(seed=seed)
        return obs, {**info, "task": self.task}

    def step(self, action):
        obs, reward, term, trunc, info = super().step(action)
        if term:
            info = {"episode_metrics": {"success": float(self.task == "long")}}
        return obs, reward, term, trunc, {**info, "task": self.task}


def test_rollouts_name_their_task_and_metrics_break_down_per_task() -> None:
    venv = gym.vector.SyncVectorEnv([lambda: wrap(TaskEnv())] * 2, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    spec = ActionSpec("discrete", (3,))
    collector = Collector(venv, ScriptedAgent(spec), spec, torch.device("cpu"), "tasks", seed=0)
    stats = collector.run_rollouts(per_env=2)
    assert sorted((s.task, s.length) for s in stats) == [("long", 4), ("long", 4), ("short", 2), ("short", 2)]
    summary = summarize(stats, "eval")
    assert summary["eval/task/short/return"] == 10.0 + 21.0  # actions 0, 1 at steps 1, 2
    assert summary["eval/task/long/return"] == 10.0 + 21.0 + 32.0 + 40.0
    assert summary["eval/task/short/success"] == 0.0 and summary["eval/task/long/success"] == 1.0
    assert summary["eval/return"] == pytest.approx((31.0 + 103.0) / 2)
    assert not any("/task/" in k for k in summarize(_collector()[0].run_rollouts(per_env=1), "eval"))


@pytest.mark.skipif(importlib.util.find_spec("popgym") is None, reason="needs the popgym extra")
def test_evaluation_on_popgym_multitask_reports_every_task() -> None:
    cfg = apply_overrides(RunConfig(), ["learn.agent=multitask", "model.d_model=8", "model.n_layers=1",
                                        "model.n_heads=2", "model.encoder_hidden=8", "model.encoder_out=8",
                                        "model.head_hidden=8", "learn.critic_bins=5"])
    env = make_env("popgym-multitask")
    agent = make_agent(cfg, env.obs_spec, env.action_spec, 201, 201)
    factory = functools.partial(make_env, "popgym-multitask")
    metrics = evaluate(agent, factory, env.action_spec, "popgym-multitask", 3, 12, torch.device("cpu"), seed=0)
    for task in env.unwrapped.task_names:
        assert -1.0 <= metrics[f"eval/task/{task}/return"] <= 1.0


def test_evaluation_on_aib_covers_the_split_and_reports_each_sign() -> None:
    """20 evaluation envs on eval_out hold its 20 instances (11 inverted, 9 normal): one rollout each."""
    cfg = apply_overrides(RunConfig(), ["model.d_model=8", "model.n_layers=1", "model.n_heads=2",
                                        "model.encoder_hidden=8", "model.encoder_out=8", "model.head_hidden=8"])
    env = make_env("aib/di", split="eval_out")
    agent = make_agent(cfg, env.obs_spec, env.action_spec, 101, 101)
    factory = functools.partial(make_env, "aib/di", split="eval_out")
    metrics = evaluate(agent, factory, env.action_spec, "aib/di", 20, 20, torch.device("cpu"), seed=0)
    assert metrics["eval/rollouts"] == 20 and metrics["eval/length"] == 100
    assert {"eval/task/inverted/return", "eval/task/normal/return"} <= set(metrics)
