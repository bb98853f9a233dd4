"""Durability: files and directories are fsynced before they are published, and a crash between write and
rename leaves the previous state readable, the leftover temporary ignored and later cleaned; damaged checkpoints
are skipped or refused with a clear error."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from icrl import fsutil
from icrl.data import TrajectoryStore
from icrl.errors import CheckpointError
from icrl.records import Trajectory
from icrl.train.checkpoint import find_latest, load_latest, save_checkpoint


def _traj(n: int, value: float) -> Trajectory:
    return Trajectory({"x": np.full((n + 1, 2), value, np.float32)}, np.zeros((n + 1, 3), np.float32),
                      np.zeros(n + 1, np.float32), np.arange(n + 1), np.zeros(n + 1, bool), "toy")


@pytest.fixture
def journal(monkeypatch) -> list[tuple[str, str]]:
    """Records fsync and rename calls in order: ("fsync", name) / ("rename", "src -> dst")."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_rename, real_replace = os.fsync, os.rename, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}")).name))
        real_fsync(fd)

    def rename(src, dst) -> None:
        calls.append(("rename", f"{Path(src).name} -> {Path(dst).name}"))
        real_rename(src, dst)

    def replace(src, dst) -> None:
        calls.append(("rename", f"{Path(src).name} -> {Path(dst).name}"))
        real_replace(src, dst)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name fsynced files")
    monkeypatch.setattr(fsutil.os, "fsync", fsync)
    monkeypatch.setattr(fsutil.os, "rename", rename)
    monkeypatch.setattr(fsutil.os, "replace", replace)
    return calls


def test_a_checkpoint_is_on_disk_before_it_is_published(tmp_path: Path, journal) -> None:
    save_checkpoint(tmp_path, {"w": torch.ones(2)}, {"epoch": 0})
    publish = next(i for i, (kind, what) in enumerate(journal) if kind == "rename" and what.endswith("ckpt_000000"))
    tmp_name = journal[publish][1].split(" -> ")[0]
    before = [what for kind, what in journal[:publish] if kind == "fsync"]
    assert {"weights.safetensors", "meta.json", tmp_name} <= set(before)  # the files, then their directory
    assert before.index(tmp_name) > max(before.index("weights.safetensors"), before.index("meta.json"))
    assert journal[publish + 1] == ("fsync", tmp_path.name)  # the rename itself reaches the disk
    pointer = next(i for i, (kind, what) in enumerate(journal) if kind == "rename" and what.endswith("latest.json"))
    assert pointer > publish + 1


def test_a_buffer_file_is_on_disk_before_it_is_published(tmp_path: Path, journal) -> None:
    path = TrajectoryStore(tmp_path, 100).write(_traj(3, 1.0))
    rename = next(i for i, (kind, what) in enumerate(journal) if kind == "rename")
    tmp_name = journal[rename][1].split(" -> ")[0]
    assert journal[rename - 1] == ("fsync", tmp_name) and journal[rename][1].endswith(path.name)
    assert journal[rename + 1] == ("fsync", "fifo")


class Crash(BaseException):
    """Stands for the process dying at this point."""


def test_a_crash_between_write_and_rename_leaves_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    save_checkpoint(tmp_path, {"w": torch.zeros(2)}, {"epoch": 0})

    def crash(src, dst) -> None:
        shutil.copytree(src, tmp_path / Path(src).name.replace(".tmp", ".x.tmp"))  # what a kill would leave
        raise Crash

    monkeypatch.setattr(fsutil.os, "rename", crash)
    with pytest.raises(Crash):
        save_checkpoint(tmp_path, {"w": torch.ones(2)}, {"epoch": 1})
    monkeypatch.undo()
    leftovers = list(tmp_path.glob(".ckpt_000001.*.tmp"))
    assert leftovers and all((p / "weights.safetensors").exists() for p in leftovers)  # complete but unpublished
    loaded = find_latest(tmp_path)
    assert loaded.name == "ckpt_000000" and loaded.meta == {"epoch": 0} and loaded.rejected == []
    save_checkpoint(tmp_path, {"w": torch.ones(2)}, {"epoch": 1})  # the next save cleans up
    assert not list(tmp_path.glob(".*.tmp")) and load_latest(tmp_path)[1] == {"epoch": 1}


def test_a_crash_between_write_and_rename_leaves_the_buffer_as_it_was(tmp_path: Path, monkeypatch) -> None:
    store = TrajectoryStore(tmp_path, 100)
    first = store.write(_traj(3, 1.0))

    def crash(src, dst) -> None:
        shutil.copy(src, Path(src).with_name(Path(src).name.replace(".tmp", ".x.tmp")))  # a kill leaves the temp
        raise Crash

    monkeypatch.setattr(fsutil.os, "replace", crash)
    with pytest.raises(Crash):
        store.write(_traj(4, 2.0))
    monkeypatch.undo()
    assert [p.name for p in (tmp_path / "fifo").iterdir() if fsutil.is_temp(p)]  # the leftover is there...
    reopened = TrajectoryStore(tmp_path, 100)  # ...the next run ignores it and deletes it
    assert [e.path for e in reopened.index()] == [first] and reopened.removed_partial == 1
    assert not [p for p in (tmp_path / "fifo").iterdir() if fsutil.is_temp(p)]
    assert np.array_equal(reopened.load(first).obs["x"], _traj(3, 1.0).obs["x"])


def test_a_kill_between_publishing_and_the_pointer_update_does_not_go_back(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, {"w": torch.zeros(2)}, {"epoch": 0})
    save_checkpoint(tmp_path, {"w": torch.ones(2)}, {"epoch": 1})
    (tmp_path / "latest.json").write_text(json.dumps({"checkpoint": "ckpt_000000"}))  # not updated yet
    assert find_latest(tmp_path).name == "ckpt_000001"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_newest_checkpoint_is_skipped_and_named(tmp_path: Path, damage: str) -> None:
    save_checkpoint(tmp_path, {"w": torch.zeros(2)}, {"epoch": 0})
    save_checkpoint(tmp_path, {"w": torch.ones(64)}, {"epoch": 1})
    weights = tmp_path / "ckpt_000001" / "weights.safetensors"
    data = weights.read_bytes()
    weights.write_bytes({"truncate": data[: len(data) - 9], "garbage": os.urandom(len(data)), "empty": b""}[damage])
    loaded = find_latest(tmp_path)
    assert loaded.name == "ckpt_000000" and loaded.meta == {"epoch": 0}
    assert len(loaded.rejected) == 1 and loaded.rejected[0].startswith("ckpt_000001: checkpoint")
    (tmp_path / "ckpt_000000" / "meta.json").write_text('{"epoch": ')  # truncated JSON
    with pytest.raises(CheckpointError, match="no readable checkpoint.*Delete the checkpoints folder"):
        find_latest(tmp_path)
