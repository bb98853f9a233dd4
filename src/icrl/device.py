"""The one place that decides the device and the accelerations used on it."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass

import torch

from icrl.errors import ConfigError


@dataclass(frozen=True)
class DeviceSetup:
    device: torch.device
    amp: bool  # bf16 autocast for the learner (CUDA with bf16 support only)


_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc mallopt parameters
_allocator_tuned = False


def tune_cpu_allocator() -> bool:
    """Keep freed tensor memory in glibc's heap instead of returning it to the OS after every update.

    By default glibc serves blocks above a dynamic threshold with fresh ``mmap`` pages and unmaps them on free,
    so every training step page-faults its activations in again; on a 2-core CPU that costs about 10% of
    the update time. Raising the mmap and trim thresholds lets the heap reuse that memory. Linux/glibc only;
    a no-op elsewhere, when the user set ``MALLOC_*`` variables, or with ``ICRL_NO_MALLOPT=1``.
    """
    global _allocator_tuned
    if _allocator_tuned or not sys.platform.startswith("linux") or os.environ.get("ICRL_NO_MALLOPT") == "1":
        return _allocator_tuned
    if any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = (libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
              and libc.mallopt(_M_TOP_PAD, 64 << 20) == 1)
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    _allocator_tuned = ok
    return ok


def pick_device(name: str = "auto", threads: int = 0) -> DeviceSetup:
    """``auto`` picks CUDA when present, else CPU. CPU runs stay in fp32 (bf16 is slower on most CPUs)."""
    tune_cpu_allocator()
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
