"""HalfCheetah-Vel meta-RL: run at a hidden target velocity, several episodes of the same task per rollout.

Gymnasium's MuJoCo HalfCheetah-v5 with the reward replaced by ``-|v_x - v_target| - 0.05 |a|^2``; the target is
drawn uniformly from [0, 3] per rollout and kept for ``episodes`` attempts of 200 steps (the usual protocol,
3 x 200 in the method's experiments). Needs ``pip install 'icrl[mujoco]'``; imported lazily.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from icrl.envs.trials import KAttempts
from icrl.errors import MissingExtraError

CTRL_COST = 0.05


class HalfCheetahVelTask(gym.Wrapper):
    def __init__(self, low: float = 0.0, high: float = 3.0) -> None:
        try:
            env = gym.make("HalfCheetah-v5")
        except (gym.error.DependencyNotInstalled, ImportError) as err:
            raise MissingExtraError("HalfCheetah-Vel needs MuJoCo: pip install 'icrl[mujoco]'.") from err
        super().__init__(env.unwrapped)  # no TimeLimit inside: the attempt limit is set by KAttempts
        self.low, self.high = low, high
        self.target = 0.5 * (low + high)

    def sample_task(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def set_task(self, target: float) -> None:
        self.target = float(target)

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        velocity = float(info["x_velocity"])
        reward = -abs(velocity - self.target) - CTRL_COST * float(np.square(action).sum())
        return obs, reward, terminated, truncated, {**info, "target_velocity": self.target}


def make_halfcheetah_vel(episodes: int = 3, episode_length: int = 200) -> gym.Env:
    return KAttempts(HalfCheetahVelTask(), episodes, episode_length)
