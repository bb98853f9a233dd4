"""``icrl eval``: run the saved policy of a run directory and report the same metrics as training."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym

from icrl.agent import Agent, make_agent
from icrl.config import apply_overrides
from icrl.device import pick_device
from icrl.errors import CheckpointError
from icrl.rollout import evaluate
from icrl.spaces import ActionSpec, ObsSpec
from icrl.train import checkpoint as ckpt
from icrl.train.parts import probe_env
from icrl.train.rundir import checkpoint_dir, load_config

EnvFactory = Callable[[], gym.Env]


def evaluate_run(run_dir: Path, episodes: int | None = None, greedy: bool = False,
                 overrides: list[str] | None = None, checkpoint: str | None = None,
                 wrap_env: Callable[[EnvFactory], EnvFactory] | None = None) -> dict[str, float]:
    """Metrics of the run's saved policy over ``episodes`` fresh rollouts.

    ``overrides`` change the evaluation set-up only (e.g. ``env.kwargs.split=eval_out`` for a held-out context
    split; the model must stay the same); ``checkpoint`` names one checkpoint instead of the latest;
    ``wrap_env`` wraps the env factory (e.g. to record what the metrics do not, such as how episodes end).
    """
    cfg = apply_overrides(load_config(run_dir), list(overrides or []))
    setup = pick_device(cfg.train.device, cfg.train.threads, cfg.train.precision)
    env = probe_env(cfg)
    agent = make_agent(cfg, env.obs_spec, env.action_spec, env.max_seq_len, env.max_time_idx).to(setup.device)
    root = checkpoint_dir(run_dir)
    loaded = ckpt.load_checkpoint(root, checkpoint) if checkpoint else ckpt.load_latest(root)
    if loaded is None:
        raise CheckpointError(f"{run_dir} has no checkpoint yet; train first (`icrl train --run-dir {run_dir}`).")
    ckpt.load_module_state("agent", agent, loaded[0])
    agent.eval()
    factory = wrap_env(env.factory) if wrap_env else env.factory
    return evaluate(agent, factory, env.action_spec, cfg.env.name, cfg.env.eval_num_envs,
                    episodes or cfg.train.eval_episodes, setup.device,
                    sample=cfg.explore.sample_eval and not greedy, seed=cfg.train.seed + 99_999, mode=cfg.env.vector)


def load_policy(run_dir: Path, checkpoint: str | None = None) -> tuple[Agent, ObsSpec, ActionSpec]:
    """A run's agent with its latest (or the named) checkpoint's weights, on the CPU in eval mode, and its env's
    observation and action specs: what ``icrl export`` writes out. (To give way to a public run loader.)"""
    cfg = load_config(run_dir)
    env = probe_env(cfg)
    agent = make_agent(cfg, env.obs_spec, env.action_spec, env.max_seq_len, env.max_time_idx)
    root = checkpoint_dir(run_dir)
    loaded = ckpt.load_checkpoint(root, checkpoint) if checkpoint else ckpt.load_latest(root)
    if loaded is None:
        raise CheckpointError(f"{run_dir} has no checkpoint yet; train first (`icrl train --run-dir {run_dir}`).")
    ckpt.load_module_state("agent", agent, loaded[0])
    return agent.eval(), env.obs_spec, env.action_spec
