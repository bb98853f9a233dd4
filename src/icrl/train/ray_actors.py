"""Actors on Ray (``train.actors_backend=ray``): the async mode's actors as Ray actors that a Ray cluster places.

Nothing is shared through the file system: the learner puts each published version of its weights into Ray's
object store (``ray.put``, numpy arrays: actors on the same node read them without a copy) and passes the
reference with every collection call; an actor's call returns its finished rollouts, which the learner writes
into the replay store (its only writer). The learner holds the update-to-data ratio by not calling an actor that
is ahead of it (the same bound as a process actor's pause), and writes each actor's status file itself, so that
the metrics and the evaluator (still a local process, reading the published weights file) work as with processes.

Ray is imported only here and only when this backend is chosen (an extra: ``pip install icrl[ray]``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from icrl.agent import make_agent
from icrl.config import RunConfig
from icrl.data import TrajectoryStore
from icrl.fsutil import atomic_write_text
from icrl.rollout import summarize
from icrl.train import orphans
from icrl.train.actors import (
    actor_envs,
    actor_share,
    actor_slack,
    lower_priority,
    make_collector,
    publish_weights,
    status_path,
)
from icrl.train.parts import probe_env


def import_ray():
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("train.actors_backend=ray needs Ray: pip install 'icrl[ray]'") from exc
    return ray


class RolloutActor:
    """One actor's envs, collector and CPU agent; ``collect`` acts with the given weights for one chunk."""

    def __init__(self, cfg_dict: dict, seed: int, num_envs: int) -> None:
        lower_priority()  # matters where the Ray node is the learner's machine
        torch.set_num_threads(1)
        self.cfg = RunConfig.from_dict(cfg_dict)
        env = probe_env(self.cfg)
        self.agent = make_agent(self.cfg, env.obs_spec, env.action_spec, env.max_seq_len, env.max_time_idx)
        self.num_envs = num_envs
        self.venv, self.collector = make_collector(self.cfg, env, self.agent, seed, num_envs)
        self.version = -1

    def collect(self, weights: dict) -> dict:
        """Load ``weights`` (``{"version", "tensors"}``, resolved by Ray from the learner's reference) when newer,
        step ``train.steps_per_epoch`` steps; the finished rollouts, their rollout statistics and the version."""
        if weights["version"] != self.version:
            tensors = {k: torch.from_numpy(np.array(v)) for k, v in weights["tensors"].items()}  # writable copy
            self.agent.load_state_dict(tensors, strict=True)
            self.version = weights["version"]
        chunk = max(self.cfg.train.steps_per_epoch, 1)
        trajs, stats = self.collector.collect(chunk)
        return {"trajs": trajs, "env_steps": chunk * self.num_envs, "rollouts": len(stats),
                "version": self.version, "train": summarize(stats, "train") if stats else {}}

    def close(self) -> None:
        self.venv.close()


class RayActors:
    """The learner's side: a Ray instance, ``train.actors`` remote actors, their pending calls and statuses.

    It offers what ``icrl.train.async_loop`` asks of its process children (``publish``, ``receive``,
    ``dead_actors``, ``restarts``, ``stop``, ``close``); an actor that dies ends the run with its error."""

    def __init__(self, cfg: RunConfig, run_dir: Path, ratio: float, evaluator) -> None:
        self.ray = import_ray()
        self.cfg, self.run_dir, self.ratio, self.evaluator_children = cfg, run_dir, ratio, evaluator
        self.restarts = [0] * cfg.train.actors
        self.actors: list = []
        self.pending: dict = {}  # call reference -> actor index
        self.status = [{"env_steps": 0, "rollouts": 0, "version": -1, "paused_s": 0.0, "train": {}}
                       for _ in range(cfg.train.actors)]
        self.latest: tuple[int, dict] | None = None  # the newest version and its tensors, not yet in the store
        self.weights = None  # the object-store reference the actors' calls get
        self.started_ray = False
        self.watcher: orphans.Watcher | None = None

    @property
    def stop(self):
        return self.evaluator_children.stop

    @property
    def evaluator(self):
        return self.evaluator_children.evaluator

    def publish(self, agent, version: int) -> None:
        """The weights file (for the evaluator) and the copy that the actors' next calls get from the store."""
        publish_weights(self.run_dir, agent, version)
        self.latest = (version, {k: v.detach().to("cpu").numpy().copy() for k, v in agent.state_dict().items()})

    def start(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            before = orphans.descendants(os.getpid())
            ray.init(address=self.cfg.train.ray_address, include_dashboard=False, log_to_driver=True,
                     **({} if self.cfg.train.ray_address else {"num_cpus": self.cfg.train.actors,
                                                               "_node_ip_address": "127.0.0.1"}))
            self.started_ray = True
            if not self.cfg.train.ray_address:  # a local instance: nothing of it may outlive a killed learner
                self.watcher = orphans.watch(since=before)
        remote = ray.remote(num_cpus=1, max_restarts=0)(RolloutActor)
        cfg_dict = self.cfg.to_dict()
        for i in range(self.cfg.train.actors):
            seed = self.cfg.train.seed + 7919 * (i + 1)
            self.actors.append(remote.remote(cfg_dict, seed, actor_envs(self.cfg, i)))
        self.evaluator_children.start()
        self._submit(0)

    def _submit(self, updates: int) -> None:
        """A collection call for every idle actor that is not ahead of the learner."""
        if self.latest is not None:  # put when first needed: the first version is published before Ray starts
            version, tensors = self.latest
            self.weights, self.latest = self.ray.put({"version": version, "tensors": tensors}), None
        busy = set(self.pending.values())
        for i, actor in enumerate(self.actors):
            ahead = actor_share(self.cfg, i, updates, self.ratio) + actor_slack(self.cfg, i, self.ratio)
            if i not in busy and self.status[i]["env_steps"] <= ahead:
                self.pending[actor.collect.remote(self.weights)] = i

    def receive(self, store: TrajectoryStore, updates: int) -> int:
        """Write the finished calls' rollouts into ``store``, record their statuses, call idle actors again; the
        number of rollouts written."""
        written = 0
        if self.pending:
            ready, _ = self.ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0)
            for ref in ready:
                i = self.pending.pop(ref)
                try:
                    result = self.ray.get(ref)
                except self.ray.exceptions.RayActorError as exc:
                    raise RuntimeError(f"Ray actor {i} died: {exc}. Check the env with train.mode=sync.") from exc
                for traj in result["trajs"]:
                    store.write(traj)
                written += len(result["trajs"])
                s = self.status[i]
                s.update(env_steps=s["env_steps"] + result["env_steps"], rollouts=s["rollouts"] + result["rollouts"],
                         version=result["version"], train=result["train"] or s["train"])
                atomic_write_text(status_path(self.run_dir, i), json.dumps(s))
        self._submit(updates)
        return written

    def dead_actors(self) -> list[int]:
        return []  # a dead Ray actor surfaces as an error of its pending call (``receive``)

    def close(self) -> None:
        """Stop the evaluator, kill the actors and, when this run started it, the Ray instance."""
        try:
            self.evaluator_children.close()
            for actor in self.actors:
                self.ray.kill(actor)
            self.actors, self.pending = [], {}
        finally:
            if self.started_ray:
                self.ray.shutdown()
            if self.watcher is not None:
                self.watcher.stop()
