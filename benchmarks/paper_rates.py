"""Seconds per update and per vector step of the AIB tasks at the paper budget (``icrl bench aib --budget paper``).

For each task: build the run's parts from its paper settings (``train.threads`` as given), collect one whole
episode on each of the 20 train envs (``horizon`` vector steps, timed: seconds per vector step, the policy's
inference and exploration included; ``--steps N`` collects N steps instead, stored as chunks of N / 2 steps when
N is shorter than an episode, which leaves the windows of the update as they are), store them, run 3 warm-up
updates, then time ``--updates`` updates (seconds per update, sampling and the background loader included).
Each figure is the median of ``--repeats`` timings (the collection split into as many parts), printed with their
range: on a CPU shared with other work the spread says how far to trust it. The figures go into ``DI_UPDATE_S`` etc. in
``src/icrl/bench/suites.py``, from which ``icrl bench --list`` derives the expected hours.

    PYTHONPATH=src .venv/bin/python benchmarks/paper_rates.py                  # every task whose env is installed
    PYTHONPATH=src .venv/bin/python benchmarks/paper_rates.py di di-ff --updates 50
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from icrl.bench.suites import get_suite
from icrl.config import apply_overrides
from icrl.train.parts import make_parts


def _median_time(fn, repeats: int) -> tuple[float, float, float]:
    """Median, min and max wall time of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def measure(name: str, updates: int, threads: int, steps: int = 0, repeats: int = 3) -> dict[str, tuple]:
    """Seconds per update and per vector step of one task of the paper budget: (median, min, max) over
    ``repeats`` timings of ``updates`` updates and of ``steps / repeats`` vector steps."""
    task = get_suite("aib", "paper").task(name)
    cfg = task.config(0, threads=threads)
    steps = steps or task.horizon
    if steps < task.horizon:
        cfg = apply_overrides(cfg, [f"env.chunk_len={steps // 2}"])
    with tempfile.TemporaryDirectory() as tmp:
        parts = make_parts(cfg, Path(tmp))
        try:
            trajs: list = []

            def collect() -> None:
                trajs.extend(parts.collector.collect(steps // repeats)[0])

            collect_s = _median_time(collect, repeats)
            while not trajs:  # the last episode (or chunk) of an env ends a step after the timed ones
                trajs.extend(parts.collector.collect(1)[0])
            for traj in trajs:
                parts.store.write(traj)
            parts.prefetcher.refresh()

            def update(n: int = updates) -> None:
                for _ in range(n):
                    parts.learner.update(parts.prefetcher.get().to(parts.setup.device))

            update(3)  # warm-up
            update_s = _median_time(update, repeats)
        finally:
            parts.close()
    return {"update_s": tuple(t / updates for t in update_s),
            "vector_step_s": tuple(t / (steps // repeats) for t in collect_s)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tasks", nargs="*", help="task names of the paper budget (default: all)")
    p.add_argument("--updates", type=int, default=30, help="timed updates per task")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (train.threads)")
    p.add_argument("--steps", type=int, default=0, help="vector steps collected (default: one whole episode)")
    p.add_argument("--repeats", type=int, default=3, help="timings per figure (median reported)")
    args = p.parse_args()
    names = args.tasks or [t.name for t in get_suite("aib", "paper").tasks]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"torch {torch.__version__}, {args.threads} threads; {args.repeats} x {args.updates} timed updates per "
          f"task; {time.strftime('%Y-%m-%d %H:%M')}; load average {load}", flush=True)
    for name in names:
        try:
            m = measure(name, args.updates, args.threads, args.steps, args.repeats)
        except Exception as err:  # an env that is not installed (or not merged yet): say so, go on
            print(f"{name:<16} not measured: {type(err).__name__}: {err}", flush=True)
            continue
        (u, u_lo, u_hi), (v, v_lo, v_hi) = m["update_s"], m["vector_step_s"]
        print(f"{name:<16} {u:.3f} s/update ({u_lo:.3f}-{u_hi:.3f}; {1 / u:.2f} updates/s)  {v:.4f} s/vector step "
              f"({v_lo:.4f}-{v_hi:.4f}; {20 / v:.0f} env steps/s)", flush=True)


if __name__ == "__main__":
    main()
