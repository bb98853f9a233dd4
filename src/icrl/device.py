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
    amp: bool  # bf16 autocast for the learner's forward pass (train.precision)


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


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matmuls natively (AMX or AVX-512 BF16), read from /proc/cpuinfo.

    On such CPUs a bf16 matmul runs several times faster than fp32 (our AMX Xeon: 2.2 TFLOP/s against 0.31 on two
    cores); elsewhere torch emulates bf16 and autocast makes the learner slower, so only Linux CPUs that list a
    flag count.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def use_bf16(device: torch.device, precision: str = "auto") -> bool:
    """``train.precision``: "bf16" and "fp32" force a choice; "auto" takes bf16 where the hardware has it natively
    (CUDA with bf16 support, CPUs with AMX / AVX-512 BF16) and fp32 elsewhere."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ConfigError(f"train.precision={precision!r} is invalid: allowed 'auto', 'bf16' or 'fp32'.")
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_native_bf16()


def flush_denormals() -> bool:
    """Treat subnormal floats (|x| < 1.2e-38) as zero on this CPU thread (FTZ/DAZ); False where unsupported.

    Adam's second-moment estimates of tiny gradients fall into the subnormal range, and x86 CPUs compute on
    subnormals through microcode, ~100x slower: with the AIB paper budget's networks one update took 4.6 s of CPU
    time instead of 0.27 s. Values that small carry no information for training.
    """
    return torch.set_flush_denormal(True)


def pick_device(name: str = "auto", threads: int = 0, precision: str = "auto") -> DeviceSetup:
    """``auto`` picks CUDA when present, else CPU; the learner's precision follows ``use_bf16``."""
    tune_cpu_allocator()
    if threads:
        torch.set_num_threads(threads)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("train.device asks for CUDA but torch sees no GPU; use train.device=cpu or auto.")
    device = torch.device(name)
    if device.type == "cpu":
        flush_denormals()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return DeviceSetup(device, use_bf16(device, precision))
