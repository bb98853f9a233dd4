"""Forward + backward time of the Mamba sequence model's full pass, per scan backend, on one window.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mamba_scan.py [--length 500] [--batch 24] [--layers 2]
        [--d-state 16] [--repeats 3]

Prints the median and range over repeats, per backend ("sequential", "chunked"), and the largest output
difference between them (they compute the same function).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from icrl.device import flush_denormals
from icrl.nets.sequence.mamba import Mamba


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--length", type=int, default=500)
    p.add_argument("--batch", type=int, default=24)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d-state", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    flush_denormals()  # as training does: decays underflow, and subnormal arithmetic is ~100x slower on x86
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.length, 32)
    t = torch.zeros(args.batch, args.length, dtype=torch.long)
    outs = {}
    print(f"window {args.length}, batch {args.batch}, {args.layers} layers x {args.d_model}, d_state {args.d_state}, "
          f"threads {torch.get_num_threads()}")
    for scan in ("sequential", "chunked"):
        torch.manual_seed(1)
        model = Mamba(32, args.d_model, args.layers, d_state=args.d_state, scan=scan)
        fwd, bwd = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            y = model(x, t)
            mid = time.perf_counter()
            y.square().mean().backward()
            fwd.append(mid - start)
            bwd.append(time.perf_counter() - mid)
        outs[scan] = y.detach()
        print(f"{scan:>10}: forward {statistics.median(fwd):.3f} s ({min(fwd):.3f}-{max(fwd):.3f}), "
              f"backward {statistics.median(bwd):.3f} s ({min(bwd):.3f}-{max(bwd):.3f})")
    print(f"max |sequential - chunked| = {(outs['sequential'] - outs['chunked']).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
