"""Checkpoints: tensors in safetensors, everything else in JSON; written atomically; nothing is ever unpickled.

Layout under the checkpoint directory::

    ckpt_000012/weights.safetensors   tensors: "agent.<param>", "learner.<statistic>", "optimizer.<i>.<state>",
                                      "rng.torch", ...
    ckpt_000012/meta.json             counters, schedules, optimiser hyper-parameters, RNG states, ...
    latest.json                       {"checkpoint": "ckpt_000012"}

Checkpoints of earlier versions kept the PopArt statistics and the entropy temperature in the agent
("agent.popart.*", "agent.temperature.*"); reading one renames them to where the learner keeps them now
(``LEGACY_PREFIXES``), so earlier runs resume and evaluate unchanged.

A checkpoint directory is filled under a temporary name, its files and itself fsynced, and renamed into place
(the commit point: the rename is fsynced before anything else happens), then ``latest.json`` is replaced
atomically (a pointer for people and tools). A kill or a power loss at any moment therefore leaves every
published checkpoint complete. Loading takes the newest readable checkpoint directory and falls back to an
older one when it is unreadable (disk damage); the last ``keep`` checkpoints are kept, older ones are renamed
away before they are deleted, so no reader ever meets a half-deleted one. Temporary directories a killed save
left behind are never read, and deleted by the next save or by ``remove_temps``.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from icrl.errors import CheckpointError
from icrl.fsutil import atomic_write_text, discard_dir, publish_dir, remove_temps, temp_path

LATEST = "latest.json"
# earlier key prefix -> current one; applied to every checkpoint read
LEGACY_PREFIXES = {"agent.popart.": "learner.popart.", "agent.temperature.": "learner.temperature."}


def _ckpt_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("ckpt_*") if p.is_dir() and p.name[5:].isdigit())


def save_checkpoint(root: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any], keep: int = 2) -> Path:
    """Write a new checkpoint, point ``latest.json`` at it, delete all but the newest ``keep``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    existing = _ckpt_dirs(root)
    number = int(existing[-1].name[5:]) + 1 if existing else 0
    final = root / f"ckpt_{number:06d}"
    tmp = temp_path(final)
    tmp.mkdir()
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / "weights.safetensors"))
        (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True))
        publish_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(root / LATEST, json.dumps({"checkpoint": final.name}))
    for old in _ckpt_dirs(root)[:-keep]:
        discard_dir(old)
    remove_temps(root)  # left by a save or a deletion that was killed
    return final


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    try:
        tensors = load_file(str(path / "weights.safetensors"))
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, SafetensorError, json.JSONDecodeError, ValueError) as err:
        raise CheckpointError(f"checkpoint {path} is unreadable ({err})") from err
    return upgrade_keys(tensors), meta


def upgrade_keys(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors under their current keys: earlier layouts' keys renamed (``LEGACY_PREFIXES``)."""
    upgraded = {}
    for key, value in tensors.items():
        old = next((prefix for prefix in LEGACY_PREFIXES if key.startswith(prefix)), None)
        new_key = key if old is None else LEGACY_PREFIXES[old] + key[len(old):]
        if new_key in tensors and new_key != key:
            raise CheckpointError(f"checkpoint holds both {key!r} (an earlier layout) and {new_key!r}; it was not "
                                  "written by icrl. Delete the checkpoints folder to restart the run from scratch.")
        upgraded[new_key] = value
    return upgraded


@dataclass
class Loaded:
    """A checkpoint as read back, and the newer ones that had to be skipped because they were unreadable."""

    name: str
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    rejected: list[str] = field(default_factory=list)  # "<name>: <why>", newest first


def find_latest(root: Path) -> Loaded | None:
    """The newest readable checkpoint with the names of newer unreadable ones; None when there is none at all.

    The newest directory wins even when ``latest.json`` still names the one before: its rename is the commit
    point, and a kill between the rename and the pointer update must not send the run back a checkpoint.
    """
    rejected = []
    for path in _ckpt_dirs(Path(root))[::-1]:
        try:
            tensors, meta = _read(path)
        except CheckpointError as err:
            rejected.append(f"{path.name}: {err}")
            continue
        return Loaded(path.name, tensors, meta, rejected)
    if rejected:
        raise CheckpointError("no readable checkpoint: " + "; ".join(rejected) + ". Delete the checkpoints folder "
                              "to restart the run from scratch.")
    return None


def load_latest(root: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """(tensors, meta) of the newest readable checkpoint, or None when there is none at all."""
    loaded = find_latest(root)
    return None if loaded is None else (loaded.tensors, loaded.meta)


def load_latest_named(root: Path) -> tuple[str, dict[str, torch.Tensor], dict[str, Any]] | None:
    """``load_latest`` with the name of the checkpoint it read (``ckpt_000012``)."""
    loaded = find_latest(root)
    return None if loaded is None else (loaded.name, loaded.tensors, loaded.meta)


def list_checkpoints(root: Path) -> list[str]:
    """Names of the finished checkpoints under ``root``, oldest first."""
    return [p.name for p in _ckpt_dirs(Path(root))]


def load_checkpoint(root: Path, name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """One named checkpoint (e.g. ``ckpt_000012``); CheckpointError if missing or unreadable."""
    path = Path(root) / name
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint {name!r} in {root}; available: {list_checkpoints(root)}.")
    return _read(path)


def module_state(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module_state(prefix: str, module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Strict load of ``prefix.*`` tensors; a mismatch names the missing and unexpected keys."""
    start = len(prefix) + 1
    state = {k[start:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint does not fit the model built from the config: {err}") from err


def optimizer_state(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Per-parameter state tensors to safetensors; param groups and scalar state to JSON."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{idx}.{name}"] = value
            else:
                scalars[f"{idx}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                         meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    start = len(prefix) + 1
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[start:].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    for key, value in meta["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"optimiser state does not fit the model: {err}") from err


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """Python, NumPy, torch (and CUDA) generator states."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, st in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = st
    version, internal, gauss = random.getstate()
    return tensors, {"python": [version, list(internal), gauss], "numpy": _numpy_state()}


def _numpy_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "cached": cached}


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
    npst = meta["numpy"]
    np.random.set_state((npst["name"], np.array(npst["keys"], dtype=np.uint32), npst["pos"], npst["has_gauss"],
                         npst["cached"]))
