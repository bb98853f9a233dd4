"""Batched rollouts: N environments stepped together, the policy acting with its cached memory.

The vector env runs in gymnasium's SAME_STEP autoreset mode: when env i finishes, the step returns the reset
observation of its next rollout and puts the final observation in ``info["final_obs"][i]``. The collector
appends that final observation to env i's trajectory, hands the finished ``Trajectory`` back to the caller,
and clears env i's memory on the next policy step (``reset`` mask). Collectors never touch the disk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from icrl.envs.interface import split_observation
from icrl.envs.registry import accepts_vector_index, batched_vector_env
from icrl.errors import ICRLError
from icrl.records import Trajectory
from icrl.rollout.exploration import Exploration
from icrl.spaces import ActionSpec, is_side_key


@dataclass
class RolloutStats:
    """Summary of one finished rollout (episode, or meta-RL trial of k attempts)."""

    ret: float
    length: int
    metrics: dict[str, float] = field(default_factory=dict)
    task: str | None = None  # ``info["task"]`` on the rollout's last step (multi-task envs), else None


def make_vector_env(factory: Callable[..., gym.Env], num_envs: int, mode: str = "inline") -> gym.vector.VectorEnv:
    """N envs from ``factory`` as one gymnasium vector env with same-step autoreset.

    A factory that takes a ``vector_index`` keyword builds env i with ``vector_index=i``, so an env can depend on
    its position (the AIB's env i keeps context instance i all run); ``icrl.envs.make_env`` takes it and passes
    it on only to env factories that declare it. Other factories are called as ``factory()``.
    ``mode="inline"`` steps them in this process (cheap envs); ``"subprocess"`` uses ``AsyncVectorEnv``.
    A registered family with a batched vector env (JAX envs, ``icrl.envs.registry.batched_vector_env``) is built
    as that one vector env whatever the mode: it steps all N envs in one call.
    """
    batched = batched_vector_env(factory)
    if batched is not None:
        return batched(num_envs)
    same_step = gym.vector.AutoresetMode.SAME_STEP
    if accepts_vector_index(factory):
        factories = [functools.partial(factory, vector_index=i) for i in range(num_envs)]
    else:
        factories = [factory] * num_envs
    if mode == "inline":
        venv = gym.vector.SyncVectorEnv(factories, autoreset_mode=same_step, copy=False)
    else:
        venv = gym.vector.AsyncVectorEnv(factories, autoreset_mode=same_step, copy=False)
    return venv


class _TrajectoryBuilder:
    """Accumulates the per-step records of one env's current rollout."""

    def __init__(self) -> None:
        self.rows: list[tuple[dict, np.ndarray, float, int, bool]] = []

    def add(self, obs: dict, prev_action: np.ndarray, prev_reward: float, time_idx: int, terminated: bool) -> None:
        self.rows.append(({k: np.array(v) for k, v in obs.items()}, np.array(prev_action, dtype=np.float32),
                          float(prev_reward), int(time_idx), bool(terminated)))

    def __len__(self) -> int:
        return len(self.rows)

    def build(self, env_name: str) -> Trajectory:
        obs = {k: np.stack([r[0][k] for r in self.rows]) for k in self.rows[0][0]}
        return Trajectory(obs=obs, prev_action=np.stack([r[1] for r in self.rows]),
                          prev_reward=np.array([r[2] for r in self.rows], dtype=np.float32),
                          time_idx=np.array([r[3] for r in self.rows], dtype=np.int64),
                          terminated=np.array([r[4] for r in self.rows], dtype=bool), env_name=env_name)


def _row(batched: dict, i: int) -> tuple[dict, np.ndarray, float, int]:
    obs, prev_action, prev_reward, time_idx = split_observation({k: v[i] for k, v in batched.items()})
    return obs, prev_action, float(np.asarray(prev_reward).reshape(())), int(np.asarray(time_idx).reshape(()))


def _episode_metrics(info: dict, i: int) -> dict[str, float]:
    """``final_info["episode_metrics"]`` of env i from gymnasium's batched info dicts."""
    final = info.get("final_info", {})
    metrics = final.get("episode_metrics", {}) if isinstance(final, dict) else {}
    return {k: float(v[i]) for k, v in metrics.items()
            if not k.startswith("_") and metrics.get(f"_{k}", np.ones(len(v), bool))[i]}


def _episode_task(info: dict, i: int) -> str | None:
    """``final_info["task"]`` of env i (the task protocol of ``icrl.envs.interface``), or None."""
    final = info.get("final_info", {})
    if not isinstance(final, dict) or "task" not in final:
        return None
    present = final.get("_task")
    task = final["task"][i]
    return None if task is None or (present is not None and not present[i]) else str(task)


class Collector:
    """Steps a vector env with the agent; keeps env state and agent memory between calls.

    Args:
        venv: vector env of wrapped (``icrl.envs.wrap``) environments with SAME_STEP autoreset.
        agent: object with ``initial_state(n, device)`` and ``act(obs, prev_action, prev_reward, time_idx,
            reset, state, sample) -> (encoded actions (N, A), state)``.
        action_spec: how to decode the agent's encoded actions.
        exploration: noise for training actors, or None (evaluation).
        chunk_len: > 0 stores rollouts longer than this as overlapping chunks (method 2.3).
        seed: seeds the envs' first reset (made on the first step, or by ``restart``).

    Every observation and reward is checked before it is recorded: a NaN or infinity raises an error naming the
    env, the step and the key, so it never reaches the buffer or the input normaliser.
    """

    def __init__(self, venv: gym.vector.VectorEnv, agent, action_spec: ActionSpec, device: torch.device,
                 env_name: str, exploration: Exploration | None = None, sample: bool = True,
                 chunk_len: int = 0, keep_trajectories: bool = True, seed: int | None = None) -> None:
        self.venv, self.agent, self.spec, self.device = venv, agent, action_spec, device
        self.env_name, self.exploration, self.sample = env_name, exploration, sample
        self.chunk_len, self.keep = chunk_len, keep_trajectories
        self.num_envs = venv.num_envs
        self.seed = seed
        self.obs: dict | None = None  # the envs are reset on the first step (or by ``restart``)
        self.steps = 0  # vector steps taken, for error messages

    @property
    def started(self) -> bool:
        return self.obs is not None

    def between_rollouts(self) -> bool:
        """True when no env is inside a rollout: not started, or every env has just begun a new one."""
        return self.obs is None or all(len(b) == 1 and b.rows[0][3] == 0 for b in self.builders)

    def in_flight(self) -> int:
        """How many envs are inside an unfinished rollout (steps taken that no stored trajectory holds yet)."""
        return 0 if self.obs is None else sum(len(b) > 1 for b in self.builders)

    def restart(self, seed: int | None) -> None:
        """Reset every env with ``seed`` (env i gets ``seed + i``) and begin new rollouts with fresh agent memory;
        unfinished rollouts are dropped."""
        obs, _ = self.venv.reset(seed=seed)
        self.obs = None
        self._check_finite(obs)
        self.obs = obs
        self._restart()

    def _restart(self) -> None:
        n = self.num_envs
        self.state = self.agent.initial_state(n, self.device)
        self.reset_mask = np.ones(n, dtype=bool)
        self.returns = np.zeros(n)
        self.lengths = np.zeros(n, dtype=np.int64)
        self.builders = [_TrajectoryBuilder() for _ in range(n)]
        for i in range(n):
            obs, pa, pr, t = _row(self.obs, i)
            self.builders[i].add(obs, pa, pr, t, False)

    def _tensors(self, obs: dict, prev_action, prev_reward, time_idx) -> tuple:
        dev = self.device
        as_t = lambda x: torch.from_numpy(np.ascontiguousarray(x)).to(dev)  # noqa: E731
        return ({k: as_t(v) for k, v in obs.items()}, as_t(prev_action).float(), as_t(prev_reward).float(),
                as_t(time_idx).long(), as_t(self.reset_mask))

    def _policy(self) -> np.ndarray:
        obs, pa, pr, t = split_observation(self.obs)
        tensors = self._tensors({k: v for k, v in obs.items() if not is_side_key(k)}, pa, pr, t)
        encoded, self.state = self.agent.act(*tensors, self.state, sample=self.sample)
        actions = self.spec.decode(encoded.float().cpu().numpy())
        if self.exploration is not None:
            actions = self.exploration.perturb(actions, np.asarray(t).reshape(-1))
        return actions

    def _check_finite(self, obs: dict, reward: np.ndarray | None = None, env_index: int | None = None) -> None:
        """Refuse NaN or infinite observations and rewards before they are recorded (the normaliser would absorb
        them and the buffer keep them). ``obs`` is batched over all envs, or one env's (``env_index``)."""
        items = [("reward", reward), *obs.items()] if reward is not None else list(obs.items())
        for key, value in items:
            value = np.asarray(value)
            if value.dtype.kind != "f" or np.isfinite(value).all():
                continue
            rows = value.reshape(1, -1) if env_index is not None else value.reshape(len(value), -1)
            row = int(np.argwhere(~np.isfinite(rows))[0, 0])
            i = env_index if env_index is not None else row
            step = "its reset" if self.obs is None else f"step {int(self.lengths[i]) + 1} of " \
                f"its rollout (vector step {self.steps})"
            what = "reward" if key == "reward" else f"observation key {key!r}"
            fix = ("clip or repair the reward with a gymnasium RewardWrapper" if key == "reward" else
                   "fix the environment, or replace non-finite values with a gymnasium ObservationWrapper")
            raise ICRLError(f"env {self.env_name!r} (vector index {i}) returned a non-finite {what} "
                            f"({rows[row].tolist()}) at {step}; {fix}.")

    def step(self) -> tuple[list[Trajectory], list[RolloutStats]]:
        """One batched env step; returns trajectories and stats of rollouts that finished on it."""
        if self.obs is None:
            self.restart(self.seed)
        actions = self._policy()
        next_obs, reward, terminated, truncated, info = self.venv.step(actions)
        self.steps += 1
        self._check_finite(next_obs, np.asarray(reward, dtype=np.float64))
        done = np.logical_or(terminated, truncated)
        for i in np.flatnonzero(done):  # a finished rollout's last observation arrives in info["final_obs"]
            self._check_finite(info["final_obs"][i], env_index=int(i))
        self.returns += reward
        self.lengths += 1
        finished, stats = [], []
        for i in range(self.num_envs):
            source = info["final_obs"][i] if done[i] else {k: v[i] for k, v in next_obs.items()}
            obs, pa, pr, t = split_observation(source)
            builder = self.builders[i]
            builder.add(obs, pa, float(np.asarray(pr).reshape(())), int(np.asarray(t).reshape(())),
                        bool(terminated[i]))
            if done[i]:
                if self.keep:
                    finished.append(builder.build(self.env_name))
                stats.append(RolloutStats(float(self.returns[i]), int(self.lengths[i]), _episode_metrics(info, i),
                                          _episode_task(info, i)))
                self.returns[i], self.lengths[i] = 0.0, 0
                self.builders[i] = _TrajectoryBuilder()
                obs, pa, pr, t = _row(next_obs, i)
                self.builders[i].add(obs, pa, pr, t, False)
            elif self.chunk_len and len(builder) > self.chunk_len:
                # A chunk ends without an episode end; the next chunk starts with the same step (overlap).
                if self.keep:
                    finished.append(builder.build(self.env_name))
                self.builders[i] = _TrajectoryBuilder()
                self.builders[i].rows.append(builder.rows[-1])
        self.obs, self.reset_mask = next_obs, done
        if self.exploration is not None:
            self.exploration.on_rollout_end(done)
        return finished, stats

    def collect(self, num_steps: int) -> tuple[list[Trajectory], list[RolloutStats]]:
        """Step every env ``num_steps`` times; returns finished trajectories (and chunks) and rollout stats."""
        trajs, stats = [], []
        for _ in range(num_steps):
            t, s = self.step()
            trajs += t
            stats += s
        return trajs, stats

    def run_rollouts(self, per_env: int, max_steps: int = 10_000_000) -> list[RolloutStats]:
        """Step until every env has finished ``per_env`` rollouts (extra ones ignored: no short-episode bias)."""
        done_count = np.zeros(self.num_envs, dtype=np.int64)
        stats: list[RolloutStats] = []
        steps = 0
        while (done_count < per_env).any() and steps < max_steps:
            _, new = self.step()
            steps += 1
            finished_idx = np.flatnonzero(self.reset_mask)
            for i, s in zip(finished_idx, new):
                if done_count[i] < per_env:
                    stats.append(s)
                done_count[i] += 1
        return stats
