"""Hindsight instruction relabeling: multi-goal HER (method section 5; AMAGO paper, Appendix B, Algorithm 1).

An *instruction* is a fixed-length sequence of ``k`` goals. The environment shows it in the observation and
stores, with every step, the goal(s) achieved on arriving there::

    obs["goals"]      (k, *G)            the instruction; empty slots (padding of shorter instructions, goals
                                         already completed) hold ``sentinel`` in every entry
    obs["_achieved"]  (*G) or (m, *G)    the goal(s) achieved on arriving at this observation; all-sentinel rows
                                         mean none. A side key (``icrl.spaces.is_side_key``): stored with the
                                         trajectory, never shown to the networks, dropped from training windows

When training windows are sampled, a share of the trajectories (``replay.relabel_prob``) is rewritten as if the
agent had been given another instruction, made of goals it actually achieved: rewards and terminations are
recomputed under the new instruction, the trajectory ends where the new instruction is complete, and the
instruction in the observation is rewritten at every step. Failed rollouts become partial or full successes,
a dense learning signal for sparse multi-goal tasks; the reward semantics stay those of the real environment.

Alignment (``icrl.records``): observation t is reached by transition t-1, so a goal achieved at observation t
earns ``prev_reward[t]`` (the reward of transition t-1, which is also the reward input the sequence model reads
at step t: both stay consistent because they are the same array) and sets ``terminated[t]``. The reset
observation (t = 0) is reached by no transition: nothing achieved there ever counts, nor becomes a hindsight
goal. (The reference wrote the reward of a relabeled goal equal to the start position to index -1, i.e. to the
last transition; method 14.1 item 7.)

Relabeling needs whole rollouts (``env.chunk_len=0``): the instruction is read from the first observation.

Your own goal space: subclass ``Relabeler``, implement ``replay`` (your reward model: when each goal of an
instruction is complete) and ``hindsight_instruction`` (which instruction to train on instead), register the
class with ``@register_relabeler("my-goals")`` and select it with ``replay.relabeler=my-goals`` (constructor
arguments through ``replay.relabel_kwargs``).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

import numpy as np

from icrl.errors import ConfigError
from icrl.records import Trajectory


@dataclass(frozen=True)
class Replay:
    """One instruction replayed over the goals a trajectory achieved (``T + 1`` observations).

    Attributes:
        rewards: (T+1,) float32, instruction reward received on arriving at observation t (always 0 at t = 0).
        shown: (T+1, k, *G) the instruction as the policy sees it at t (completed goals blanked).
        completed: (n,) int64, observation index at which each of the first n goals was completed, increasing.
        done_at: observation index at which the whole instruction is complete (a termination), or -1.
    """

    rewards: np.ndarray
    shown: np.ndarray
    completed: np.ndarray
    done_at: int


class Relabeler(ABC):
    """Base class of hindsight relabelers; subclasses define the reward model and the choice of instruction.

    Args:
        goals_key: observation key of the instruction, (k, *G).
        achieved_key: observation key of the goals achieved per step, (*G) or (m, *G); best a side key (``_``).
        sentinel: value of every entry of an empty goal slot or an empty achieved row.
        goal_reward: reward the environment pays per completed goal.
    """

    def __init__(self, goals_key: str = "goals", achieved_key: str = "_achieved", sentinel: float = -1.0,
                 goal_reward: float = 1.0) -> None:
        self.goals_key, self.achieved_key = goals_key, achieved_key
        self.sentinel, self.goal_reward = float(sentinel), float(goal_reward)

    @abstractmethod
    def replay(self, instruction: np.ndarray, achieved: np.ndarray) -> Replay:
        """The reward model: ``instruction`` (k, *G) replayed over ``achieved`` (T+1, m, *G)."""

    @abstractmethod
    def hindsight_instruction(self, instruction: np.ndarray, achieved: np.ndarray, real: Replay,
                              rng: np.random.Generator) -> np.ndarray | None:
        """An alternative instruction (k, *G) made of achieved goals, or None to keep the trajectory as it is.

        ``real`` is the replay of the instruction the agent was actually given.
        """

    def check(self, obs_shapes: dict[str, tuple[int, ...]]) -> None:
        """Raise ConfigError unless observations with these shapes carry an instruction and achieved goals."""
        for key, field in ((self.goals_key, "goals_key"), (self.achieved_key, "achieved_key")):
            if key not in obs_shapes:
                raise ConfigError(f"hindsight relabeling reads observation key {key!r}, which this env lacks (keys: "
                                  f"{sorted(obs_shapes)}); set replay.relabel_kwargs.{field}=KEY or "
                                  "replay.relabel_prob=0.")
        goals, achieved = obs_shapes[self.goals_key], obs_shapes[self.achieved_key]
        if len(goals) < 1 or (achieved != goals[1:] and achieved[1:] != goals[1:]):
            raise ConfigError(f"observation {self.goals_key!r} must have shape (k, *G) and {self.achieved_key!r} "
                              f"shape (*G) or (m, *G); got {goals} and {achieved}.")

    def achieved(self, traj: Trajectory) -> np.ndarray:
        """(T+1, m, *G) goals achieved per observation."""
        achieved = traj.obs[self.achieved_key]
        goal_ndim = traj.obs[self.goals_key].ndim - 2
        return achieved[:, None] if achieved.ndim == goal_ndim + 1 else achieved

    def empty(self, goals: np.ndarray, goal_ndim: int) -> np.ndarray:
        """(...) True where a goal (the last ``goal_ndim`` axes) holds the sentinel in every entry."""
        axes = tuple(range(goals.ndim - goal_ndim, goals.ndim))
        return np.all(goals == self.sentinel, axis=axes)

    def relabel(self, traj: Trajectory, rng: np.random.Generator) -> Trajectory:
        """``traj`` under a hindsight instruction (a new Trajectory; ``traj`` is never modified)."""
        instruction = traj.obs[self.goals_key][0]  # nothing can be completed at the reset observation
        achieved = self.achieved(traj)
        real = self.replay(instruction, achieved)
        new = self.hindsight_instruction(instruction, achieved, real, rng)
        if new is None:
            return traj
        return self.rewrite(traj, real, self.replay(np.asarray(new, instruction.dtype), achieved))

    def rewrite(self, traj: Trajectory, real: Replay, fresh: Replay) -> Trajectory:
        """Swap the real instruction's rewards and termination for the new one's; cut where it is complete.

        Whatever else the environment paid or terminated for (step costs, failures) is kept: only the part that
        ``real`` accounts for is replaced.
        """
        reward = (traj.prev_reward - real.rewards + fresh.rewards).astype(np.float32)
        terminated = traj.terminated.copy()
        if real.done_at >= 0:
            terminated[real.done_at] = False
        stop = len(traj) + 1
        if fresh.done_at >= 0:
            terminated[fresh.done_at] = True
            stop = fresh.done_at + 1
        obs = {k: v[:stop] for k, v in traj.obs.items()}
        obs[self.goals_key] = fresh.shown[:stop].astype(traj.obs[self.goals_key].dtype)
        return replace(traj, obs=obs, prev_action=traj.prev_action[:stop], prev_reward=reward[:stop],
                       time_idx=traj.time_idx[:stop], terminated=terminated[:stop])


RELABELERS: dict[str, type[Relabeler]] = {}


def register_relabeler(name: str):
    """Class decorator: make a ``Relabeler`` subclass selectable as ``replay.relabeler=name``."""

    def add(cls: type[Relabeler]) -> type[Relabeler]:
        RELABELERS[name] = cls
        return cls

    return add


def make_relabeler(name: str, **kwargs) -> Relabeler:
    """The relabeler registered as ``name``, built with ``kwargs`` (``replay.relabel_kwargs``)."""
    cls = RELABELERS.get(name)
    if cls is None:
        raise ConfigError(f"unknown relabeler replay.relabeler={name!r}; registered: {sorted(RELABELERS)} "
                          "(add your own with icrl.data.relabel.register_relabeler).")
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(f"replay.relabel_kwargs has {unknown}, which relabeler {name!r} does not accept; "
                          f"accepted: {accepted}.")
    return cls(**kwargs)


@register_relabeler("goal-sequence")
class GoalSequenceRelabeler(Relabeler):
    """Goals reached in order: ``goal_reward`` for reaching the next goal, terminal once the last one is reached.

    Reward model (MazeRunner's): goal j is completed at the first observation t >= 1 after the completion of
    goal j-1 where it equals one of the goals achieved at t (exact equality); at most one goal per step.

    Hindsight instruction (method 5): keep the n goals really completed, add h goals achieved at other steps
    (one per step, steps in random order), order all of them by the step at which they were achieved and write
    them into the first slots; later slots keep the original goals. ``fill="some"``: h uniform in [1, k - n]
    (a mix of return levels; the reference also leaves 1 in k - n + 1 trajectories unchanged, here that share
    is ``1 - replay.relabel_prob``); ``"all"``: h = k - n, a full success when enough goals were achieved.
    ``distinct=True`` (like MazeRunner's instructions) never adds a goal of the original instruction or one
    already added. Nothing to add keeps the trajectory unchanged. Replaying the chosen goals greedily completes
    each of them at or before the step it came from, so the relabeled return is at least n + h.
    """

    def __init__(self, goals_key: str = "goals", achieved_key: str = "_achieved", sentinel: float = -1.0,
                 goal_reward: float = 1.0, fill: str = "some", distinct: bool = True) -> None:
        super().__init__(goals_key, achieved_key, sentinel, goal_reward)
        if fill not in ("some", "all"):
            raise ConfigError(f"replay.relabel_kwargs.fill={fill!r} is invalid: allowed 'some' or 'all'.")
        self.fill, self.distinct = fill, bool(distinct)

    def replay(self, instruction: np.ndarray, achieved: np.ndarray) -> Replay:
        goal_ndim = instruction.ndim - 1
        slots = np.flatnonzero(~self.empty(instruction, goal_ndim))  # the instruction's goals, in order
        goals = instruction[slots]  # (n_goals, *G)
        # hit[t, j]: goal j is among the goals achieved at observation t. (T+1, m, 1, *G) vs (1, 1, n_goals, *G).
        equal = achieved[:, :, None] == goals[None, None]
        hit = equal.reshape(*equal.shape[:3], -1).all(-1).any(1)
        completed, t = [], 0
        for j in range(len(slots)):
            later = np.flatnonzero(hit[t + 1:, j])  # strictly after the previous goal; never at t = 0
            if later.size == 0:
                break
            t += 1 + int(later[0])
            completed.append(t)
        done = np.array(completed, dtype=np.int64)
        num_obs = achieved.shape[0]
        rewards = np.zeros(num_obs, np.float32)
        rewards[done] = self.goal_reward
        active = np.searchsorted(done, np.arange(num_obs), side="right")  # goals completed by observation t
        shown = np.repeat(instruction[None], num_obs, axis=0)
        blanked = shown[:, slots]
        blanked[active[:, None] > np.arange(len(slots))[None]] = self.sentinel
        shown[:, slots] = blanked
        done_at = int(done[-1]) if len(slots) and len(done) == len(slots) else -1
        return Replay(rewards, shown, done, done_at)

    def hindsight_instruction(self, instruction: np.ndarray, achieved: np.ndarray, real: Replay,
                              rng: np.random.Generator) -> np.ndarray | None:
        k, n = instruction.shape[0], len(real.completed)
        goal_ndim = instruction.ndim - 1
        slots = np.flatnonzero(~self.empty(instruction, goal_ndim))
        if k - n <= 0:
            return None
        h = k - n if self.fill == "all" else int(rng.integers(1, k - n + 1))
        steps, fake = self._achieved_goals(achieved, real.completed, list(instruction[slots]), h, rng)
        if not steps:
            return None
        reached = list(instruction[slots[:n]])  # goal i was reached at real.completed[i]
        order = np.argsort(np.concatenate([real.completed, steps]), kind="stable")
        chosen = np.stack(reached + fake)[order]
        new = instruction.copy()
        new[: len(chosen)] = chosen
        return new

    def _achieved_goals(self, achieved: np.ndarray, real_steps: np.ndarray, banned: list[np.ndarray], h: int,
                        rng: np.random.Generator) -> tuple[list[int], list[np.ndarray]]:
        """Up to h (step, goal) pairs achieved at steps t >= 1 outside ``real_steps``, steps in random order."""
        present = ~self.empty(achieved, achieved.ndim - 2)  # (T+1, m) rows that hold a goal
        candidates = np.setdiff1d(np.flatnonzero(present[1:].any(1)) + 1, real_steps)
        steps: list[int] = []
        goals: list[np.ndarray] = []
        taken = banned if self.distinct else []
        for t in rng.permutation(candidates):
            goal = achieved[t, rng.choice(np.flatnonzero(present[t]))]
            if self.distinct and any(np.array_equal(goal, g) for g in taken):
                continue
            steps.append(int(t))
            goals.append(goal)
            taken = taken + [goal] if self.distinct else taken
            if len(steps) == h:
                break
        return steps, goals


def relabel_share(trajs: list[Trajectory], relabeler: Relabeler, prob: float,
                  rng: np.random.Generator) -> list[Trajectory]:
    """Each trajectory relabeled with probability ``prob`` (one ``rng.random()`` draw each, in order)."""
    return [relabeler.relabel(t, rng) if rng.random() < prob else t for t in trajs]
