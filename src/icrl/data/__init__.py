"""Replay: trajectory files on disk (store), hindsight relabeling, random padded windows (sampler), offline data."""

from icrl.data.offline import (
    DatasetInfo,
    Episode,
    EpisodeConverter,
    import_dataset,
    open_dataset,
    write_dataset,
)
from icrl.data.relabel import GoalSequenceRelabeler, Relabeler, Replay, make_relabeler, register_relabeler
from icrl.data.sampler import BatchPrefetcher, MixtureSource, WindowSampler, collate, sample_window, window_start
from icrl.data.store import ONLINE, StoredTrajectory, TrajectoryStore

__all__ = ["ONLINE", "BatchPrefetcher", "DatasetInfo", "Episode", "EpisodeConverter", "GoalSequenceRelabeler",
           "MixtureSource", "Relabeler", "Replay", "StoredTrajectory", "TrajectoryStore", "WindowSampler", "collate",
           "import_dataset", "make_relabeler", "open_dataset", "register_relabeler", "sample_window",
           "window_start", "write_dataset"]
