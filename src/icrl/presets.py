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
}


def preset_overrides(name: str) -> list[str]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(sorted(PRESETS))}.")
    return list(PRESETS[name]["overrides"])
