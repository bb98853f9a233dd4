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
    """One row per (task, split) with results: mean, standard error, seeds and the published figure (None where
    the task does not run the published schedule), plus (mean, se) of the sampled-action scores ("sampled", None
    if none) and of each per-task score, e.g. per AIB sign ("per_task": name -> (mean, se))."""
    rows = []
    for task in suite.tasks:
        for split in task.splits:
            runs = [r for r in results if r.task == task.name and split in r.scores]
            if not runs:
                continue
            mean, se = mean_se([r.scores[split] for r in runs])
            sampled = [r.sampled[split] for r in runs if split in r.sampled]
            names = sorted({k for r in runs for k in r.per_task.get(split, {})})
            per_task = {k: mean_se([r.per_task[split][k] for r in runs if k in r.per_task.get(split, {})])
                        for k in names}
            rows.append({"task": task.name, "split": split, "mean": mean, "se": se, "seeds": len(runs),
                         "published": task.published.get(split) if task.published_budget else None,
                         "sampled": mean_se(sampled) if sampled else None, "per_task": per_task})
    return rows


def aggregates(suite: Suite, results: Sequence[RunResult]) -> dict[str, float]:
    """Suite-level figures: normalised IQM per split ("iqm") or mean/median over tasks ("mean-median").

    IQM: one aggregate per task group, ``iqm/<split>`` for the method's tasks, ``iqm-<group>/<split>`` for
    another group (e.g. the AIB's feed-forward encoder, ``iqm-ff``).
    """
    if suite.aggregate == "iqm":
        out = {}
        for group in dict.fromkeys(t.group for t in suite.tasks):
            normalisers = {t.name: t.normaliser for t in suite.tasks if t.normaliser and t.group == group}
            for split in dict.fromkeys(s for t in suite.tasks for s in t.splits):
                values = [r.scores[split] / normalisers[r.task] for r in results
                          if r.task in normalisers and split in r.scores]
                if values:
                    out[f"iqm-{group}/{split}" if group else f"iqm/{split}"] = interquartile_mean(values)
        return out
    if suite.aggregate == "mean-median":
        task_means = [row["mean"] for row in per_task_table(suite, results) if row["split"] == "train"]
        return {"mean": float(np.mean(task_means)), "median": float(np.median(task_means))} if task_means else {}
    return {}


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def _fmt_se(pair: tuple[float, float] | None) -> str:
    return "-" if pair is None else f"{_fmt(pair[0])} +- {_fmt(pair[1])}"


def _banners(suite: Suite, results: Sequence[RunResult]) -> list[str]:
    """What makes the table's runs differ from the suite's budget: scale, changed settings, reduced schedule."""
    scales = sorted({r.budget_scale for r in results})
    lines = []
    if any(s < 1 for s in scales):
        lines += [f"**Not comparable with the published figures: budget scale {', '.join(map(str, scales))} "
                  "of the published env-step budget.**", ""]
    elif any(s > 1 for s in scales):
        lines += [f"**Budget scale {', '.join(map(str, scales))}: longer than the suite's budget (see the env steps "
                  "column).**", ""]
    for changed in sorted({r.overrides for r in results if r.overrides}):
        lines += [f"**Settings changed from the suite's: `{' '.join(changed)}`** "
                  f"({sum(r.overrides == changed for r in results)} of {len(results)} runs).", ""]
    reduced = sorted({r.task for r in results} & {t.name for t in suite.tasks if not t.published_budget})
    if reduced and any(t.published for t in suite.tasks if t.name in reduced):
        lines += [f"**Budget `{suite.budget}`: a reduced schedule, not the published one, so the published "
                  f"figures are not shown beside {', '.join(reduced)}** (they stand beside the published schedule "
                  "only; `icrl bench --list` shows each suite's budgets).", ""]
    return lines


def _table(suite: Suite, results: Sequence[RunResult]) -> list[str]:
    """The per-task table; the vector-steps, sampled and per-task columns only where some run has them."""
    rows = per_task_table(suite, results)
    names = sorted({k for row in rows for k in row["per_task"]})
    spans: dict[str, set[int]] = {}
    vector: dict[str, set[int]] = {}
    for r in results:
        spans.setdefault(r.task, set()).add(r.env_steps)
        vector.setdefault(r.task, set()).add(r.vector_steps)
    show_vector = any(r.vector_steps for r in results)
    show_sampled = any(row["sampled"] for row in rows)

    def span(values: set[int]) -> str:
        return "-".join(f"{n:,}" for n in sorted({min(values), max(values)}))

    head = ["task", "split", "env steps"] + (["vector steps"] if show_vector else []) + ["ours"]
    head += (["sampled"] if show_sampled else []) + names + ["seeds", "published"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["task"], row["split"], span(spans[row["task"]])]
        cells += [span(vector[row["task"]])] if show_vector else []
        cells += [_fmt_se((row["mean"], row["se"]))] + ([_fmt_se(row["sampled"])] if show_sampled else [])
        cells += [_fmt_se(row["per_task"].get(k)) for k in names] + [str(row["seeds"]), _fmt(row["published"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def summary_markdown(suite: Suite, results: Sequence[RunResult]) -> str:
    title = suite.name if suite.budget == "default" else f"{suite.name} (budget {suite.budget})"
    lines = [f"# {title}: {suite.description}", ""] + _banners(suite, results)
    lines += [f"Published figures: {suite.source}. Ours: mean +- standard error over seeds; each seed scores the "
              "better of its last two checkpoints"
              + (" (greedy actions where the task evaluates greedily); 'sampled': the last checkpoint with sampled "
                 "actions" if any(r.sampled for r in results) else "")
              + ("; per-task columns (e.g. the AIB's signs): the better checkpoint's score on the instances of that "
                 "task" if any(r.per_task for r in results) else "") + ".", ""]
    lines += _table(suite, results)
    present = {r.task for r in results}
    for task in suite.tasks:
        if task.note and task.name in present:
            lines += ["", f"{task.name}: {task.note}."]
    agg = aggregates(suite, results)
    if agg:
        comparable = all(t.published_budget for t in suite.tasks if t.name in present)
        published = PUBLISHED_AGGREGATES.get(suite.name, {}) if comparable else {}
        lines += ["", "| aggregate | ours | published |", "|---|---|---|"]
        lines += [f"| {k} | {_fmt(v)} | {_fmt(published.get(k))} |" for k, v in agg.items()]
    return "\n".join(lines) + "\n"


RESULT_COLUMNS = ["task", "seed", "split", "score", "env_steps", "budget_scale", "budget", "vector_steps", "updates",
                  "score_sampled"]  # then score_<name> per task name, e.g. score_inverted, score_normal (AIB signs)


def results_csv(results: Sequence[RunResult]) -> str:
    """One row per (seed, split); empty cells where a run has no such figure."""
    names = sorted({k for r in results for per in r.per_task.values() for k in per})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS + [f"score_{k}" for k in names])

    def fmt(value: float | None) -> str:
        return "" if value is None else f"{value:.6g}"

    for r in results:
        for split, score in r.scores.items():
            per = r.per_task.get(split, {})
            writer.writerow([r.task, r.seed, split, fmt(score), r.env_steps, r.budget_scale, r.budget,
                             r.vector_steps or "", r.updates or "", fmt(r.sampled.get(split))]
                            + [fmt(per.get(k)) for k in names])
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
