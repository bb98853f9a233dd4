"""Typed records that cross station boundaries: a stored ``Trajectory``, a training ``Batch``, and an ``Episode``
in an env's own spaces (recorded by ``icrl.rollout.scripted``, written and read by ``icrl.data.offline``).

Alignment (policy-input aligned, as in the method): observation ``t`` comes with the action that led to it
and the reward received for that action. Transition ``t`` is ``(obs_t, a_t, r_t, done_t, obs_{t+1})`` with
``a_t = prev_action[t+1]``, ``r_t = prev_reward[t+1]`` and ``done_t = terminated[t+1]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class Trajectory:
    """A finished rollout (or a chunk of a very long one): ``T + 1`` observations, ``T`` transitions.

    Attributes:
        obs: key -> array (T+1, ...).
        prev_action: (T+1, A) float32, encoded action that led to each observation (zeros after a reset).
        prev_reward: (T+1,) float32, reward received for that action (0 after a reset).
        time_idx: (T+1,) int64, steps since the rollout began.
        terminated: (T+1,) bool, arriving at this observation terminated the episode (never truncation).
        env_name: name used in logs and file names.
    """

    obs: dict[str, np.ndarray]
    prev_action: np.ndarray
    prev_reward: np.ndarray
    time_idx: np.ndarray
    terminated: np.ndarray
    env_name: str = ""

    def __len__(self) -> int:
        """Number of transitions ``T``."""
        return int(self.prev_reward.shape[0]) - 1

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat name -> array mapping (observation keys prefixed by ``obs/``)."""
        out = {f"obs/{k}": v for k, v in self.obs.items()}
        out.update(prev_action=self.prev_action, prev_reward=self.prev_reward,
                   time_idx=self.time_idx, terminated=self.terminated)
        return out


@dataclass(frozen=True)
class Episode:
    """One episode in the env's own spaces: observations (T+1, ...) (a dict of arrays for Dict spaces),
    actions (T, ...), rewards / terminations / truncations (T,)."""

    observations: Any
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray

    @property
    def ret(self) -> float:
        return float(np.sum(self.rewards))


@dataclass
class Batch:
    """Padded training windows. ``L`` observations, ``L - 1`` transitions; padding is on the right.

    Attributes:
        obs: key -> (B, L, ...).
        prev_action: (B, L, A) float.
        prev_reward: (B, L) float.
        time_idx: (B, L) long.
        terminated: (B, L) bool.
        valid: (B, L) bool, True where an observation exists (False on padding). Explicit mask, no sentinel.
    """

    obs: dict[str, torch.Tensor]
    prev_action: torch.Tensor
    prev_reward: torch.Tensor
    time_idx: torch.Tensor
    terminated: torch.Tensor
    valid: torch.Tensor
    env_names: list[str] = field(default_factory=list)

    @property
    def actions(self) -> torch.Tensor:
        """(B, L-1, A) action taken at observation t."""
        return self.prev_action[:, 1:]

    @property
    def rewards(self) -> torch.Tensor:
        """(B, L-1) reward for transition t."""
        return self.prev_reward[:, 1:]

    @property
    def dones(self) -> torch.Tensor:
        """(B, L-1) True where transition t terminated the episode (no bootstrapping)."""
        return self.terminated[:, 1:]

    @property
    def transition_mask(self) -> torch.Tensor:
        """(B, L-1) True where transition t is real (observation t+1 exists)."""
        return self.valid[:, 1:]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        mv = lambda t: t.to(device, non_blocking=non_blocking)  # noqa: E731
        return Batch({k: mv(v) for k, v in self.obs.items()}, mv(self.prev_action), mv(self.prev_reward),
                     mv(self.time_idx), mv(self.terminated), mv(self.valid), list(self.env_names))
