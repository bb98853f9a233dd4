"""Training with a data-parallel learner over K processes, launched by ``torchrun``:

    torchrun --nproc-per-node K -m icrl train [the usual arguments]

The loop is the synchronous one (``icrl.train.trainer``), split by role:

- rank 0 alone collects (its envs, its exploration), writes and evicts replay files, evaluates, logs, plots and
  writes checkpoints; it holds the run directory's lock;
- every rank samples its own ``learn.batch_size / K`` windows of each update from the shared replay store (a
  sampler seeded per rank) and takes the combined step (``icrl.learn.parallel``): the weights, optimiser and
  statistics stay identical on every rank;
- after rank 0's collection the ranks meet (a broadcast of the counters), refresh their samplers and update;
  the decision to stop (last epoch, ``train.time_limit_min``) is rank 0's, broadcast to all.

Resuming: every rank loads the same checkpoint (weights, optimiser, statistics, sampler counters). With one
process (no torchrun, or ``--nproc-per-node 1``) ``icrl train`` runs the ordinary loop.

On CUDA each rank takes the GPU ``cuda:LOCAL_RANK`` and the NCCL backend; on CPU, gloo.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist

from icrl.config import RunConfig
from icrl.errors import ConfigError
from icrl.learn.parallel import DataParallelLearner
from icrl.train import state
from icrl.train.logging import Progress, RunLogger
from icrl.train.parts import Parts, make_parts
from icrl.train.plots import plot_run
from icrl.train.rundir import checkpoint_dir, open_run_dir, run_dir_lock
from icrl.train.trainer import (
    _collect,
    _evaluate,
    _out_of_time,
    _postfix,
    _store,
    _timed,
    _update,
    record_epoch,
)

RANK_SEED_STRIDE = 1_000_003  # rank r's sampler and generators: seed + r * stride (rank 0 keeps the run's seed)


def launched_by_torchrun() -> bool:
    """True in a process that ``torchrun`` started as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def is_main_process() -> bool:
    """False in the ranks other than 0 of a ``torchrun`` launch (they leave printing to rank 0)."""
    return int(os.environ.get("RANK", "0")) == 0


def rank_config(cfg: RunConfig, rank: int, world: int) -> RunConfig:
    """The config rank ``rank`` builds its parts from: its share of the batch, its own seed and device."""
    if cfg.learn.batch_size % world:
        raise ConfigError(f"learn.batch_size={cfg.learn.batch_size} does not split over {world} processes; "
                          f"use a multiple of {world} (each process samples batch_size / {world} windows).")
    device = cfg.train.device
    if torch.cuda.is_available() and device in ("auto", "cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}"
    learn = dataclasses.replace(cfg.learn, batch_size=cfg.learn.batch_size // world)
    train = dataclasses.replace(cfg.train, seed=cfg.train.seed + rank * RANK_SEED_STRIDE, device=device)
    return dataclasses.replace(cfg, learn=learn, train=train)


def train_data_parallel(cfg: RunConfig, run_dir: Path, progress: str = "auto", label: str = "") -> dict[str, float]:
    """``icrl.train.train`` for a process of a ``torchrun`` launch (module docstring); every rank returns the last
    epoch's metrics (the update metrics averaged over ranks)."""
    if cfg.train.mode != "sync":
        raise ConfigError(f"train.mode={cfg.train.mode!r} runs on one process; launch it without torchrun (the "
                          "data-parallel learner runs the sync loop).")
    rank_cfg_device = rank_config(cfg, int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])).train.device
    if rank_cfg_device.startswith("cuda"):
        torch.cuda.set_device(torch.device(rank_cfg_device))
    dist.init_process_group("nccl" if rank_cfg_device.startswith("cuda") else "gloo")
    try:
        if dist.get_rank() == 0:
            with run_dir_lock(run_dir):
                return _train(cfg, run_dir, progress, label)
        return _train(cfg, run_dir, "off", label)
    finally:
        dist.destroy_process_group()


def _make_rank_parts(cfg: RunConfig, run_dir: Path, rank: int, world: int) -> Parts:
    """Rank 0 first (it creates the run directory and imports datasets), then the others."""
    own = rank_config(cfg, rank, world)
    parts = None
    if rank == 0:
        open_run_dir(run_dir, cfg)
        parts = make_parts(own, run_dir)
    dist.barrier()
    if rank != 0:
        parts = make_parts(own, run_dir)
    parts.learner = DataParallelLearner(parts.agent, own.learn, amp=parts.setup.amp)  # broadcasts rank 0's weights
    return parts


def _collect_and_store(parts: Parts, counters: state.Counters) -> dict[str, float]:
    """Rank 0's collection: the sync loop's collect and store phases."""
    return _store(parts, counters, *_collect(parts, counters))


def _mean_over_ranks(metrics: dict[str, float], device: torch.device) -> dict[str, float]:
    """Every rank's metrics have the same keys (the same code path); their means over ranks."""
    if not metrics:
        return metrics
    keys = sorted(metrics)
    values = torch.tensor([metrics[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return dict(zip(keys, (values / dist.get_world_size()).tolist(), strict=True))


def _broadcast(values: list, device: torch.device) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return t.tolist()


def _train(cfg: RunConfig, run_dir: Path, progress: str, label: str) -> dict[str, float]:
    rank, world = dist.get_rank(), dist.get_world_size()
    parts = _make_rank_parts(cfg, run_dir, rank, world)
    counters = state.restore(parts, checkpoint_dir(run_dir)) or state.Counters()
    if rank != 0:
        torch.manual_seed(parts.cfg.train.seed + counters.epoch)  # restore set rank 0's generator state
    dev = parts.setup.device
    logger = RunLogger(run_dir, use_wandb=cfg.train.wandb, wandb_project=cfg.train.wandb_project,
                       config=cfg.to_dict(), keep_epochs=counters.epoch) if rank == 0 else None
    display = Progress(cfg.train.epochs, initial=counters.epoch, mode=progress, label=label)
    metrics: dict[str, float] = {}
    try:
        parts.agent.train()
        while counters.epoch < cfg.train.epochs:
            epoch_start = time.perf_counter()
            epoch, steps_before = counters.epoch, counters.env_steps
            collect_m, t_collect = _timed(_collect_and_store, parts, counters) if rank == 0 else ({}, 0.0)
            counters.env_steps, counters.rollouts = map(int, _broadcast([counters.env_steps, counters.rollouts], dev))
            if rank != 0:  # rank 0's new and evicted files: this rank's store index knows only what it read
                parts.store.rescan()
                parts.prefetcher.refresh()
            update_m, t_update = _timed(_update, parts, counters)
            update_m = _mean_over_ranks(update_m, dev)
            last = epoch + 1 == cfg.train.epochs or _out_of_time(cfg, counters, epoch_start)
            last = bool(_broadcast([float(last)], dev)[0])
            eval_due = rank == 0 and cfg.train.eval_every and (epoch % cfg.train.eval_every == 0 or last)
            eval_m, t_eval = _timed(_evaluate, parts, cfg.train.seed + 1000 + epoch) if eval_due else ({}, 0.0)
            counters.epoch += 1
            counters.wall_time += time.perf_counter() - epoch_start
            metrics = {**collect_m, **update_m, **eval_m, "epoch": float(counters.epoch),
                       "env_steps": float(counters.env_steps), "updates": float(counters.updates),
                       "dist/processes": float(world), "time/collect": t_collect, "time/update": t_update,
                       "time/eval": t_eval, "time/total": counters.wall_time,
                       "speed/env_steps_per_s": (counters.env_steps - steps_before) / max(t_collect, 1e-9),
                       "speed/updates_per_s": cfg.train.updates_per_epoch / max(t_update, 1e-9) if update_m else 0.0}
            if rank == 0:
                record_epoch(parts, counters, logger, metrics, last, run_dir)
                display.update(counters.epoch, **_postfix(metrics))
            if last:
                break
    finally:
        display.close()
        if logger is not None:
            logger.close()
        parts.close()
    if rank == 0:
        plot_run(run_dir)
    return metrics

