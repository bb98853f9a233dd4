"""``popgym-multitask``: one of several POPGym tasks per episode, behind padded common spaces (AMAGO-2's setting).

At every reset a task is drawn uniformly (from the env's seeded ``np_random``) and its episode is played to the
end; the agent is not told which task it got and must infer it from what it sees, as in AMAGO-2's multi-task
experiments without task ids. Each task is built like ``popgym/<name>`` (flattened observations, the fixed
episode end counted as termination by default).

Padding:

* observations: each task's flat observation is written into the first ``d_i`` entries of a float vector of
  the largest width ``D``; the remaining ``D - d_i`` entries are 0.
* actions: the common action space is ``Discrete(n_max)`` with ``n_max`` the largest task's action count; an
  action ``a`` is played as ``a % n_i`` in a task with ``n_i`` actions (so every padded action is a legal
  alias of a real one, and a uniform policy stays close to uniform over the real actions).

Task protocol (``icrl.envs.interface``): ``info["task"]`` holds the current task name on reset and on every
step, and ``current_task`` the same as an attribute; evaluation and collection break returns down per task
(``eval/task/<name>/return``).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from icrl.envs.suites.popgym import episode_limit, make_popgym
from icrl.errors import ICRLError

DEFAULT_TASKS = ("RepeatPreviousEasy", "CountRecallEasy", "PositionOnlyCartPoleEasy")


class MultiTaskPOPGym(gym.Env):
    """Several POPGym envs behind one padded observation space and one ``Discrete(n_max)`` action space."""

    def __init__(self, tasks: tuple[str, ...] | list[str] = DEFAULT_TASKS, truncation_is_terminal: bool = True):
        if len(tasks) < 1:
            raise ICRLError("popgym-multitask needs at least one task name in kwargs.tasks.")
        self.task_names = tuple(tasks)
        self.envs = [make_popgym(name, truncation_is_terminal) for name in self.task_names]
        for name, env in zip(self.task_names, self.envs):
            if not isinstance(env.action_space, gym.spaces.Discrete) or len(env.observation_space.shape) != 1:
                raise ICRLError(f"popgym-multitask mixes tasks with Discrete actions and flat observations; {name} "
                                f"has actions {env.action_space} and observations {env.observation_space}.")
        self.obs_dims = [int(env.observation_space.shape[0]) for env in self.envs]
        self.num_actions = [int(env.action_space.n) for env in self.envs]
        width = max(self.obs_dims)
        low, high = np.zeros(width, np.float32), np.zeros(width, np.float32)  # padding entries are always 0
        for env, d in zip(self.envs, self.obs_dims):
            low[:d] = np.minimum(low[:d], env.observation_space.low)
            high[:d] = np.maximum(high[:d], env.observation_space.high)
        self.observation_space = gym.spaces.Box(low, high, (width,), np.float32)
        self.action_space = gym.spaces.Discrete(max(self.num_actions))
        self.max_rollout_steps = max(episode_limit(env) for env in self.envs)
        self.task_index = 0

    @property
    def current_task(self) -> str:
        return self.task_names[self.task_index]

    def _pad(self, obs) -> np.ndarray:
        out = np.zeros(self.observation_space.shape, np.float32)
        out[: self.obs_dims[self.task_index]] = np.asarray(obs, np.float32).reshape(-1)
        return out

    def task_action(self, action) -> int:
        """The current task's action for a padded action: ``action % n_task``."""
        return int(action) % self.num_actions[self.task_index]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.task_index = int(self.np_random.integers(len(self.envs)))
        obs, info = self.envs[self.task_index].reset(seed=int(self.np_random.integers(2**31 - 1)))
        return self._pad(obs), {**info, "task": self.current_task}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.envs[self.task_index].step(self.task_action(action))
        return self._pad(obs), float(reward), terminated, truncated, {**info, "task": self.current_task}

    def close(self) -> None:
        for env in self.envs:
            env.close()


def make_popgym_multitask(tasks: tuple[str, ...] | list[str] = DEFAULT_TASKS,
                          truncation_is_terminal: bool = True) -> gym.Env:
    return MultiTaskPOPGym(tasks, truncation_is_terminal)
