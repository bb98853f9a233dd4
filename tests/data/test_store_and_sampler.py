"""Replay on disk: atomic files, FIFO eviction in timesteps, protected data, windows, padding, masks, loader."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from icrl.data import TrajectoryStore
from icrl.data.sampler import BatchPrefetcher, WindowSampler, collate, sample_window, window_start
from icrl.errors import DataError
from icrl.records import Trajectory


def _traj(n: int, name: str = "toy", offset: float = 0.0) -> Trajectory:
    """n transitions; every array encodes its index so windows can be checked."""
    idx = np.arange(n + 1)
    terminated = np.zeros(n + 1, dtype=bool)
    terminated[-1] = True
    return Trajectory({"x": (idx[:, None] + offset).astype(np.float32).repeat(2, 1)},
                      np.eye(3, dtype=np.float32)[idx % 3], (idx * 0.5).astype(np.float32), idx.astype(np.int64),
                      terminated, name)


def test_round_trip_is_exact(tmp_path) -> None:
    store = TrajectoryStore(tmp_path, capacity_steps=100)
    t = _traj(7)
    path = store.write(t)
    assert path.name.endswith("_toy_7.npz")
    back = store.load(path)
    for k, v in t.arrays().items():
        np.testing.assert_array_equal(back.arrays()[k], v)
    assert back.env_name == "toy" and len(back) == 7


def test_fifo_eviction_counts_timesteps_and_spares_protected(tmp_path) -> None:
    store = TrajectoryStore(tmp_path, capacity_steps=10)
    keep = store.write(_traj(50, "demo"), protected=True)
    paths = [store.write(_traj(4)) for _ in range(4)]  # 16 FIFO steps > 10
    assert store.evict() == (2, 8)
    assert not paths[0].exists() and not paths[1].exists() and paths[2].exists() and keep.exists()
    assert store.fifo_steps == 8 and store.protected_steps == 50
    reopened = TrajectoryStore(tmp_path, capacity_steps=10)  # the index is rebuilt from file names alone
    assert [e.path for e in reopened.index()] == [keep, paths[2], paths[3]]
    assert reopened.write(_traj(1)).name.startswith(f"{5:012d}_")  # numbering continues


def test_short_or_corrupt_files_raise_data_error(tmp_path) -> None:
    store = TrajectoryStore(tmp_path, capacity_steps=10)
    with pytest.raises(DataError, match="at least one transition"):
        store.write(_traj(0))
    bad = tmp_path / "fifo" / f"{9:012d}_toy_3.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(DataError, match="unreadable"):
        store.load(bad)
    good = store.write(_traj(3))
    bad.write_bytes(good.read_bytes()[:200])  # a truncated copy under a final name
    with pytest.raises(DataError, match=bad.name):
        store.load(bad)


def test_writer_killed_mid_write_leaves_nothing_a_reader_accepts(tmp_path) -> None:
    """SIGKILL a process while it writes: only a temporary file remains, and opening the store removes it."""
    script = textwrap.dedent(f"""
        import os, signal, numpy as np
        from icrl.data import TrajectoryStore
        from icrl.records import Trajectory
        real = np.savez
        def dying_savez(f, **arrays):
            f.write(b"PK\\x03\\x04" + b"x" * 4096)  # part of the file is on disk ...
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)  # ... when the process dies
        np.savez = dying_savez
        n = 20
        t = Trajectory({{"x": np.zeros((n + 1, 2), np.float32)}}, np.zeros((n + 1, 3), np.float32),
                       np.zeros(n + 1, np.float32), np.arange(n + 1), np.zeros(n + 1, bool), "toy")
        TrajectoryStore({str(tmp_path)!r}, 100).write(t)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    leftovers = list((tmp_path / "fifo").iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".") and leftovers[0].name.endswith(".tmp")
    store = TrajectoryStore(tmp_path, 100)
    assert len(store) == 0 and list((tmp_path / "fifo").iterdir()) == []


@pytest.mark.parametrize("mode", ["none", "left", "right", "both"])
def test_window_starts_respect_the_mode(mode) -> None:
    rng = np.random.default_rng(0)
    W, num_obs = 5, 12
    seen = {window_start(num_obs, W, rng, mode) for _ in range(2000)}
    for start, stop in seen:
        assert 0 <= start < stop <= num_obs and stop - start <= W and stop - start >= 2
    starts = {s for s, _ in seen}
    full = all(stop - start == W for start, stop in seen)
    assert full == (mode == "none")
    if mode in ("right", "both"):
        assert max(starts) == num_obs - 2  # a window may hold just the last transition
    else:
        assert max(starts) == num_obs - W
    if mode in ("left", "both"):
        assert any(stop < W for start, stop in seen if start == 0)  # short windows at the start
    assert window_start(4, W, rng, mode) == (0, 4)  # a rollout shorter than the window is taken whole


def test_window_content_and_collate_padding() -> None:
    rng = np.random.default_rng(1)
    t = _traj(20)
    w = sample_window(t, 6, rng)
    start = int(w.time_idx[0])
    np.testing.assert_array_equal(w.time_idx, np.arange(start, start + 6))
    np.testing.assert_array_equal(w.obs["x"][:, 0], w.time_idx.astype(np.float32))
    batch = collate([_traj(2), _traj(4)])
    assert batch.valid.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert batch.transition_mask.tolist() == [[True, True, False, False], [True] * 4]
    assert batch.obs["x"][0, 3:].abs().sum() == 0 and batch.prev_reward[0, 3:].abs().sum() == 0
    assert batch.dones[0].tolist() == [False, True, False, False]
    np.testing.assert_allclose(batch.rewards[1].numpy(), [0.5, 1.0, 1.5, 2.0])  # reward of transition t
    np.testing.assert_array_equal(batch.actions[1].numpy(), np.eye(3)[[1, 2, 0, 1]])


def _store_of_six(root) -> TrajectoryStore:
    """Six trajectories of lengths 3, 7, ..., 23 with distinct observation values."""
    store = TrajectoryStore(root, 1000)
    for i in range(6):
        store.write(_traj(3 + 4 * i, offset=100.0 * i))
    return store


def test_sampler_batches_depend_only_on_their_index(tmp_path) -> None:
    store = _store_of_six(tmp_path)
    a = WindowSampler(store, batch_size=5, max_seq_len=8, seed=3)
    b = WindowSampler(store, batch_size=5, max_seq_len=8, seed=3, cache_trajectories=0)
    first = [a.sample() for _ in range(3)]
    assert a.batches_drawn == 3
    for i, batch in enumerate(first):
        other = b.sample(i)
        assert np.array_equal(batch.obs["x"].numpy(), other.obs["x"].numpy())
    assert not np.array_equal(first[0].obs["x"].numpy(), first[1].obs["x"].numpy())
    assert all(batch.valid.shape[1] <= 8 for batch in first)


def test_prefetcher_delivers_the_sampler_sequence(tmp_path) -> None:
    store = TrajectoryStore(tmp_path, 1000)
    for i in range(4):
        store.write(_traj(5 + i, offset=10.0 * i))
    reference = WindowSampler(store, 3, 6, seed=1)
    with BatchPrefetcher(WindowSampler(store, 3, 6, seed=1), depth=2) as loader:
        got = [loader.get(timeout=30) for _ in range(5)]
        store.write(_traj(9, offset=99.0))
        loader.refresh()  # later batches see the new file; numbering continues at 5
        later = loader.get(timeout=30)
    for i, batch in enumerate(got):
        assert np.array_equal(batch.obs["x"].numpy(), reference.sample(i).obs["x"].numpy())
    reference.refresh()
    assert np.array_equal(later.obs["x"].numpy(), reference.sample(5).obs["x"].numpy())


def test_empty_buffer_and_bad_files_surface_as_data_errors(tmp_path) -> None:
    store = TrajectoryStore(tmp_path, 1000)
    with pytest.raises(DataError, match="empty"):
        WindowSampler(store, 2, 4).sample()
    with pytest.raises(DataError, match="unreadable"):
        TrajectoryStore.load(_garbage(tmp_path / "fifo" / f"{0:012d}_toy_3.npz"))
    store.rescan()
    with BatchPrefetcher(WindowSampler(store, 2, 4)) as loader, \
            pytest.raises(DataError, match="empty"):  # the only file was moved aside: nothing left to sample
        loader.get(timeout=30)
    assert store.quarantined == [tmp_path / "fifo" / f"{0:012d}_toy_3.npz.corrupt"] and len(store) == 0
    assert store.quarantined[0].exists()


def _garbage(path: Path) -> Path:
    path.write_bytes(b"garbage")
    return path


def test_a_truncated_file_is_moved_aside_and_sampling_goes_on(tmp_path) -> None:
    """A damaged file (here: truncated) costs the run that file, with a warning naming it, not the run."""
    store = TrajectoryStore(tmp_path, 1000)
    good, bad = store.write(_traj(5)), store.write(_traj(6, offset=50.0))
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    sampler = WindowSampler(store, 4, 4, seed=0)
    with pytest.warns(RuntimeWarning, match=f"{bad.name}.*renamed to {bad.name}.corrupt"):
        batches = [sampler.sample() for _ in range(6)]
    assert all(b.obs["x"].max() < 50 for b in batches)  # every window from the good file
    assert [e.path for e in store.index()] == [good] and bad.with_name(bad.name + ".corrupt").exists()
    assert [e.path for e in TrajectoryStore(tmp_path, 1000).index()] == [good]  # and stays out after a restart


def test_os_level_files_are_npz_without_pickle(tmp_path) -> None:
    path = TrajectoryStore(tmp_path, 10).write(_traj(2))
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {"obs/x", "prev_action", "prev_reward", "time_idx", "terminated", "env_name"}
    assert os.path.getsize(path) > 0 and Path(path).parent.name == "fifo"


def test_windows_drop_side_keys_that_the_store_keeps(tmp_path) -> None:
    t = _traj(4)
    t.obs["_achieved"] = np.arange(5, dtype=np.float32)[:, None]
    back = TrajectoryStore.load(TrajectoryStore(tmp_path, 100).write(t))
    np.testing.assert_array_equal(back.obs["_achieved"][:, 0], np.arange(5))
    window = sample_window(back, 3, np.random.default_rng(0))
    assert set(window.obs) == {"x"} and set(collate([window]).obs) == {"x"}


def test_mirroring_negates_every_action_of_the_chosen_windows_only(tmp_path) -> None:
    """replay.mirror_actions: a flipped window has all its actions negated and everything else unchanged."""
    store = _store_of_six(tmp_path)
    plain = WindowSampler(store, batch_size=16, max_seq_len=8, seed=3)
    always = WindowSampler(store, batch_size=16, max_seq_len=8, seed=3, mirror_prob=1.0)
    half = WindowSampler(store, batch_size=16, max_seq_len=8, seed=3, mirror_prob=0.5)
    ref, neg, mix = plain.sample(0), always.sample(0), half.sample(0)
    assert np.array_equal(neg.prev_action.numpy(), -ref.prev_action.numpy())
    for other in (neg, mix):  # observations, rewards and masks are those of the unmirrored windows
        assert np.array_equal(other.obs["x"].numpy(), ref.obs["x"].numpy())
        assert np.array_equal(other.prev_reward.numpy(), ref.prev_reward.numpy())
        assert np.array_equal(other.valid.numpy(), ref.valid.numpy())
    flipped = [bool((mix.prev_action[i] == -ref.prev_action[i]).all()) for i in range(16)]
    kept = [bool((mix.prev_action[i] == ref.prev_action[i]).all()) for i in range(16)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    assert np.array_equal(mix.prev_action.numpy(), half.sample(0).prev_action.numpy())  # depends on the index only
