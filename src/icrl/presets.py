"""Named settings for the built-in tasks, applied before command-line overrides (``icrl train --preset``)."""

from __future__ import annotations

from icrl.errors import ConfigError

PRESETS: dict[str, dict[str, list[str]]] = {
    # The README's main command: default RunConfig values are tuned for this task.
    "meta-frozen-lake": {"doc": ["5x5 lake, 5 attempts, whole-rollout context (the default run)"],
                         "overrides": []},
    "t-maze": {"doc": ["passive T-maze, corridor of env.kwargs.length (default 100)"],
               "overrides": ["env.name=t-maze", "env.kwargs.length=100", "learn.gamma=0.9999",
                             "learn.reward_multiplier=100", "explore.sample_train=false",
                             "explore.sample_eval=false", "explore.kind=edges", "explore.anneal_steps=4000",
                             "explore.eps_end=0.01"]},
    "dark-key-door": {"doc": ["dark key-to-door, 8x8 room, episodes of 50 inside a meta-horizon of 500"],
                      "overrides": ["env.name=dark-key-door", "learn.reward_multiplier=100",
                                    "explore.kind=bilevel", "explore.anneal_steps=500000"]},
    # The paper's MazeRunner example (method 12-13: 11x11, 3 goals, 250 steps) with hindsight relabeling; the
    # relabel share 0.75 stands in for the reference's "some" strategy, which leaves 1 in k - n + 1 trajectories
    # unchanged (1 in 4 with 3 goals and none reached). Not tuned for the CPU budget.
    "mazerunner": {"doc": ["MazeRunner 11x11, 3 goals in order, 250 steps, hindsight relabeling of 75% of the "
                           "sampled rollouts"],
                   "overrides": ["env.name=mazerunner", "env.kwargs.size=11", "env.kwargs.goals=3",
                                 "env.kwargs.time_limit=250", "replay.relabel_prob=0.75"]},
}


def preset_overrides(name: str) -> list[str]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(sorted(PRESETS))}.")
    return list(PRESETS[name]["overrides"])
