"""Tiny, hand-checkable environments (names ``testing-*``) for tests and for users checking their set-up.

They live in the envs station, registered with the other built-in envs, so that ``icrl.envs`` imports nothing
above it; ``icrl.testing`` re-exports them beside the scripted experts that record datasets.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


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


def make_multibinary(length: int = 4) -> MultiActionEnv:
    return MultiActionEnv(binary=True, length=length)
