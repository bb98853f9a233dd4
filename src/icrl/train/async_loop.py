"""Asynchronous training on one machine (``train.mode=async``): ``train.actors`` actor processes collect while this
process, the learner, updates; evaluation runs in a process of its own (``icrl.train.actors``).

The learner's epoch is ``train.updates_per_epoch`` updates; each epoch it moves the actors' finished rollouts
into the replay store (its only writer), evicts, logs and (every ``train.ckpt_every``) checkpoints, and it
publishes its weights every ``train.publish_every`` updates. The sync loop's update-to-data ratio,
``updates_per_epoch / (steps_per_epoch * env.num_envs)`` updates per env step, is held from both sides: the
learner waits while it is ahead of the actors' env steps, an actor pauses while it is ahead of the learner; both
waits are logged (``async/learner_wait_s``, ``async/actor_pause_s``).

A dead actor is restarted with a warning. Ctrl-C, SIGTERM, ``train.time_limit_min`` and the last epoch all end in
the same shutdown: set the stop event, join every child with a timeout, terminate (then kill) what is left.
Re-running the same command resumes from the last checkpoint; rollouts still in an actor's spool are ingested
then, those in flight are lost (as in the sync loop).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from pathlib import Path

from icrl.config import RunConfig
from icrl.data import TrajectoryStore
from icrl.errors import ConfigError
from icrl.train import state
from icrl.train.actors import (
    SPOOL_CAPACITY,
    actor_main,
    async_dir,
    eval_path,
    evaluator_main,
    publish_weights,
    read_json,
    spool_dir,
    status_path,
)
from icrl.train.logging import Progress, RunLogger
from icrl.train.parts import Parts, make_parts
from icrl.train.plots import plot_run
from icrl.train.rundir import checkpoint_dir, open_run_dir, run_dir_lock
from icrl.train.trainer import _postfix, record_epoch

JOIN_TIMEOUT_S = 10.0
MAX_RESTARTS = 5  # per actor: an actor that keeps dying (a broken env) stops the run instead of looping
WAIT_S = 0.02
FINAL_EVAL_WAIT_S = 600.0  # the last epoch waits this long at most for the evaluation of the final weights


def update_to_data_ratio(cfg: RunConfig) -> float:
    """Updates per env step of the sync loop, the ratio async mode holds."""
    steps = cfg.train.steps_per_epoch * cfg.env.num_envs
    if steps == 0 or cfg.train.updates_per_epoch == 0:
        raise ConfigError("train.mode=async needs collection and updates: train.steps_per_epoch and "
                          "train.updates_per_epoch > 0 (they set the update-to-data ratio it holds).")
    if cfg.train.actors > cfg.env.num_envs:
        raise ConfigError(f"train.actors={cfg.train.actors} is more than env.num_envs={cfg.env.num_envs}: the actors "
                          "split env.num_envs training envs between them; raise env.num_envs or lower train.actors.")
    if cfg.replay.datasets or cfg.train.start_collecting_at_epoch:
        raise ConfigError("train.mode=async does not support offline datasets or start_collecting_at_epoch yet; "
                          "use train.mode=sync.")
    return cfg.train.updates_per_epoch / steps


class _Stop(Exception):
    """SIGTERM, raised in the learner's main thread so that it shuts down like on Ctrl-C."""


class Children:
    """The actor and evaluator processes (spawned), their restarts and their orderly shutdown."""

    def __init__(self, cfg: RunConfig, run_dir: Path, ratio: float, actors: bool = True) -> None:
        self.ctx = mp.get_context("spawn")
        self.stop = self.ctx.Event()
        self.cfg, self.run_dir, self.ratio = cfg, run_dir, ratio
        self.actors: list = [None] * (cfg.train.actors if actors else 0)  # none: the evaluator alone (Ray actors)
        self.restarts = [0] * len(self.actors)
        self.evaluator = None

    def _args(self) -> tuple:
        return self.cfg.to_dict(), str(self.run_dir), self.stop, os.getpid()

    def start_actor(self, i: int) -> None:
        cfg_dict, run_dir, stop, pid = self._args()
        seed = self.cfg.train.seed + 7919 * (i + 1) + 104_729 * self.restarts[i]
        proc = self.ctx.Process(target=actor_main, args=(i, cfg_dict, run_dir, stop, pid, seed, self.ratio),
                                name=f"icrl-actor-{i}", daemon=True)
        proc.start()
        self.actors[i] = proc

    def start(self) -> None:
        for i in range(len(self.actors)):
            self.start_actor(i)
        if self.cfg.train.eval_every:
            self.evaluator = self.ctx.Process(target=evaluator_main, args=self._args(), name="icrl-eval",
                                              daemon=True)
            self.evaluator.start()

    def dead_actors(self) -> list[int]:
        return [i for i, p in enumerate(self.actors) if p is not None and not p.is_alive()]

    def publish(self, agent, version: int) -> None:
        publish_weights(self.run_dir, agent, version)

    def receive(self, store: TrajectoryStore, updates: int) -> int:
        """Rollouts that came other than through the spools: none for processes (see ``RayActors``)."""
        return 0

    def restart(self, i: int) -> None:
        if self.restarts[i] >= MAX_RESTARTS:
            raise RuntimeError(f"actor {i} died {MAX_RESTARTS + 1} times (last exit code {self.actors[i].exitcode}); "
                               "its error is printed above. Check the env with train.mode=sync.")
        print(f"icrl: warning: actor {i} died (exit code {self.actors[i].exitcode}); restarting it.",
              file=sys.stderr, flush=True)
        self.restarts[i] += 1
        self.start_actor(i)

    def close(self) -> None:
        self.stop.set()
        procs = [p for p in [*self.actors, self.evaluator] if p is not None]
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for p in procs:
            p.join(timeout=max(deadline - time.monotonic(), 0.1))
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=2.0)
            if p.is_alive():
                p.kill()
                p.join()


class ActorSteps:
    """Env steps of every actor, across restarts and sessions (``base``: restored plus dead incarnations)."""

    def __init__(self, run_dir: Path, actors: int, base: int) -> None:
        self.run_dir, self.base = run_dir, base
        self.seen: list[dict] = [{} for _ in range(actors)]

    def poll(self) -> None:
        for i in range(len(self.seen)):
            status = read_json(status_path(self.run_dir, i))
            if status is not None:
                self.seen[i] = status

    def retire(self, i: int) -> None:
        """Actor ``i`` is restarted: keep its steps, forget its status."""
        self.base += int(self.seen[i].get("env_steps", 0))
        self.seen[i] = {}
        status_path(self.run_dir, i).unlink(missing_ok=True)

    @property
    def total(self) -> int:
        return self.base + sum(int(s.get("env_steps", 0)) for s in self.seen)

    def metrics(self) -> dict[str, float]:
        out = {"async/actor_pause_s": sum(float(s.get("paused_s", 0.0)) for s in self.seen)}
        versions = [s["version"] for s in self.seen if "version" in s]
        if versions:
            out["async/actor_version_min"] = float(min(versions))
        trains = [s["train"] for s in self.seen if s.get("train")]
        for key in {k for t in trains for k in t}:
            out[key] = sum(t[key] for t in trains if key in t) / sum(key in t for t in trains)
        return out


def ingest(spools: list[TrajectoryStore], store: TrajectoryStore) -> int:
    """Move every finished rollout of the actors' spools into the replay store; the number moved."""
    moved = 0
    for spool in spools:
        spool.rescan()
        for entry in spool.index():
            store.write(spool.load(entry.path))
            entry.path.unlink(missing_ok=True)
            moved += 1
    return moved


def train_async(cfg: RunConfig, run_dir: Path, progress: str = "auto", label: str = "") -> dict[str, float]:
    """Train (or resume) ``run_dir`` in async mode; returns the last epoch's metrics."""
    ratio = update_to_data_ratio(cfg)
    with run_dir_lock(run_dir):
        open_run_dir(run_dir, cfg)
        parts = make_parts(cfg, run_dir)
        previous = signal.signal(signal.SIGTERM, _raise_stop)
        try:
            return _train(cfg, run_dir, parts, ratio, progress, label)
        except _Stop:
            return {}
        finally:
            signal.signal(signal.SIGTERM, previous)


def _raise_stop(signum, frame) -> None:
    raise _Stop


def _train(cfg: RunConfig, run_dir: Path, parts: Parts, ratio: float, progress: str, label: str) -> dict[str, float]:
    counters = state.restore(parts, checkpoint_dir(run_dir)) or state.Counters()
    async_dir(run_dir).mkdir(parents=True, exist_ok=True)
    for i in range(cfg.train.actors):
        status_path(run_dir, i).unlink(missing_ok=True)  # a previous session's counts are in the checkpoint
    spools = [TrajectoryStore(spool_dir(run_dir, i), SPOOL_CAPACITY) for i in range(cfg.train.actors)]
    steps = ActorSteps(run_dir, cfg.train.actors, counters.env_steps)
    children = _children(cfg, run_dir, ratio)
    children.publish(parts.agent, parts.learner.num_updates)
    logger = RunLogger(run_dir, use_wandb=cfg.train.wandb, wandb_project=cfg.train.wandb_project,
                       config=cfg.to_dict(), keep_epochs=counters.epoch)
    display = Progress(cfg.train.epochs, initial=counters.epoch, mode=progress, label=label)
    metrics: dict[str, float] = {}
    session_start = time.perf_counter() - counters.wall_time
    try:
        children.start()
        parts.agent.train()
        eval_version = -1
        while counters.epoch < cfg.train.epochs:
            epoch_m = _epoch(parts, counters, spools, steps, children, ratio)
            counters.wall_time = time.perf_counter() - session_start
            last = counters.epoch == cfg.train.epochs or (
                cfg.train.time_limit_min and counters.wall_time >= cfg.train.time_limit_min * 60)
            result = read_json(eval_path(run_dir))
            if last and children.evaluator is not None:  # as the synchronous loop, the run ends evaluated
                result = _final_evaluation(run_dir, parts, children) or result
            if result is not None and result["version"] != eval_version:
                eval_version = result["version"]
                epoch_m.update({**result["metrics"], "async/eval_version": float(eval_version)})
            metrics = {**epoch_m, "epoch": float(counters.epoch), "env_steps": float(counters.env_steps),
                       "updates": float(counters.updates), "time/total": counters.wall_time}
            record_epoch(parts, counters, logger, metrics, last, run_dir)
            display.update(counters.epoch, **_postfix(metrics))
            if last:
                break
    finally:
        children.close()
        display.close()
        logger.close()
        parts.close()
    plot_run(run_dir)
    return metrics


def _children(cfg: RunConfig, run_dir: Path, ratio: float):
    """Actor processes (and the evaluator's), or Ray actors (``train.actors_backend=ray``)."""
    if cfg.train.actors_backend == "ray":
        from icrl.train.ray_actors import RayActors

        return RayActors(cfg, run_dir, ratio, Children(cfg, run_dir, ratio, actors=False))
    return Children(cfg, run_dir, ratio)


def _final_evaluation(run_dir: Path, parts: Parts, children: Children) -> dict | None:
    """Publish the final weights, marked for evaluation, and wait, bounded, for the evaluator's result on them;
    None when the evaluator died or took longer than ``FINAL_EVAL_WAIT_S``."""
    version = parts.learner.num_updates
    publish_weights(run_dir, parts.agent, version, evaluate=True)
    deadline = time.monotonic() + FINAL_EVAL_WAIT_S
    while time.monotonic() < deadline and children.evaluator.is_alive():
        result = read_json(eval_path(run_dir))
        if result is not None and result["version"] >= version:
            return result
        time.sleep(WAIT_S * 5)
    return None


def _epoch(parts: Parts, counters: state.Counters, spools: list[TrajectoryStore], steps: ActorSteps,
           children: Children, ratio: float) -> dict[str, float]:
    """``updates_per_epoch`` updates, waiting for data whenever the learner is ahead of the ratio."""
    cfg = parts.cfg
    start, waited, sums = time.perf_counter(), 0.0, {}
    for _ in range(cfg.train.updates_per_epoch):
        while True:
            _housekeeping(parts, counters, spools, steps, children)
            if parts.sampler.ready(max(cfg.replay.min_steps, 1)) and counters.updates < ratio * counters.env_steps:
                break
            t0 = time.perf_counter()
            time.sleep(WAIT_S)
            waited += time.perf_counter() - t0
        batch = parts.prefetcher.get().to(parts.setup.device, non_blocking=True)
        for k, v in parts.learner.update(batch).items():
            sums[k] = sums[k] + v.float() if k in sums else v.float()
        counters.updates += 1
        if parts.learner.num_updates % cfg.train.publish_every == 0:
            children.publish(parts.agent, parts.learner.num_updates)
    counters.epoch += 1
    elapsed = time.perf_counter() - start
    n = cfg.train.updates_per_epoch
    return {**{k: float(v) / n for k, v in sums.items()}, **steps.metrics(),
            "async/learner_wait_s": waited, "buffer/steps": float(parts.store.total_steps),
            "buffer/trajectories": float(len(parts.store)), "speed/updates_per_s": n / max(elapsed, 1e-9),
            "async/restarts": float(sum(children.restarts))}


def _housekeeping(parts: Parts, counters: state.Counters, spools: list[TrajectoryStore], steps: ActorSteps,
                  children: Children) -> None:
    """Restart dead actors, move new rollouts into the store, refresh the sampler, count env steps."""
    for i in children.dead_actors():
        if children.stop.is_set():
            break
        steps.poll()
        steps.retire(i)
        children.restart(i)
    if ingest(spools, parts.store) + children.receive(parts.store, counters.updates):
        parts.store.evict()
        parts.prefetcher.refresh()
    steps.poll()
    counters.env_steps = steps.total
