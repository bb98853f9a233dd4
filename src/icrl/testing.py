"""Tiny, hand-checkable environments for tests and for users checking their set-up (names ``testing-*``), and
scripted experts that record offline datasets without downloads (``record_expert_dataset``)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from icrl.envs.registry import make_env, register_env


class RememberFirstEnv(gym.Env):
    """A bit is shown at t=0 only; after ``delay`` blank steps, reward 1 if the action equals the bit."""

    def __init__(self, delay: int = 3) -> None:
        self.delay = delay
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.max_rollout_steps = delay + 1

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.bit, self.t = int(self.np_random.integers(2)), 0
        return np.array([2.0 * self.bit - 1.0], np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t <= self.delay:
            return np.zeros(1, np.float32), 0.0, False, False, {}
        success = int(action) == self.bit
        return np.zeros(1, np.float32), float(success), True, False, {"success": success}


class ContinuousTargetEnv(gym.Env):
    """Box actions in [-2, 2]^2; reward -|a - target| per step for ``length`` steps."""

    def __init__(self, length: int = 5) -> None:
        self.length = length
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
        self.target = np.array([1.0, -1.0], np.float32)
        self.max_rollout_steps = length

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        reward = -float(np.abs(np.asarray(action) - self.target).sum())
        return np.zeros(2, np.float32), reward, False, self.t >= self.length, {}


class MultiActionEnv(gym.Env):
    """MultiDiscrete([3, 2]) or MultiBinary(3) actions; reward = number of nonzero components."""

    def __init__(self, binary: bool = False, length: int = 4) -> None:
        self.length = length
        self.observation_space = gym.spaces.Discrete(3)
        self.action_space = gym.spaces.MultiBinary(3) if binary else gym.spaces.MultiDiscrete([3, 2])
        self.max_rollout_steps = length

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return 0, {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action, dtype=self.action_space.dtype)), action
        self.t += 1
        return self.t % 3, float(np.count_nonzero(action)), False, self.t >= self.length, {}


class ImageDictEnv(gym.Env):
    """Dict observation with a small uint8 image and a vector; reward 1 for action 1."""

    def __init__(self, length: int = 4) -> None:
        self.length = length
        self.observation_space = gym.spaces.Dict({
            "image": gym.spaces.Box(0, 255, (8, 8, 3), np.uint8), "vector": gym.spaces.Box(-1, 1, (2,), np.float32)})
        self.action_space = gym.spaces.Discrete(2)
        self.max_rollout_steps = length

    def _obs(self) -> dict:
        return {"image": np.full((8, 8, 3), 10 * self.t, np.uint8), "vector": np.zeros(2, np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), float(int(action) == 1), self.t >= self.length, False, {}


register_env("testing-remember-first", "testing: recall a bit shown at t=0 (discrete)", factory=RememberFirstEnv)
register_env("testing-continuous", "testing: reach a target action (Box)", factory=ContinuousTargetEnv)
register_env("testing-multidiscrete", "testing: MultiDiscrete actions", factory=MultiActionEnv)
register_env("testing-multibinary", "testing: MultiBinary actions",
             factory=lambda length=4: MultiActionEnv(binary=True, length=length))
register_env("testing-image", "testing: Dict obs with a uint8 image", factory=ImageDictEnv)


class CartPoleExpert:
    """CartPole: push towards the side the pole falls to (angle + 0.5 angular velocity); 500 (the maximum) on
    every seed we tried without noise. With probability ``noise`` a uniformly random action instead: a noisy,
    sub-optimal demonstrator whose data an offline-to-online agent can improve on."""

    def __init__(self, noise: float = 0.0) -> None:
        self.noise = noise

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> int:
        if self.noise and rng.random() < self.noise:
            return int(rng.integers(2))
        return int(obs[2] + 0.5 * obs[3] > 0)


class RememberFirstExpert:
    """``testing-remember-first``: repeats the bit shown at t=0 (return 1 every episode without noise)."""

    def __init__(self, noise: float = 0.0) -> None:
        self.noise, self.bit = noise, None

    def reset(self) -> None:
        self.bit = None

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> int:
        if self.bit is None:
            self.bit = int(obs[0] > 0)
        return int(rng.integers(2)) if self.noise and rng.random() < self.noise else self.bit


class ContinuousTargetExpert:
    """``testing-continuous``: the target action in env units (Gaussian noise of std ``noise`` added)."""

    def __init__(self, noise: float = 0.0) -> None:
        self.noise = noise

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        action = np.array([1.0, -1.0]) + self.noise * rng.standard_normal(2)
        return np.clip(action, -2.0, 2.0).astype(np.float32)


EXPERTS = {"CartPole-v1": CartPoleExpert, "testing-remember-first": RememberFirstExpert,
           "testing-continuous": ContinuousTargetExpert}


def record_expert_dataset(env_name: str, dataset_id: str, episodes: int, root: Path | str | None = None,
                          noise: float = 0.0, seed: int = 0, **env_kwargs) -> Path:
    """Record ``episodes`` of the scripted expert of ``env_name`` (``EXPERTS``) as a Minari dataset.

    The env is the one ``icrl train env.name=ENV_NAME env.kwargs...`` builds, unwrapped, so the dataset fits
    training on it. Returns the dataset's folder (a ``replay.datasets`` source). Needs ``icrl[offline]``.
    """
    from icrl.data.offline import record_dataset  # lazy: icrl.envs imports this module

    if env_name not in EXPERTS:
        raise KeyError(f"no scripted expert for {env_name!r}; experts: {', '.join(sorted(EXPERTS))}.")
    raw = make_env(env_name, **env_kwargs).env
    try:
        return record_dataset(dataset_id, raw, EXPERTS[env_name](noise), episodes, root=root, seed=seed)
    finally:
        raw.close()
