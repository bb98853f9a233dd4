"""Builds every part of a run from its config, in one place (``make_*`` functions, complete objects).

Offline datasets (``replay.datasets``) are imported here, once per run directory, before the agent is built.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from icrl.agent import Agent, make_agent
from icrl.config import RunConfig
from icrl.data import BatchPrefetcher, Relabeler, TrajectoryStore, WindowSampler, make_relabeler
from icrl.data.offline import DatasetInfo, import_dataset
from icrl.data.store import ONLINE
from icrl.device import DeviceSetup, pick_device
from icrl.envs import RESERVED_KEYS, make_env
from icrl.errors import ConfigError
from icrl.learn import Learner
from icrl.rollout import Collector, Exploration, make_vector_env
from icrl.spaces import ActionSpec, ObsSpec


@dataclass(frozen=True)
class EnvInfo:
    """What the agent needs to know about the environment before it is built."""

    factory: functools.partial
    obs_spec: ObsSpec
    action_spec: ActionSpec
    max_rollout_steps: int | None
    max_seq_len: int
    max_time_idx: int
    obs_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # every stored key, side keys included
    mirror_conflict: str | None = None  # why the env refuses mirrored actions (``InContextEnv.mirror_conflict``)


def probe_env(cfg: RunConfig) -> EnvInfo:
    """Make one env to read its spaces and rollout length; derive the context length from it."""
    factory = functools.partial(make_env, cfg.env.name, **cfg.env.kwargs)
    env = factory()
    try:
        horizon = env.max_rollout_steps
        obs_spec, action_spec, mirror_conflict = env.obs_spec, env.action_spec, env.mirror_conflict
        obs_shapes = {k: tuple(space.shape) for k, space in env.observation_space.spaces.items()
                      if k not in RESERVED_KEYS}
    finally:
        env.close()
    max_seq_len = cfg.model.max_seq_len or (horizon + 1 if horizon else 0)
    if not max_seq_len:
        raise ConfigError(f"env {cfg.env.name!r} has no step limit, so the context length cannot be derived: "
                          "set model.max_seq_len=N (observations per training window).")
    max_time_idx = cfg.model.max_time_idx or (horizon + 1 if horizon else 0)
    if cfg.model.pos_emb == "learned" and not max_time_idx:
        raise ConfigError("model.pos_emb=learned needs model.max_time_idx (rows of the position table) for an "
                          "env without a step limit.")
    return EnvInfo(factory, obs_spec, action_spec, horizon, max_seq_len, max_time_idx or 1, obs_shapes,
                   mirror_conflict)


def make_relabeler_for(cfg: RunConfig, env: EnvInfo) -> Relabeler | None:
    """The configured hindsight relabeler, checked against the env's observations; None when it is off."""
    if cfg.replay.relabel_prob == 0:
        return None
    relabeler = make_relabeler(cfg.replay.relabeler, **cfg.replay.relabel_kwargs)
    relabeler.check(env.obs_shapes)
    return relabeler


def check_mirroring(cfg: RunConfig, env: EnvInfo) -> None:
    """``replay.mirror_actions`` negates actions and nothing else: continuous actions, and an env that does not
    declare a conflict with it (``InContextEnv.mirror_conflict``)."""
    share = cfg.replay.mirror_actions
    if share == 0:
        return
    if env.action_spec.kind != "box":
        raise ConfigError(f"replay.mirror_actions={share} negates actions, but env {cfg.env.name!r} has "
                          f"{env.action_spec.kind} actions; set replay.mirror_actions=0.")
    if env.mirror_conflict:
        raise ConfigError(f"replay.mirror_actions={share} negates actions but leaves observations as they are, and "
                          f"env {cfg.env.name!r} cannot be mirrored: {env.mirror_conflict}. Set "
                          "replay.mirror_actions=0 or change the env settings.")


def import_datasets(cfg: RunConfig, env: EnvInfo, store: TrajectoryStore) -> dict[str, DatasetInfo]:
    """Import every ``replay.datasets`` entry not imported yet (checked against the env); name -> what it holds."""
    return {d["name"]: import_dataset(store, d["name"], d["source"], env=(env.obs_shapes, env.action_spec))
            for d in cfg.replay.datasets}


def source_weights(cfg: RunConfig) -> dict[str, float] | None:
    """Mixture weights of the sampler (None: no datasets, every file pooled)."""
    if not cfg.replay.datasets:
        return None
    return {ONLINE: cfg.replay.online_weight, **{d["name"]: d["weight"] for d in cfg.replay.datasets}}


@dataclass
class Parts:
    """Everything a training run is made of (built once, then only used)."""

    cfg: RunConfig
    setup: DeviceSetup
    env: EnvInfo
    agent: Agent
    learner: Learner
    store: TrajectoryStore
    sampler: WindowSampler
    prefetcher: BatchPrefetcher
    exploration: Exploration
    collector: Collector
    datasets: dict[str, DatasetInfo] = field(default_factory=dict)  # imported offline datasets, by name

    def close(self) -> None:
        self.prefetcher.close()
        self.collector.venv.close()


def make_parts(cfg: RunConfig, run_dir: Path) -> Parts:
    """Build env info, agent, learner, replay store and sampler, exploration and the training collector."""
    setup = pick_device(cfg.train.device, cfg.train.threads, cfg.train.precision)
    torch.manual_seed(cfg.train.seed)
    env = probe_env(cfg)
    relabeler = make_relabeler_for(cfg, env)  # checked before anything heavy is built
    check_mirroring(cfg, env)
    store = TrajectoryStore(run_dir / "buffer", cfg.replay.capacity_steps)
    datasets = import_datasets(cfg, env, store)
    agent = make_agent(cfg, env.obs_spec, env.action_spec, env.max_seq_len, env.max_time_idx).to(setup.device)
    learner = Learner(agent, cfg.learn, amp=setup.amp)
    sampler = WindowSampler(store, cfg.learn.batch_size, env.max_seq_len, cfg.replay.padded_sampling,
                            cfg.replay.weight_by_length, seed=cfg.train.seed,
                            cache_trajectories=cfg.replay.cache_trajectories, relabeler=relabeler,
                            relabel_prob=cfg.replay.relabel_prob, source_weights=source_weights(cfg),
                            mirror_prob=cfg.replay.mirror_actions)
    prefetcher = BatchPrefetcher(sampler, depth=cfg.replay.prefetch)
    rng = np.random.default_rng([cfg.train.seed, 1])
    exploration = Exploration(cfg.explore, env.action_spec, cfg.env.num_envs, env.max_rollout_steps or 1, rng)
    venv = make_vector_env(env.factory, cfg.env.num_envs, cfg.env.vector)
    collector = Collector(venv, agent, env.action_spec, setup.device, cfg.env.name, exploration=exploration,
                          sample=cfg.explore.sample_train, chunk_len=cfg.env.chunk_len, seed=cfg.train.seed)
    return Parts(cfg, setup, env, agent, learner, store, sampler, prefetcher, exploration, collector, datasets)
