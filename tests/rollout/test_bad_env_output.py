"""Non-finite env output is refused where the rollout is recorded, with the env, step, key and fix named; the
subprocess vector-env mode collects what the in-process mode collects."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest
import torch

from icrl.envs import make_env, wrap
from icrl.errors import ICRLError
from icrl.rollout import Collector, make_vector_env
from icrl.spaces import ActionSpec


class BadEnv(gym.Env):
    """Observation = step count, except ``value`` at step ``bad_step`` (0: the reset); ends after 3 steps."""

    def __init__(self, bad_step: int = 99, value: float = np.nan, key: str = "obs") -> None:
        self.bad_step, self.value, self.key = bad_step, value, key
        self.observation_space = gym.spaces.Dict({"pos": gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)})
        self.action_space = gym.spaces.Discrete(2)

    def _obs(self) -> dict:
        bad = self.t == self.bad_step and self.key == "obs"
        return {"pos": np.array([self.t, self.value if bad else 0.0], np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        reward = self.value if self.t == self.bad_step and self.key == "reward" else 1.0
        return self._obs(), reward, self.t >= 3, False, {}


class RandomAgent:
    def __init__(self, spec: ActionSpec) -> None:
        self.spec = spec

    def initial_state(self, n: int, device) -> torch.Tensor:
        return torch.zeros(n)

    def act(self, obs, prev_action, prev_reward, time_idx, reset, state, sample):
        return torch.from_numpy(self.spec.encode(np.zeros(len(state), np.int64))), state


def _collect(envs: list[gym.Env], steps: int = 4):
    venv = gym.vector.SyncVectorEnv([functools.partial(wrap, e, "bad-env") for e in envs],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    spec = ActionSpec("discrete", (2,))
    return Collector(venv, RandomAgent(spec), spec, torch.device("cpu"), "bad-env", seed=0).collect(steps)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_observation_names_env_index_step_key_and_fix(value: float) -> None:
    with pytest.raises(ICRLError, match=r"env 'bad-env' \(vector index 1\) returned a non-finite observation key "
                                        r"'pos' .* at step 2 of its rollout .*ObservationWrapper"):
        _collect([BadEnv(), BadEnv(bad_step=2, value=value)])


def test_non_finite_output_at_reset_and_on_the_final_step_is_refused() -> None:
    with pytest.raises(ICRLError, match=r"vector index 0\) returned a non-finite observation key 'pos' .* its reset"):
        _collect([BadEnv(bad_step=0)])
    with pytest.raises(ICRLError, match=r"vector index 1\) .* 'pos' .* at step 3 of its rollout"):
        _collect([BadEnv(), BadEnv(bad_step=3)])  # the final observation arrives in info["final_obs"]


def test_a_non_finite_reward_names_the_env_and_step() -> None:
    with pytest.raises(ICRLError, match=r"'bad-env' returned a non-finite reward \(nan\) at step 1.*RewardWrapper"):
        _collect([BadEnv(bad_step=2, key="reward")])


def test_finite_output_is_collected_unchanged() -> None:
    trajs, stats = _collect([BadEnv(), BadEnv()], steps=3)
    assert len(trajs) == 2 and all(np.array_equal(t.obs["pos"][:, 0], [0, 1, 2, 3]) for t in trajs)


def test_subprocess_vector_envs_collect_what_in_process_ones_do() -> None:
    spec = ActionSpec("discrete", (2,))
    factory = functools.partial(make_env, "testing-remember-first")
    runs = []
    for mode in ("inline", "subprocess"):
        venv = make_vector_env(factory, 2, mode)
        try:
            assert isinstance(venv, gym.vector.AsyncVectorEnv) == (mode == "subprocess")
            runs.append(Collector(venv, RandomAgent(spec), spec, torch.device("cpu"), "rf", seed=3).collect(8))
        finally:
            venv.close()
    (trajs_a, stats_a), (trajs_b, stats_b) = runs
    assert len(trajs_a) == len(trajs_b) == 4 and [s.ret for s in stats_a] == [s.ret for s in stats_b]
    for a, b in zip(trajs_a, trajs_b):
        assert all(np.array_equal(a.arrays()[k], b.arrays()[k]) for k in a.arrays())


def test_a_bad_env_in_a_subprocess_surfaces_its_error() -> None:
    spec = ActionSpec("discrete", (2,))
    venv = make_vector_env(functools.partial(lambda: wrap(BadEnv(bad_step=2), "bad-env")), 2, "subprocess")
    try:
        with pytest.raises(ICRLError, match="non-finite observation key 'pos'"):
            Collector(venv, RandomAgent(spec), spec, torch.device("cpu"), "bad-env", seed=0).collect(4)
    finally:
        venv.close()
