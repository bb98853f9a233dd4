"""Scale-out throughput: the synchronous loop against async mode with 1, 2 and 4 actors, and the learner alone
with 1 against 2 processes (torch.distributed, gloo on CPU / NCCL on GPUs), each as a ratio to a baseline
measured in the same run.

Loops: a short training run per setting (evaluation off), env steps/s and updates/s over its whole wall time
(start-up of processes included, so short runs understate async mode). Learner: ``--updates`` updates of the
same total batch, split over the processes; the first 2 updates are warm-up.

    .venv/bin/python benchmarks/scaling.py [--epochs 6] [--updates 20] [--skip-loops] [overrides ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

from icrl.config import RunConfig, apply_overrides
from icrl.train import train
from icrl.train.parts import make_parts

SMALL = ["env.kwargs.size=3", "env.kwargs.attempts=2", "env.num_envs=4", "model.d_model=32", "model.n_layers=2",
         "model.n_heads=2", "learn.batch_size=8", "train.steps_per_epoch=32", "train.updates_per_epoch=8",
         "train.eval_every=0", "train.publish_every=4"]


def loop_rates(cfg: RunConfig) -> tuple[float, float]:
    """(env steps/s, updates/s) of one training run of ``cfg`` over its wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        metrics = train(cfg, Path(tmp) / "run", progress="off")
        wall = time.perf_counter() - start
    return metrics["env_steps"] / wall, metrics["updates"] / wall


def _learner_worker(rank: int, world: int, cfg: RunConfig, updates: int, init: str, out: str) -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        share = apply_overrides(cfg, [f"learn.batch_size={cfg.learn.batch_size // world}"])
        parts = make_parts(share, Path(tmp) / "run")
        traj, _ = parts.collector.collect(cfg.train.steps_per_epoch * 4)
        for t in traj:
            parts.store.write(t)
        parts.prefetcher.refresh()
        learner = parts.learner
        if world > 1:
            import torch.distributed as dist

            from icrl.learn.parallel import DataParallelLearner

            dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
            learner = DataParallelLearner(parts.agent, share.learn)
        batches = [parts.prefetcher.get() for _ in range(updates + 2)]
        for b in batches[:2]:
            learner.update(b)
        if world > 1:
            dist.barrier()
        start = time.perf_counter()
        for b in batches[2:]:
            learner.update(b)
        rate = updates / (time.perf_counter() - start)
        parts.close()
        if world > 1:
            dist.destroy_process_group()
    if rank == 0:
        Path(out).write_text(str(rate))


def learner_rate(cfg: RunConfig, world: int, updates: int) -> float:
    """Updates/s of ``world`` learner processes sharing each batch of ``learn.batch_size`` windows."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rate")
        mp.start_processes(_learner_worker, args=(world, cfg, updates, os.path.join(tmp, "init"), out),
                           nprocs=world, join=True, start_method="spawn")
        return float(Path(out).read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--updates", type=int, default=20)
    p.add_argument("--skip-loops", action="store_true")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    cfg = apply_overrides(RunConfig(), [*SMALL, "train.device=cpu", f"train.epochs={args.epochs}", *args.overrides])
    print(f"cpus: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, env {cfg.env.name}, "
          f"{cfg.env.num_envs} envs split between the actors, batch {cfg.learn.batch_size}, {args.epochs} epochs")
    if not args.skip_loops:
        base_steps, base_updates = loop_rates(cfg)
        print(f"{'loop':<16} {'env steps/s':>12} {'x sync':>7} {'updates/s':>10} {'x sync':>7}")
        print(f"{'sync':<16} {base_steps:>12.1f} {1.0:>7.2f} {base_updates:>10.2f} {1.0:>7.2f}")
        for actors in (1, 2, 4):
            steps, updates = loop_rates(apply_overrides(cfg, ["train.mode=async", f"train.actors={actors}"]))
            print(f"{f'async {actors} actor(s)':<16} {steps:>12.1f} {steps / base_steps:>7.2f} {updates:>10.2f} "
                  f"{updates / base_updates:>7.2f}", flush=True)
    one = learner_rate(cfg, 1, args.updates)
    two = learner_rate(cfg, 2, args.updates)
    print(f"{'learner':<16} {'updates/s':>10} {'x 1 proc':>8}")
    print(f"{'1 process':<16} {one:>10.2f} {1.0:>8.2f}")
    print(f"{'2 processes':<16} {two:>10.2f} {two / one:>8.2f}")


if __name__ == "__main__":
    main()
