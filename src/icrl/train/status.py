"""What a run is doing now (``run_dir/status``) and what each session found when it started (``sessions.jsonl``).

``status`` is one fixed-width line rewritten in place at every phase change: ``<phase> <epoch> <unix time>``.
It is neither renamed nor fsynced (a few microseconds per phase): it is for people watching a run and for the
kill test (``benchmarks/killtest.py``), which reads it right after a kill to learn which phase the kill hit.

``sessions.jsonl`` gets one line per session: the checkpoint it resumed from, the counters there, checkpoints
it had to skip as unreadable, temporary files of killed writers it deleted, and the rollouts that were in
flight at the checkpoint and are not continued.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from icrl.fsutil import read_jsonl

STATUS_FILE, SESSIONS_FILE = "status", "sessions.jsonl"
PHASES = ("start", "collect", "store", "update", "eval", "log", "checkpoint", "done")
_WIDTH = 63


class PhaseFile:
    """Writes the current phase of the run to ``run_dir/status``."""

    def __init__(self, run_dir: Path) -> None:
        self._fd = os.open(Path(run_dir) / STATUS_FILE, os.O_WRONLY | os.O_CREAT, 0o644)

    def set(self, phase: str, epoch: int) -> None:
        line = f"{phase} {epoch} {time.time():.6f}"[:_WIDTH].ljust(_WIDTH) + "\n"
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, line.encode())

    def close(self) -> None:
        os.close(self._fd)


def read_phase(run_dir: Path) -> tuple[str, int, float] | None:
    """(phase, epoch, unix time) from ``run_dir/status``; None when there is none (yet)."""
    try:
        phase, epoch, stamp = (Path(run_dir) / STATUS_FILE).read_text().split()
        return phase, int(epoch), float(stamp)
    except (OSError, ValueError):
        return None


@dataclass
class SessionReport:
    """What one session of a run found when it started."""

    resumed_from: str | None = None  # checkpoint name, None for a fresh start
    counters: dict = field(default_factory=dict)  # the counters it resumed with
    rejected_checkpoints: list[str] = field(default_factory=list)  # newer checkpoints that were unreadable
    temp_files_removed: int = 0  # files left by writers that were killed mid-write (never read)
    dropped_rollouts: int = 0  # unfinished at the checkpoint: their envs start new rollouts
    files_after_checkpoint: int = 0  # buffer files the previous session stored after its last checkpoint (kept)
    pid: int = field(default_factory=os.getpid)

    def append_to(self, run_dir: Path) -> None:
        """Append one line (after a newline if a killed session left its line torn)."""
        with open(Path(run_dir) / SESSIONS_FILE, "ab+") as f:
            torn = False
            if f.seek(0, os.SEEK_END) > 0:
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"
            f.write((b"\n" if torn else b"") + json.dumps(asdict(self), sort_keys=True).encode() + b"\n")

    def summary(self) -> str:
        if self.resumed_from is None:
            return "new run"
        c = self.counters
        parts = [f"resumed from {self.resumed_from} (epoch {c.get('epoch')}, {c.get('env_steps')} env steps, "
                 f"{c.get('updates')} updates)"]
        if self.dropped_rollouts:
            parts.append(f"{self.dropped_rollouts} rollouts unfinished at that checkpoint dropped")
        if self.files_after_checkpoint:
            parts.append(f"{self.files_after_checkpoint} buffer files written after it kept")
        if self.rejected_checkpoints:
            parts.append(f"unreadable checkpoints skipped: {'; '.join(self.rejected_checkpoints)}")
        if self.temp_files_removed:
            parts.append(f"{self.temp_files_removed} partial files of a killed writer removed")
        return "; ".join(parts)


def read_sessions(run_dir: Path) -> list[dict]:
    """Every complete line of ``sessions.jsonl``."""
    return read_jsonl(Path(run_dir) / SESSIONS_FILE)
