"""Contextual RL with actuator inversion (the AIB protocol of Benad et al. 2026; ../shared/benchmarks.md).

Every task has a hidden context sign in {-1, +1} that multiplies the whole action vector before the simulator
sees it, plus one or two continuous contexts (mass, friction, pole length, gravity, ...). The agent never
observes the context: it must infer it in context, from how its actions move the system.

Splits: ``train`` is a 50-point grid over each context's in-range; ``eval_in`` the same grid shrunk by a 1% margin
(interpolation); ``eval_out`` 25 + 25 points outside the in-range but inside the out-range (extrapolation). A split
holds ``n = 20`` evenly spaced instances of that grid; signs alternate, so both appear in every split. Tasks
with two continuous contexts move them together (instance i uses grid point i of each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from icrl.errors import ICRLError

SPLITS = ("train", "eval_in", "eval_out")
GRID_POINTS = 50


@dataclass(frozen=True)
class ContextSpec:
    name: str
    default: float
    in_range: tuple[float, float]
    out_range: tuple[float, float]


def split_values(spec: ContextSpec, split: str) -> np.ndarray:
    """The 50-point grid of one continuous context in ``split`` (sorted)."""
    lo, hi = spec.in_range
    out_lo, out_hi = spec.out_range
    if split == "train":
        return np.linspace(lo, hi, GRID_POINTS)
    if split == "eval_in":
        margin = 0.01 * (hi - lo)
        return np.linspace(lo + margin, hi - margin, GRID_POINTS)
    if split == "eval_out":
        half = GRID_POINTS // 2
        below = np.linspace(out_lo, lo, half, endpoint=False)
        above = np.linspace(hi, out_hi, half + 1)[1:]  # strictly above the in-range
        return np.concatenate([below, above])
    raise ICRLError(f"unknown context split {split!r}; choose one of {SPLITS}.")


def split_instances(specs: Sequence[ContextSpec], split: str, n: int = 20) -> list[dict[str, float]]:
    """``n`` context instances of ``split``: evenly spaced grid points, alternating signs."""
    idx = np.round(np.linspace(0, GRID_POINTS - 1, n)).astype(int)
    grids = {s.name: split_values(s, split) for s in specs}
    return [{"sign": 1.0 if i % 2 == 0 else -1.0, **{name: float(g[j]) for name, g in grids.items()}}
            for i, j in enumerate(idx)]


class ContextualEnv(gym.Wrapper):
    """Draws a context instance of its split at every reset, applies it, and inverts actions when sign is -1.

    The wrapped env must have ``set_context(**values)`` for its continuous contexts. ``instance`` fixes one
    instance (index into the split) instead of drawing; ``info["context"]`` reports it. Two options for
    diagnosis, not the benchmark, both for a flat Box observation: ``observe_sign=True`` appends the sign (an
    oracle: a memoryless policy can act on it, so the cost of inferring it in context can be measured);
    ``observe_previous=True`` appends the previous observation (zeros after a reset). With the previous action,
    which agents see anyway, that is the smallest memory from which the sign can be read, so a memoryless
    policy can infer it without a sequence model. Layout: ``[obs, previous obs, sign]``.
    """

    def __init__(self, env: gym.Env, specs: Sequence[ContextSpec], split: str = "train", instance: int | None = None,
                 n: int = 20, observe_sign: bool = False, observe_previous: bool = False) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, gym.spaces.Box) or not np.allclose(env.action_space.low,
                                                                               -env.action_space.high):
            raise ICRLError("actuator inversion needs a Box action space symmetric around 0.")
        self.specs, self.split = tuple(specs), split
        self.instances = split_instances(self.specs, split, n)
        if instance is not None and not 0 <= instance < len(self.instances):
            raise ICRLError(f"context instance {instance} is out of range 0..{len(self.instances) - 1}.")
        self.fixed = instance
        self.context = self.instances[0]
        self.max_rollout_steps = getattr(env, "max_rollout_steps", None)
        self.observe_sign, self.observe_previous = bool(observe_sign), bool(observe_previous)
        space = env.observation_space
        if self.observe_sign or self.observe_previous:
            if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
                option = "observe_sign" if self.observe_sign else "observe_previous"
                raise ICRLError(f"{option} needs a flat Box observation space; this task's is "
                                f"{space}. Leave {option} off for it.")
            low, high = space.low, space.high
            if self.observe_previous:
                low, high = np.concatenate([low, space.low]), np.concatenate([high, space.high])
            if self.observe_sign:
                low, high = np.append(low, -1.0), np.append(high, 1.0)
            self.observation_space = gym.spaces.Box(low.astype(space.dtype), high.astype(space.dtype),
                                                    dtype=space.dtype)
        self.previous = None

    def _observe(self, obs):
        out = obs
        if self.observe_previous:
            out = np.concatenate([obs, self.previous])
            self.previous = np.array(obs, copy=True)
        if self.observe_sign:
            out = np.append(out, self.context["sign"])
        return out if out is obs else out.astype(self.observation_space.dtype)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)  # seeds self.np_random
        i = self.fixed if self.fixed is not None else int(self.np_random.integers(len(self.instances)))
        self.context = self.instances[i]
        self.env.set_context(**{k: v for k, v in self.context.items() if k != "sign"})
        obs, info = self.env.reset(seed=int(self.np_random.integers(2**31 - 1)))
        self.previous = np.zeros_like(obs)
        return self._observe(obs), {**info, "context": dict(self.context)}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(self.context["sign"] * np.asarray(action))
        return self._observe(obs), reward, terminated, truncated, info
