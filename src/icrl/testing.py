"""Tiny, hand-checkable environments for tests and for users checking their set-up (names ``testing-*``, defined
in ``icrl.envs.builtin.testing``), and scripted policies that record offline datasets without downloads
(``record_dataset``, ``record_expert_dataset``).

Recording steps an env (the rollout station) and writes a dataset (the data station); neither station imports
the other, so the two meet here, above both."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from icrl.data.offline import write_dataset
from icrl.envs.builtin.testing import ContinuousTargetEnv, ImageDictEnv, MultiActionEnv, RememberFirstEnv
from icrl.envs.registry import make_env
from icrl.rollout.scripted import ScriptedPolicy, rollout_episodes

__all__ = ["EXPERTS", "CartPoleExpert", "ContinuousTargetEnv", "ContinuousTargetExpert", "ImageDictEnv",
           "MultiActionEnv", "RememberFirstEnv", "RememberFirstExpert", "record_dataset", "record_expert_dataset"]


class CartPoleExpert:
    """CartPole: push towards the side the pole falls to (angle + 0.5 angular velocity); 500 (the maximum) on
    every seed we tried without noise. With probability ``noise`` a uniformly random action instead: a noisy,
    sub-optimal demonstrator whose data an offline-to-online agent can improve on."""

    def __init__(self, noise: float = 0.0) -> None:
        self.noise = noise

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> int:
        if self.noise and rng.random() < self.noise:
            return int(rng.integers(2))
        return int(obs[2] + 0.5 * obs[3] > 0)


class RememberFirstExpert:
    """``testing-remember-first``: repeats the bit shown at t=0 (return 1 every episode without noise)."""

    def __init__(self, noise: float = 0.0) -> None:
        self.noise, self.bit = noise, None

    def reset(self) -> None:
        self.bit = None

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> int:
        if self.bit is None:
            self.bit = int(obs[0] > 0)
        return int(rng.integers(2)) if self.noise and rng.random() < self.noise else self.bit


class ContinuousTargetExpert:
    """``testing-continuous``: the target action in env units (Gaussian noise of std ``noise`` added)."""

    def __init__(self, noise: float = 0.0) -> None:
        self.noise = noise

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        action = np.array([1.0, -1.0]) + self.noise * rng.standard_normal(2)
        return np.clip(action, -2.0, 2.0).astype(np.float32)


EXPERTS = {"CartPole-v1": CartPoleExpert, "testing-remember-first": RememberFirstExpert,
           "testing-continuous": ContinuousTargetExpert}


def record_dataset(dataset_id: str, env: gym.Env, policy: ScriptedPolicy, episodes: int,
                   root: Path | str | None = None, seed: int = 0) -> Path:
    """Roll out ``policy(obs, rng) -> env action`` in the plain ``env`` for ``episodes`` episodes
    (``icrl.rollout.scripted.rollout_episodes``) and write them as the Minari dataset ``dataset_id`` under ``root``
    (``icrl.data.offline.write_dataset``); returns the dataset's folder. Needs ``icrl[offline]``."""
    data = rollout_episodes(env, policy, episodes, seed)
    return write_dataset(dataset_id, data, env.observation_space, env.action_space, root,
                         description=f"{episodes} episodes of a scripted policy, recorded by icrl")


def record_expert_dataset(env_name: str, dataset_id: str, episodes: int, root: Path | str | None = None,
                          noise: float = 0.0, seed: int = 0, **env_kwargs) -> Path:
    """Record ``episodes`` of the scripted expert of ``env_name`` (``EXPERTS``) as a Minari dataset.

    The env is the one ``icrl train env.name=ENV_NAME env.kwargs...`` builds, unwrapped, so the dataset fits
    training on it. Returns the dataset's folder (a ``replay.datasets`` source). Needs ``icrl[offline]``.
    """
    if env_name not in EXPERTS:
        raise KeyError(f"no scripted expert for {env_name!r}; experts: {', '.join(sorted(EXPERTS))}.")
    raw = make_env(env_name, **env_kwargs).env
    try:
        return record_dataset(dataset_id, raw, EXPERTS[env_name](noise), episodes, root=root, seed=seed)
    finally:
        raw.close()
