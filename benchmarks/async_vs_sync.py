"""Wall time to a success threshold: the synchronous loop against async mode, run one after the other.

Trains (or resumes) RUNS/sync and then RUNS/async with the same settings (by default the README's main command,
Meta-Frozen-Lake, each for ``--minutes``), then prints, for each, when evaluation first reached ``--metric`` >=
``--threshold`` and when the mean of two consecutive evaluations first did (less sensitive to one lucky
evaluation), with the async/sync ratio, and plots both curves against wall time (RUNS/async_vs_sync.png).
Async evaluations are timed when the learner logs them (after the evaluator finished), which counts against it.

    .venv/bin/python benchmarks/async_vs_sync.py runs/mfl27 --minutes 25
    .venv/bin/python benchmarks/async_vs_sync.py runs/mfl27 --no-train          # only the report
"""

from __future__ import annotations

import argparse
from pathlib import Path

from icrl.config import RunConfig, apply_overrides
from icrl.train.logging import read_metrics

VARIANTS = {"sync": [], "async": ["train.mode=async"]}


def evaluations(run_dir: Path, metric: str) -> list[tuple[float, float, float, float]]:
    """(minutes, env steps, updates, metric) of every evaluation row."""
    return [(r["time/total"] / 60, r["env_steps"], r["updates"], r[metric]) for r in read_metrics(run_dir)
            if metric in r]


def first_reach(rows: list[tuple], threshold: float, window: int) -> tuple | None:
    """The row at which the mean of ``window`` consecutive evaluations first reached ``threshold`` (the last row
    of the window), or None."""
    for i in range(window - 1, len(rows)):
        if sum(r[3] for r in rows[i - window + 1:i + 1]) / window >= threshold:
            return rows[i]
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, help="folder of the two run directories (sync, async)")
    p.add_argument("--minutes", type=float, default=25.0, help="train.time_limit_min of each run")
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--metric", default="eval/success_after_first")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--no-train", action="store_true", help="report on existing runs only")
    p.add_argument("overrides", nargs="*", help="config overrides for both runs")
    args = p.parse_args()
    if not args.no_train:
        from icrl.train import train

        for name, extra in VARIANTS.items():  # one after the other: they must not share the CPU
            extra = [*extra, f"train.actors={args.actors}"] if name == "async" else extra
            cfg = apply_overrides(RunConfig(), [*args.overrides, *extra, f"train.time_limit_min={args.minutes}"])
            train(cfg, args.runs / name, progress="off")
    found = {name: evaluations(args.runs / name, args.metric) for name in VARIANTS}
    print(f"{args.metric} >= {args.threshold}: minutes (env steps, updates) when first reached")
    print(f"{'run':>6} {'one evaluation':>26} {'mean of two':>26} {'last':>6} {'updates/min':>11}")
    reached = {}
    for name, rows in found.items():
        if not rows:
            raise SystemExit(f"no evaluation rows with {args.metric} in {args.runs / name}")
        cells = []
        for window in (1, 2):
            hit = first_reach(rows, args.threshold, window)
            reached[name, window] = hit[0] if hit else None
            cells.append(f"{hit[0]:6.2f} ({hit[1]:7.0f}, {hit[2]:5.0f})" if hit else "not reached")
        rate = rows[-1][2] / rows[-1][0]
        print(f"{name:>6} {cells[0]:>26} {cells[1]:>26} {rows[-1][3]:6.3f} {rate:11.1f}")
    for window, label in ((1, "one evaluation"), (2, "mean of two")):
        s, a = reached["sync", window], reached["async", window]
        if s and a:
            print(f"async / sync wall time ({label}): {a / s:.2f}")
    _plot(found, args)


def _plot(found: dict, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, rows in found.items():
        ax.plot([r[0] for r in rows], [r[3] for r in rows], marker=".", label=name)
    ax.axhline(args.threshold, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("wall time (minutes)")
    ax.set_ylabel(args.metric)
    ax.legend()
    fig.tight_layout()
    out = args.runs / "async_vs_sync.png"
    fig.savefig(out, dpi=120)
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
