"""Hindsight instruction relabeling: hand-computed relabels, the sampler hook, configuration and extension."""

from __future__ import annotations

import numpy as np
import pytest

from icrl.config import RunConfig, apply_overrides
from icrl.data import TrajectoryStore, WindowSampler
from icrl.data.relabel import RELABELERS, GoalSequenceRelabeler, Relabeler, Replay, make_relabeler, register_relabeler
from icrl.errors import ConfigError
from icrl.records import Trajectory
from icrl.train.parts import make_relabeler_for, probe_env

S = -1.0  # sentinel
A, B, C, D = (1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (4.0, 4.0)  # goal cells
N = (S, S)  # nothing achieved


def _traj(goals: list, achieved: list, rewards: list | None = None, extra_reward: float = 0.0) -> Trajectory:
    """A MazeRunner-like rollout: instruction ``goals`` (k, 2) at every step, ``achieved`` (T+1, 2), the stored
    ``rewards`` (default zeros) plus ``extra_reward`` per transition; terminated at the time limit (the end)."""
    n = len(achieved)
    rewards = np.zeros(n, np.float32) if rewards is None else np.array(rewards, np.float32)
    rewards[1:] += extra_reward
    terminated = np.zeros(n, bool)
    terminated[-1] = True
    obs = {"goals": np.repeat(np.array(goals, np.float32)[None], n, 0), "_achieved": np.array(achieved, np.float32),
           "observation": np.arange(n, dtype=np.float32)[:, None]}
    return Trajectory(obs, np.eye(5, dtype=np.float32)[np.arange(n) % 5], rewards, np.arange(n), terminated, "maze")


def _shown(*rows: list) -> np.ndarray:
    return np.array(rows, np.float32)


def test_all_fill_adds_the_one_achieved_goal_and_cuts_at_completion() -> None:
    # t:          0  1  2  3  4  5  6      real instruction A, B, C: A reached at 2, B at 4, C never
    achieved = [A, N, A, N, B, D, N]
    traj = _traj([A, B, C], achieved, rewards=[0, 0, 1, 0, 1, 0, 0])
    new = GoalSequenceRelabeler(fill="all").relabel(traj, np.random.default_rng(0))
    # hindsight instruction: A (2), B (4), D (5) -> complete at observation 5, the rollout is cut after it
    assert len(new) == 5
    np.testing.assert_array_equal(new.prev_reward, [0, 0, 1, 0, 1, 1])
    np.testing.assert_array_equal(new.terminated, [False] * 5 + [True])
    np.testing.assert_array_equal(new.obs["goals"], _shown([A, B, D], [A, B, D], [N, B, D], [N, B, D], [N, N, D],
                                                           [N, N, N]))
    np.testing.assert_array_equal(new.obs["observation"][:, 0], np.arange(6))
    np.testing.assert_array_equal(new.time_idx, np.arange(6))
    np.testing.assert_array_equal(new.prev_action, traj.prev_action[:6])
    # the stored trajectory is untouched (the sampler's cache hands out the same object again)
    np.testing.assert_array_equal(traj.prev_reward, [0, 0, 1, 0, 1, 0, 0])
    assert traj.obs["goals"][5].tolist() == [list(A), list(B), list(C)]


def test_an_achieved_goal_before_the_real_ones_takes_the_first_slot() -> None:
    achieved = [N, D, A, N, B, N, N]  # real: A at 2, B at 4; D achieved at 1
    traj = _traj([A, B, C], achieved, rewards=[0, 0, 1, 0, 1, 0, 0])
    new = GoalSequenceRelabeler(fill="some").relabel(traj, np.random.default_rng(5))  # k - n = 1: h = 1
    np.testing.assert_array_equal(new.prev_reward, [0, 1, 1, 0, 1])
    np.testing.assert_array_equal(new.terminated, [False, False, False, False, True])
    np.testing.assert_array_equal(new.obs["goals"], _shown([D, A, B], [N, A, B], [N, N, B], [N, N, B], [N, N, N]))


def test_a_goal_at_the_start_position_never_counts_at_the_reset_observation() -> None:
    """Method 14.1 item 7: the reference wrote this reward to index -1 (the last transition)."""
    achieved = [D, N, N, D, N, N, N]  # the agent starts on D and comes back to it at 3
    traj = _traj([A, B, C], achieved)
    new = GoalSequenceRelabeler(fill="all").relabel(traj, np.random.default_rng(0))
    np.testing.assert_array_equal(new.prev_reward, [0, 0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(new.terminated, [False] * 6 + [True])  # the time limit stays; D, B, C unfinished
    np.testing.assert_array_equal(new.obs["goals"], _shown(*[[D, B, C]] * 3, *[[N, B, C]] * 4))
    only_at_start = _traj([A, B, C], [D, N, N, N])
    assert GoalSequenceRelabeler(fill="all").relabel(only_at_start, np.random.default_rng(0)) is only_at_start


def test_several_goals_per_step_scalar_goals_padding_and_an_already_complete_instruction() -> None:
    # instruction 3, 5 padded to k = 3; two achievement rows per step; the real instruction completes at 4
    achieved = [[3, S], [7, S], [3, 9], [S, S], [5, S]]
    n = len(achieved)
    obs = {"goals": np.array([[3, 5, S], [3, 5, S], [S, 5, S], [S, 5, S], [S, S, S]], np.float32),
           "_achieved": np.array(achieved, np.float32)}
    traj = Trajectory(obs, np.zeros((n, 2), np.float32), np.array([0, 0, 1, 0, 1], np.float32), np.arange(n),
                      np.array([0, 0, 0, 0, 1], bool))
    relabeler = GoalSequenceRelabeler(fill="all")
    real = relabeler.replay(obs["goals"][0], relabeler.achieved(traj))
    np.testing.assert_array_equal(real.shown, obs["goals"])  # the replay reproduces the env's observation
    assert real.completed.tolist() == [2, 4] and real.done_at == 4
    new = relabeler.relabel(traj, np.random.default_rng(0))  # adds 7 (step 1) in the free slot
    np.testing.assert_array_equal(new.obs["goals"], [[7, 3, 5], [S, 3, 5], [S, S, 5], [S, S, 5], [S, S, S]])
    np.testing.assert_array_equal(new.prev_reward, [0, 1, 1, 0, 1])
    np.testing.assert_array_equal(new.terminated, [0, 0, 0, 0, 1])


def test_rewards_the_instruction_does_not_explain_are_kept() -> None:
    achieved = [A, N, A, N, B, D, N]
    traj = _traj([A, B, C], achieved, rewards=[0, 0, 1, 0, 1, 0, 0], extra_reward=-0.25)  # a step cost
    new = GoalSequenceRelabeler(fill="all").relabel(traj, np.random.default_rng(0))
    np.testing.assert_array_equal(new.prev_reward, [0, -0.25, 0.75, -0.25, 0.75, 0.75])


def test_distinct_hindsight_goals_and_the_some_fill_mix() -> None:
    """Random trajectories: instructions stay distinct, relabeled returns cover [n + 1, k], replays agree."""
    rng = np.random.default_rng(3)
    cells = [A, B, C, D, (5.0, 5.0), (6.0, 6.0)]
    relabeler = GoalSequenceRelabeler(fill="some")
    returns = set()
    for _ in range(200):
        achieved = np.array([cells[i] for i in rng.integers(len(cells), size=9)], np.float32)
        real = relabeler.replay(np.array([A, B, C], np.float32), achieved[:, None])  # what the env would do
        stop = real.done_at + 1 if real.done_at >= 0 else len(achieved)
        traj = _traj([A, B, C], list(achieved[:stop]), rewards=list(real.rewards[:stop]))
        traj.obs["goals"] = real.shown[:stop]
        new = relabeler.relabel(traj, rng)
        instruction = new.obs["goals"][0]
        assert len({tuple(g) for g in instruction}) == 3
        again = relabeler.replay(instruction, relabeler.achieved(new))
        np.testing.assert_array_equal(again.shown, new.obs["goals"])
        returns.add(float(again.rewards.sum()))
    assert {1.0, 2.0, 3.0} <= returns


def _store(tmp_path, count: int = 6) -> TrajectoryStore:
    store = TrajectoryStore(tmp_path, 10_000)
    for i in range(count):
        achieved = [A, N, A, N, B, D, N] if i % 2 else [N, D, A, N, B, N, N]
        store.write(_traj([A, B, C], achieved, rewards=[0, 0, 1, 0, 1, 0, 0]))
    return store


def _same(a, b) -> bool:
    fields = ("prev_action", "prev_reward", "time_idx", "terminated", "valid")
    return a.obs.keys() == b.obs.keys() and all(np.array_equal(a.obs[k], b.obs[k]) for k in a.obs) and all(
        np.array_equal(getattr(a, f), getattr(b, f)) for f in fields)


def test_share_zero_leaves_windows_unchanged_and_side_keys_never_reach_a_batch(tmp_path) -> None:
    store = _store(tmp_path)
    plain = WindowSampler(store, batch_size=5, max_seq_len=4, seed=2)
    off = WindowSampler(store, batch_size=5, max_seq_len=4, seed=2, relabeler=GoalSequenceRelabeler(), relabel_prob=0)
    for i in range(4):
        batch = off.sample(i)
        assert _same(batch, plain.sample(i))
        assert set(batch.obs) == {"goals", "observation"}  # "_achieved" is stored, never batched
        assert batch.prev_reward.sum(1).max() <= 2  # the real instruction: at most A and B


def test_share_one_always_relabels(tmp_path) -> None:
    store = _store(tmp_path)
    sampler = WindowSampler(store, batch_size=8, max_seq_len=10, seed=0, relabeler=GoalSequenceRelabeler(fill="all"),
                            relabel_prob=1.0)
    for i in range(5):
        batch = sampler.sample(i)
        assert batch.rewards.sum(1).tolist() == [3.0] * 8  # every rollout became a full success
        assert batch.dones.sum(1).tolist() == [1] * 8
        first = {tuple(map(tuple, g.tolist())) for g in batch.obs["goals"][:, 0]}
        assert first <= {(A, B, D), (D, A, B)}


def test_share_is_respected_and_batches_depend_only_on_their_index(tmp_path) -> None:
    store = _store(tmp_path)
    make = lambda: WindowSampler(store, batch_size=10, max_seq_len=10, seed=4,  # noqa: E731
                                 relabeler=GoalSequenceRelabeler(fill="all"), relabel_prob=0.3)
    a, b = make(), make()
    batches = [a.sample(i) for i in range(40)]
    assert all(_same(batch, b.sample(i)) for i, batch in enumerate(batches))
    share = np.mean([float(r) == 3.0 for batch in batches for r in batch.rewards.sum(1)])
    assert 0.2 < share < 0.4


def test_relabel_config_is_validated() -> None:
    cfg = apply_overrides(RunConfig(), ["replay.relabel_prob=0.5", "replay.relabel_kwargs.fill=all"])
    assert cfg.replay.relabel_prob == 0.5 and cfg.replay.relabel_kwargs == {"fill": "all"}
    assert RunConfig().replay.relabel_prob == 0.0  # off by default
    with pytest.raises(ConfigError, match="replay.relabel_prob"):
        apply_overrides(RunConfig(), ["replay.relabel_prob=1.5"])
    with pytest.raises(ConfigError, match="env.chunk_len"):
        apply_overrides(RunConfig(), ["replay.relabel_prob=1", "env.chunk_len=50"])
    with pytest.raises(ConfigError, match="registered"):
        make_relabeler("no-such-relabeler")
    with pytest.raises(ConfigError, match="does not accept"):
        make_relabeler("goal-sequence", flil="all")
    with pytest.raises(ConfigError, match="fill"):
        make_relabeler("goal-sequence", fill="most")
    relabeler = make_relabeler("goal-sequence", fill="all")
    relabeler.check({"goals": (3, 2), "_achieved": (2,), "observation": (7,)})
    relabeler.check({"goals": (3, 2), "_achieved": (4, 2)})
    with pytest.raises(ConfigError, match="_achieved"):
        relabeler.check({"goals": (3, 2), "observation": (7,)})
    with pytest.raises(ConfigError, match="shape"):
        relabeler.check({"goals": (3, 2), "_achieved": (3,)})
    no_goals = apply_overrides(RunConfig(), ["replay.relabel_prob=1"])  # meta-frozen-lake has no instruction
    with pytest.raises(ConfigError, match="'goals'"):
        make_relabeler_for(no_goals, probe_env(no_goals))
    maze = apply_overrides(RunConfig(), ["env.name=mazerunner", "replay.relabel_prob=1"])
    assert isinstance(make_relabeler_for(maze, probe_env(maze)), GoalSequenceRelabeler)


def test_users_plug_in_their_own_goal_space() -> None:
    """A single-goal space: reward 1 on reaching the goal (a scalar), which ends the rollout; HER: last state."""

    @register_relabeler("test-single-goal")
    class SingleGoal(Relabeler):
        def replay(self, instruction: np.ndarray, achieved: np.ndarray) -> Replay:
            hits = np.flatnonzero(achieved[1:, 0] == instruction[0]) + 1
            done_at = int(hits[0]) if hits.size else -1
            rewards = np.zeros(len(achieved), np.float32)
            shown = np.repeat(instruction[None], len(achieved), 0)
            if done_at >= 0:
                rewards[done_at] = 1.0
                shown[done_at:] = self.sentinel
            return Replay(rewards, shown, hits[:1], done_at)

        def hindsight_instruction(self, instruction, achieved, real, rng):
            return None if real.done_at >= 0 else achieved[-1]

    try:
        relabeler = make_relabeler("test-single-goal", goals_key="target", achieved_key="_at")
        n = 4
        obs = {"target": np.full((n, 1), 9.0, np.float32), "_at": np.array([0, 1, 2, 3], np.float32)}
        traj = Trajectory(obs, np.zeros((n, 1), np.float32), np.zeros(n, np.float32), np.arange(n), np.zeros(n, bool))
        new = relabeler.relabel(traj, np.random.default_rng(0))
        np.testing.assert_array_equal(new.obs["target"][:, 0], [3, 3, 3, S])
        np.testing.assert_array_equal(new.prev_reward, [0, 0, 0, 1])
        np.testing.assert_array_equal(new.terminated, [0, 0, 0, 1])
    finally:
        del RELABELERS["test-single-goal"]
