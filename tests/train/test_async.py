"""``train.mode=async``: actor processes collect while the learner updates. Short runs with 2 actors: rollouts
arrive, weight versions advance, a killed actor is restarted, a killed learner leaves no process behind and the
same command resumes, Ctrl-C stops everything."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from icrl.config import RunConfig, apply_overrides
from icrl.errors import ConfigError
from icrl.train import train
from icrl.train.async_loop import update_to_data_ratio
from icrl.train.logging import read_metrics

TINY = ["env.kwargs.size=3", "env.kwargs.attempts=2", "env.num_envs=2", "env.eval_num_envs=2", "model.d_model=16",
        "model.n_layers=1", "model.n_heads=2", "model.encoder_hidden=16", "model.encoder_out=16",
        "model.head_hidden=16", "learn.batch_size=4", "learn.num_critics=2", "train.steps_per_epoch=8",
        "train.updates_per_epoch=2", "train.eval_every=1", "train.eval_episodes=2", "replay.prefetch=2",
        "train.mode=async", "train.actors=2", "train.publish_every=2"]
DEADLINE_S = 150  # bound on every wait below

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find leftover processes")


def _children_of(pid: int) -> list[int]:
    """Live child processes of ``pid``, except multiprocessing's resource tracker (one per parent process, it
    lives as long as the parent and is not one of the run's processes)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            cmdline = (stat.parent / "cmdline").read_bytes()
            if b"resource_tracker" not in cmdline:
                out.append(int(stat.parent.name))
    return out


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_short_async_run_collects_publishes_and_leaves_no_child(tmp_path: Path) -> None:
    run = tmp_path / "run"
    metrics = train(apply_overrides(RunConfig(), [*TINY, "train.epochs=3"]), run, progress="off")
    assert metrics["updates"] == 6 and metrics["env_steps"] > 0
    assert metrics["buffer/trajectories"] > 0  # the actors' rollouts reached the replay store
    latest = json.loads((run / "async" / "weights" / "latest.json").read_text())
    assert latest["version"] == 6  # published every 2 updates, the version counts updates
    # an actor that started late may not have finished a chunk yet: check those that reported
    actors = [json.loads(p.read_text()) for p in sorted((run / "async").glob("actor_*.json"))]
    assert actors and all(a["env_steps"] > 0 and a["version"] >= 0 for a in actors)
    assert max(a["version"] for a in actors) > 0  # the actors picked up newer weights than the first
    assert any("eval/return" in r for r in read_metrics(run))  # the evaluator's results were logged
    assert mp.active_children() == [] and _children_of(os.getpid()) == []


def test_time_limit_stops_the_run_and_its_processes(tmp_path: Path) -> None:
    cfg = apply_overrides(RunConfig(), [*TINY, "train.epochs=10000", "train.time_limit_min=0.001"])
    metrics = train(cfg, tmp_path / "run", progress="off")
    assert metrics["epoch"] == 1  # the limit (0.06 s) is past after the first epoch
    assert (tmp_path / "run" / "checkpoints" / "latest.json").exists()
    assert mp.active_children() == [] and _children_of(os.getpid()) == []


def _start(run: Path, epochs: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "icrl", "train", "--run-dir", str(run), "--no-progress", *TINY,
           f"train.epochs={epochs}"]
    return subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_actor_restart_learner_kill_resume_and_ctrl_c(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = _start(run, epochs=10_000)
    try:
        _wait_for(lambda: len(read_metrics(run)) >= 1, "the first epoch")
        status = run / "async" / "actor_0.json"
        _wait_for(status.exists, "actor 0's first report")
        actor = json.loads(status.read_text())["pid"]
        os.kill(actor, signal.SIGKILL)
        _wait_for(lambda: read_metrics(run)[-1].get("async/restarts", 0) >= 1, "the actor's restart")
        _wait_for(lambda: (run / "checkpoints" / "latest.json").exists(), "a checkpoint")
        os.kill(proc.pid, signal.SIGKILL)  # the learner dies without cleaning up
        proc.wait(timeout=DEADLINE_S)
        _wait_for(lambda: not _group_alive(proc.pid), "the orphaned children to exit")
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    out = proc.stdout.read()
    assert "actor 0 died" in out and "restarting" in out
    first_session = read_metrics(run)
    before = first_session[-1]["epoch"]

    proc = _start(run, epochs=10_000)  # the same command resumes
    try:
        _wait_for(lambda: read_metrics(run)[-1]["epoch"] > before, "the resumed run's first epoch")
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        assert proc.wait(timeout=DEADLINE_S) == 130
        _wait_for(lambda: not _group_alive(proc.pid), "every process of the run to exit")
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    rows = read_metrics(run)  # rows after the checkpoint were dropped and those epochs done again
    assert rows[0] == first_session[0]  # resumed: the checkpointed epochs' rows are kept as they were
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(r["updates"] == 2 * r["epoch"] for r in rows)  # the counters continued from the checkpoint


def test_async_mode_needs_collection_and_updates() -> None:
    with pytest.raises(ConfigError, match="steps_per_epoch"):
        update_to_data_ratio(apply_overrides(RunConfig(), [*TINY, "train.steps_per_epoch=0"]))
    assert update_to_data_ratio(apply_overrides(RunConfig(), TINY)) == 2 / 16


def test_async_evaluator_keeps_the_sync_cadence():
    """Evaluations fall where the sync loop's do: after U, U + kU, U + 2kU, ... updates (U updates per epoch,
    k = eval_every), whichever versions the evaluator happens to see."""
    from icrl.train.actors import evaluation_due

    cfg = apply_overrides(RunConfig(), ["train.updates_per_epoch=100", "train.eval_every=2"])
    assert not evaluation_due(cfg, 0, 99)
    assert evaluation_due(cfg, 0, 100) and evaluation_due(cfg, 90, 110)
    assert not evaluation_due(cfg, 100, 290) and evaluation_due(cfg, 290, 300)
    assert evaluation_due(cfg, 120, 750) and not evaluation_due(cfg, 300, 499)
    due = [v for v in range(10, 1001, 10) if evaluation_due(cfg, v - 10, v)]  # publications every 10 updates
    assert due == [100, 300, 500, 700, 900]  # = the sync loop's evaluations after epochs 0, 2, 4, 6, 8


def test_async_children_run_below_the_learner_priority() -> None:
    """Actors and the evaluator call ``lower_priority``: CHILD_NICE below their parent (capped at nice 19)."""
    from icrl.train.actors import CHILD_NICE

    code = ("import os; from icrl.train.actors import lower_priority; base = os.nice(0); lower_priority(); "
            "print(base, os.nice(0))")
    base, after = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          check=True).stdout.split())
    assert after == min(base + CHILD_NICE, 19)


def test_async_actors_split_the_training_envs() -> None:
    """The actors step env.num_envs envs in all (as the sync loop), the first ones taking the remainder; more
    actors than envs is a configuration error."""
    from icrl.train.actors import actor_envs, actor_share

    def split(envs: int, actors: int) -> list[int]:
        cfg = apply_overrides(RunConfig(), [f"env.num_envs={envs}", "train.mode=async", f"train.actors={actors}"])
        return [actor_envs(cfg, i) for i in range(actors)]

    assert split(24, 2) == [12, 12] and split(5, 2) == [3, 2] and split(4, 4) == [1, 1, 1, 1]
    cfg = apply_overrides(RunConfig(), ["env.num_envs=5", "train.mode=async", "train.actors=2"])
    assert actor_share(cfg, 0, 10, 0.1) + actor_share(cfg, 1, 10, 0.1) == pytest.approx(100.0)  # shares sum up
    with pytest.raises(ConfigError, match="env.num_envs"):
        update_to_data_ratio(apply_overrides(RunConfig(), ["env.num_envs=2", "train.mode=async", "train.actors=3"]))
