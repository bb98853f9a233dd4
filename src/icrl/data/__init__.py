"""Replay: trajectory files on disk (store) and random padded windows (sampler)."""

from icrl.data.sampler import BatchPrefetcher, WindowSampler, collate, sample_window, window_start
from icrl.data.store import StoredTrajectory, TrajectoryStore

__all__ = ["BatchPrefetcher", "StoredTrajectory", "TrajectoryStore", "WindowSampler", "collate", "sample_window",
           "window_start"]
