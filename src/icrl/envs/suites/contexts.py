"""Contexts, splits and actuator inversion of the AIB, by the benchmark's published rule (../shared/aib.md §2-§3).

A task has two contexts: one or two continuous ones (mass, length, gravity, ...) and, on five tasks, the sign
``action_factor`` in {-1, +1} that multiplies the whole action before the simulator sees it. The agent never
observes the context: it must infer it in context, from how its actions move the system.

Splits of a continuous context with in-range [a, b], out-range [A, B] and margin m = 0.01 (b - a), rounded to
4 decimals: ``train`` = linspace(a, b, 50); ``eval_in`` = linspace(a + m, b - m, 50) (interpolation);
``eval_out`` = linspace(A, a - m, 25) followed by linspace(b + m, B, 25) (extrapolation). ``action_factor`` is
[-1, 1] in every split. The mesh of a split is the Cartesian product of its contexts' values, sorted by
(context 1, context 2); its ``n = 20`` instances are the mesh points at floor(linspace(0, N - 1, 20)) (N = 100
with a sign, 2500 without). With a sign that gives 11 inverted and 9 normal instances per split.

The published protocol keeps one instance per environment for the whole run: env i of a vector of 20 holds
instance i, so the vector covers the split (``ContextualEnv``'s ``vector_index``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from icrl.errors import ICRLError

SPLITS = ("train", "eval_in", "eval_out")
GRID_POINTS = 50  # values of a continuous context per split
INSTANCES = 20  # instances per split: the published vector of 20 train (or evaluation) envs
DECIMALS = 4  # the published splits are rounded to 4 decimals


@dataclass(frozen=True)
class ContextSpec:
    """One context: a continuous range, or (``values``) the same few values in every split."""

    name: str
    default: float
    in_range: tuple[float, float]
    out_range: tuple[float, float]
    values: tuple[float, ...] | None = None  # a discrete context (the sign): these values in every split


ACTION_FACTOR = ContextSpec("action_factor", 1.0, (-1.0, 1.0), (-1.0, 1.0), values=(-1.0, 1.0))


def split_values(spec: ContextSpec, split: str) -> np.ndarray:
    """The values of one context in ``split``, ascending (50 for a continuous context)."""
    if split not in SPLITS:
        raise ICRLError(f"unknown context split {split!r}; choose one of {SPLITS}.")
    if spec.values is not None:
        return np.array(sorted(spec.values))
    lo, hi = spec.in_range
    out_lo, out_hi = spec.out_range
    margin = 0.01 * (hi - lo)
    if split == "train":
        values = np.linspace(lo, hi, GRID_POINTS)
    elif split == "eval_in":
        values = np.linspace(lo + margin, hi - margin, GRID_POINTS)
    else:
        half = GRID_POINTS // 2
        values = np.concatenate([np.linspace(out_lo, lo - margin, half), np.linspace(hi + margin, out_hi, half)])
    return np.round(values, DECIMALS)


def split_instances(specs: Sequence[ContextSpec], split: str, n: int = INSTANCES) -> list[dict[str, float]]:
    """The ``n`` context instances of ``split``: evenly spaced points of the sorted mesh of all its contexts."""
    mesh = sorted(itertools.product(*(split_values(s, split).tolist() for s in specs)))
    idx = np.floor(np.linspace(0, len(mesh) - 1, n)).astype(int)
    return [{s.name: float(v) for s, v in zip(specs, mesh[i])} for i in idx]


def choose_instance(instance: int | None, vector_index: int | None, n: int) -> int | None:
    """The instance an env keeps: ``instance`` if given, else ``vector_index % n``; None: draw one per reset."""
    if instance is not None:
        if not 0 <= instance < n:
            raise ICRLError(f"context instance {instance} is out of range 0..{n - 1}.")
        return instance
    if vector_index is not None:
        if vector_index < 0:
            raise ICRLError(f"vector_index must be >= 0 (the env's position in its vector), got {vector_index}.")
        return vector_index % n
    return None


def task_label(context: dict[str, float]) -> str | None:
    """``"inverted"`` or ``"normal"`` for a context with a sign (evaluation logs the return per sign), else None."""
    if ACTION_FACTOR.name not in context:
        return None
    return "inverted" if context[ACTION_FACTOR.name] < 0 else "normal"


class ContextualEnv(gym.Wrapper):
    """Applies a context instance of its split to the wrapped env and multiplies actions by ``action_factor``.

    The wrapped env must have ``set_context(**values)`` for the continuous contexts. Which instance:
    ``instance=k`` pins instance k; else ``vector_index=i`` (env i of a vector) pins instance ``i % n``, the
    published protocol (each env keeps one context all run); with neither, an instance is drawn at every reset
    (ad-hoc use). ``info["context"]`` of a reset holds the context by its published names, and tasks with a sign
    put ``info["task"]`` = ``"inverted"`` / ``"normal"`` on every step, so evaluation reports the return per sign.

    Shared start states: the published benchmark resets every env of a vector with the same seed. Gymnasium's
    vector envs hand env i the seed ``seed + i``, so an env that knows its ``vector_index`` subtracts it again.

    Two options for diagnosis, not the benchmark, both for a flat Box observation: ``observe_sign=True`` appends
    the sign (an oracle: a memoryless policy can act on it, so the cost of inferring it in context can be
    measured); ``observe_previous=True`` appends the previous observation (zeros after a reset). With the previous
    action, which agents see anyway, that is the smallest memory from which the sign can be read, so a memoryless
    policy can infer it without a sequence model. Layout: ``[obs, previous obs, sign]``.
    """

    def __init__(self, env: gym.Env, specs: Sequence[ContextSpec], split: str = "train", instance: int | None = None,
                 vector_index: int | None = None, n: int = INSTANCES, observe_sign: bool = False,
                 observe_previous: bool = False) -> None:
        super().__init__(env)
        self.specs, self.split = tuple(specs), split
        self.has_sign = ACTION_FACTOR in self.specs
        if self.has_sign and not _symmetric_box(env.action_space):
            raise ICRLError("actuator inversion needs a Box action space symmetric around 0.")
        self.instances = split_instances(self.specs, split, n)
        self.vector_index = vector_index
        self.fixed = choose_instance(instance, vector_index, len(self.instances))
        self.context = self.instances[self.fixed or 0]
        self.label = task_label(self.context)
        self._rng = np.random.default_rng()
        self.max_rollout_steps = getattr(env, "max_rollout_steps", None)
        self.observe_sign, self.observe_previous = bool(observe_sign), bool(observe_previous)
        if self.observe_sign and not self.has_sign:
            raise ICRLError("observe_sign shows the action_factor, but this task has none; leave it off.")
        if self.observe_sign or self.observe_previous:
            self.observation_space = self._extended_space(env.observation_space)
        self.previous: np.ndarray | None = None

    def _extended_space(self, space: gym.Space) -> gym.spaces.Box:
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            option = "observe_sign" if self.observe_sign else "observe_previous"
            raise ICRLError(f"{option} needs a flat Box observation space; this task's is {space}. "
                            f"Leave {option} off for it.")
        low, high = space.low, space.high
        if self.observe_previous:
            low, high = np.concatenate([low, space.low]), np.concatenate([high, space.high])
        if self.observe_sign:
            low, high = np.append(low, -1.0), np.append(high, 1.0)
        return gym.spaces.Box(low.astype(space.dtype), high.astype(space.dtype), dtype=space.dtype)

    @property
    def mirror_conflict(self) -> str | None:
        """Why mirrored actions (``replay.mirror_actions``) contradict the observations; see ``InContextEnv``."""
        if self.observe_sign:
            return ("its observations show the sign (env.kwargs.observe_sign=true), so a mirrored window would show "
                    "one sign and move as the other")
        return None

    @property
    def action_factor(self) -> float:
        return self.context.get(ACTION_FACTOR.name, 1.0)

    def _observe(self, obs):
        out = obs
        if self.observe_previous:
            out = np.concatenate([obs, self.previous])
            self.previous = np.array(obs, copy=True)
        if self.observe_sign:
            out = np.append(out, self.action_factor)
        return out if out is obs else out.astype(self.observation_space.dtype)

    def _shared_seed(self, seed: int | None) -> int | None:
        """The seed every env of the vector shares: gymnasium gives env i ``seed + i``."""
        if seed is None or self.vector_index is None:
            return seed
        if seed < self.vector_index:
            raise ICRLError(f"env {self.vector_index} of a vector got seed {seed}, below its index; vector envs "
                            "hand env i the seed + i, which this env undoes to share the start states.")
        return seed - self.vector_index

    def _info(self, info: dict) -> dict:
        return info if self.label is None else {**info, "task": self.label}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        seed = self._shared_seed(seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        i = self.fixed if self.fixed is not None else int(self._rng.integers(len(self.instances)))
        self.context = self.instances[i]
        self.label = task_label(self.context)  # read once per episode, reported on every step
        self.env.set_context(**{k: v for k, v in self.context.items() if k != ACTION_FACTOR.name})
        obs, info = self.env.reset(seed=seed, options=options)  # unseeded resets continue the env's own stream
        self.previous = np.zeros_like(obs)
        return self._observe(obs), self._info({**info, "context": dict(self.context)})

    def step(self, action):
        if self.has_sign:
            action = self.action_factor * np.asarray(action)
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._observe(obs), reward, terminated, truncated, self._info(info)


def _symmetric_box(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and bool(np.allclose(space.low, -space.high))
