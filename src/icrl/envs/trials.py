"""Meta-RL from any env: k attempts at one sampled task, or a fixed horizon of repeated episodes.

"Same task" protocol: if the inner env (``env.unwrapped``) has ``sample_task(np_random) -> task`` and
``set_task(task)``, a task is sampled at the outer reset and kept for every attempt. Otherwise each attempt
resets the inner env with the same seed (drawn at the outer reset), which fixes its random initial state.

Inner termination or truncation ends an *attempt*, not the rollout: the agent keeps its memory and its value
bootstraps across attempts (later attempts are worth something). The attempt number is visible in the
observation.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from icrl.errors import ICRLError


def _as_dict_space(space: gym.Space) -> dict[str, gym.Space]:
    return dict(space.spaces) if isinstance(space, gym.spaces.Dict) else {"observation": space}


class _RepeatedEpisodes(gym.Wrapper):
    """Shared machinery: resets the inner env on the same task until the rollout ends."""

    def __init__(self, env: gym.Env, extra: dict[str, gym.Space], max_attempt_steps: int | None) -> None:
        super().__init__(env)
        self._dict = isinstance(env.observation_space, gym.spaces.Dict)
        self.observation_space = gym.spaces.Dict({**_as_dict_space(env.observation_space), **extra})
        limit = max_attempt_steps or (env.spec.max_episode_steps if env.spec is not None else None)
        self.max_attempt_steps = limit
        self._task: Any = None
        self._seed = 0

    def _new_task(self) -> None:
        inner = self.env.unwrapped
        if hasattr(inner, "sample_task") and hasattr(inner, "set_task"):
            self._task = inner.sample_task(self.np_random)
        else:
            self._seed = int(self.np_random.integers(2**31 - 1))

    def _reset_inner(self):
        inner = self.env.unwrapped
        if self._task is not None:
            inner.set_task(self._task)
            raw, info = self.env.reset(seed=int(self.np_random.integers(2**31 - 1)))
        else:
            raw, info = self.env.reset(seed=self._seed)
        self._attempt_t = 0
        return raw, info

    def _merge(self, raw, extra: dict) -> dict:
        obs = dict(raw) if self._dict else {"observation": raw}
        obs.update(extra)
        return obs

    def _inner_step(self, action):
        raw, reward, terminated, truncated, info = self.env.step(action)
        self._attempt_t += 1
        if self.max_attempt_steps and self._attempt_t >= self.max_attempt_steps:
            truncated = True
        return raw, float(reward), bool(terminated), bool(truncated), info


class KAttempts(_RepeatedEpisodes):
    """k attempts at the same task. Observation gains ``attempt`` (one-hot, k) and ``attempt_start`` (1 on the
    first observation of each attempt). Episode metrics: ``attempt_i/return``, ``attempt_i/success`` (inner
    ``info["success"]`` at the attempt's end, else return > 0) and ``return``."""

    def __init__(self, env: gym.Env, k: int, max_attempt_steps: int | None = None) -> None:
        if k < 1:
            raise ICRLError(f"KAttempts needs k >= 1 attempts, got {k}.")
        extra = {"attempt": gym.spaces.Box(0.0, 1.0, (k,), np.float32),
                 "attempt_start": gym.spaces.Box(0.0, 1.0, (1,), np.float32)}
        super().__init__(env, extra, max_attempt_steps)
        if not self.max_attempt_steps:
            raise ICRLError("KAttempts needs a per-attempt step limit: pass max_attempt_steps=N or wrap the env "
                            "in gymnasium.wrappers.TimeLimit.")
        self.k = k
        self.max_rollout_steps = k * int(self.max_attempt_steps)

    def _extra(self, start: bool) -> dict:
        onehot = np.zeros(self.k, np.float32)
        onehot[min(self._attempt, self.k - 1)] = 1.0
        return {"attempt": onehot, "attempt_start": np.array([float(start)], np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._new_task()
        self._attempt = 0
        self._returns = np.zeros(self.k)
        self._success = np.zeros(self.k)
        raw, info = self._reset_inner()
        return self._merge(raw, self._extra(True)), info

    def step(self, action):
        raw, reward, terminated, truncated, info = self._inner_step(action)
        self._returns[self._attempt] += reward
        if not (terminated or truncated):
            return self._merge(raw, self._extra(False)), reward, False, False, info
        self._success[self._attempt] = float(info.get("success", self._returns[self._attempt] > 0))
        self._attempt += 1
        if self._attempt < self.k:
            raw, _ = self._reset_inner()
            return self._merge(raw, self._extra(True)), reward, False, False, info
        metrics = {f"attempt_{i + 1}/{name}": float(v[i]) for i in range(self.k)
                   for name, v in (("return", self._returns), ("success", self._success))}
        metrics["return"] = float(self._returns.sum())
        metrics["success"] = float(self._success.mean())
        info = {**info, "episode_metrics": metrics}
        return self._merge(raw, self._extra(False)), reward, terminated, truncated, info


class FixedHorizon(_RepeatedEpisodes):
    """Repeat episodes of the same task for ``horizon`` total steps, then end the rollout.

    The end is reported as ``terminated``: nothing follows the horizon, and the agent sees its progress
    (``horizon_progress``), so bootstrapping past it would only add bias.
    """

    def __init__(self, env: gym.Env, horizon: int, max_attempt_steps: int | None = None) -> None:
        if horizon < 1:
            raise ICRLError(f"FixedHorizon needs horizon >= 1, got {horizon}.")
        extra = {"horizon_progress": gym.spaces.Box(0.0, 1.0, (1,), np.float32),
                 "attempt_start": gym.spaces.Box(0.0, 1.0, (1,), np.float32)}
        super().__init__(env, extra, max_attempt_steps)
        self.horizon = horizon
        self.max_rollout_steps = horizon

    def _extra(self, start: bool) -> dict:
        return {"horizon_progress": np.array([self._t / self.horizon], np.float32),
                "attempt_start": np.array([float(start)], np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._new_task()
        self._t, self._episodes, self._return = 0, 0, 0.0
        raw, info = self._reset_inner()
        return self._merge(raw, self._extra(True)), info

    def step(self, action):
        raw, reward, terminated, truncated, info = self._inner_step(action)
        self._t += 1
        self._return += reward
        start = False
        if terminated or truncated:
            self._episodes += 1
            if self._t < self.horizon:
                raw, _ = self._reset_inner()
                start = True
        if self._t >= self.horizon:
            info = {**info, "episode_metrics": {"return": self._return, "episodes": float(self._episodes)}}
            return self._merge(raw, self._extra(start)), reward, True, False, info
        return self._merge(raw, self._extra(start)), reward, False, False, info
