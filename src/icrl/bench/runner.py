"""Run a suite: every (task, seed) as an ordinary run directory, in parallel processes, resumable.

``out/<task>/seed_<s>/`` is the run directory of one seed. A run counts as finished when its ``score.json``
records the epochs of the requested budget and the same extra overrides; anything else is trained (resuming its
checkpoints, so an interrupted suite, or a quick ``--budget-scale`` run grown to the full budget, continues where
it stopped) and then scored. Scoring follows the AIB protocol: each split is evaluated at the last two
checkpoints and the better one counts.
"""

from __future__ import annotations

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
from icrl.train import evaluate_run, train
from icrl.train.rundir import checkpoint_dir

SCORE_FILE = "score.json"


@dataclass(frozen=True)
class RunResult:
    task: str
    seed: int
    scores: dict[str, float]  # split -> score (better of the last two checkpoints)
    env_steps: int
    budget_scale: float
    run_dir: Path
    overrides: tuple[str, ...] = ()  # settings changed from the suite's (``icrl bench SUITE key=value``)


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
    return RunResult(data["task"], int(data["seed"]), {k: float(v) for k, v in data["scores"].items()},
                     int(data["env_steps"]), float(data["budget_scale"]), run_dir, tuple(data.get("overrides", ())))


def collect_results(suite: Suite, out: Path) -> list[RunResult]:
    """Every scored run of ``suite`` under ``out`` (all tasks and seeds), in suite order, for the report."""
    found = []
    for task in suite.tasks:
        seeds = sorted((p for p in (Path(out) / task.name).glob("seed_*") if p.name[5:].isdigit()),
                       key=lambda p: int(p.name[5:]))
        found += [_result(data, p) for p in seeds if (data := read_score(p)) is not None]
    return found


def score_run(task: BenchTask, run_dir: Path) -> dict[str, dict[str, float]]:
    """split -> {checkpoint name: score} for the last two checkpoints of a finished run."""
    names = ckpt.list_checkpoints(checkpoint_dir(run_dir))[-2:]
    if not names:
        raise ConfigError(f"{run_dir} has no checkpoint to score; train it first.")
    return {split: {name: task.score_scale * evaluate_run(run_dir, episodes=task.eval_episodes,
                                                          overrides=task.split_overrides(split),
                                                          checkpoint=name)[f"eval/{task.metric}"]
                    for name in names}
            for split in task.splits}


def run_one(suite_name: str, task_name: str, seed: int, out: Path, scale: float, threads: int,
            progress: str, overrides: tuple[str, ...] = ()) -> dict:
    """Train (or resume) and score one seed of one task; returns what ``score.json`` holds.

    A run finished with other ``overrides`` goes to ``train``, which refuses its different config by name.
    """
    task = get_suite(suite_name).task(task_name)
    run_dir = run_dir_of(out, task_name, seed)
    cfg = task.config(seed, scale, threads, overrides)
    done = read_score(run_dir)
    if done is not None and done.get("epochs") == cfg.train.epochs and done.get("overrides", []) == list(overrides):
        return done
    train(cfg, run_dir, progress=progress, label=f"{task_name} s{seed}")
    per_checkpoint = score_run(task, run_dir)
    data = {"task": task_name, "seed": seed, "epochs": cfg.train.epochs,
            "env_steps": cfg.train.epochs * task.steps_per_epoch(), "budget_scale": scale,
            "scores": {split: max(values.values()) for split, values in per_checkpoint.items()},
            "checkpoints": per_checkpoint, "overrides": list(overrides)}
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

    args = [(suite.name, name, seed, Path(out), epochs_scale, threads, progress, overrides) for name, seed in work]
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
