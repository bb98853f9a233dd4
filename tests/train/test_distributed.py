"""``torchrun --nproc-per-node 2 -m icrl train``: a short run on CPU (gloo) trains, checkpoints, resumes, and every
process exits."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from icrl.config import RunConfig, apply_overrides
from icrl.errors import ConfigError
from icrl.train.distributed import rank_config
from icrl.train.logging import read_metrics

TINY = ["env.kwargs.size=3", "env.kwargs.attempts=2", "env.num_envs=4", "env.eval_num_envs=4", "model.d_model=16",
        "model.n_layers=1", "model.n_heads=2", "model.encoder_hidden=16", "model.encoder_out=16",
        "model.head_hidden=16", "learn.batch_size=4", "learn.num_critics=3", "train.steps_per_epoch=12",
        "train.updates_per_epoch=3", "train.eval_every=1", "train.eval_episodes=4", "replay.prefetch=2"]
TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(run_dir: Path, epochs: int) -> str:
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun) if torchrun.exists() else shutil.which("torchrun"), "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), "-m", "icrl", "train",
           "--run-dir", str(run_dir), "--no-progress", *TINY, f"train.epochs={epochs}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="torchrun with gloo on loopback")
def test_torchrun_two_processes_train_checkpoint_and_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = _torchrun(run, epochs=2)
    assert out.count("plots:") == 1  # rank 0 alone reports
    rows = read_metrics(run)
    assert [r["dist/processes"] for r in rows] == [2.0, 2.0] and rows[-1]["updates"] == 6
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert latest
    _torchrun(run, epochs=3)  # the same command with more epochs resumes
    rows = read_metrics(run)
    assert rows[-1]["epoch"] == 3 and rows[-1]["updates"] == 9 and rows[-1]["env_steps"] == 144


def test_batch_size_must_split_over_the_processes() -> None:
    cfg = apply_overrides(RunConfig(), ["learn.batch_size=5"])
    with pytest.raises(ConfigError, match="multiple of 2"):
        rank_config(cfg, 0, 2)
    assert rank_config(apply_overrides(RunConfig(), ["learn.batch_size=6"]), 1, 2).learn.batch_size == 3
