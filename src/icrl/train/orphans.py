"""A watcher that kills what a process leaves behind when it dies without cleaning up (SIGKILL, OOM killer).

``watch(pid)`` starts a small process (this file run as a script: no torch, no icrl import) that follows the
process tree below ``pid`` every ``POLL_S`` seconds, remembering each descendant by (pid, start time), and, once
``pid`` is gone, terminates (then kills) every remembered process that still runs. Following the tree while the
owner lives matters: when the owner dies, its children's children are re-parented and no longer look related.

Used for a local Ray instance (``icrl.train.ray_actors``): an orderly exit calls ``ray.shutdown()``, but a
SIGKILLed learner cannot, and the raylet's idle workers and agents would outlive it. An orderly exit stops the
watcher first (``Watcher.stop``), so it never touches a tree the owner already cleaned up. Linux only (/proc);
elsewhere ``watch`` returns a watcher that does nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.25
GRACE_S = 3.0  # between SIGTERM and SIGKILL


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live, non-zombie process, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[19])


def _processes() -> dict[int, tuple[int, int]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                out[int(entry.name)] = stat
    return out


def descendants(root: int, skip: frozenset[int] = frozenset()) -> dict[int, int]:
    """Every live process below ``root``, except the subtrees of ``skip``: pid -> start time."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {}, [pid for pid in children.get(root, []) if pid not in skip]
    while todo:
        pid = todo.pop()
        found[pid] = table[pid][1]
        todo.extend(child for child in children.get(pid, []) if child not in skip)
    return found


def _kill_remembered(seen: dict[int, int]) -> None:
    """SIGTERM every remembered process that is still the same process, SIGKILL those still there after
    ``GRACE_S``."""
    def alive() -> list[int]:
        return [pid for pid, start in seen.items() if (_stat(pid) or (0, -1))[1] == start]

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in alive():
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + GRACE_S
        while alive() and time.monotonic() < deadline:
            time.sleep(0.05)


def _run(owner: int, owner_start: int, skip: frozenset[int]) -> None:
    skip = skip | {os.getpid()}
    seen: dict[int, int] = {}
    while (_stat(owner) or (0, -1))[1] == owner_start:
        seen.update(descendants(owner, skip))
        time.sleep(POLL_S)
    _kill_remembered(seen)


class Watcher:
    """The watcher process of one owner; ``stop`` ends it without killing anything."""

    def __init__(self, process: subprocess.Popen | None) -> None:
        self.process = process

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


def watch(pid: int | None = None, since: dict[int, int] | None = None) -> Watcher:
    """Start watching ``pid`` (default: this process); see the module docstring. Processes of ``since`` (a
    ``descendants`` snapshot taken before starting what is to be cleaned up) and their children are left alone.
    """
    pid = os.getpid() if pid is None else pid
    stat = _stat(pid)
    if sys.platform != "linux" or stat is None:
        return Watcher(None)
    args = [sys.executable, "-I", __file__, str(pid), str(stat[1]), *map(str, since or {})]
    # its own session: Ctrl-C in the terminal reaches the owner, which stops the watcher in order
    return Watcher(subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True))


if __name__ == "__main__":
    _run(int(sys.argv[1]), int(sys.argv[2]), frozenset(int(a) for a in sys.argv[3:]))
