"""End to end: a short training run, its run directory, resume, exact resume, eval and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from icrl.cli import main as cli_main
from icrl.config import RunConfig, apply_overrides
from icrl.data import TrajectoryStore
from icrl.errors import CheckpointError
from icrl.records import Trajectory
from icrl.train import load_run, train
from icrl.train.logging import read_metrics
from scaffold import latest_weights, tiny_overrides

TINY = tiny_overrides("env.kwargs.size=3", "env.kwargs.attempts=2", "env.num_envs=4", "env.eval_num_envs=4",
                      "learn.num_critics=3", "train.steps_per_epoch=12", "train.eval_episodes=4")


def _cfg(*extra: str) -> RunConfig:
    return apply_overrides(RunConfig(), TINY + list(extra))


@pytest.mark.slow
def test_short_run_writes_a_complete_run_directory(tmp_path: Path) -> None:
    run = tmp_path / "run"
    metrics = train(_cfg(), run, progress="off")
    assert metrics["epoch"] == 2 and metrics["env_steps"] == 2 * 12 * 4 and metrics["updates"] == 2 * 3
    assert np.isfinite(metrics["critic/loss"]) and "eval/attempt_2/success" in metrics
    for name in ("config.json", "metrics.jsonl", "eval.csv", "learning_curve.png", "attempts.png"):
        assert (run / name).stat().st_size > 0, name
    assert any((run / "buffer" / "fifo").glob("*.npz"))
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2]


@pytest.mark.slow
def test_rerunning_resumes_counters_and_refuses_other_configs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(_cfg(), run, progress="off")
    before = latest_weights(run)
    metrics = train(_cfg("train.epochs=3"), run, progress="off")
    assert metrics["epoch"] == 3 and metrics["env_steps"] == 3 * 12 * 4 and metrics["updates"] == 9
    after = latest_weights(run)
    assert any(not np.array_equal(before[k].numpy(), after[k].numpy()) for k in before if k.startswith("agent."))
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2, 3]
    with pytest.raises(CheckpointError, match="learn.lr"):
        train(_cfg("learn.lr=0.01", "train.epochs=4"), run, progress="off")
    # How evaluation acts is not part of what is learned: a run may resume with greedy evaluations.
    metrics = train(_cfg("train.epochs=4", "explore.sample_eval=false", "train.eval_episodes=6"), run, progress="off")
    assert metrics["epoch"] == 4 and json.loads((run / "config.json").read_text())["explore"]["sample_eval"] is False


@pytest.mark.slow
def test_separate_actor_trunk_trains_saves_and_resumes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(_cfg("model.separate_actor_trunk=true"), run, progress="off")
    before = latest_weights(run)
    assert any(k.startswith("agent.actor_sequence.") for k in before)
    metrics = train(_cfg("model.separate_actor_trunk=true", "train.epochs=3"), run, progress="off")
    assert metrics["epoch"] == 3 and np.isfinite(metrics["critic/loss"])
    after = latest_weights(run)
    for trunk in ("agent.actor_encoder.", "agent.encoder."):  # both trunks keep learning after the resume
        assert any(not np.array_equal(before[k].numpy(), after[k].numpy()) for k in before if k.startswith(trunk))


def _offline_cfg(epochs: int) -> RunConfig:
    # No collection: learning from a fixed protected dataset is deterministic, so resume must be bit-exact.
    return _cfg("train.steps_per_epoch=0", "train.eval_every=0", f"train.epochs={epochs}",
                "train.updates_per_epoch=4")


def _fill_protected(run: Path) -> None:
    rng = np.random.default_rng(0)
    store = TrajectoryStore(run / "buffer", capacity_steps=10_000)
    for _ in range(6):
        t = 9
        onehot = np.eye(5, dtype=np.float32)[rng.integers(0, 5, t + 1)]
        onehot[0] = 0
        obs = {"observation": rng.random((t + 1, 2)).astype(np.float32),
               "attempt": np.zeros((t + 1, 2), np.float32), "attempt_start": np.zeros((t + 1, 1), np.float32)}
        store.write(Trajectory(obs, onehot, rng.random(t + 1).astype(np.float32), np.arange(t + 1),
                               np.zeros(t + 1, bool), "synthetic"), protected=True)


@pytest.mark.slow
def test_a_second_process_cannot_train_the_same_run_directory(tmp_path: Path) -> None:
    """While one trainer holds the run directory, another is refused before touching it; after, it may resume."""
    from icrl.train.rundir import run_dir_lock

    run_dir = tmp_path / "run"
    with run_dir_lock(run_dir):  # stands for another process: flock conflicts between separate opens
        with pytest.raises(CheckpointError, match="another process .* is training in"):
            train(_cfg(), run_dir, progress="off")
        assert not (run_dir / "config.json").exists()
    assert train(_cfg(), run_dir, progress="off")["epoch"] == 2.0


@pytest.mark.parametrize("split", [1, 2])
@pytest.mark.slow
def test_resume_is_bit_exact_without_collection(tmp_path: Path, split: int) -> None:
    pytest.importorskip("icrl.envs.builtin.frozen_lake")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    for run in (straight, resumed):
        _fill_protected(run)
    try:
        train(_offline_cfg(3), straight, progress="off")
    except Exception as err:  # the synthetic obs keys must match the env's; fail loudly otherwise
        raise AssertionError(f"offline training failed: {err}") from err
    train(_offline_cfg(split), resumed, progress="off")
    train(_offline_cfg(3), resumed, progress="off")
    a, b = latest_weights(straight), latest_weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k].numpy(), b[k].numpy()), k


@pytest.mark.slow
def test_eval_command_reports_attempt_metrics(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    train(_cfg("train.epochs=1"), run, progress="off")
    metrics = load_run(run).evaluate(episodes=4)
    assert metrics["eval/rollouts"] == 4 and "eval/attempt_1/success" in metrics
    wrapped: list = []  # wrap_env sees every env the evaluation makes (a probe can record through it)
    load_run(run).evaluate(episodes=4, overrides=["env.vector=inline"],
                           wrap_env=lambda factory: lambda: wrapped.append(factory()) or wrapped[-1])
    assert len(wrapped) == json.loads((run / "config.json").read_text())["env"]["eval_num_envs"]
    assert cli_main(["eval", str(run), "--json", "--episodes", "4"]) == 0
    assert "eval/return" in json.loads(capsys.readouterr().out)
    # overrides after options are overrides too (argparse alone rejects them as unrecognised)
    assert cli_main(["eval", str(run), "--json", "train.eval_episodes=12"]) == 0
    assert json.loads(capsys.readouterr().out)["eval/rollouts"] == 12
    with pytest.raises(SystemExit):
        cli_main(["eval", str(run), "--episodes", "4", "--no-such-option"])


def test_cli_errors_are_clear(tmp_path: Path, capsys) -> None:
    assert cli_main(["train", "learn.gamma=2", "--run-dir", str(tmp_path / "x")]) == 2
    assert "learn.gamma" in capsys.readouterr().err
    assert cli_main(["eval", str(tmp_path / "missing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert cli_main(["train", *TINY, "replay.mirror_actions=0.5", "--run-dir", str(tmp_path / "m")]) == 2
    assert "discrete actions; set replay.mirror_actions=0" in capsys.readouterr().err
    mirrored_oracle = ["env.name=aib/di", "env.kwargs.observe_sign=true", "replay.mirror_actions=0.5"]
    assert cli_main(["train", *mirrored_oracle, "--run-dir", str(tmp_path / "o")]) == 2
    assert "show one sign and move as the other" in capsys.readouterr().err


def test_cli_lists_envs(capsys) -> None:
    assert cli_main(["envs"]) == 0
    out = capsys.readouterr().out
    for name in ("meta-frozen-lake", "t-maze", "dark-key-door", "gymnasium id"):
        assert name in out


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [sys.executable, "-m", "icrl.cli", "train", *TINY, "train.epochs=200", "train.eval_every=0",
            "--no-progress", "--run-dir", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(read_metrics(run) if (run / "metrics.jsonl").exists() else []) < 3:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = read_metrics(run)
    assert len(done) >= 3, proc.stderr.read().decode()
    metrics = train(_cfg("train.eval_every=0", f"train.epochs={len(done) + 2}"), run, progress="off")
    # resumed from the last checkpoint at or before the kill: counters continue, nothing restarts at 0
    assert metrics["epoch"] == len(done) + 2
    assert metrics["env_steps"] == metrics["epoch"] * 12 * 4
    assert TrajectoryStore(run / "buffer", 10**9).total_steps > 0


@pytest.mark.slow
def test_multitask_agent_trains_resumes_and_evaluates_from_the_command_line(tmp_path: Path, capsys) -> None:
    """learn.agent=multitask end to end: binned critics in the checkpoint, resume, eval (method 7.6)."""
    run = tmp_path / "mt"
    switch = ["learn.agent=multitask", "learn.critic_labels=hlgauss", "learn.critic_bins=31",
              "learn.critic_min_value=-100", "learn.critic_max_value=100"]
    assert cli_main(["train", *TINY, *switch, "--no-progress", "--run-dir", str(run)]) == 0
    saved = json.loads((run / "config.json").read_text())["learn"]
    assert (saved["agent"], saved["online_coeff"], saved["offline_coeff"], saved["actor_samples"]) == \
        ("multitask", 0.0, 1.0, 3)
    weights = latest_weights(run)
    last = max(k for k in weights if k.startswith("agent.critic.net.layers.") and k.endswith(".weight"))
    assert weights[last].shape[-1] == 7 * 5 * 31  # one logit per (gamma, action, bin): 7 discounts, 5 actions
    rows = read_metrics(run)
    assert np.isfinite(rows[-1]["critic/loss"]) and "q/target_clipped" in rows[-1]
    assert cli_main(["train", *TINY, *switch, "train.epochs=3", "--no-progress", "--run-dir", str(run)]) == 0
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2, 3]
    capsys.readouterr()
    assert cli_main(["eval", str(run), "--json", "--episodes", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["eval/rollouts"] == 4
