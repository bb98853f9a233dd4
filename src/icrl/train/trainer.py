"""The training loop: the algorithm's outer loop, each phase timed.

    repeat: collect -> store (+ FIFO eviction) -> update -> evaluate -> log -> checkpoint

Offline and offline-to-online: nothing is collected before epoch ``train.start_collecting_at_epoch``, nor ever
with ``train.steps_per_epoch=0``; updates then sample the stored data only (``replay.datasets``, protected/).

Re-running the same command on the same run directory resumes from the last checkpoint: weights, optimiser,
schedule, normalisation statistics (module buffers), RNG, counters and the replay buffer on disk. Rollouts
that were still in flight when the process stopped were never stored; envs start fresh rollouts on resume.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from icrl.config import RunConfig
from icrl.rollout import evaluate, summarize
from icrl.train import state
from icrl.train.logging import Progress, RunLogger
from icrl.train.parts import Parts, make_parts
from icrl.train.plots import plot_run
from icrl.train.rundir import checkpoint_dir, open_run_dir, run_dir_lock


def collect_steps(cfg: RunConfig, epoch: int) -> int:
    """Env steps per training env in ``epoch``: none before ``train.start_collecting_at_epoch``."""
    return cfg.train.steps_per_epoch if epoch >= cfg.train.start_collecting_at_epoch else 0


def _collect(parts: Parts, counters: state.Counters) -> dict[str, float]:
    cfg = parts.cfg
    steps = collect_steps(cfg, counters.epoch)
    trajs, stats = parts.collector.collect(steps) if steps else ([], [])
    for traj in trajs:
        parts.store.write(traj)
    evicted_files, _ = parts.store.evict()
    parts.prefetcher.refresh()
    counters.env_steps += steps * cfg.env.num_envs
    counters.rollouts += len(stats)
    metrics = summarize(stats, "train")
    metrics.update({"buffer/steps": float(parts.store.total_steps), "buffer/trajectories": float(len(parts.store)),
                    "buffer/evicted": float(evicted_files), "explore/steps": float(parts.exploration.steps),
                    "train/collecting": float(steps > 0)})
    if parts.datasets:
        metrics.update({f"replay/share/{k}": v for k, v in parts.sampler.source_shares().items()})
        metrics.update({f"dataset/{k}/return": info.mean_return for k, info in parts.datasets.items()})
    return metrics


def _update(parts: Parts, counters: state.Counters) -> dict[str, float]:
    if not parts.sampler.ready(max(parts.cfg.replay.min_steps, 1)):
        return {}
    sums: dict[str, torch.Tensor] = {}
    n = parts.cfg.train.updates_per_epoch
    for _ in range(n):
        batch = parts.prefetcher.get().to(parts.setup.device, non_blocking=True)
        for k, v in parts.learner.update(batch).items():  # tensors: no device sync per update
            sums[k] = sums[k] + v.float() if k in sums else v.float()
    counters.updates += n
    return {k: float(v) / n for k, v in sums.items()}


def _evaluate(parts: Parts, seed: int) -> dict[str, float]:
    cfg = parts.cfg
    parts.agent.eval()
    try:
        return evaluate(parts.agent, parts.env.factory, parts.env.action_spec, cfg.env.name, cfg.env.eval_num_envs,
                        cfg.train.eval_episodes, parts.setup.device, sample=cfg.explore.sample_eval, seed=seed,
                        mode=cfg.env.vector)
    finally:
        parts.agent.train()


def _timed(fn, *args) -> tuple[dict, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def train(cfg: RunConfig, run_dir: Path, progress: str = "auto", label: str = "") -> dict[str, float]:
    """Train (or resume) the run in ``run_dir``; returns the metrics of the last epoch.

    ``progress``: "auto" (a bar on a terminal, plain lines otherwise), "bar", "plain" or "off"; ``label``
    prefixes the progress display (parallel benchmark runs). One process at a time may train a run directory.
    ``train.mode=async`` hands the run to ``icrl.train.async_loop``.
    """
    if cfg.train.mode == "async":
        from icrl.train.async_loop import train_async

        return train_async(cfg, run_dir, progress, label)
    with run_dir_lock(run_dir):
        return _train(cfg, run_dir, progress, label)


def _train(cfg: RunConfig, run_dir: Path, progress: str, label: str) -> dict[str, float]:
    open_run_dir(run_dir, cfg)
    parts = make_parts(cfg, run_dir)
    counters = state.restore(parts, checkpoint_dir(run_dir)) or state.Counters()
    logger = RunLogger(run_dir, use_wandb=cfg.train.wandb, wandb_project=cfg.train.wandb_project,
                       config=cfg.to_dict())
    display = Progress(cfg.train.epochs, initial=counters.epoch, mode=progress, label=label)
    metrics: dict[str, float] = {}
    try:
        parts.agent.train()
        while counters.epoch < cfg.train.epochs:
            epoch_start = time.perf_counter()
            epoch, steps_before = counters.epoch, counters.env_steps
            collect_m, t_collect = _timed(_collect, parts, counters)
            update_m, t_update = _timed(_update, parts, counters)
            last = epoch + 1 == cfg.train.epochs or _out_of_time(cfg, counters, epoch_start)
            eval_due = cfg.train.eval_every and (epoch % cfg.train.eval_every == 0 or last)
            eval_m, t_eval = _timed(_evaluate, parts, cfg.train.seed + 1000 + epoch) if eval_due else ({}, 0.0)
            counters.epoch += 1
            counters.wall_time += time.perf_counter() - epoch_start
            metrics = {**collect_m, **update_m, **eval_m, "epoch": float(counters.epoch),
                       "env_steps": float(counters.env_steps), "updates": float(counters.updates),
                       "time/collect": t_collect, "time/update": t_update, "time/eval": t_eval,
                       "time/total": counters.wall_time,
                       "speed/env_steps_per_s": (counters.env_steps - steps_before) / max(t_collect, 1e-9),
                       "speed/updates_per_s": cfg.train.updates_per_epoch / max(t_update, 1e-9) if update_m else 0.0}
            logger.log(metrics, step=counters.env_steps)
            if counters.epoch % cfg.train.ckpt_every == 0 or last:
                state.save(parts, checkpoint_dir(run_dir), counters)
            display.update(counters.epoch, **_postfix(metrics))
            if last:
                break
    finally:
        display.close()
        logger.close()
        parts.close()
    plot_run(run_dir)
    return metrics


def _out_of_time(cfg: RunConfig, counters: state.Counters, epoch_start: float) -> bool:
    """True once the run's wall time (all sessions, this epoch included) reaches ``train.time_limit_min``."""
    limit = cfg.train.time_limit_min * 60.0
    return bool(limit) and counters.wall_time + time.perf_counter() - epoch_start >= limit


def _postfix(m: dict[str, float]) -> dict[str, str]:
    keys = {"env_steps": "steps", "eval/return": "eval_ret", "eval/success": "eval_succ",
            "eval/success_after_first": "succ_2+", "critic/loss": "critic", "speed/updates_per_s": "upd/s"}
    return {short: f"{m[k]:.3g}" if not float(m[k]).is_integer() else f"{int(m[k])}"
            for k, short in keys.items() if k in m and np.isfinite(m[k])}
