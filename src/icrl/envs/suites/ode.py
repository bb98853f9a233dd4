"""The AIB's ODE task as published (../shared/aib.md §1). Dependency-free.

A scalar state x is driven by a two-dimensional action through a complex quadratic: with z = a0 + i a1,
dx/dt = Re(p0 z + p1 z^2) = p0 a0 + p1 (a0^2 - a1^2), integrated with dt = 0.01 and clipped to [-20, 20]. The
contexts p0 and p1 range over both signs, so the direction in which an action moves x (and whether it moves
it at all) must be inferred; the task has no separate sign. The reward grows in bands as |x| nears 0.
Episodes start at x ~ U(-1, 1) and last 200 steps (time-limit truncation).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

DT, LIMIT, EPISODE = 0.01, 20.0, 200
# (upper bound of |x|, reward) from the innermost band outwards; 0 beyond the last
REWARD_BANDS = ((0.05, 1.0), (0.1, 0.5), (0.2, 1.0 / 3.0), (0.5, 0.25), (2.0, 0.05))


def band_reward(x: float) -> float:
    """The published reward of state x: the band of |x| it lies in (strict upper bounds)."""
    for bound, reward in REWARD_BANDS:
        if abs(x) < bound:
            return reward
    return 0.0


class ODE(gym.Env):
    """Obs ``[x]`` (Box[-20, 20], float32); action Box[-1, 1]^2."""

    def __init__(self, parameter_0: float = 0.0, parameter_1: float = 0.0) -> None:
        self.p0, self.p1 = float(parameter_0), float(parameter_1)
        self.observation_space = gym.spaces.Box(-LIMIT, LIMIT, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.max_rollout_steps = EPISODE
        self.x, self.t = 0.0, 0

    def set_context(self, parameter_0: float | None = None, parameter_1: float | None = None) -> None:
        if parameter_0 is not None:
            self.p0 = float(parameter_0)
        if parameter_1 is not None:
            self.p1 = float(parameter_1)

    def _obs(self) -> np.ndarray:
        return np.array([self.x], np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.x, self.t = float(self.np_random.uniform(-1.0, 1.0)), 0
        return self._obs(), {}

    def step(self, action):
        a0, a1 = (float(v) for v in np.asarray(action, np.float64).reshape(2))  # not clipped (published)
        x_dot = self.p0 * a0 + self.p1 * (a0 * a0 - a1 * a1)
        self.x = float(np.clip(self.x + DT * x_dot, -LIMIT, LIMIT))
        self.t += 1
        return self._obs(), band_reward(self.x), False, self.t >= EPISODE, {}
