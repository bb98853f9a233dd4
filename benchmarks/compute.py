"""Compute cost of the Transformer agent: learner updates/s and peak memory against window length and width,
and per-step rollout latency with the KV cache against context length.

Every configuration runs in a fresh subprocess so that its peak memory (max RSS on CPU, peak allocated on
CUDA) is its own. The learner's precision follows ``train.precision=auto`` (bf16 autocast on GPUs and on CPUs with
native bf16, fp32 elsewhere; ``--precision`` forces one); ``--compile`` adds ``torch.compile``. Synthetic data:
8-dim observations, 4 discrete actions, full-length windows.

    .venv/bin/python benchmarks/compute.py                       # CPU table (2 cores: a few minutes)
    .venv/bin/python benchmarks/compute.py --windows 128 512 --widths 128 --batch 8
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch


def _agent_and_learner(window: int, width: int, batch: int, device: torch.device, amp: bool, compile_: bool):
    from icrl.agent import make_agent
    from icrl.config import RunConfig, apply_overrides
    from icrl.learn import Learner
    from icrl.spaces import ActionSpec, ObsSpec

    cfg = apply_overrides(RunConfig(), [f"model.d_model={width}", f"learn.batch_size={batch}"])
    agent = make_agent(cfg, ObsSpec({"x": (8,)}, {"x": "float32"}), ActionSpec("discrete", (4,)), window,
                       window + 1).to(device)
    if compile_:
        agent.sequence = torch.compile(agent.sequence)
    return agent, Learner(agent, cfg.learn, amp=amp)


def _batch(window: int, batch: int, device: torch.device):
    from icrl.records import Batch

    actions = torch.nn.functional.one_hot(torch.randint(4, (batch, window)), 4).float()
    return Batch({"x": torch.randn(batch, window, 8)}, actions, torch.randn(batch, window),
                 torch.arange(window).repeat(batch, 1), torch.zeros(batch, window, dtype=torch.bool),
                 torch.ones(batch, window, dtype=torch.bool)).to(device)


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_update(window: int, width: int, batch: int, updates: int, compile_: bool, precision: str) -> dict:
    from icrl.device import use_bf16

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = use_bf16(device, precision)
    agent, learner = _agent_and_learner(window, width, batch, device, amp, compile_)
    data = _batch(window, batch, device)
    for _ in range(2):
        learner.update(data)
    rates = []
    for _ in range(3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(updates):
            learner.update(data)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(updates / (time.perf_counter() - start))
    return {"updates_per_s": statistics.median(rates), "peak_mb": _peak_mb(device)}


def measure_step(context: int, width: int, envs: int, steps: int) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    agent, _ = _agent_and_learner(context, width, 1, device, False, False)
    agent.eval()
    state = agent.initial_state(envs, device)
    obs = {"x": torch.randn(envs, 8, device=device)}
    prev_a = torch.zeros(envs, 4, device=device)
    r = torch.zeros(envs, device=device)
    reset = torch.zeros(envs, dtype=torch.bool, device=device)
    times = []
    for t in range(context + steps):  # fill the cache, then time steps at full context
        start = time.perf_counter()
        _, state = agent.act(obs, prev_a, r, torch.full((envs,), t, device=device), reset, state)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if t >= context:
            times.append(time.perf_counter() - start)
    return {"step_ms": 1000 * statistics.median(times)}


def _run_child(kind: str, **kw) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps({"kind": kind, **kw})]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--windows", type=int, nargs="+", default=[128, 256, 512, 1024, 2048, 4096])
    p.add_argument("--widths", type=int, nargs="+", default=[128, 256])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--updates", type=int, default=3)
    p.add_argument("--envs", type=int, default=24, help="parallel envs stepped per rollout step")
    p.add_argument("--steps", type=int, default=30, help="timed rollout steps at full context")
    p.add_argument("--compile", action="store_true", help="torch.compile the sequence model (GPU)")
    p.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"), help="the learner's precision")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        spec = json.loads(args.child)
        kind = spec.pop("kind")
        result = measure_update(**spec) if kind == "update" else measure_step(**spec)
        print(json.dumps(result))
        return
    from icrl.device import use_bf16

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = "cuda " + torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    bf16 = use_bf16(device, args.precision)
    print(f"machine: torch {torch.__version__}, {torch.get_num_threads()} threads, {name}"
          + (" (learner in bf16 autocast)" if bf16 else " (learner in fp32)"))
    print(f"\nlearner updates (batch {args.batch}, 3 layers, full windows; median of 3 x {args.updates} updates)")
    print(f"{'width':>6} {'window':>7} {'updates/s':>10} {'tokens/s':>10} {'peak MB':>9}")
    for width in args.widths:
        for window in args.windows:
            r = _run_child("update", window=window, width=width, batch=args.batch, updates=args.updates,
                           compile_=args.compile, precision=args.precision)
            if "error" in r:
                print(f"{width:>6} {window:>7}  failed: {r['error']}")
                continue
            tokens = r["updates_per_s"] * window * args.batch
            print(f"{width:>6} {window:>7} {r['updates_per_s']:>10.3f} {tokens:>10.0f} {r['peak_mb']:>9.0f}")
    print(f"\nrollout step with the KV cache ({args.envs} envs; median over {args.steps} steps at full context)")
    print(f"{'width':>6} {'context':>7} {'ms/step':>8}")
    for width in args.widths:
        for window in args.windows:
            r = _run_child("step", context=window, width=width, envs=args.envs, steps=args.steps)
            msg = f"{r['step_ms']:>8.2f}" if "error" not in r else f" failed: {r['error']}"
            print(f"{width:>6} {window:>7} {msg}")


if __name__ == "__main__":
    main()
