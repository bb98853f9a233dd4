"""The AIB's Hopper-v5 and Walker2d-v5: gymnasium's own envs with gravity and actuator strength (aib.md §1).

Registered as the benchmark does, ``terminate_when_unhealthy=False`` with a 1000-step time limit, so every
episode lasts 1000 steps and a fall only costs the healthy bonus. A context is applied to the loaded model in
place (no recompile): gravity (0, 0, -g) and every actuator gear = stock gear (200 hopper, 100 walker2d) times
the strength. Observations are cast to float32, as the benchmark's single-precision wrapper does.

Needs ``pip install 'icrl[aib]'`` (mujoco, gymnasium[mujoco]); imported lazily.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from icrl.errors import MissingExtraError

EPISODE = 1000


class GymMuJoCoTask(gym.Wrapper):
    """``Hopper-v5`` or ``Walker2d-v5`` without early termination, its context set by ``set_context``."""

    def __init__(self, env_id: str, context: dict[str, float]) -> None:
        try:
            __import__("mujoco")
            env = gym.make(env_id, terminate_when_unhealthy=False, max_episode_steps=EPISODE)
        except (ImportError, gym.error.DependencyNotInstalled) as err:
            raise MissingExtraError(f"{env_id} needs MuJoCo: pip install 'icrl[aib]'.") from err
        super().__init__(env)
        space = env.observation_space
        self.observation_space = gym.spaces.Box(space.low.astype(np.float32), space.high.astype(np.float32),
                                                dtype=np.float32)
        self._stock_gear = env.unwrapped.model.actuator_gear.copy()
        self.max_rollout_steps = EPISODE
        self.set_context(**context)

    @property
    def model(self):
        return self.env.unwrapped.model

    def set_context(self, gravity: float, actuator_strength: float) -> None:
        self.model.opt.gravity[:] = (0.0, 0.0, -float(gravity))
        self.model.actuator_gear[:] = self._stock_gear * float(actuator_strength)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return np.asarray(obs, np.float32), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return np.asarray(obs, np.float32), reward, terminated, truncated, info
