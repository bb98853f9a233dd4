"""Learner updates/s and rollout env steps/s for a run config (default: Meta-Frozen-Lake).

Default config: batch 24, whole-rollout windows (126 observations), Transformer 3 layers x width 128,
24 parallel envs. Prints the median and spread over repeated measurements, the FLOPs of one update (torch's
flop counter) and the share of this machine's measured matmul peak in the learner's precision that the updates
reach. The AIB double integrator at the paper budget's shape:

    .venv/bin/python benchmarks/throughput.py env.name=aib/di model.max_seq_len=24 env.num_envs=20
    .venv/bin/python benchmarks/throughput.py [--repeats 5] [--updates 20] [--steps 100] [overrides ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from icrl.config import RunConfig, apply_overrides
from icrl.train.parts import make_parts


def _median_rate(fn, count: int, repeats: int) -> tuple[float, float, float]:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(count)
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates), min(rates), max(rates)


def update_flops(parts) -> float:
    """FLOPs of one learner update (forward and backward), counted by torch on one batch."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        parts.learner.update(parts.prefetcher.get().to(parts.setup.device))
    return float(counter.get_total_flops())


def matmul_peak(dtype: torch.dtype, device: torch.device, size: int = 3072, repeats: int = 10) -> float:
    """Best FLOP/s of a square matmul in ``dtype`` over ``repeats``: this machine's practical peak for the learner's
    matmuls (the best, since single bf16 timings on our shared CPU varied 2-3x from run to run)."""
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    a @ b
    best = 0.0
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * size**3 / (time.perf_counter() - start))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--updates", type=int, default=20)
    p.add_argument("--steps", type=int, default=100)
    args = p.parse_args()
    cfg = apply_overrides(RunConfig(), args.overrides)
    with tempfile.TemporaryDirectory() as tmp:
        parts = make_parts(cfg, Path(tmp))
        try:
            trajs, _ = parts.collector.collect(300)  # fill the buffer with whole rollouts first
            for t in trajs:
                parts.store.write(t)
            parts.prefetcher.refresh()

            def collect(n: int) -> None:
                parts.collector.collect(n)

            def update(n: int) -> None:
                for _ in range(n):
                    parts.learner.update(parts.prefetcher.get().to(parts.setup.device))

            update(3)  # warm-up
            flops = update_flops(parts)
            upd = _median_rate(update, args.updates, args.repeats)
            steps = _median_rate(collect, args.steps, args.repeats)
            dtype = torch.bfloat16 if parts.setup.amp else torch.float32
            peak = matmul_peak(dtype, parts.setup.device)
        finally:
            parts.close()
    n_envs = cfg.env.num_envs
    print(f"machine: torch {torch.__version__}, {torch.get_num_threads()} threads, device {parts.setup.device}")
    print(f"config: env={cfg.env.name} {cfg.env.kwargs} batch={cfg.learn.batch_size} "
          f"window={parts.env.max_seq_len} obs, {cfg.model.sequence} {cfg.model.n_layers}x{cfg.model.d_model}, "
          f"{n_envs} envs")
    precision = "bf16 autocast" if parts.setup.amp else "fp32"
    print(f"learner precision : {precision} (train.precision={cfg.train.precision})")
    print(f"learner updates/s : median {upd[0]:.2f} (min {upd[1]:.2f}, max {upd[2]:.2f}) over {args.repeats} x "
          f"{args.updates} updates")
    print(f"learner compute   : {flops / 1e9:.1f} GFLOP per update, {flops * upd[0] / 1e9:.0f} GFLOP/s = "
          f"{100 * flops * upd[0] / peak:.0f}% of the measured {precision.split()[0]} matmul peak "
          f"({peak / 1e9:.0f} GFLOP/s, {torch.get_num_threads()} threads)")
    print(f"rollout env steps/s: median {steps[0] * n_envs:.0f} (min {steps[1] * n_envs:.0f}, "
          f"max {steps[2] * n_envs:.0f}) over {args.repeats} x {args.steps} batched steps")


if __name__ == "__main__":
    main()
