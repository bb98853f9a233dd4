"""Offline and offline-to-online training end to end: datasets in the config, start-collecting epoch, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from icrl.config import RunConfig, apply_overrides
from icrl.data import ONLINE, TrajectoryStore
from icrl.errors import ConfigError, DataError
from icrl.train import train
from icrl.train.logging import read_metrics
from scaffold import TINY_MODEL, latest_weights

pytest.importorskip("minari")
pytest.importorskip("h5py")

TINY = ["env.name=testing-remember-first", "env.kwargs.delay=2", "env.num_envs=2", "env.eval_num_envs=4", *TINY_MODEL,
        "learn.batch_size=8", "learn.num_critics=2", "train.steps_per_epoch=6", "train.updates_per_epoch=3",
        "train.eval_every=0", "train.eval_episodes=4", "replay.prefetch=2"]
BC = ["learn.fake_filter=true", "learn.online_coeff=0", "learn.offline_coeff=1"]


@pytest.fixture(scope="module")
def expert(tmp_path_factory) -> str:
    from icrl.testing import record_expert_dataset

    root = tmp_path_factory.mktemp("minari")
    return str(record_expert_dataset("testing-remember-first", "remember-v0", episodes=20, root=root, delay=2))


def _cfg(expert: str, *extra: str, weight: float = 0.8) -> RunConfig:
    datasets = json.dumps([{"source": expert, "weight": weight, "name": "expert"}])
    return apply_overrides(RunConfig(), TINY + [f"replay.datasets={datasets}", "replay.online_weight=0.2",
                                                *extra])


@pytest.mark.slow
def test_no_env_step_before_the_start_epoch_then_collection_joins_the_mixture(tmp_path, expert) -> None:
    run = tmp_path / "run"
    cfg = _cfg(expert, *BC, "train.start_collecting_at_epoch=2", "train.epochs=2")
    metrics = train(cfg, run, progress="off")
    assert metrics["env_steps"] == 0 and metrics["updates"] == 6 and metrics["train/collecting"] == 0
    assert not any((run / "buffer" / "fifo").iterdir())
    assert metrics["replay/share/expert"] == 1.0 and metrics["dataset/expert/return"] == 1.0  # a perfect expert
    assert np.isfinite(metrics["actor/loss"]) and "critic/loss" not in metrics  # pure BC: no critic at all
    info = json.loads((run / "buffer" / "protected" / "expert" / "dataset.json").read_text())
    assert info["episodes"] == 20 and info["steps"] == 20 * 3

    resumed = train(_cfg(expert, *BC, "train.start_collecting_at_epoch=2", "train.epochs=3"), run, progress="off")
    assert resumed["env_steps"] == 6 * 2 and resumed["train/collecting"] == 1
    rows = read_metrics(run)
    assert [r["env_steps"] for r in rows] == [0, 0, 12]
    assert resumed["replay/share/expert"] == pytest.approx(0.8) and resumed[f"replay/share/{ONLINE}"] == \
        pytest.approx(0.2)
    assert len(TrajectoryStore(run / "buffer", 10**6).index()) > 20  # online rollouts beside the 20 expert ones


@pytest.mark.slow
def test_resume_across_the_start_of_collection_is_bit_exact(tmp_path, expert) -> None:
    extra = ("learn.filter=exp", "learn.online_coeff=0", "learn.offline_coeff=1", "train.start_collecting_at_epoch=1")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(_cfg(expert, *extra, "train.epochs=2"), straight, progress="off")
    first = train(_cfg(expert, *extra, "train.epochs=1"), resumed, progress="off")
    assert np.isfinite(first["critic/loss"]) and "actor/bc_weight" in first  # advantage-weighted (exp) filter
    train(_cfg(expert, *extra, "train.epochs=2"), resumed, progress="off")
    a, b = latest_weights(straight), latest_weights(resumed)
    for k in a:
        assert np.array_equal(a[k].numpy(), b[k].numpy()), k


@pytest.mark.slow
def test_behaviour_cloning_of_the_expert_recalls_the_bit(tmp_path, expert) -> None:
    """Pure offline BC (steps_per_epoch=0) on a perfect memory expert: the cloned policy succeeds too."""
    cfg = _cfg(expert, *BC, "train.steps_per_epoch=0", "train.epochs=4", "train.updates_per_epoch=40",
               "learn.lr=3e-3", "learn.warmup_steps=1", "train.eval_every=4", "train.eval_episodes=16",
               "explore.sample_eval=false")
    metrics = train(cfg, tmp_path / "bc", progress="off")
    assert metrics["env_steps"] == 0
    assert metrics["eval/return"] >= 0.9, metrics["eval/return"]


def test_dataset_config_is_validated_and_a_wrong_dataset_stops_the_run(tmp_path, expert) -> None:
    with pytest.raises(ConfigError, match="replay.datasets"):
        apply_overrides(RunConfig(), ['replay.datasets=[{"path": "x"}]'])
    with pytest.raises(ConfigError, match="distinct"):
        apply_overrides(RunConfig(), ['replay.datasets=[{"source": "a/x-v0"}, {"source": "a-x-v0"}]'])
    cfg = apply_overrides(RunConfig(), TINY + [f'replay.datasets=[{{"source": "{expert}"}}]',
                                               "env.name=testing-continuous", "env.kwargs={}"])
    with pytest.raises(DataError, match="does not fit"):
        train(cfg, tmp_path / "wrong", progress="off")
