"""The training loop: the algorithm's outer loop, each phase timed.

    repeat: collect -> store (+ FIFO eviction) -> update -> evaluate -> log -> checkpoint

Offline and offline-to-online: nothing is collected before epoch ``train.start_collecting_at_epoch``, nor ever
with ``train.steps_per_epoch=0``; updates then sample the stored data only (``replay.datasets``, protected/).

Re-running the same command on the same run directory resumes from the last checkpoint: weights, optimiser,
schedule, normalisation statistics (module buffers), RNGs, exploration, counters and the replay buffer on disk
(``icrl.train.state.resume`` says exactly what; ``docs/reliability.md`` which resumes are bit-exact). Epochs
after the checkpoint are done again; their ``metrics.jsonl`` rows are dropped, their complete buffer files kept.

Env seeds continue instead of restarting: whenever an epoch begins with no env inside a rollout (the first
collecting epoch of a session, or every epoch of a run whose rollouts end at epoch boundaries), every env is
reset with a seed derived from ``train.seed`` and the epoch (``env_seed``), so a resumed session meets new
tasks, the ones the uninterrupted run would have met where rollouts end at epoch boundaries.

The current phase is written to ``run_dir/status`` and each session's start to ``sessions.jsonl``
(``icrl.train.status``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from icrl.config import RunConfig
from icrl.fsutil import remove_temps
from icrl.records import Trajectory
from icrl.rollout import RolloutStats, evaluate, summarize
from icrl.train import state
from icrl.train.logging import Progress, RunLogger
from icrl.train.parts import Parts, make_parts
from icrl.train.plots import plot_run
from icrl.train.rundir import checkpoint_dir, open_run_dir, run_dir_lock
from icrl.train.status import PhaseFile


def collect_steps(cfg: RunConfig, epoch: int) -> int:
    """Env steps per training env in ``epoch``: none before ``train.start_collecting_at_epoch``."""
    return cfg.train.steps_per_epoch if epoch >= cfg.train.start_collecting_at_epoch else 0


def env_seed(seed: int, epoch: int) -> int:
    """Seed of the envs' reset at the start of ``epoch``: ``train.seed`` itself at epoch 0, then a distinct seed
    per epoch (below 2**31 minus room for ``seed + i`` per env)."""
    if epoch == 0:
        return seed
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] % (2**31 - 2**16))


def _collect(parts: Parts, counters: state.Counters) -> tuple[list[Trajectory], list[RolloutStats], int]:
    """This epoch's env steps: (finished trajectories and chunks, their stats, steps per env)."""
    steps = collect_steps(parts.cfg, counters.epoch)
    if not steps:
        return [], [], 0
    if parts.collector.between_rollouts():
        parts.collector.restart(env_seed(parts.cfg.train.seed, counters.epoch))
    trajs, stats = parts.collector.collect(steps)
    return trajs, stats, steps


def _store(parts: Parts, counters: state.Counters, trajs: list[Trajectory], stats: list[RolloutStats],
           steps: int) -> dict[str, float]:
    """Write the trajectories, evict, count; the epoch's collection metrics."""
    cfg = parts.cfg
    for traj in trajs:
        parts.store.write(traj)
    evicted_files, _ = parts.store.evict()
    parts.prefetcher.refresh()
    counters.env_steps += steps * cfg.env.num_envs
    counters.rollouts += len(stats)
    metrics = summarize(stats, "train")
    metrics.update({"buffer/steps": float(parts.store.total_steps), "buffer/trajectories": float(len(parts.store)),
                    "buffer/evicted": float(evicted_files), "explore/steps": float(parts.exploration.steps),
                    "train/collecting": float(steps > 0), "train/dropped_rollouts": float(counters.dropped_rollouts)})
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
    """Evaluate on fresh envs seeded with ``seed``, on torch RNG streams of its own: evaluating (or how often)
    never changes what training draws next, so a session that ends with an evaluation resumes exactly."""
    device = parts.setup.device
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return _evaluate_now(parts, seed)


def _evaluate_now(parts: Parts, seed: int) -> dict[str, float]:
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
    phase = PhaseFile(run_dir)
    phase.set("start", 0)
    parts = make_parts(cfg, run_dir)
    try:
        counters, report = state.resume(parts, checkpoint_dir(run_dir))
    except BaseException:
        parts.close()
        phase.close()
        raise
    report.temp_files_removed += remove_temps(run_dir)
    report.append_to(run_dir)
    logger = RunLogger(run_dir, use_wandb=cfg.train.wandb, wandb_project=cfg.train.wandb_project,
                       config=cfg.to_dict(), keep_epochs=counters.epoch)
    display = Progress(cfg.train.epochs, initial=counters.epoch, mode=progress, label=label)
    if report.resumed_from is not None and progress != "off":
        print(f"icrl: {report.summary()}", file=sys.stderr, flush=True)
    metrics: dict[str, float] = {}
    try:
        parts.agent.train()
        while counters.epoch < cfg.train.epochs:
            metrics, last = _epoch(parts, counters, phase, logger, run_dir)
            display.update(counters.epoch, **_postfix(metrics))
            if last:
                break
        phase.set("done", counters.epoch)
    finally:
        display.close()
        logger.close()
        parts.close()
        phase.close()
    plot_run(run_dir)
    return metrics


def _epoch(parts: Parts, counters: state.Counters, phase: PhaseFile, logger: RunLogger,
           run_dir: Path) -> tuple[dict[str, float], bool]:
    """One epoch, each phase announced in ``run_dir/status``: (its metrics, whether it is the run's last)."""
    cfg = parts.cfg
    epoch_start = time.perf_counter()
    epoch, steps_before = counters.epoch, counters.env_steps
    phase.set("collect", epoch)
    (trajs, stats, steps), t_collect = _timed(_collect, parts, counters)
    phase.set("store", epoch)
    collect_m, t_store = _timed(_store, parts, counters, trajs, stats, steps)
    phase.set("update", epoch)
    update_m, t_update = _timed(_update, parts, counters)
    last = epoch + 1 == cfg.train.epochs or _out_of_time(cfg, counters, epoch_start)
    eval_due = cfg.train.eval_every and (epoch % cfg.train.eval_every == 0 or last)
    phase.set("eval", epoch)
    eval_m, t_eval = _timed(_evaluate, parts, cfg.train.seed + 1000 + epoch) if eval_due else ({}, 0.0)
    counters.epoch += 1
    counters.wall_time += time.perf_counter() - epoch_start
    metrics = {**collect_m, **update_m, **eval_m, "epoch": float(counters.epoch),
               "env_steps": float(counters.env_steps), "updates": float(counters.updates),
               "time/collect": t_collect + t_store, "time/update": t_update, "time/eval": t_eval,
               "time/total": counters.wall_time,
               "speed/env_steps_per_s": (counters.env_steps - steps_before) / max(t_collect + t_store, 1e-9),
               "speed/updates_per_s": cfg.train.updates_per_epoch / max(t_update, 1e-9) if update_m else 0.0}
    record_epoch(parts, counters, logger, metrics, last, run_dir, phase)
    return metrics, last


def record_epoch(parts: Parts, counters: state.Counters, logger: RunLogger, metrics: dict[str, float], last: bool,
                 run_dir: Path, phase: PhaseFile | None = None) -> None:
    """The end of every loop's epoch: log its metrics, then checkpoint every ``train.ckpt_every`` epochs and at the
    run's last (announcing each step in ``phase`` when the loop keeps one)."""
    if phase is not None:
        phase.set("log", counters.epoch)
    logger.log(metrics, step=counters.env_steps)
    if counters.epoch % parts.cfg.train.ckpt_every == 0 or last:
        if phase is not None:
            phase.set("checkpoint", counters.epoch)
        state.save(parts, checkpoint_dir(run_dir), counters)


def _out_of_time(cfg: RunConfig, counters: state.Counters, epoch_start: float) -> bool:
    """True once the run's wall time (all sessions, this epoch included) reaches ``train.time_limit_min``."""
    limit = cfg.train.time_limit_min * 60.0
    return bool(limit) and counters.wall_time + time.perf_counter() - epoch_start >= limit


def _postfix(m: dict[str, float]) -> dict[str, str]:
    keys = {"env_steps": "steps", "eval/return": "eval_ret", "eval/success": "eval_succ",
            "eval/success_after_first": "succ_2+", "critic/loss": "critic", "speed/updates_per_s": "upd/s"}
    return {short: f"{m[k]:.3g}" if not float(m[k]).is_integer() else f"{int(m[k])}"
            for k, short in keys.items() if k in m and np.isfinite(m[k])}
