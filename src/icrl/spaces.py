"""Action and observation specifications shared by every station.

The agent always sees actions in one *encoded* form, a float vector of width ``A``:

* ``Discrete(n)``            -> one-hot of width n
* ``MultiDiscrete(nvec)``    -> concatenated one-hots, width sum(nvec)
* ``MultiBinary(n)``         -> treated as ``MultiDiscrete([2] * n)`` (the env wrapper converts)
* ``Box``                    -> the action itself, normalised to [-1, 1] (the env wrapper rescales)

That vector is what the sequence model reads as "previous action" and what the critic takes as input.

Side keys: observation keys that start with ``_`` (``SIDE_KEY_PREFIX``; e.g. ``_achieved``, the goals achieved at
each step, read by hindsight relabeling) travel with the observation and are stored with trajectories, but
``ObsSpec`` leaves them out (the networks never read them) and training windows drop them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import gymnasium as gym
import numpy as np

from icrl.errors import SpaceError

SUPPORTED_ACTIONS = "Discrete, MultiDiscrete, MultiBinary and Box"
SUPPORTED_OBSERVATIONS = "Box, Discrete, MultiDiscrete and Dict of those"
SIDE_KEY_PREFIX = "_"


def is_side_key(key: str) -> bool:
    """True for observation keys stored with trajectories but never shown to the networks (``_achieved``)."""
    return key.startswith(SIDE_KEY_PREFIX)


@dataclass(frozen=True)
class ActionSpec:
    """How actions are encoded for the agent and decoded for the environment.

    Attributes:
        kind: ``"discrete"`` (one categorical), ``"multidiscrete"`` (several independent categoricals) or
            ``"box"`` (continuous in [-1, 1]).
        nvec: number of choices per categorical component (empty for box).
        box_dim: number of continuous dimensions (0 unless box).
    """

    kind: Literal["discrete", "multidiscrete", "box"]
    nvec: tuple[int, ...] = ()
    box_dim: int = 0

    @property
    def dim(self) -> int:
        """Width ``A`` of the encoded action vector."""
        return self.box_dim if self.kind == "box" else int(sum(self.nvec))

    @property
    def is_discrete(self) -> bool:
        return self.kind != "box"

    @staticmethod
    def from_space(space: gym.Space) -> ActionSpec:
        """Spec of an already *normalised* action space (see ``icrl.envs.interface``)."""
        if isinstance(space, gym.spaces.Discrete):
            return ActionSpec("discrete", (int(space.n),))
        if isinstance(space, gym.spaces.MultiDiscrete):
            if space.nvec.ndim != 1:
                raise SpaceError(f"MultiDiscrete actions must be 1-D, got nvec shape {space.nvec.shape}.")
            return ActionSpec("multidiscrete", tuple(int(n) for n in space.nvec))
        if isinstance(space, gym.spaces.MultiBinary):
            return ActionSpec("multidiscrete", (2,) * int(np.prod(space.shape)))
        if isinstance(space, gym.spaces.Box):
            if len(space.shape) != 1:
                raise SpaceError(f"Box actions must be 1-D, got shape {space.shape}; flatten the action space.")
            return ActionSpec("box", box_dim=int(space.shape[0]))
        raise SpaceError(f"Unsupported action space {space!r}; icrl supports {SUPPORTED_ACTIONS} actions.")

    def encode(self, actions: np.ndarray) -> np.ndarray:
        """Env-facing actions (N,) / (N, k) / (N, d) -> encoded float32 vectors (N, A)."""
        actions = np.asarray(actions)
        n = actions.shape[0]
        if self.kind == "box":
            return actions.reshape(n, self.box_dim).astype(np.float32)
        idx = actions.reshape(n, len(self.nvec)).astype(np.int64)
        out = np.zeros((n, self.dim), dtype=np.float32)
        offsets = np.cumsum((0,) + self.nvec[:-1])
        out[np.arange(n)[:, None], offsets[None, :] + idx] = 1.0
        return out

    def decode(self, encoded: np.ndarray) -> np.ndarray:
        """Encoded vectors (N, A) -> env-facing actions: (N,) int for discrete, (N, k) int, (N, d) float."""
        encoded = np.asarray(encoded)
        if self.kind == "box":
            return np.clip(encoded, -1.0, 1.0).astype(np.float32)
        idx = np.stack([seg.argmax(-1) for seg in self.split(encoded)], axis=-1).astype(np.int64)
        return idx[:, 0] if self.kind == "discrete" else idx

    def split(self, encoded):
        """Split the last axis of an encoded array/tensor into one block per categorical component."""
        out, start = [], 0
        for n in self.nvec:
            out.append(encoded[..., start : start + n])
            start += n
        return out


@dataclass(frozen=True)
class ObsSpec:
    """Shapes and dtypes of the (dict) observation the networks read, in sorted key order.

    Side keys (``is_side_key``: names starting with ``_``) are left out: they are stored with
    trajectories for relabeling but never encoded.
    """

    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, str]

    @staticmethod
    def from_space(space: gym.Space) -> ObsSpec:
        if not isinstance(space, gym.spaces.Dict):
            raise SpaceError(f"Expected a Dict observation space (wrap the env with icrl.envs.wrap), got {space!r}.")
        shapes, dtypes = {}, {}
        for key in sorted(k for k in space.spaces if not is_side_key(k)):
            sub = space.spaces[key]
            if not isinstance(sub, gym.spaces.Box):
                raise SpaceError(f"Observation key {key!r} has space {sub!r}; wrap the env with icrl.envs.wrap.")
            shapes[key] = tuple(int(s) for s in sub.shape)
            dtypes[key] = str(np.dtype(sub.dtype))
        return ObsSpec(shapes, dtypes)

    def is_image(self, key: str) -> bool:
        """A uint8 observation with 3 axes (H, W, C) is treated as an image."""
        return self.dtypes[key] == "uint8" and len(self.shapes[key]) == 3
