"""Evaluation: fresh envs, fresh memory, whole rollouts; per-attempt and per-task metrics."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from icrl.rollout.collector import Collector, RolloutStats, make_vector_env
from icrl.spaces import ActionSpec


def summarize(stats: list[RolloutStats], prefix: str) -> dict[str, float]:
    """Mean return, bottom-quintile return, mean length, the mean of every episode metric, and per task."""
    if not stats:
        return {}
    returns = np.array([s.ret for s in stats])
    out = {f"{prefix}/return": float(returns.mean()), f"{prefix}/return_p20": float(np.percentile(returns, 20)),
           f"{prefix}/length": float(np.mean([s.length for s in stats])), f"{prefix}/rollouts": float(len(stats))}
    pooled: dict[str, list[float]] = defaultdict(list)
    for s in stats:
        for k, v in s.metrics.items():
            pooled[k].append(v)
    for k, values in sorted(pooled.items()):
        if k != "return":
            out[f"{prefix}/{k}"] = float(np.mean(values))
    attempts = sorted({int(k.split("/")[0].split("_")[1]) for k in pooled if k.startswith("attempt_")})
    if len(attempts) > 1 and all(f"attempt_{a}/success" in pooled for a in attempts):
        later = [np.mean(pooled[f"attempt_{a}/success"]) for a in attempts[1:]]
        out[f"{prefix}/success_after_first"] = float(np.mean(later))
    out.update(_per_task(stats, prefix))
    return out


def _per_task(stats: list[RolloutStats], prefix: str) -> dict[str, float]:
    """``{prefix}/task/<name>/return`` (and ``/success`` when reported) for rollouts that name their task."""
    by_task: dict[str, list[RolloutStats]] = defaultdict(list)
    for s in stats:
        if s.task is not None:
            by_task[s.task].append(s)
    out = {}
    for task, group in sorted(by_task.items()):
        out[f"{prefix}/task/{task}/return"] = float(np.mean([s.ret for s in group]))
        successes = [s.metrics["success"] for s in group if "success" in s.metrics]
        if successes:
            out[f"{prefix}/task/{task}/success"] = float(np.mean(successes))
    return out


def evaluate(agent, env_factory: Callable[[], gym.Env], action_spec: ActionSpec, env_name: str,
             num_envs: int, episodes: int, device: torch.device, sample: bool = True, seed: int = 0,
             mode: str = "inline") -> dict[str, float]:
    """Run ``episodes`` whole rollouts (rounded up to a multiple of ``num_envs``) and summarise them."""
    venv = make_vector_env(env_factory, num_envs, mode)
    try:
        collector = Collector(venv, agent, action_spec, device, env_name, exploration=None, sample=sample,
                              keep_trajectories=False, seed=seed)
        stats = collector.run_rollouts(per_env=-(-episodes // num_envs))
    finally:
        venv.close()
    return summarize(stats, "eval")
