"""The run directory: its layout, and the saved config that makes re-running a command resume it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from icrl.config import RunConfig, read_config_file
from icrl.errors import CheckpointError
from icrl.fsutil import atomic_write_text

# Fields that may change between sessions of one run: they steer the loop and how evaluation acts, not what is
# learned so far.
RESUMABLE_FIELDS = {"train.epochs", "train.time_limit_min", "train.eval_every", "train.log_every",
                    "train.ckpt_every", "train.wandb", "train.wandb_project", "train.device", "train.threads",
                    "train.eval_episodes", "explore.sample_eval", "env.vector", "replay.prefetch"}


def config_path(run_dir: Path) -> Path:
    return run_dir / "config.json"


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k != "kwargs":
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def load_config(run_dir: Path) -> RunConfig:
    path = config_path(run_dir)
    if not path.exists():
        raise CheckpointError(f"{run_dir} is not a run directory (no config.json); train first with "
                              f"`icrl train --run-dir {run_dir}`.")
    return read_config_file(path, f"restore it (`icrl train --print-config` with the run's settings prints it; "
                                  f"save that as {path}), or pass another --run-dir to start a new run.")


def open_run_dir(run_dir: Path, cfg: RunConfig) -> bool:
    """Create the run directory or check that ``cfg`` may resume it. Returns True when resuming."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = config_path(run_dir)
    if not path.exists():
        atomic_write_text(path, cfg.to_json())
        return False
    saved = _flat(load_config(run_dir).to_dict())
    wanted = _flat(cfg.to_dict())
    diff = sorted(k for k in saved.keys() | wanted.keys()
                  if saved.get(k) != wanted.get(k) and k not in RESUMABLE_FIELDS)
    if diff:
        lines = ", ".join(f"{k}: saved {saved.get(k)!r} vs now {wanted.get(k)!r}" for k in diff)
        raise CheckpointError(f"{run_dir} holds a run with a different configuration ({lines}). Re-run with the "
                              f"same settings to resume it, or pass another --run-dir to start a new run.")
    atomic_write_text(path, cfg.to_json())
    return True


@contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` while training, so a second process cannot train the same run.

    Two writers on one run directory would interleave checkpoints and replay files. The lock is ``flock`` on
    ``run_dir/.lock``: the operating system drops it when the process exits, so a killed run leaves no stale
    lock behind. Where ``fcntl`` does not exist (Windows) the run is not locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / ".lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise CheckpointError(f"another process (pid {holder}) is training in {run_dir}; wait for it to finish, "
                                  f"stop it, or pass another --run-dir.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
