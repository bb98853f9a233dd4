"""``explore``: the noise added to the actions of the training envs (method section 3)."""

from __future__ import annotations

from dataclasses import dataclass

from icrl.config.fields import NON_NEGATIVE, POSITIVE, UNIT, Section, one_of, setting


@dataclass(frozen=True)
class ExplorationConfig(Section):
    """Epsilon (discrete) or noise std (continuous) schedules, per actor; evaluation envs are never perturbed."""

    section = "explore"

    kind: str = setting("egreedy", "egreedy: decays over training; bilevel: also within a rollout; edges (not in "
                                   "the method): only near a rollout's start and end", one_of("egreedy", "bilevel",
                                                                                             "edges"))
    eps_start: float = setting(1.0, "epsilon (discrete) or noise std (continuous) at the start of training", UNIT)
    eps_end: float = setting(0.05, "the same after anneal_steps env steps of one actor", UNIT)
    eps_end_start: float = setting(0.8, "bilevel: value at the end of a rollout, at the start of training", UNIT)
    eps_end_end: float = setting(0.01, "bilevel: value at the end of a rollout, after annealing", UNIT)
    anneal_steps: int = setting(2_000, "env steps per actor over which the schedule decays (long tasks: raise it)",
                                POSITIVE)
    rollout_horizon: int = setting(0, "bilevel, edges: rollout length (0 = derived from the env)", NON_NEGATIVE)
    edge_steps: int = setting(3, "edges: explore only in the first and last edge_steps steps of a rollout",
                              POSITIVE, beyond_method=True)
    randomize: bool = setting(True, "scale the noise of each env by a factor U[0, 1) redrawn every rollout")
    box_noise: str = setting("gaussian", "continuous actions: gaussian adds eps * N(0, I) (the method's); uniform "
                                         "replaces the action by a uniform one with probability eps",
                             one_of("gaussian", "uniform"), beyond_method=True)
    sample_train: bool = setting(True, "sample actions while collecting (false: argmax / mean, plus the noise)")
    sample_eval: bool = setting(True, "sample actions during evaluation (false: argmax / mean)")
