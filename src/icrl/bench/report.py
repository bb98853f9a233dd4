"""Suite results as tables and plots: ``results.csv``, ``summary.md`` and ``curves_<task>.png``.

Per task and split: mean +- standard error over seeds of the run scores (AER for AIB), beside the published
figure. Suite aggregates: AIB divides each score by the task's normaliser and takes the interquartile mean over
all (task, seed) scores of a split, as Benad et al. do; POPGym reports the mean and median over tasks.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from icrl.bench.runner import RunResult
from icrl.bench.suites import PUBLISHED_AGGREGATES, Suite
from icrl.fsutil import atomic_write_text
from icrl.train.logging import read_metrics
from icrl.train.plots import env_steps_axis, pyplot, save_png


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std / sqrt(n); 0 for a single value)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0
    return float(x.mean()), se


def interquartile_mean(values: Sequence[float]) -> float:
    """Mean of the middle half: drop floor(n/4) values at each end of the sorted list (scipy's trim_mean)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    cut = int(0.25 * x.size)
    return float(x[cut:x.size - cut].mean()) if x.size else math.nan


def per_task_table(suite: Suite, results: Sequence[RunResult]) -> list[dict]:
    """One row per (task, split) with results: mean, standard error, seeds and the published figure."""
    rows = []
    for task in suite.tasks:
        for split in task.splits:
            scores = [r.scores[split] for r in results if r.task == task.name and split in r.scores]
            if not scores:
                continue
            mean, se = mean_se(scores)
            rows.append({"task": task.name, "split": split, "mean": mean, "se": se, "seeds": len(scores),
                         "published": task.published.get(split)})
    return rows


def aggregates(suite: Suite, results: Sequence[RunResult]) -> dict[str, float]:
    """Suite-level figures: normalised IQM per split ("iqm") or mean/median over tasks ("mean-median")."""
    if suite.aggregate == "iqm":
        out = {}
        normalisers = {t.name: t.normaliser for t in suite.tasks if t.normaliser}
        for split in dict.fromkeys(s for t in suite.tasks for s in t.splits):
            values = [r.scores[split] / normalisers[r.task] for r in results
                      if r.task in normalisers and split in r.scores]
            if values:
                out[f"iqm/{split}"] = interquartile_mean(values)
        return out
    if suite.aggregate == "mean-median":
        task_means = [row["mean"] for row in per_task_table(suite, results) if row["split"] == "train"]
        return {"mean": float(np.mean(task_means)), "median": float(np.median(task_means))} if task_means else {}
    return {}


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def summary_markdown(suite: Suite, results: Sequence[RunResult]) -> str:
    scales = sorted({r.budget_scale for r in results})
    lines = [f"# {suite.name}: {suite.description}", ""]
    if any(s < 1 for s in scales):
        lines += [f"**Not comparable with the published figures: budget scale {', '.join(map(str, scales))} "
                  "of the published env-step budget.**", ""]
    elif any(s > 1 for s in scales):
        lines += [f"**Budget scale {', '.join(map(str, scales))}: longer than the suite's budget (see the env steps "
                  "column).**", ""]
    for changed in sorted({r.overrides for r in results if r.overrides}):
        lines += [f"**Settings changed from the suite's: `{' '.join(changed)}`** "
                  f"({sum(r.overrides == changed for r in results)} of {len(results)} runs).", ""]
    lines += [f"Published figures: {suite.source}. Ours: mean +- standard error over seeds; each seed scores the "
              "better of its last two checkpoints.", "",
              "| task | split | env steps | ours | seeds | published |", "|---|---|---|---|---|---|"]
    spans: dict[str, set[int]] = {}
    for r in results:
        spans.setdefault(r.task, set()).add(r.env_steps)
    steps = {task: "-".join(f"{n:,}" for n in sorted({min(s), max(s)})) for task, s in spans.items()}
    for row in per_task_table(suite, results):
        lines.append(f"| {row['task']} | {row['split']} | {steps[row['task']]} | {_fmt(row['mean'])} +- "
                     f"{_fmt(row['se'])} | {row['seeds']} | {_fmt(row['published'])} |")
    for task in suite.tasks:
        if task.note and task.name in steps:
            lines += ["", f"{task.name}: {task.note}."]
    agg = aggregates(suite, results)
    if agg:
        published = PUBLISHED_AGGREGATES.get(suite.name, {})
        lines += ["", "| aggregate | ours | published |", "|---|---|---|"]
        lines += [f"| {k} | {_fmt(v)} | {_fmt(published.get(k))} |" for k, v in agg.items()]
    return "\n".join(lines) + "\n"


def results_csv(results: Sequence[RunResult]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["task", "seed", "split", "score", "env_steps", "budget_scale"])
    for r in results:
        for split, score in r.scores.items():
            writer.writerow([r.task, r.seed, split, f"{score:.6g}", r.env_steps, r.budget_scale])
    return buf.getvalue()


def plot_curves(suite: Suite, results: Sequence[RunResult], out: Path) -> list[Path]:
    """One PNG per task: training-time evaluation score against env steps, one line per seed."""
    plt = pyplot()
    written = []
    for task in suite.tasks:
        runs = [r for r in results if r.task == task.name]
        if not runs:
            continue
        fig, ax = plt.subplots(figsize=(4.8, 3.4))
        for r in runs:
            key = f"eval/{task.metric}"
            pts = [(m["env_steps"], m[key] * task.score_scale) for m in read_metrics(r.run_dir) if key in m]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.4, label=f"seed {r.seed}")
        for split, value in task.published.items():
            ax.axhline(value, ls="--", color="gray", lw=1)
            ax.annotate(f"published ({split})", (0, value), fontsize=7, color="gray", va="bottom")
        env_steps_axis(ax)
        ax.set_ylabel(f"evaluation {task.metric} (train split)")
        ax.set_title(f"{suite.name}: {task.name}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        try:
            written.append(save_png(fig, out / f"curves_{task.name}.png"))
        finally:
            plt.close(fig)
    return written


def write_report(suite: Suite, results: Sequence[RunResult], out: Path) -> list[Path]:
    """Write ``results.csv``, ``summary.md`` and the curves; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.csv", results_csv(results))
    atomic_write_text(out / "summary.md", summary_markdown(suite, results))
    return [out / "results.csv", out / "summary.md", *plot_curves(suite, results, out)]
