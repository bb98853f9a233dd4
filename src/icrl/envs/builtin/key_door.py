"""Dark Key-To-Door: find an invisible key, then an invisible door, again and again in one room.

Key and door cells are fixed per task; each episode starts at a random cell and lasts at most
``episode_length`` steps; episodes repeat inside a meta-horizon. The agent sees only its position and whether
it holds the key, so it must remember where key and door were to collect reward faster in later episodes.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from icrl.envs.trials import FixedHorizon

MOVES = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]])


class KeyDoorTask(gym.Env):
    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.observation_space = gym.spaces.Box(0.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(4)
        self.key, self.door = np.array([0, 0]), np.array([size - 1, size - 1])

    def sample_task(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        cells = rng.choice(self.size * self.size, size=2, replace=False)
        return np.array(divmod(cells[0], self.size)), np.array(divmod(cells[1], self.size))

    def set_task(self, task: tuple[np.ndarray, np.ndarray]) -> None:
        self.key, self.door = task

    def _obs(self) -> np.ndarray:
        return np.array([*(self.pos / self.size), float(self.has_key)], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.integers(0, self.size, 2)
        self.has_key = False
        return self._obs(), {}

    def step(self, action):
        self.pos = np.clip(self.pos + MOVES[int(action)], 0, self.size - 1)
        if not self.has_key and np.array_equal(self.pos, self.key):
            self.has_key = True
            return self._obs(), 1.0, False, False, {}
        if self.has_key and np.array_equal(self.pos, self.door):
            return self._obs(), 1.0, True, False, {"success": True}
        return self._obs(), 0.0, False, False, {}


def make_dark_key_door(size: int = 8, episode_length: int = 50, meta_horizon: int = 500) -> gym.Env:
    return FixedHorizon(KeyDoorTask(size), meta_horizon, max_attempt_steps=episode_length)
