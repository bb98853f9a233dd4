"""Replay: trajectory files on disk (store), hindsight relabeling and random padded windows (sampler)."""

from icrl.data.relabel import GoalSequenceRelabeler, Relabeler, Replay, make_relabeler, register_relabeler
from icrl.data.sampler import BatchPrefetcher, WindowSampler, collate, sample_window, window_start
from icrl.data.store import StoredTrajectory, TrajectoryStore

__all__ = ["BatchPrefetcher", "GoalSequenceRelabeler", "Relabeler", "Replay", "StoredTrajectory", "TrajectoryStore",
           "WindowSampler", "collate", "make_relabeler", "register_relabeler", "sample_window", "window_start"]
