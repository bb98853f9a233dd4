"""``icrl.train.orphans``: a SIGKILLed owner's whole process tree is cleaned up, even the grandchildren that were
re-parented when their parent died with the owner; an orderly stop kills nothing; what ran before is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from icrl.train import orphans

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

DEADLINE_S = 30

# The owner: starts a child that starts a grandchild (both sleep), prints their pids, then asks to be watched
# (with the first child started before the watch, which must survive) and sleeps until it is killed.
OWNER = """
import subprocess, sys, time
from icrl.train import orphans
sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
early = subprocess.Popen(sleep)
before = orphans.descendants(__import__("os").getpid())
late = subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys, time; p = subprocess.Popen(%r); print(p.pid, flush=True); time.sleep(120)" % (sleep,)],
    stdout=subprocess.PIPE, text=True)
grandchild = int(late.stdout.readline())
watcher = orphans.watch(since=before)
time.sleep(3 * orphans.POLL_S + 0.5)   # let the watcher see the tree
if sys.argv[1] == "stop":
    watcher.stop()
print(early.pid, late.pid, grandchild, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    stat = orphans._stat(pid)
    return stat is not None


def _start_owner(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, list[int]]:
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    owner = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    pids = [int(p) for p in owner.stdout.readline().split()]
    assert len(pids) == 3, "the owner script did not start"
    return owner, pids


def _cleanup(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_a_killed_owner_leaves_nothing_it_started_after_the_watch(tmp_path: Path) -> None:
    owner, (early, late, grandchild) = _start_owner(tmp_path, "keep")
    try:
        owner.kill()
        owner.wait()
        deadline = time.monotonic() + DEADLINE_S
        while (_alive(late) or _alive(grandchild)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(late) and not _alive(grandchild)  # the grandchild had been re-parented
        assert _alive(early)  # started before the watch: not the watcher's business
    finally:
        _cleanup([early, late, grandchild])


def test_a_stopped_watcher_kills_nothing(tmp_path: Path) -> None:
    owner, (early, late, grandchild) = _start_owner(tmp_path, "stop")
    try:
        owner.kill()
        owner.wait()
        time.sleep(3 * orphans.POLL_S + 1.0)
        assert _alive(late) and _alive(grandchild)
    finally:
        _cleanup([early, late, grandchild])
