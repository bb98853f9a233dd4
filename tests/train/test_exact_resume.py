"""Resume with collection: bit-exact where envs are seedable and rollouts end at epoch boundaries; otherwise the
env and exploration streams continue instead of restarting (``docs/reliability.md``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from icrl.config import RunConfig, apply_overrides
from icrl.data import TrajectoryStore
from icrl.train import train
from icrl.train.status import read_sessions
from icrl.train.trainer import env_seed
from scaffold import latest_weights, tiny_overrides

# testing-remember-first rollouts last delay + 1 = 4 steps: 8 steps per epoch end every rollout at the boundary.
ALIGNED = tiny_overrides("env.name=testing-remember-first", "train.steps_per_epoch=8", "env.num_envs=3",
                         "learn.num_critics=3", "train.eval_every=2", "train.device=cpu", "explore.eps_start=0.5")


def _cfg(epochs: int, *extra: str) -> RunConfig:
    return apply_overrides(RunConfig(), [*ALIGNED, f"train.epochs={epochs}", *extra])


def _buffer(run: Path) -> list[tuple[str, dict]]:
    store = TrajectoryStore(run / "buffer", 10**9)
    return [(e.path.name, store.load(e.path).arrays()) for e in store.index()]


@pytest.mark.slow
def test_stopped_at_a_checkpoint_and_resumed_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(_cfg(4), straight, progress="off")
    train(_cfg(2), resumed, progress="off")
    train(_cfg(4), resumed, progress="off")
    a, b = latest_weights(straight), latest_weights(resumed)
    assert a.keys() == b.keys()
    for k in a:  # agent, optimiser, and the RNG states saved with them
        assert np.array_equal(a[k].numpy(), b[k].numpy()), k
    files_a, files_b = _buffer(straight), _buffer(resumed)
    assert [n for n, _ in files_a] == [n for n, _ in files_b]  # same rollouts, same order
    for (name, x), (_, y) in zip(files_a, files_b):
        assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x), name
    session = read_sessions(resumed)[-1]
    assert session["resumed_from"] == "ckpt_000001" and session["dropped_rollouts"] == 0


@pytest.mark.slow
def test_a_resume_mid_rollout_drops_and_counts_the_unfinished_rollouts(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(_cfg(1, "train.steps_per_epoch=6"), run, progress="off")  # 6 steps: every env is 2 steps into a rollout
    metrics = train(_cfg(2, "train.steps_per_epoch=6"), run, progress="off")
    session = read_sessions(run)[-1]
    assert session["dropped_rollouts"] == 3 and session["counters"]["epoch"] == 1
    assert metrics["epoch"] == 2  # and the run goes on


def test_each_epoch_gets_its_own_env_seed() -> None:
    seeds = [env_seed(7, e) for e in range(200)]
    assert seeds[0] == 7 and len(set(seeds)) == 200 and all(0 <= s < 2**31 - 2**16 for s in seeds)
    assert env_seed(8, 5) != env_seed(7, 5)


@pytest.mark.slow
def test_rows_logged_after_the_checkpoint_are_redone_once(tmp_path: Path) -> None:
    from icrl.train.logging import read_metrics

    run = tmp_path / "run"
    train(_cfg(2), run, progress="off")
    with open(run / "metrics.jsonl", "a") as f:  # a session killed after logging epoch 3, before its checkpoint
        f.write(json.dumps({"epoch": 3.0, "env_steps": 72.0}) + "\n")
    train(_cfg(3), run, progress="off")
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2, 3]


@pytest.mark.slow
def test_a_checkpoint_with_foreign_metadata_is_refused_clearly(tmp_path: Path) -> None:
    from icrl.errors import CheckpointError

    run = tmp_path / "run"
    train(_cfg(1), run, progress="off")
    meta = run / "checkpoints" / "ckpt_000000" / "meta.json"
    meta.write_text(json.dumps({k: v for k, v in json.loads(meta.read_text()).items() if k != "scheduler"}))
    with pytest.raises(CheckpointError, match=r"ckpt_000000 does not hold what a checkpoint .*KeyError.*delete it"):
        train(_cfg(2), run, progress="off")
