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

``obs_converter`` and ``action_converter`` turn an env's own spaces into the agent's (one definition, used by the
env wrapper for live steps and by ``icrl.data.offline`` for recorded datasets, so both give identical arrays).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

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


def _in_range(x: Any, start: Any, n: Any) -> np.ndarray:
    """Integer indices ``x - start``, checked to lie in [0, n) (a negative index would silently wrap around)."""
    idx = np.asarray(x).astype(np.int64) - start
    if idx.size and ((idx < 0).any() or (idx >= n).any()):
        raise ValueError(f"value {np.asarray(x).tolist()} is outside [{start}, {start} + {np.asarray(n).tolist()})")
    return idx


def obs_converter(space: gym.Space, key: str) -> tuple[gym.spaces.Box, Callable[[Any], np.ndarray]]:
    """(Box space the networks read, function raw observations (N, ...) -> arrays (N, ...)) for one entry.

    Box stays Box (uint8 kept, everything else float32); Discrete and MultiDiscrete become one-hot floats;
    MultiBinary becomes a flat float vector. The function takes a batch (leading axis N): the env wrapper passes
    one observation as a batch of one, the dataset importer (``icrl.data.offline``) a whole episode.
    """
    if isinstance(space, gym.spaces.Box):
        dtype = np.uint8 if space.dtype == np.uint8 else np.float32
        low = space.low if dtype == np.uint8 else space.low.astype(np.float32)
        high = space.high if dtype == np.uint8 else space.high.astype(np.float32)
        return gym.spaces.Box(low, high, space.shape, dtype), lambda x: np.asarray(x, dtype=dtype)
    if isinstance(space, gym.spaces.Discrete):
        n, start = int(space.n), int(space.start)
        eye = np.eye(n, dtype=np.float32)
        return gym.spaces.Box(0.0, 1.0, (n,), np.float32), lambda x: eye[_in_range(x, start, n)]
    if isinstance(space, gym.spaces.MultiDiscrete) and space.nvec.ndim == 1:
        spec = ActionSpec("multidiscrete", tuple(int(n) for n in space.nvec))
        start = np.asarray(getattr(space, "start", 0))
        return gym.spaces.Box(0.0, 1.0, (spec.dim,), np.float32), \
            lambda x: spec.encode(_in_range(x, start, space.nvec))
    if isinstance(space, gym.spaces.MultiBinary):
        size = int(np.prod(space.shape))
        return gym.spaces.Box(0.0, 1.0, (size,), np.float32), \
            lambda x: np.asarray(x, np.float32).reshape(-1, size)
    raise SpaceError(f"Unsupported observation space {space!r} at key {key!r}; icrl supports "
                     f"{SUPPORTED_OBSERVATIONS} observations. Flatten or convert it with a gymnasium wrapper.")


@dataclass(frozen=True)
class ActionConverter:
    """The agent's normalised action space and the maps between it and the env's own actions.

    Attributes:
        space: normalised space (Discrete / MultiDiscrete from 0, MultiBinary as MultiDiscrete([2] * n), Box in
            [-1, 1]); ``ActionSpec.from_space(space)`` encodes it.
        to_env: one normalised action -> the env's action (Box rescaled to [low, high]; when a bound is infinite,
            passed through unscaled and clipped to the finite bound, if any).
        from_env: env actions (N, ...) -> normalised actions (N,) / (N, k) / (N, d): the inverse, for recorded
            data (Box clipped to [-1, 1] like the agent's own actions).
    """

    space: gym.Space
    to_env: Callable[[Any], Any]
    from_env: Callable[[Any], np.ndarray]


def action_converter(space: gym.Space) -> ActionConverter:
    """How the agent's normalised actions map to ``space`` and back (``ActionConverter``)."""
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        ActionSpec.from_space(space)  # validates shape
        start = getattr(space, "start", 0)

        def to_env(a):
            return (np.asarray(a) + start).astype(space.dtype) if np.ndim(start) else int(a) + int(start)

        normalised = gym.spaces.Discrete(int(space.n)) if isinstance(space, gym.spaces.Discrete) else \
            gym.spaces.MultiDiscrete(space.nvec)  # counted from 0: ``to_env`` adds the env's start
        return ActionConverter(normalised, to_env, lambda a: (np.asarray(a) - start).astype(np.int64))
    if isinstance(space, gym.spaces.MultiBinary):
        n = int(np.prod(space.shape))
        return ActionConverter(gym.spaces.MultiDiscrete([2] * n),
                               lambda a: np.asarray(a, dtype=space.dtype).reshape(space.shape),
                               lambda a: np.asarray(a, np.int64).reshape(-1, n))
    if isinstance(space, gym.spaces.Box):
        ActionSpec.from_space(space)
        low, high = space.low.astype(np.float64), space.high.astype(np.float64)
        finite = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)))

        def to_env(a):
            a = np.clip(np.asarray(a, np.float64), -1.0, 1.0)
            out = low + (a + 1.0) * 0.5 * (high - low) if finite else np.clip(a, low, high)  # within a finite bound
            return out.astype(space.dtype)

        def from_env(a):
            a = np.asarray(a, np.float64)
            a = 2.0 * (a - low) / np.where(high > low, high - low, 1.0) - 1.0 if finite else a
            return np.clip(a, -1.0, 1.0).astype(np.float32)

        return ActionConverter(gym.spaces.Box(-1.0, 1.0, space.shape, np.float32), to_env, from_env)
    raise SpaceError(f"Unsupported action space {space!r}; icrl supports {SUPPORTED_ACTIONS} actions.")
