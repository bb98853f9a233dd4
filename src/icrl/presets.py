"""Named settings for the built-in tasks, applied before command-line overrides (``icrl train --preset``)."""

from __future__ import annotations

from icrl.errors import ConfigError, closest

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
    # Crafter instructions scaled for a CPU. The paper trained 40M env steps with a context of 2000 (the reference
    # example: instructions of 1-3 goals, whole rollouts of up to 2500 steps as context) and reports 62% success
    # over generated instructions; these settings are a starting point at ~1/40 of that budget, not a
    # reproduction: shorter rollouts (500 steps), 36x36 images, windows of 256 steps, instructions of 1-2 goals
    # weighted toward easy achievements, and a small in-memory trajectory cache (a rollout holds ~2 MB).
    "crafter": {"doc": ["Crafter instructions (1-2 achievements, easy-weighted), 500 steps, 36x36 images, "
                        "hindsight relabeling of 75% of the sampled rollouts; scaled for CPU (paper: 40M steps, "
                        "context 2000)"],
                "overrides": ["env.name=crafter-instructions", "env.kwargs.goals=2", "env.kwargs.distribution=easy",
                              "env.kwargs.image_size=36", "env.kwargs.time_limit=500", "env.num_envs=8",
                              "env.eval_num_envs=8", "model.max_seq_len=256", "learn.batch_size=12",
                              "replay.relabel_prob=0.75", "replay.capacity_steps=200000",
                              "replay.cache_trajectories=256", "explore.anneal_steps=25000",
                              "train.steps_per_epoch=250", "train.updates_per_epoch=50", "train.eval_every=10",
                              "train.eval_episodes=16", "train.epochs=500"]},
    # BabyAI scaled for a CPU: one level, whole 64-step rollouts as context, mission tokens padded to the level's
    # longest (5 words). The method's BabyAI runs use a reward multiplier of 1000 (rewards are at most 1);
    # 100 keeps the PopArt-normalised critic well scaled at this budget. Not tuned beyond a short run.
    "babyai": {"doc": ["BabyAI GoToLocal (8x8 room, 8 distractors), 64 steps, mission as tokens; scaled for CPU"],
               "overrides": ["env.name=babyai/GoToLocal", "env.kwargs.max_tokens=5", "env.num_envs=16",
                             "env.eval_num_envs=16", "learn.reward_multiplier=100", "train.steps_per_epoch=64",
                             "train.updates_per_epoch=40", "train.eval_every=5", "train.eval_episodes=32",
                             "explore.anneal_steps=20000", "train.epochs=300"]},
    # Atari as in the method's multi-game runs (reward multiplier 0.25, unclipped rewards, sticky actions); the
    # context is a window of 128 frames. Far beyond a CPU budget at its real scale (tens of millions of frames).
    "atari": {"doc": ["Atari Pong, 84x84 grey frames, frame skip 4, context windows of 128 steps"],
              "overrides": ["env.name=atari/Pong", "env.num_envs=8", "env.eval_num_envs=8",
                            "learn.reward_multiplier=0.25", "model.max_seq_len=128", "env.chunk_len=1024",
                            "replay.cache_trajectories=64", "explore.anneal_steps=250000"]},
    # The method's Meta-World settings (lr 5e-4, grad clip 2, bilevel exploration over the whole k-attempt
    # rollout, reward multiplier 1); 3 attempts of 500 steps at a hidden ML1 goal.
    "metaworld": {"doc": ["Meta-World ML1 reach-v3, 3 attempts of 500 steps at a hidden goal (method settings)"],
                  "overrides": ["env.name=metaworld/ML1/reach-v3", "env.kwargs.attempts=3", "env.num_envs=8",
                                "env.eval_num_envs=8", "learn.reward_multiplier=1", "learn.lr=5e-4",
                                "learn.grad_clip=2", "explore.kind=bilevel", "explore.anneal_steps=250000",
                                "model.max_seq_len=500"]},
    # XLand-MiniGrid: 64 envs in one jitted call, 4 episodes per hidden-object task (method: reward multiplier
    # 10, grad clip 2).
    "xland": {"doc": ["XLand-MiniGrid R1 9x9, 4 episodes per hidden-object task, 64 batched JAX envs"],
              "overrides": ["env.name=xland/XLand-MiniGrid-R1-9x9", "env.kwargs.attempts=4", "env.num_envs=64",
                            "env.eval_num_envs=64", "learn.reward_multiplier=10", "learn.grad_clip=2",
                            "model.max_seq_len=256", "explore.anneal_steps=20000"]},
}


def preset_overrides(name: str) -> list[str]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}{closest(name, PRESETS)}; available: {', '.join(sorted(PRESETS))}.")
    return list(PRESETS[name]["overrides"])
