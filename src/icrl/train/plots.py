"""Paper-ready PNGs of a run: the learning curve and success (or return) per attempt; written atomically."""

from __future__ import annotations

import re
from pathlib import Path

from icrl.errors import ICRLError
from icrl.fsutil import atomic_save
from icrl.train.logging import read_metrics

_ATTEMPT = re.compile(r"^eval/attempt_(\d+)/(success|return)$")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def steps_label(steps: float, _pos: object = None) -> str:
    """Tick label of an env-steps axis: 20000 -> '20k', 1500000 -> '1.5M' (long numbers overlap on small plots)."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(steps) >= size:
            return f"{steps / size:.4g}{suffix}"
    return f"{steps:.4g}"


def env_steps_axis(ax) -> None:
    """Label ``ax``'s x axis as env steps, with short tick labels."""
    from matplotlib.ticker import FuncFormatter

    ax.set_xlabel("env steps")
    ax.xaxis.set_major_formatter(FuncFormatter(steps_label))


def save_png(fig, path: Path) -> Path:
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))
    return path


def plot_run(run_dir: Path) -> list[Path]:
    """Write ``learning_curve.png`` (and ``attempts.png`` for multi-attempt envs); returns the paths written."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    if not rows:
        raise ICRLError(f"{run_dir} has no metrics yet ({run_dir / 'metrics.jsonl'}); train first.")
    plt = pyplot()
    written = [_learning_curve(plt, rows, run_dir / "learning_curve.png")]
    evals = [r for r in rows if any(_ATTEMPT.match(k) for k in r)]
    if evals:
        written.append(_attempts(plt, evals, run_dir / "attempts.png"))
    return written


def _learning_curve(plt, rows: list[dict], path: Path) -> Path:
    keys = [k for k in ("eval/success_after_first", "eval/success", "eval/return", "train/return")
            if any(k in r for r in rows)]
    fig, axes = plt.subplots(1, max(len(keys), 1), figsize=(4.2 * max(len(keys), 1), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        pts = [(r["env_steps"], r[key]) for r in rows if key in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if len(pts) < 30 else None, lw=1.5)
        env_steps_axis(ax)
        ax.set_title(key)
        ax.grid(alpha=0.3)
    if not keys:
        axes[0][0].text(0.5, 0.5, "no returns logged yet", ha="center", va="center")
    fig.suptitle(path.parent.name)
    fig.tight_layout()
    try:
        return save_png(fig, path)
    finally:
        plt.close(fig)


def _attempts(plt, evals: list[dict], path: Path) -> Path:
    """Per-attempt success (or return) of the latest evaluation, and over training."""
    last = evals[-1]
    kind = "success" if any(_ATTEMPT.match(k) and k.endswith("success") for k in last) else "return"
    attempts = sorted(int(m.group(1)) for k in last if (m := _ATTEMPT.match(k)) and m.group(2) == kind)
    fig, (bar_ax, line_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
    bar_ax.bar(attempts, [last[f"eval/attempt_{a}/{kind}"] for a in attempts], color="tab:blue")
    bar_ax.set_xlabel("attempt")
    bar_ax.set_ylabel(kind)
    bar_ax.set_title(f"latest evaluation ({int(last.get('env_steps', 0))} steps)")
    for a in attempts:
        pts = [(r["env_steps"], r[f"eval/attempt_{a}/{kind}"]) for r in evals if f"eval/attempt_{a}/{kind}" in r]
        line_ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"attempt {a}")
    env_steps_axis(line_ax)
    line_ax.set_title(f"{kind} per attempt")
    line_ax.legend(fontsize=7)
    for ax in (bar_ax, line_ax):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        return save_png(fig, path)
    finally:
        plt.close(fig)
