"""The training driver: builds the parts, runs the epoch loop, owns the run directory."""

from icrl.train.evaluation import evaluate_run
from icrl.train.trainer import train

__all__ = ["evaluate_run", "train"]
