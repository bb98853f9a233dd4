"""Episodes of a scripted policy in a plain gymnasium env (not wrapped), e.g. an expert that records a dataset.

Unlike the collector, which steps wrapped envs as a batch for the agent, this steps one env in its own spaces
with ``policy(obs, rng) -> env action``: what an offline dataset holds (``icrl.records.Episode``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from icrl.records import Episode

ScriptedPolicy = Callable[[Any, np.random.Generator], Any]


def rollout_episodes(env: gym.Env, policy: ScriptedPolicy, episodes: int, seed: int = 0) -> list[Episode]:
    """Run ``policy`` in ``env`` for ``episodes`` whole episodes.

    ``policy.reset()`` is called at the start of every episode when the policy has it (scripted policies with
    memory); episode i starts from ``env.reset(seed=seed + i)``.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(episodes):
        if hasattr(policy, "reset"):
            policy.reset()
        obs, _ = env.reset(seed=seed + i)
        observations, actions, rewards, terms, truncs = [obs], [], [], [], []
        done = False
        while not done:
            action = policy(obs, rng)
            obs, reward, terminated, truncated, _ = env.step(action)
            observations.append(obs)
            actions.append(action)
            rewards.append(float(reward))
            terms.append(bool(terminated))
            truncs.append(bool(truncated))
            done = terminated or truncated
        stacked = ({k: np.stack([o[k] for o in observations]) for k in observations[0]}
                   if isinstance(observations[0], dict) else np.stack(observations))
        out.append(Episode(stacked, np.stack(actions), np.array(rewards), np.array(terms), np.array(truncs)))
    return out
