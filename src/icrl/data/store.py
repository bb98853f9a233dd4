"""Trajectory files on disk: atomic writes, FIFO eviction counted in timesteps, a protected set.

Layout::

    root/fifo/              new rollouts; the oldest are deleted once the FIFO holds more than ``capacity_steps``
    root/protected/         user data (demonstrations, old runs): sampled like the rest, never deleted
    root/protected/<name>/  an imported dataset (``icrl.data.offline``): never deleted, its own mixture source

Every file belongs to a *source*: ``ONLINE`` for the FIFO and files placed directly in ``protected/``, the
directory name for a dataset directory. The sampler can weight sources (``WindowSampler(source_weights=...)``).

File names carry a monotonic sequence number, the env name and the number of transitions
(``000000000042_meta-frozen-lake_125.npz``), so listing never opens files and FIFO order never depends on
clocks. Files are uncompressed ``.npz`` read with ``allow_pickle=False``.

Crash safety: a file is written under a temporary name, fsynced, renamed and its directory fsynced
(``icrl.fsutil.atomic_save``), so a file under its final name is always complete. Temporary files a killed
writer left are deleted when the store is opened (``removed_partial`` counts them). A final-name file that is
nevertheless unreadable (disk damage, a truncated copy) is moved aside by ``quarantine`` (renamed ``*.corrupt``,
kept for inspection, never read again) and the run goes on without it.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from icrl.errors import DataError
from icrl.fsutil import atomic_save, is_temp
from icrl.records import Trajectory

_NAME = re.compile(r"^(\d{12})_(.*)_(\d+)\.npz$")
_REQUIRED = ("prev_action", "prev_reward", "time_idx", "terminated")
_SOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ONLINE = "online"  # the source of FIFO files and of files placed directly in protected/


def check_source_name(name: str) -> str:
    """A dataset source name must be a plain directory name and not ``ONLINE``; returns it."""
    if not isinstance(name, str) or not _SOURCE.match(name) or name == ONLINE:
        raise DataError(f"dataset name {name!r} is invalid: use letters, digits, '.', '_' and '-' (not starting "
                        f"with '.' or '-'), and not {ONLINE!r}.")
    return name


@dataclass(frozen=True)
class StoredTrajectory:
    path: Path
    seq: int
    length: int  # transitions
    protected: bool
    source: str = ONLINE  # ONLINE, or the name of the dataset directory under protected/


def _sanitise(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", name) or "env"


class TrajectoryStore:
    """Writes, lists, loads and evicts trajectory files under ``root``."""

    def __init__(self, root: Path, capacity_steps: int) -> None:
        self.root = Path(root)
        self.capacity_steps = capacity_steps
        self.fifo_dir, self.protected_dir = self.root / "fifo", self.root / "protected"
        self.fifo_dir.mkdir(parents=True, exist_ok=True)
        self.protected_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # the sampler's thread may quarantine while the trainer writes
        self.removed_partial = self.clean_partial()
        self.quarantined: list[Path] = []
        self.rescan()

    def _directories(self) -> list[tuple[Path, bool, str]]:
        """(directory, protected, source) of the FIFO, protected/ and every dataset directory in it."""
        datasets = sorted(p for p in self.protected_dir.iterdir() if p.is_dir() and _SOURCE.match(p.name))
        return [(self.fifo_dir, False, ONLINE), (self.protected_dir, True, ONLINE),
                *((d, True, d.name) for d in datasets)]

    def source_dir(self, source: str) -> Path:
        """Directory of a dataset source (``protected/<source>``); not created."""
        return self.protected_dir / check_source_name(source)

    def clean_partial(self) -> int:
        """Delete temporary files left by a writer that was killed mid-write."""
        stale = [p for d, _, _ in self._directories() for p in d.iterdir() if is_temp(p)]
        for p in stale:
            p.unlink(missing_ok=True)
        return len(stale)

    def rescan(self) -> None:
        """Rebuild the index from the directories (e.g. after another process added files)."""
        entries = []
        for directory, protected, source in self._directories():
            for p in directory.iterdir():
                m = _NAME.match(p.name)
                if m:
                    entries.append(StoredTrajectory(p, int(m.group(1)), int(m.group(3)), protected, source))
        with self._lock:
            self._index = sorted(entries, key=lambda e: e.seq)
            self._next_seq = max((e.seq for e in self._index), default=-1) + 1

    @property
    def next_seq(self) -> int:
        """The sequence number the next file will get."""
        return self._next_seq

    def index(self) -> list[StoredTrajectory]:
        with self._lock:
            return list(self._index)

    def __len__(self) -> int:
        return len(self._index)

    @property
    def fifo_steps(self) -> int:
        return sum(e.length for e in self._index if not e.protected)

    @property
    def protected_steps(self) -> int:
        return sum(e.length for e in self._index if e.protected)

    @property
    def total_steps(self) -> int:
        return sum(e.length for e in self._index)

    def write(self, traj: Trajectory, protected: bool = False, source: str = ONLINE) -> Path:
        """Store ``traj`` atomically: in the FIFO, in protected/, or (``source`` given) in a dataset directory."""
        if len(traj) < 1:
            raise DataError("a trajectory needs at least one transition (two observations) to be stored.")
        protected = protected or source != ONLINE
        directory = self.protected_dir if protected else self.fifo_dir
        if source != ONLINE:
            directory = self.source_dir(source)
            directory.mkdir(exist_ok=True)
        seq = self._next_seq
        self._next_seq += 1
        path = directory / f"{seq:012d}_{_sanitise(traj.env_name)}_{len(traj)}.npz"
        arrays = {**traj.arrays(), "env_name": np.array(traj.env_name)}

        def writer(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

        atomic_save(path, writer)
        with self._lock:
            self._index.append(StoredTrajectory(path, seq, len(traj), protected, source))
        return path

    def quarantine(self, path: Path, reason: str) -> Path:
        """Take an unreadable file out of the store (renamed ``<name>.corrupt``, kept) with a warning."""
        path = Path(path)
        target = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, target)
        except FileNotFoundError:
            pass
        with self._lock:
            self._index = [e for e in self._index if e.path != path]
            self.quarantined.append(target)
        warnings.warn(f"skipped an unreadable trajectory file: {reason} It was renamed to {target.name}; the run "
                      "goes on without it.", RuntimeWarning, stacklevel=2)
        return target

    def remove_source(self, source: str) -> None:
        """Delete a dataset directory and its files (an import that did not finish)."""
        directory = self.source_dir(source)
        shutil.rmtree(directory, ignore_errors=True)
        with self._lock:
            self._index = [e for e in self._index if e.source != source]

    def evict(self) -> tuple[int, int]:
        """Delete the oldest FIFO files until the FIFO holds at most ``capacity_steps``; (files, steps) removed."""
        with self._lock:
            fifo_steps = sum(e.length for e in self._index if not e.protected)
            removed_files = removed_steps = 0
            keep = []
            for e in self._index:  # sorted oldest first
                if not e.protected and fifo_steps > self.capacity_steps:
                    e.path.unlink(missing_ok=True)
                    fifo_steps -= e.length
                    removed_files += 1
                    removed_steps += e.length
                else:
                    keep.append(e)
            self._index = keep
        return removed_files, removed_steps

    @staticmethod
    def load(path: Path) -> Trajectory:
        """Read and validate one file; anything wrong raises DataError naming the file and the fix."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as err:
            raise DataError(f"trajectory file {path} is unreadable ({err}); delete it to continue.") from err
        return trajectory_from_arrays(arrays, path)


def _numeric(v: np.ndarray) -> bool:
    return v.dtype == bool or np.issubdtype(v.dtype, np.number)


def trajectory_from_arrays(arrays: dict[str, np.ndarray], path: Path | str) -> Trajectory:
    """Check the arrays of a trajectory file (``Trajectory.arrays`` layout) and build it; DataError otherwise."""
    missing = [k for k in _REQUIRED if k not in arrays]
    if missing:
        raise DataError(f"trajectory file {path} lacks {missing}; delete it to continue.")
    obs = {k[4:]: v for k, v in arrays.items() if k.startswith("obs/")}
    named = [*((f"obs/{k}", v) for k, v in obs.items()), *((k, arrays[k]) for k in _REQUIRED)]
    wrong_type = [k for k, v in named if not _numeric(v) or v.ndim == 0]
    if wrong_type:
        raise DataError(f"trajectory file {path} has non-numeric or scalar arrays {wrong_type}; delete it.")
    n = arrays["prev_reward"].shape[0]
    bad = [k for k, v in named if v.shape[0] != n]
    bad += [k for k in ("prev_reward", "time_idx", "terminated") if arrays[k].ndim != 1]
    bad += ["prev_action"] if arrays["prev_action"].ndim != 2 else []
    if bad or n < 2:
        why = f"inconsistent arrays {sorted(set(bad))}" if bad else f"{n} observation(s) (at least 2 needed)"
        raise DataError(f"trajectory file {path} has {why}; delete it.")
    not_finite = [k for k, v in named if v.dtype != bool and not np.isfinite(v).all()]
    if not_finite:
        raise DataError(f"trajectory file {path} holds NaN or infinite values in {not_finite}; delete it.")
    env_name = arrays.get("env_name", np.array(""))
    return Trajectory(obs, arrays["prev_action"].astype(np.float32), arrays["prev_reward"].astype(np.float32),
                      arrays["time_idx"].astype(np.int64), arrays["terminated"].astype(bool),
                      str(env_name) if env_name.ndim == 0 else "")
