"""Passive T-Maze (Ni et al. 2023): recall a bit shown once, after a corridor of ``length`` steps.

The goal side (up or down) is visible only in the first observation. The agent walks right along the
corridor and must turn to the correct side at the junction: reward 1, else 0. Every non-forward step in the
corridor costs ``1 / length`` (the modified penalty of the method), so the optimal return is exactly 1.0 in
``length + 1`` steps. Memory is O(1) per step, so corridors of 10,000 are cheap to simulate.

The rollout ends after ``length + 1`` steps as a *termination*, as in Ni et al.: the horizon is part of the
task (the agent sees the time index), not an artificial cut, so nothing is bootstrapped past it. Treating it as a
truncation would value "wait at the junction" almost like "turn", because the critic would imagine a turn
after the last step.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3


class TMaze(gym.Env):
    def __init__(self, length: int = 100) -> None:
        if length < 1:
            raise ValueError(f"t-maze length must be >= 1, got {length}")
        self.length = length
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(4)
        self.max_rollout_steps = length + 1

    def _obs(self, first: bool) -> np.ndarray:
        hint = float(self.goal) if first else 0.0
        junction = float(self.pos == self.length)
        return np.array([hint, junction, 1.0 - junction], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.goal = 1 if self.np_random.random() < 0.5 else -1  # +1: up, -1: down
        self.pos, self.t, self.total = 0, 0, 0.0
        return self._obs(True), {}

    def _end(self, success: bool) -> dict:
        """Info of the rollout's last step: success, and the episode metrics the collector averages."""
        return {"success": success, "episode_metrics": {"success": float(success), "return": self.total}}

    def step(self, action):
        action = int(action)
        self.t += 1
        out_of_time = self.t >= self.length + 1
        if self.pos == self.length and action in (UP, DOWN):
            success = (action == UP) == (self.goal == 1)
            self.total += float(success)
            return self._obs(False), float(success), True, False, self._end(success)
        reward = 0.0
        if self.pos < self.length and action == RIGHT:
            self.pos += 1
        else:
            reward = -1.0 / self.length
        self.total += reward
        return self._obs(False), reward, out_of_time, False, self._end(False) if out_of_time else {}


def make_tmaze(length: int = 100) -> gym.Env:
    return TMaze(length)
