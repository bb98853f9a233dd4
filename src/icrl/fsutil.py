"""Atomic, durable file writes: a temporary file in the same directory, fsync, ``os.replace``, fsync the directory.

A reader never sees a half-written file under its final name, whether the process is killed (the rename has not
happened) or the machine loses power (the data is on disk before the rename is, and the rename is on disk
before the writer goes on). Temporary names start with "." and end with ".tmp" so listers skip them; whoever
owns a directory deletes the ones a killed writer left (``remove_temps``).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def temp_path(path: Path) -> Path:
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"


def is_temp(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".tmp")


def fsync_file(path: Path) -> None:
    """Flush a written file's data to disk."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(directory: Path) -> None:
    """Flush a directory's entries (a rename or a new file in it) to disk; a no-op where directories cannot be
    opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(path: Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp)`` to write a temporary file, then move it to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        writer(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def publish_dir(tmp: Path, final: Path) -> None:
    """Make the fully written directory ``tmp`` appear as ``final``: fsync its files and itself, rename, fsync
    the parent. ``final`` must not exist."""
    for f in tmp.iterdir():
        if f.is_file():
            fsync_file(f)
    fsync_dir(tmp)
    os.rename(tmp, final)
    fsync_dir(final.parent)


def discard_dir(path: Path) -> None:
    """Delete a directory so that no reader ever sees it half deleted: rename it to a temporary name first."""
    doomed = temp_path(path)
    try:
        os.rename(path, doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


def remove_temps(directory: Path) -> int:
    """Delete the temporary files and directories a killed writer left in ``directory``; how many."""
    stale = [p for p in Path(directory).iterdir() if is_temp(p)]
    for p in stale:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return len(stale)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_save(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def read_jsonl(path: Path) -> list[dict]:
    """Every complete line of a JSON-lines file that appends rows (an unfinished line, from a kill, is skipped);
    an absent file has none."""
    rows = []
    if Path(path).exists():
        for line in Path(path).read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows
