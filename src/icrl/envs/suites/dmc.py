"""dm_control tasks as gymnasium envs, one compiled model per context, as the AIB uses them (../shared/aib.md §0).

The benchmark flattens dm_control's dict observation through gymnasium, whose ``Dict`` space sorts its keys, so
the parts are concatenated in **alphabetical key order** (walker: height, orientations, velocity; dm_control's
own order is orientations, height, velocity). dm_control's time limit ends an episode as truncation. Each
context instance edits the stock XML, so its model is compiled once, when the context is first used, and kept.

Needs ``pip install 'icrl[aib]'`` (dm_control, mujoco); imported lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import gymnasium as gym
import numpy as np

from icrl.errors import MissingExtraError

EPISODE = 1000  # time_limit / control_timestep of all five AIB dm_control tasks

# (context values, task random state) -> a dm_control ``control.Environment``
Builder = Callable[[dict[str, float], np.random.RandomState], object]


def require(module: str) -> ModuleType:
    """Import ``module`` or raise ``MissingExtraError`` naming the extra that provides it."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as err:
        raise MissingExtraError(f"this AIB task needs {module.split('.')[0]}: pip install 'icrl[aib]'.") from err


def flatten(observation: dict[str, np.ndarray]) -> np.ndarray:
    """dm_control's dict observation as one float32 vector, keys in alphabetical order (gymnasium's ``Dict``)."""
    return np.concatenate([np.asarray(observation[k], np.float32).reshape(-1) for k in sorted(observation)])


class DMControlEnv(gym.Env):
    """A dm_control task; ``set_context`` picks the model of a context (compiled on first use, then cached).

    Seeding: a seeded reset seeds the task's random state with that seed, so envs reset with the same seed start
    alike; unseeded resets continue the stream. A context met for the first time gets a random state drawn from
    the env's own generator.
    """

    def __init__(self, build: Builder, context: dict[str, float]) -> None:
        self._build = build
        self._context = dict(context)
        self._envs: dict[tuple[tuple[str, float], ...], object] = {}
        self._current = self._env()
        spec = self._current.action_spec()
        self.action_space = gym.spaces.Box(spec.minimum.astype(np.float32), spec.maximum.astype(np.float32),
                                           spec.shape, np.float32)
        size = sum(int(np.prod(v.shape)) for v in self._current.observation_spec().values())
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self.max_rollout_steps = EPISODE

    def _env(self):
        key = tuple(sorted(self._context.items()))
        if key not in self._envs:
            random = np.random.RandomState(int(self.np_random.integers(2**31 - 1)))
            self._envs[key] = self._build(dict(self._context), random)
        return self._envs[key]

    @property
    def physics(self):
        """The physics of the current context's model (for inspection)."""
        return self._current.physics

    def set_context(self, **values: float) -> None:
        self._context.update(values)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._current = self._env()
        if seed is not None:
            self._current.task.random.seed(seed)
        return flatten(self._current.reset().observation), {}

    def step(self, action):
        ts = self._current.step(np.asarray(action, np.float64))
        terminated = bool(ts.last() and ts.discount == 0.0)
        truncated = bool(ts.last() and not terminated)
        return flatten(ts.observation), float(ts.reward or 0.0), terminated, truncated, {}
