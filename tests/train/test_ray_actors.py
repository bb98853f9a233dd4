"""``train.actors_backend=ray``: a short async run with 2 Ray actors on a local Ray instance (loopback, started
and shut down by the run): rollouts reach the replay store, the actors act with newer weights, and no Ray
process is left afterwards."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from icrl.config import RunConfig, apply_overrides
from icrl.data import TrajectoryStore
from icrl.train import train
from icrl.train.actors import SPOOL_CAPACITY, spool_dir

pytest.importorskip("ray")

TINY = ["env.kwargs.size=3", "env.kwargs.attempts=2", "env.num_envs=2", "env.eval_num_envs=2", "model.d_model=16",
        "model.n_layers=1", "model.n_heads=2", "model.encoder_hidden=16", "model.encoder_out=16",
        "model.head_hidden=16", "learn.batch_size=4", "learn.num_critics=2", "train.steps_per_epoch=8",
        "train.updates_per_epoch=2", "train.eval_every=0", "replay.prefetch=2", "train.mode=async",
        "train.actors=2", "train.publish_every=2", "train.actors_backend=ray"]

DEADLINE_S = 300  # the whole run, Ray's start and shutdown included

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find leftover processes")]


class _Hung(Exception):
    pass


@pytest.fixture
def one_ray_at_a_time():
    """These tests count every Ray process on the machine, so they must not overlap: under ``pytest -n`` each
    takes a lock file (shared by the xdist workers) for its whole run."""
    import fcntl
    import tempfile

    with open(Path(tempfile.gettempdir()) / "icrl-ray-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def deadline(one_ray_at_a_time):
    """Fail (and let the run shut down in its ``finally``) instead of hanging past ``DEADLINE_S``; taken after the
    lock, so waiting for the other test does not count."""
    def _raise(signum, frame):
        raise _Hung(f"the run took more than {DEADLINE_S} s")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(DEADLINE_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _ray_processes() -> list[str]:
    """Command lines of live Ray processes on this machine: the raylet, the GCS server, ``ray::`` workers and
    Ray's Python helpers (log monitor, agents)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
            state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (Path(argv[0]).name in ("raylet", "gcs_server") or argv[0].startswith("ray::")
                             or any("/site-packages/ray/" in arg for arg in argv)):
            found.append(" ".join(argv))
    return found


def test_ray_actors_send_rollouts_follow_weights_and_leave_nothing(tmp_path: Path, deadline) -> None:
    assert _ray_processes() == [], "a Ray instance is already running on this machine"
    run = tmp_path / "run"
    # 5 epochs = 10 updates need 80 env steps = 10 chunks of 8 (one env per actor): some actor's fourth, which it is
    # only called for once the learner has 2 updates (its slack is 16 steps), i.e. with version 2 published
    metrics = train(apply_overrides(RunConfig(), [*TINY, "train.epochs=5"]), run, progress="off")
    assert metrics["updates"] == 10 and metrics["env_steps"] > 0
    assert metrics["buffer/trajectories"] > 0  # the rollouts came back through Ray into the replay store
    assert all(len(TrajectoryStore(spool_dir(run, i), SPOOL_CAPACITY)) == 0 for i in range(2))  # not via spools
    actors = [json.loads(p.read_text()) for p in sorted((run / "async").glob("actor_*.json"))]
    # an actor that started late may not have finished a chunk yet (as with processes): check those that reported
    assert actors and all(a["env_steps"] > 0 and a["version"] >= 0 for a in actors)
    assert max(a["version"] for a in actors) > 0  # weights newer than the first reached the actors
    assert _ray_processes() == []


def test_ray_sigkilled_learner_leaves_no_ray_process(tmp_path: Path, deadline) -> None:
    """A learner killed with SIGKILL cannot call ray.shutdown(): the orphan watcher (icrl.train.orphans) must
    stop the local instance's processes instead."""
    import os
    import subprocess
    import time

    assert _ray_processes() == [], "a Ray instance is already running on this machine"
    run = tmp_path / "run"
    learner = subprocess.Popen([sys.executable, "-m", "icrl", "train", "--run-dir", str(run), "--no-progress",
                                *TINY, "train.epochs=1000"], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not any((run / "async").glob("actor_*.json")):  # the Ray actors returned a first chunk
            assert learner.poll() is None, "the run ended before its Ray actors reported"
            time.sleep(0.2)
        assert _ray_processes()
        learner.kill()
        learner.wait()
        while _ray_processes():  # bounded by the deadline fixture
            time.sleep(0.2)
    finally:
        if learner.poll() is None:
            os.killpg(learner.pid, signal.SIGKILL)
