"""``icrl.load_run``: a run directory's config, its agent at a checkpoint and its envs, without training parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import icrl
from icrl.config import RunConfig, apply_overrides
from icrl.errors import CheckpointError, ConfigError
from icrl.train import load_run, train
from scaffold import tiny_overrides

TINY = tiny_overrides("env.name=testing-remember-first", "env.kwargs.delay=2", "env.num_envs=3",
                      "learn.num_critics=3", "train.steps_per_epoch=6", "train.updates_per_epoch=2",
                      "train.eval_every=0")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished two-epoch run: checkpoints ckpt_000000 and ckpt_000001."""
    path = tmp_path_factory.mktemp("saved") / "run"
    train(apply_overrides(RunConfig(), TINY), path, progress="off")
    return path


def _agent_tensors(run_dir: Path, name: str) -> dict[str, torch.Tensor]:
    weights = load_file(str(run_dir / "checkpoints" / name / "weights.safetensors"))
    return {k[len("agent."):]: v for k, v in weights.items() if k.startswith("agent.")}


def _assert_weights(run, expected: dict[str, torch.Tensor]) -> None:
    state = run.agent.state_dict()
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(state[key].cpu(), value), key


@pytest.mark.slow
def test_the_latest_checkpoint_with_the_saved_config(run_dir: Path) -> None:
    run = icrl.load_run(run_dir)  # the package root exports it
    assert run.config == RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    assert run.checkpoint == "ckpt_000001" and run.progress["epoch"] == 2 and run.progress["updates"] == 4
    assert not run.agent.training
    _assert_weights(run, _agent_tensors(run_dir, "ckpt_000001"))
    older = load_run(run_dir, checkpoint="ckpt_000000")
    _assert_weights(older, _agent_tensors(run_dir, "ckpt_000000"))
    assert not all(torch.equal(a, b) for a, b in zip(older.agent.state_dict().values(),
                                                      run.agent.state_dict().values(), strict=True))


@pytest.mark.slow
def test_envs_with_evaluation_overrides(run_dir: Path) -> None:
    run = load_run(run_dir)
    env = run.make_env(["env.kwargs.delay=5"])
    assert env.unwrapped.delay == 5 and env.max_rollout_steps == 6
    assert run.make_env().unwrapped.delay == 2  # the run's own settings otherwise
    train_envs, eval_envs = run.make_envs("train"), run.make_envs("eval", ["env.eval_num_envs=4"])
    assert (train_envs.num_envs, eval_envs.num_envs) == (3, 4)
    train_envs.close()
    eval_envs.close()
    metrics = run.evaluate(episodes=4, overrides=["env.kwargs.delay=5"])
    assert metrics["eval/rollouts"] == 4 and metrics["eval/length"] == 6


@pytest.mark.slow
def test_overrides_that_would_change_the_model_are_refused(run_dir: Path) -> None:
    run = load_run(run_dir)
    with pytest.raises(ConfigError, match=r"model.d_model.*not how it is evaluated"):
        run.evaluate(overrides=["model.d_model=32"])
    with pytest.raises(ConfigError, match="drop the overrides that change what the env shows"):
        run.make_env(["env.name=testing-continuous", "env.kwargs={}"])
    with pytest.raises(ConfigError, match="'train' or 'eval'"):
        run.make_envs("test")


def test_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a run directory"):
        load_run(tmp_path / "nowhere")


@pytest.mark.slow
def test_a_run_without_a_checkpoint_yet(run_dir: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "config.json").write_text((run_dir / "config.json").read_text())
    with pytest.raises(CheckpointError, match="no checkpoint yet"):
        load_run(fresh)
    with pytest.raises(CheckpointError, match="no checkpoint 'ckpt_000009'"):
        load_run(run_dir, checkpoint="ckpt_000009")


@pytest.mark.slow
def test_a_corrupt_latest_checkpoint_falls_back_to_the_one_before(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "checkpoints" / "ckpt_000001" / "weights.safetensors").write_bytes(b"not a safetensors file")
    run = load_run(copy)
    assert run.checkpoint == "ckpt_000000"
    _assert_weights(run, _agent_tensors(copy, "ckpt_000000"))
    (copy / "checkpoints" / "ckpt_000000" / "meta.json").write_text("{")
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        load_run(copy)
