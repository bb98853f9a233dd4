"""Run a suite: every (task, seed) as an ordinary run directory, in parallel processes, resumable.

``out/<task>/seed_<s>/`` is the run directory of one seed. A run counts as finished when its ``score.json``
records the epochs of the requested budget and the same extra overrides; anything else is trained (resuming its
checkpoints, so an interrupted suite, or a quick ``--budget-scale`` run grown to the full budget, continues where
it stopped) and then scored. Scoring follows the AIB protocol: each split is evaluated at the last two
checkpoints and the better one counts (with the run's own evaluation actions: greedy for the AIB); tasks with
``score_sampled`` also evaluate the last checkpoint with sampled actions, reported beside. Every scoring
evaluation is a row of the run's ``score_evals.csv`` (split, checkpoint, actions, score and the per-task scores
of envs that name their task, e.g. the AIB's ``task/inverted`` and ``task/normal``); an interrupted scoring
resumes from it, and ``scores_from_evals`` turns its rows into the run's scores.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from icrl.bench.suites import BenchTask, Suite, get_suite
from icrl.errors import ConfigError
from icrl.fsutil import atomic_write_text
from icrl.train import checkpoint as ckpt
from icrl.train import load_run, train
from icrl.train.rundir import checkpoint_dir, load_config
from icrl.train.saved import SavedRun

SCORE_FILE = "score.json"
EVALS_FILE = "score_evals.csv"


@dataclass(frozen=True)
class RunResult:
    task: str
    seed: int
    scores: dict[str, float]  # split -> score (better of the last two checkpoints)
    env_steps: int
    budget_scale: float
    run_dir: Path
    overrides: tuple[str, ...] = ()  # settings changed from the suite's (``icrl bench SUITE key=value``)
    budget: str = "default"  # the suite's budget the run belongs to (``--budget``)
    sampled: dict[str, float] = field(default_factory=dict)  # split -> score with sampled actions (last checkpoint)
    per_task: dict[str, dict[str, float]] = field(default_factory=dict)  # split -> task name (e.g. sign) -> score
    vector_steps: int = 0  # steps of the train env vector (0: not recorded)
    updates: int = 0  # gradient updates (0: not recorded)


@dataclass
class SuiteRun:
    results: list[RunResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "task seed_s: error" for runs that raised


def run_dir_of(out: Path, task: str, seed: int) -> Path:
    return Path(out) / task / f"seed_{seed}"


def read_score(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / SCORE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _result(data: dict, run_dir: Path) -> RunResult:
    def floats(d: dict) -> dict[str, float]:
        return {k: float(v) for k, v in d.items()}

    return RunResult(data["task"], int(data["seed"]), floats(data["scores"]), int(data["env_steps"]),
                     float(data["budget_scale"]), run_dir, tuple(data.get("overrides", ())),
                     data.get("budget", "default"), floats(data.get("sampled", {})),
                     {split: floats(v) for split, v in data.get("per_task", {}).items()},
                     int(data.get("vector_steps", 0)), int(data.get("updates", 0)))


def _budget_of(data: dict, suite_name: str) -> str:
    """The budget a ``score.json`` records; older ones, from before budgets, ran the suite's default budget."""
    return data.get("budget") or get_suite(suite_name).budget


def collect_results(suite: Suite, out: Path) -> list[RunResult]:
    """Every scored run of ``suite`` at its budget under ``out`` (all tasks and seeds), in suite order."""
    found = []
    for task in suite.tasks:
        seeds = sorted((p for p in (Path(out) / task.name).glob("seed_*") if p.name[5:].isdigit()),
                       key=lambda p: int(p.name[5:]))
        found += [_result({**data, "budget": suite.budget}, p) for p in seeds
                  if (data := read_score(p)) is not None and _budget_of(data, suite.name) == suite.budget]
    return found


def read_evals(run_dir: Path) -> list[dict]:
    """The rows of a run's ``score_evals.csv`` (numbers as floats, empty cells left out); [] if none."""
    try:
        text = (Path(run_dir) / EVALS_FILE).read_text()
    except OSError:
        return []
    keys = ("split", "checkpoint", "actions")
    return [{k: v if k in keys else float(v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(io.StringIO(text))]


def _write_evals(run_dir: Path, rows: list[dict]) -> None:
    columns = ["split", "checkpoint", "actions", "score"]
    columns += sorted({k for r in rows for k in r} - set(columns))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(run_dir) / EVALS_FILE, buf.getvalue())


def _evaluate(task: BenchTask, run: SavedRun, split: str, actions: str) -> dict:
    """One scoring evaluation: the score and, for envs that name their task, ``task/<name>`` scores."""
    overrides = task.split_overrides(split) + [f"explore.sample_eval={str(actions == 'sampled').lower()}"]
    metrics = run.evaluate(episodes=task.eval_episodes, overrides=overrides)
    row = {"split": split, "checkpoint": run.checkpoint, "actions": actions,
           "score": task.score_scale * metrics[f"eval/{task.metric}"]}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[:2] == ["eval", "task"] and parts[3] == task.metric:
            row[f"task/{parts[2]}"] = task.score_scale * value
    return row


def evaluate_checkpoints(task: BenchTask, run_dir: Path) -> tuple[list[dict], str]:
    """Scoring evaluations of a finished run (those already in ``score_evals.csv`` are reused) and the run's own
    evaluation actions ("greedy" or "sampled"): each split at the last two checkpoints with those actions, and with
    ``task.score_sampled`` the last checkpoint once more with sampled actions. Each checkpoint is loaded once."""
    names = ckpt.list_checkpoints(checkpoint_dir(run_dir))[-2:]
    if not names:
        raise ConfigError(f"{run_dir} has no checkpoint to score; train it first.")
    main = "sampled" if load_config(run_dir).explore.sample_eval else "greedy"
    wanted = [(split, name, main) for split in task.splits for name in names]
    if task.score_sampled and main == "greedy":
        wanted += [(split, names[-1], "sampled") for split in task.splits]
    done = {(r["split"], r["checkpoint"], r["actions"]): r for r in read_evals(run_dir)}
    for name in names:
        todo = [(split, actions) for split, ckpt_name, actions in wanted
                if ckpt_name == name and (split, name, actions) not in done]
        run = load_run(run_dir, checkpoint=name) if todo else None
        for split, actions in todo:
            done[(split, name, actions)] = _evaluate(task, run, split, actions)
            _write_evals(run_dir, list(done.values()))  # an interrupted scoring resumes here
    return [done[key] for key in wanted], main


def scores_from_evals(rows: list[dict], main: str = "greedy") -> dict[str, dict]:
    """A run's scores from its scoring evaluations, the published way (AIB: Benad et al. 2026).

    Per split: ``scores`` the better of the last two checkpoints' ``main`` evaluations (checkpoint names sort by
    age), ``checkpoints`` both of them, ``chosen`` the better one's name, ``per_task`` its per-task scores (the
    split's score is their mix over the split's instances), and ``sampled`` the latest checkpoint's score with
    sampled actions where one was evaluated (and ``main`` is not already sampling).
    """
    out: dict[str, dict] = {"scores": {}, "checkpoints": {}, "chosen": {}, "per_task": {}, "sampled": {}}
    for split in dict.fromkeys(r["split"] for r in rows):
        last_two = sorted((r for r in rows if r["split"] == split and r["actions"] == main),
                          key=lambda r: r["checkpoint"])[-2:]
        if not last_two:
            continue
        best = max(reversed(last_two), key=lambda r: r["score"])  # a tie goes to the later checkpoint
        out["scores"][split] = best["score"]
        out["checkpoints"][split] = {r["checkpoint"]: r["score"] for r in last_two}
        out["chosen"][split] = best["checkpoint"]
        out["per_task"][split] = {k[5:]: v for k, v in best.items() if k.startswith("task/")}
        sampled = sorted((r for r in rows if r["split"] == split and r["actions"] == "sampled"),
                         key=lambda r: r["checkpoint"])
        if sampled and main != "sampled":
            out["sampled"][split] = sampled[-1]["score"]
    return out


def score_run(task: BenchTask, run_dir: Path) -> dict[str, dict]:
    """Evaluate a finished run's last two checkpoints (see ``evaluate_checkpoints``) and score it
    (``scores_from_evals``)."""
    rows, main = evaluate_checkpoints(task, run_dir)
    return {**scores_from_evals(rows, main), "actions": main}


def run_one(suite_name: str, task_name: str, seed: int, out: Path, scale: float, threads: int,
            progress: str, overrides: tuple[str, ...] = (), budget: str | None = None) -> dict:
    """Train (or resume) and score one seed of one task; returns what ``score.json`` holds.

    A run finished with other ``overrides`` goes to ``train``, which refuses its different config by name.
    """
    suite = get_suite(suite_name, budget)
    task = suite.task(task_name)
    run_dir = run_dir_of(out, task_name, seed)
    cfg = task.config(seed, scale, threads, overrides)
    done = read_score(run_dir)
    if (done is not None and done.get("epochs") == cfg.train.epochs and done.get("overrides", []) == list(overrides)
            and _budget_of(done, suite_name) == suite.budget):
        return done
    train(cfg, run_dir, progress=progress, label=f"{task_name} s{seed}")
    data = {"task": task_name, "seed": seed, "epochs": cfg.train.epochs, "budget": suite.budget,
            "env_steps": cfg.train.epochs * cfg.train.steps_per_epoch * cfg.env.num_envs, "budget_scale": scale,
            "vector_steps": cfg.train.epochs * cfg.train.steps_per_epoch,
            "updates": cfg.train.epochs * cfg.train.updates_per_epoch, **score_run(task, run_dir),
            "overrides": list(overrides)}
    atomic_write_text(run_dir / SCORE_FILE, json.dumps(data, indent=2, sort_keys=True))
    return data


PARENT_POLL_S = 1.0  # how often a pool worker checks that the suite process still runs


def stop_with_parent(parent_pid: int) -> None:
    """Pool initializer: the worker exits once the suite process that started it is gone.

    Without it, a suite killed by a signal sent to its process alone (``kill PID``, SIGKILL) leaves its workers
    training on as orphans: they hold their runs' locks, so re-running the suite to resume fails on those runs,
    and they take the cores the new one needs. The worker stops at once, like a killed ``icrl train``: its files
    are written atomically, so the run resumes from its last checkpoint.
    """
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="icrl-stop-with-parent", daemon=True).start()


def run_suite(suite: Suite, out: Path, seeds: int | None = None, tasks: list[str] | None = None, jobs: int = 1,
              epochs_scale: float = 1.0, overrides: Sequence[str] = (), first_seed: int = 0) -> SuiteRun:
    """Run every (task, seed) not finished yet, ``jobs`` at a time; a failing run does not stop the others.

    The seeds are ``first_seed .. first_seed + seeds - 1``: seeds can be split over machines and their
    ``<task>/seed_<s>`` folders copied into one results folder, whose report then covers them all.
    ``overrides`` (``section.field=value``) change every task's settings, e.g. for an ablation; the report
    marks them, and they must be passed again to resume the same runs.
    """
    chosen = [suite.task(name) for name in tasks] if tasks else list(suite.tasks)
    overrides = tuple(overrides)
    for task in chosen:  # a bad override fails here, once, not in every worker
        task.config(0, epochs_scale, 1, overrides)
    if jobs < 1:
        raise ConfigError(f"--jobs={jobs} must be >= 1.")
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds={seeds} must be >= 1.")
    if first_seed < 0:
        raise ConfigError(f"--first-seed={first_seed} must be >= 0.")
    seeds = suite.seeds if seeds is None else seeds
    work = [(t.name, s) for t in chosen for s in range(first_seed, first_seed + seeds)]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    progress = "plain" if jobs > 1 else "auto"
    outcome = SuiteRun()

    def record(name: str, seed: int, fn) -> None:
        try:
            outcome.results.append(_result(fn(), run_dir_of(out, name, seed)))
        except Exception as err:  # one broken run must not lose the others
            outcome.failures.append(f"{name} seed_{seed}: {type(err).__name__}: {err}")
            traceback.print_exc()

    args = [(suite.name, name, seed, Path(out), epochs_scale, threads, progress, overrides, suite.budget)
            for name, seed in work]
    if jobs == 1:
        for a in args:
            record(a[1], a[2], lambda a=a: run_one(*a))
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=stop_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(run_one, *a): a for a in args}
            for future in as_completed(futures):
                a = futures[future]
                record(a[1], a[2], future.result)
    order = {key: i for i, key in enumerate(work)}
    outcome.results.sort(key=lambda r: order[(r.task, r.seed)])
    return outcome
