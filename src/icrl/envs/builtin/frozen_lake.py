"""Meta-Frozen-Lake: a random lake, k attempts at the same lake (method section 11).

The agent starts top-left and must reach the goal bottom-right without falling through a hole. The layout
is hidden: the observation is only the agent's position (plus the attempt keys), so an agent improves across
attempts only by remembering where it fell and which path worked.
"""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np

from icrl.envs.trials import KAttempts

MOVES = np.array([[0, -1], [1, 0], [0, 1], [-1, 0], [0, 0]])  # left, down, right, up, no-op as (dx, dy)


def has_path(holes: np.ndarray) -> bool:
    """BFS from (0, 0) to (n-1, n-1) over frozen cells."""
    n = holes.shape[0]
    seen = np.zeros_like(holes)
    queue = deque([(0, 0)])
    seen[0, 0] = True
    while queue:
        x, y = queue.popleft()
        if (x, y) == (n - 1, n - 1):
            return True
        for dx, dy in MOVES[:4]:
            nx, ny = x + dx, y + dy
            if 0 <= nx < n and 0 <= ny < n and not holes[ny, nx] and not seen[ny, nx]:
                seen[ny, nx] = True
                queue.append((nx, ny))
    return False


def random_lake(size: int, hole_prob: float, rng: np.random.Generator) -> np.ndarray:
    """(size, size) bool holes[y, x]; start and goal are frozen and connected."""
    while True:
        holes = rng.random((size, size)) < hole_prob
        holes[0, 0] = holes[-1, -1] = False
        if has_path(holes):
            return holes


class FrozenLakeTask(gym.Env):
    """One attempt on a lake chosen by ``set_task``: reward 1 at the goal, 0 in a hole (both terminate)."""

    def __init__(self, size: int = 5, hole_prob: float = 0.2) -> None:
        self.size, self.hole_prob = size, hole_prob
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(5)
        self.holes = np.zeros((size, size), dtype=bool)

    def sample_task(self, rng: np.random.Generator) -> np.ndarray:
        return random_lake(self.size, self.hole_prob, rng)

    def set_task(self, holes: np.ndarray) -> None:
        self.holes = holes

    def _obs(self) -> np.ndarray:
        return (self.pos / self.size).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = np.zeros(2, dtype=np.int64)
        return self._obs(), {}

    def step(self, action):
        self.pos = np.clip(self.pos + MOVES[int(action)], 0, self.size - 1)
        x, y = self.pos
        if self.holes[y, x]:
            return self._obs(), 0.0, True, False, {"success": False}
        if x == y == self.size - 1:
            return self._obs(), 1.0, True, False, {"success": True}
        return self._obs(), 0.0, False, False, {}


def make_meta_frozen_lake(size: int = 5, attempts: int = 5, hole_prob: float = 0.2,
                          max_attempt_steps: int = 0) -> gym.Env:
    """k attempts of at most ``size**2`` steps (default) on one random lake."""
    return KAttempts(FrozenLakeTask(size, hole_prob), attempts, max_attempt_steps or size * size)
