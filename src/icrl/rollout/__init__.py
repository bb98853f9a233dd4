"""Rollouts: batched env stepping with cached agent memory, exploration noise, evaluation."""

from icrl.rollout.collector import Collector, RolloutStats, make_vector_env
from icrl.rollout.evaluate import evaluate, summarize
from icrl.rollout.exploration import Exploration

__all__ = ["Collector", "Exploration", "RolloutStats", "evaluate", "make_vector_env", "summarize"]
