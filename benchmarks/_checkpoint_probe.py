"""Shared by the scripts that inspect a run's latest checkpoint on batches from its own replay buffer."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from icrl.records import Batch
from icrl.train import state
from icrl.train.parts import Parts, make_parts
from icrl.train.rundir import load_config, run_dir_lock


def parse_args(doc: str) -> argparse.Namespace:
    """``run_dir`` and ``--batches``; the description is the first line of the script's docstring."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--batches", type=int, default=8, help="training batches to sample (default 8)")
    return parser.parse_args()


@contextmanager
def latest_checkpoint(run_dir: Path) -> Iterator[tuple[Parts, state.Counters]]:
    """The run's parts with its latest checkpoint loaded, the agent in eval mode, and its counters.

    Opening the replay store deletes a killed writer's temporary files: a live trainer's too, so the run-dir
    lock is held throughout (a run that is training is refused with the holder's pid).
    """
    torch.set_num_threads(1)
    cfg = load_config(run_dir)
    with run_dir_lock(run_dir):
        parts = make_parts(cfg, run_dir)
        try:
            counters = state.restore(parts, run_dir / "checkpoints")
            if counters is None:
                raise SystemExit(f"{run_dir} has no checkpoint yet.")
            parts.agent.train(False)
            yield parts, counters
        finally:
            parts.close()


def unseen_batches(parts: Parts, count: int) -> Iterator[Batch]:
    """``count`` training batches, numbered where the run itself never draws (its sampler is seeded per number)."""
    return (parts.sampler.sample(1_000_000 + i) for i in range(count))
