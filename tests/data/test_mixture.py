"""A weighted mixture of datasets: dataset directories as sources, sampling shares that follow the weights."""

from __future__ import annotations

import numpy as np
import pytest

from icrl.data import ONLINE, TrajectoryStore, WindowSampler
from icrl.data.sampler import make_mixture
from icrl.errors import DataError
from icrl.records import Trajectory


def _traj(n: int, name: str) -> Trajectory:
    idx = np.arange(n + 1)
    return Trajectory({"x": idx[:, None].astype(np.float32)}, np.eye(2, dtype=np.float32)[idx % 2],
                      np.zeros(n + 1, np.float32), idx.astype(np.int64), np.zeros(n + 1, bool), name)


def _store(tmp_path, files: dict[str, int]) -> TrajectoryStore:
    """``files``: source -> number of trajectories (ONLINE: FIFO files plus one loose protected file)."""
    store = TrajectoryStore(tmp_path, capacity_steps=10_000)
    for source, count in files.items():
        for i in range(count):
            if source == ONLINE:
                store.write(_traj(3 + i, ONLINE), protected=i == 0)  # one loose protected/ file: online too
            else:
                store.write(_traj(3 + i, source), source=source)
    return store


def test_dataset_directories_are_sources_that_eviction_never_touches(tmp_path) -> None:
    store = TrajectoryStore(tmp_path, capacity_steps=4)
    kept = store.write(_traj(20, "expert"), source="expert")
    assert kept.parent == tmp_path / "protected" / "expert"
    for _ in range(3):
        store.write(_traj(3, "live"))
    store.evict()
    reopened = TrajectoryStore(tmp_path, capacity_steps=4)
    assert {(e.source, e.protected) for e in reopened.index()} == {("expert", True), (ONLINE, False)}
    assert kept.exists() and reopened.protected_steps == 20 and reopened.fifo_steps == 3
    reopened.remove_source("expert")
    assert not kept.parent.exists() and all(e.source == ONLINE for e in reopened.index())
    with pytest.raises(DataError, match="invalid"):
        store.write(_traj(2, "x"), source="../escape")
    with pytest.raises(DataError, match="invalid"):
        store.source_dir(ONLINE)


def test_window_shares_follow_the_weights_not_the_file_counts(tmp_path) -> None:
    """3 / 10 / 6 files, weights 0.6 / 0.3 / 0.1: each window's source is a draw with those probabilities."""
    store = _store(tmp_path, {"small": 3, "large": 10, ONLINE: 6})
    weights = {"small": 0.6, "large": 0.3, ONLINE: 0.1}
    sampler = WindowSampler(store, batch_size=32, max_seq_len=64, seed=7, source_weights=weights)
    batches = [sampler.sample(i) for i in range(150)]  # 4800 windows, each a whole trajectory
    names = [n for b in batches for n in b.env_names]
    shares = {k: names.count(k) / len(names) for k in weights}
    for k, w in weights.items():  # binomial std <= 0.0071; 0.03 is more than 4 std
        assert abs(shares[k] - w) < 0.03, (k, shares)
    # within a source, files are drawn uniformly: the 10 "large" files (3..12 transitions) ~144 windows each
    lengths = [int(v.sum()) - 1 for b in batches for n, v in zip(b.env_names, b.valid) if n == "large"]
    counts = np.bincount(lengths, minlength=13)[3:]
    assert counts.min() > 100 and counts.max() < 190, counts
    assert sampler.source_shares() == pytest.approx(weights)


def test_sources_without_data_or_weight_are_left_out_and_weights_renormalised(tmp_path) -> None:
    store = _store(tmp_path, {"a": 2, "b": 2, "ignored": 2})
    sampler = WindowSampler(store, batch_size=64, max_seq_len=8, seed=0,
                            source_weights={"a": 0.6, "b": 0.3, ONLINE: 0.1})  # no online data yet
    assert sampler.source_shares() == pytest.approx({"a": 2 / 3, "b": 1 / 3})
    names = [n for i in range(40) for n in sampler.sample(i).env_names]
    assert "ignored" not in names and abs(names.count("a") / len(names) - 2 / 3) < 0.04
    store.write(_traj(5, ONLINE))  # collection started: the online buffer joins with its weight
    sampler.refresh()
    assert sampler.source_shares() == pytest.approx({"a": 0.6, "b": 0.3, ONLINE: 0.1})


def test_a_mixture_without_sampleable_data_is_not_ready(tmp_path) -> None:
    store = _store(tmp_path, {"a": 2})
    sampler = WindowSampler(store, batch_size=4, max_seq_len=8, source_weights={"a": 0.0, ONLINE: 1.0})
    assert not sampler.ready(1) and sampler.source_shares() == {}
    with pytest.raises(DataError, match="empty"):
        sampler.sample(0)


def test_make_mixture_indices_point_into_the_kept_entries(tmp_path) -> None:
    store = _store(tmp_path, {"a": 3, ONLINE: 2, "b": 1})
    kept, sources = make_mixture(store.index(), {"a": 1.0, "b": 3.0}, by_length=True)
    assert [s.name for s in sources] == ["a", "b"] and len(kept) == 4
    for s in sources:
        assert all(kept[i].source == s.name for i in s.members)
        assert s.probs.sum() == pytest.approx(1.0)
    assert [s.share for s in sources] == pytest.approx([0.25, 0.75])
