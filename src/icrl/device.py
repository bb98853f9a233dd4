"""The one place that decides the device and the accelerations used on it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from icrl.errors import ConfigError


@dataclass(frozen=True)
class DeviceSetup:
    device: torch.device
    amp: bool  # bf16 autocast for the learner (CUDA with bf16 support only)


def pick_device(name: str = "auto", threads: int = 0) -> DeviceSetup:
    """``auto`` picks CUDA when present, else CPU. CPU runs stay in fp32 (bf16 is slower on most CPUs)."""
    if threads:
        torch.set_num_threads(threads)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("train.device asks for CUDA but torch sees no GPU; use train.device=cpu or auto.")
    device = torch.device(name)
    amp = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return DeviceSetup(device, amp)
