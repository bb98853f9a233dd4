"""The AIB's 2-D double integrator, DI-sparse and DI-friction, as published (../shared/aib.md §1). Dependency-free.

A point mass at p in [-1, 1]^2 with velocity v in [-1, 1]^2 starts at rest in one of the four 0.2 x 0.2 corner
squares (|x| > 0.8 and |y| > 0.8) and must reach the origin. With dt = 0.1 and force F = clip(a, -1, 1) (the
sign, where there is one, is applied before, by ``ContextualEnv``), one step is

    p <- p + v dt                                   (the old velocity)
    v <- v (1 - dt friction / mass) + F dt / mass
    p, v clipped to [-1, 1]^2

and the reward is 1 for every step whose new p lies within 0.1 of the origin. Episodes last 100 steps (time-limit
truncation), so the return lies in [0, 100]. DI-sparse has no friction; DI-friction's friction is a context.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

DT, GOAL_RADIUS, EPISODE = 0.1, 0.1, 100
CORNER = 0.8  # start positions have |x| > CORNER and |y| > CORNER


class DoubleIntegrator(gym.Env):
    """Obs ``[x, y, vx, vy]`` (Box[-1, 1]^4, float32); action Box[-1, 1]^2."""

    def __init__(self, mass: float = 1.0, friction: float = 0.0) -> None:
        self.mass, self.friction = float(mass), float(friction)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.max_rollout_steps = EPISODE
        self.p, self.v, self.t = np.zeros(2), np.zeros(2), 0

    def set_context(self, mass: float | None = None, friction: float | None = None) -> None:
        if mass is not None:
            self.mass = float(mass)
        if friction is not None:
            self.friction = float(friction)

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.p, self.v]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.p = self.np_random.uniform(-1.0, 1.0, 2)
        while not np.all(np.abs(self.p) > CORNER):  # rejection sampling: the published corner squares
            self.p = self.np_random.uniform(-1.0, 1.0, 2)
        self.v = np.zeros(2)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        force = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        p = self.p + self.v * DT
        v = self.v * (1.0 - DT * self.friction / self.mass) + force * DT / self.mass
        self.p, self.v = np.clip(p, -1.0, 1.0), np.clip(v, -1.0, 1.0)
        self.t += 1
        reward = float(np.linalg.norm(self.p) <= GOAL_RADIUS)
        return self._obs(), reward, False, self.t >= EPISODE, {}
