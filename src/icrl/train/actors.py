"""The processes around an asynchronous learner (``icrl.train.async_loop``) and the files they share with it.

Everything goes through the run directory, written atomically (temp file, then rename)::

    run_dir/async/weights/policy_<version>.safetensors   published agent weights (version = learner updates)
    run_dir/async/weights/latest.json                    {"version", "updates", "file"}: the newest weights
    run_dir/async/actor_<i>/                             actor i's finished rollouts (a TrajectoryStore spool)
    run_dir/async/actor_<i>.json                         actor i's status: env steps, rollouts, version, pauses
    run_dir/async/eval.json                              the evaluator's latest result and the version it used

Actors write rollouts to their own spool, and the learner moves them into the replay store: the store then has
one writer, so its sequence numbers (file names, FIFO order) stay unique without changing it.

The actors split ``env.num_envs`` training envs between them (``actor_envs``). An actor pauses when it is ahead
of the learner: more env steps than its share of ``updates / ratio`` plus one chunk and one publication's worth
of slack. Children exit when the learner sets the stop event or when their
parent process is gone (a killed learner leaves no actor behind); they ignore SIGINT so that Ctrl-C reaches the
learner alone, which then stops them in order.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from icrl.agent import make_agent
from icrl.config import RunConfig
from icrl.data import TrajectoryStore
from icrl.fsutil import atomic_save, atomic_write_text
from icrl.rollout import Collector, Exploration, evaluate, make_vector_env, summarize
from icrl.train.parts import probe_env

SPOOL_CAPACITY = 2**62  # spools are emptied by the learner; never evicted
CHILD_NICE = 10  # actors and the evaluator run this much below the learner's CPU priority (``lower_priority``)


def async_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "async"


def spool_dir(run_dir: Path, index: int) -> Path:
    return async_dir(run_dir) / f"actor_{index}"


def status_path(run_dir: Path, index: int) -> Path:
    return async_dir(run_dir) / f"actor_{index}.json"


def eval_path(run_dir: Path) -> Path:
    return async_dir(run_dir) / "eval.json"


def read_json(path: Path) -> dict | None:
    """The JSON object at ``path``, or None when it does not exist yet."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def lower_priority() -> None:
    """Run this process at ``CHILD_NICE`` below the learner: where the cores are fewer than the processes, the
    actors and the evaluator then fill the gaps the learner leaves (its single-threaded stretches) instead of
    preempting its threads mid-update; where cores are free it changes nothing. The update-to-data ratio keeps
    the learner from running away from starved actors (it waits, and ``async/learner_wait_s`` shows it)."""
    try:
        os.nice(CHILD_NICE)
    except (AttributeError, OSError):  # not on this platform, or not allowed: run at the same priority
        pass


@dataclass(frozen=True)
class Published:
    version: int
    updates: int
    file: Path
    evaluate: bool = False  # the learner asks the evaluator for this version whatever its cadence (the last one)


def publish_weights(run_dir: Path, agent, version: int, keep: int = 2, evaluate: bool = False) -> None:
    """Write the agent's weights as ``version`` (file first, then ``latest.json``); older files beyond ``keep``
    are deleted (an actor reading one that disappears retries with the newest). ``evaluate``: the evaluator
    evaluates this version even when it is not due."""
    directory = async_dir(run_dir) / "weights"
    directory.mkdir(parents=True, exist_ok=True)
    name = f"policy_{version:012d}.safetensors"
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in agent.state_dict().items()}
    atomic_save(directory / name, lambda tmp: save_file(tensors, str(tmp)))
    meta = {"version": version, "updates": version, "file": name, "evaluate": evaluate}
    atomic_write_text(directory / "latest.json", json.dumps(meta))
    for old in sorted(directory.glob("policy_*.safetensors"))[:-keep]:
        old.unlink(missing_ok=True)


def latest_weights(run_dir: Path) -> Published | None:
    meta = read_json(async_dir(run_dir) / "weights" / "latest.json")
    if meta is None:
        return None
    return Published(int(meta["version"]), int(meta["updates"]), async_dir(run_dir) / "weights" / meta["file"],
                     bool(meta.get("evaluate", False)))


def load_published(agent, published: Published) -> bool:
    """Load ``published`` into ``agent``; False when its file was already replaced (the caller retries later)."""
    try:
        tensors = load_file(str(published.file))
    except FileNotFoundError:
        return False
    agent.load_state_dict(tensors, strict=True)
    return True


class _Child:
    """What an actor or the evaluator shares: config, agent on CPU, stop conditions."""

    def __init__(self, cfg_dict: dict, run_dir: str, stop, parent_pid: int) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the learner coordinates shutdown
        lower_priority()
        torch.set_num_threads(1)
        self.cfg, self.run_dir, self.stop, self.parent_pid = RunConfig.from_dict(cfg_dict), Path(run_dir), stop, \
            parent_pid
        self.env = probe_env(self.cfg)
        self.agent = make_agent(self.cfg, self.env.obs_spec, self.env.action_spec, self.env.max_seq_len,
                                self.env.max_time_idx)
        self.version = -1

    def running(self) -> bool:
        return not self.stop.is_set() and os.getppid() == self.parent_pid

    def refresh_weights(self) -> Published | None:
        published = latest_weights(self.run_dir)
        if published is not None and published.version != self.version and load_published(self.agent, published):
            self.version = published.version
        return published


def actor_envs(cfg: RunConfig, index: int) -> int:
    """Training envs of actor ``index``: the actors split ``env.num_envs`` between them (the first ones take the
    remainder), so that async mode steps the same envs as the sync loop, each at the same rate per update (the
    exploration schedule and the policy lag within a rollout stay those of the sync loop)."""
    share, rest = divmod(cfg.env.num_envs, cfg.train.actors)
    return share + (index < rest)


def actor_share(cfg: RunConfig, index: int, updates: int, ratio: float) -> float:
    """Env steps actor ``index`` may have taken by ``updates`` learner updates, before slack: its share of
    ``updates / ratio``."""
    return updates / ratio * actor_envs(cfg, index) / cfg.env.num_envs


def actor_slack(cfg: RunConfig, index: int, ratio: float) -> float:
    """How far (env steps) actor ``index`` may run ahead of its share: one chunk and one publication's worth."""
    chunk = max(cfg.train.steps_per_epoch, 1)
    return chunk * actor_envs(cfg, index) + actor_share(cfg, index, cfg.train.publish_every, ratio)


def make_collector(cfg: RunConfig, env, agent, seed: int, num_envs: int) -> tuple:
    """An actor's ``num_envs`` training envs and their collector (CPU, exploration seeded by ``seed``); close the
    envs."""
    exploration = Exploration(cfg.explore, env.action_spec, num_envs, env.max_rollout_steps or 1,
                              np.random.default_rng([seed, 1]))
    venv = make_vector_env(env.factory, num_envs, cfg.env.vector)
    collector = Collector(venv, agent, env.action_spec, torch.device("cpu"), cfg.env.name, exploration=exploration,
                          sample=cfg.explore.sample_train, chunk_len=cfg.env.chunk_len, seed=seed)
    return venv, collector


def actor_main(index: int, cfg_dict: dict, run_dir: str, stop, parent_pid: int, seed: int, ratio: float) -> None:
    """Actor ``index``: step its share of the envs (``actor_envs``) with the newest weights, spool finished
    rollouts, report."""
    child = _Child(cfg_dict, run_dir, stop, parent_pid)
    cfg, env = child.cfg, child.env
    spool = TrajectoryStore(spool_dir(child.run_dir, index), SPOOL_CAPACITY)
    num_envs = actor_envs(cfg, index)
    venv, collector = make_collector(cfg, env, child.agent, seed, num_envs)
    chunk = max(cfg.train.steps_per_epoch, 1)
    slack = actor_slack(cfg, index, ratio)
    status = {"pid": os.getpid(), "env_steps": 0, "rollouts": 0, "version": -1, "paused_s": 0.0, "train": {}}
    try:
        while child.running():
            published = child.refresh_weights()
            if published is None:  # the learner publishes before it starts actors; wait for the file system
                stop.wait(0.05)
                continue
            if status["env_steps"] > actor_share(cfg, index, published.updates, ratio) + slack:
                start = time.perf_counter()
                stop.wait(0.05)  # ahead of the learner: wait for new weights
                status["paused_s"] += time.perf_counter() - start
                continue
            trajs, stats = collector.collect(chunk)
            for traj in trajs:
                spool.write(traj)
            status.update(env_steps=status["env_steps"] + chunk * num_envs,
                          rollouts=status["rollouts"] + len(stats), version=child.version,
                          train=summarize(stats, "train") if stats else status["train"])
            atomic_write_text(status_path(child.run_dir, index), json.dumps(status))
    finally:
        venv.close()


def evaluation_due(cfg: RunConfig, seen: int, version: int) -> bool:
    """Whether the sync loop would have evaluated between update counts ``seen`` (excluded) and ``version``.

    The sync loop evaluates after the updates of epochs 0, k, 2k, ... (k = ``train.eval_every``), i.e. at
    U, U + kU, U + 2kU, ... updates (U = ``train.updates_per_epoch``); the evaluator keeps that cadence, so it
    costs the same CPU share as in the sync loop instead of evaluating every publication back to back.
    """
    period = cfg.train.eval_every * cfg.train.updates_per_epoch
    first = cfg.train.updates_per_epoch
    return (version - first) // period > (seen - first) // period


def evaluator_main(cfg_dict: dict, run_dir: str, stop, parent_pid: int) -> None:
    """Evaluate the newest published version whenever an evaluation is due (``evaluation_due``) or the learner
    asks for one (its last version); write ``eval.json``."""
    child = _Child(cfg_dict, run_dir, stop, parent_pid)
    cfg, env = child.cfg, child.env
    done = seen = None
    while child.running():
        published = child.refresh_weights()
        if published is None or child.version == done or published.version != child.version:
            stop.wait(0.1)
            continue
        if seen is None:  # the version the run started (or resumed) from: already evaluated or not due
            seen = child.version
        due = evaluation_due(cfg, seen, child.version) or published.evaluate
        seen = child.version
        if not due:
            stop.wait(0.1)
            continue
        done = child.version
        metrics = evaluate(child.agent, env.factory, env.action_spec, cfg.env.name, cfg.env.eval_num_envs,
                           cfg.train.eval_episodes, torch.device("cpu"), sample=cfg.explore.sample_eval,
                           seed=cfg.train.seed + 1000 + done, mode=cfg.env.vector)
        atomic_write_text(eval_path(child.run_dir), json.dumps({"version": done, "metrics": metrics}))
