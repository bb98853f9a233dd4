"""Exploration noise for training actors (method section 3).

Epsilon-greedy for categorical actions (a uniformly random action with probability eps) and Gaussian noise
for continuous actions (``clip(a + eps * N(0, I), -1, 1)``; with ``box_noise="uniform"``, not in the method, the
whole action is instead replaced by a uniform random one with probability eps, as for categorical actions). The
value of eps follows a per-actor schedule:

* ``egreedy``: decays linearly with the actor's env steps ``g`` from ``eps_start`` to ``eps_end``;
* ``bilevel``: also decays within each rollout, from the start value to the end value at ``rollout_horizon``;
* ``edges``: the ``egreedy`` value in the first and last ``edge_steps`` steps of a rollout, greedy in between.
  For tasks like the T-maze whose reward needs a long run of deterministic actions before one decisive action:
  ordinary epsilon-greedy almost never completes the run *and* tries the decisive action (the reference
  implementation uses a similar schedule for its T-maze experiments).

Each env draws a multiplier ``m ~ U[0, 1)`` at the start of every rollout (``randomize``), so the batch always
mixes cautious and adventurous actors. The schedule counts the actor's *own* steps, independent of the
number of parallel envs.
"""

from __future__ import annotations

import numpy as np

from icrl.config import ExplorationConfig
from icrl.spaces import ActionSpec


class Exploration:
    """Perturbs a batch of env-facing actions; its state (step counter, multipliers) is checkpointable."""

    def __init__(self, cfg: ExplorationConfig, action_spec: ActionSpec, num_envs: int, rollout_horizon: int,
                 rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.spec = action_spec
        self.horizon = max(cfg.rollout_horizon or rollout_horizon, 1)
        self.rng = rng
        self.steps = 0
        self.multiplier = self._draw(num_envs)

    def _draw(self, n: int) -> np.ndarray:
        return self.rng.random(n) if self.cfg.randomize else np.ones(n)

    def _anneal(self, start: float, end: float) -> float:
        frac = min(self.steps / self.cfg.anneal_steps, 1.0)
        return start + (end - start) * frac

    def epsilon(self, time_idx: np.ndarray) -> np.ndarray:
        """(N,) current epsilon (or noise std) per env, given each env's step in its rollout."""
        c = self.cfg
        start = self._anneal(c.eps_start, c.eps_end)
        if c.kind == "egreedy":
            eps = np.full(time_idx.shape, start)
        elif c.kind == "edges":
            at_edge = (time_idx < c.edge_steps) | (time_idx >= self.horizon - c.edge_steps)
            eps = np.where(at_edge, start, 0.0)
        else:
            end = self._anneal(c.eps_end_start, c.eps_end_end)
            eps = start - (start - end) * np.minimum(time_idx / self.horizon, 1.0)
        return self.multiplier * eps

    def perturb(self, actions: np.ndarray, time_idx: np.ndarray) -> np.ndarray:
        """Env-facing actions (N,) / (N, k) / (N, d) -> perturbed copy; advances the step counter."""
        eps = self.epsilon(time_idx)
        self.steps += 1
        n = actions.shape[0]
        if self.spec.kind == "box" and self.cfg.box_noise == "gaussian":
            noise = self.rng.standard_normal(actions.shape) * eps[:, None]
            return np.clip(actions + noise, -1.0, 1.0).astype(np.float32)
        explore = self.rng.random(n) < eps
        if self.spec.kind == "box":
            random_box = self.rng.uniform(-1.0, 1.0, actions.shape)
            return np.where(explore[:, None], random_box, actions).astype(np.float32)
        if not explore.any():
            return actions
        random = np.stack([self.rng.integers(0, k, size=n) for k in self.spec.nvec], axis=-1)
        random = random[:, 0] if self.spec.kind == "discrete" else random
        out = actions.copy()
        out[explore] = random[explore]
        return out

    def on_rollout_end(self, done: np.ndarray) -> None:
        """Redraw the multiplier of envs whose rollout just ended."""
        if self.cfg.randomize and done.any():
            self.multiplier[done] = self.rng.random(int(done.sum()))

    def state_dict(self) -> dict:
        """Step counter, multipliers and the RNG's state (JSON: the generator state is a dict of ints)."""
        return {"steps": self.steps, "multiplier": self.multiplier.tolist(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Continue where ``state_dict`` was taken; the noise stream continues instead of restarting."""
        self.steps = int(state["steps"])
        mult = np.asarray(state["multiplier"], dtype=np.float64)
        if mult.shape == self.multiplier.shape:
            self.multiplier = mult
        if "rng" in state:  # checkpoints written before the RNG was saved restart it
            self.rng.bit_generator.state = state["rng"]
