"""The 2-D double integrator of the AIB (our own implementation; dependency-free).

A point mass at position p in [-2, 2]^2 with velocity v starts at rest at a random point of [-1, 1]^2 (at least
0.3 from the origin) and must reach and stay at the origin. Force ``u = a`` (a in [-1, 1]^2, after the context
sign), integrated with dt = 0.1: ``v += dt (u / mass - friction v)``, ``p += dt v``. Sparse reward: 1 for every
step with |p| < 0.1. Episodes last 100 steps (time-limit truncation), so the return lies in [0, 100].
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

DT, GOAL_RADIUS, EPISODE = 0.1, 0.1, 100


class DoubleIntegrator(gym.Env):
    def __init__(self, mass: float = 1.0, friction: float = 0.0) -> None:
        self.mass, self.friction = mass, friction
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.max_rollout_steps = EPISODE

    def set_context(self, mass: float | None = None, friction: float | None = None) -> None:
        if mass is not None:
            self.mass = float(mass)
        if friction is not None:
            self.friction = float(friction)

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.p, self.v]).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        while True:
            self.p = self.np_random.uniform(-1.0, 1.0, 2)
            if np.linalg.norm(self.p) >= 0.3:
                break
        self.v = np.zeros(2)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        u = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        self.v = self.v + DT * (u / self.mass - self.friction * self.v)
        self.p = np.clip(self.p + DT * self.v, -2.0, 2.0)
        self.t += 1
        reward = float(np.linalg.norm(self.p) < GOAL_RADIUS)
        return self._obs(), reward, False, self.t >= EPISODE, {}
