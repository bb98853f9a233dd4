"""The training driver: builds the parts, runs the epoch loop, owns the run directory (and opens saved runs)."""

from icrl.train.saved import SavedRun, load_run
from icrl.train.trainer import train

__all__ = ["SavedRun", "load_run", "train"]
