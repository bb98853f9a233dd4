"""The suite runner: trains and scores each seed, resumes without redoing finished runs, grows budgets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from icrl.bench import SUITES, BenchTask, Suite, collect_results, run_suite
from icrl.bench import runner as runner_mod
from icrl.cli import main as cli_main
from icrl.errors import ConfigError
from icrl.train.logging import read_metrics
from scaffold import TINY_MODEL

pytestmark = pytest.mark.slow  # every test here trains the runs of a suite

TINY = ("env.kwargs.delay=2", "env.num_envs=4", "env.eval_num_envs=4", *TINY_MODEL,
        "learn.batch_size=4", "learn.num_critics=3", "train.steps_per_epoch=12", "train.updates_per_epoch=2",
        "train.eval_every=1", "train.eval_episodes=4", "replay.prefetch=2")


@pytest.fixture
def tiny_suite(monkeypatch) -> Suite:
    task = BenchTask("remember", "testing-remember-first", 96, TINY, ("train",), {"train": 1.0}, 1.0, 4)
    suite = Suite("tiny", "tiny test suite", (task,), 2, "test")
    monkeypatch.setitem(SUITES, "tiny", suite)
    return suite


def test_runs_scores_and_resumes_without_redoing(tiny_suite: Suite, tmp_path: Path, monkeypatch) -> None:
    outcome = run_suite(tiny_suite, tmp_path, seeds=2)
    assert not outcome.failures and [(r.task, r.seed) for r in outcome.results] == [("remember", 0), ("remember", 1)]
    score = json.loads((tmp_path / "remember" / "seed_0" / "score.json").read_text())
    assert score["epochs"] == 2 and score["env_steps"] == 96
    assert len(score["checkpoints"]["train"]) == 2  # the last two checkpoints were evaluated
    assert score["scores"]["train"] == max(score["checkpoints"]["train"].values())
    assert 0.0 <= score["scores"]["train"] <= 1.0

    def fail(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(runner_mod, "train", fail)
    again = run_suite(tiny_suite, tmp_path, seeds=2)
    assert [r.scores for r in again.results] == [r.scores for r in outcome.results]


def test_a_larger_budget_resumes_the_run(tiny_suite: Suite, tmp_path: Path, monkeypatch) -> None:
    run_suite(tiny_suite, tmp_path, seeds=1, epochs_scale=0.5)  # ceil(48 / 48) = 1 -> at least 2 epochs
    grown = BenchTask("remember", "testing-remember-first", 192, TINY, ("train",), {"train": 1.0}, 1.0, 4)
    monkeypatch.setitem(SUITES, "tiny", Suite("tiny", "tiny test suite", (grown,), 1, "test"))
    outcome = run_suite(SUITES["tiny"], tmp_path, seeds=1)
    assert not outcome.failures
    score = json.loads((tmp_path / "remember" / "seed_0" / "score.json").read_text())
    assert score["epochs"] == 4 and score["budget_scale"] == 1.0
    epochs = [int(m["epoch"]) for m in read_metrics(tmp_path / "remember" / "seed_0") if "epoch" in m]
    assert epochs == [1, 2, 3, 4]  # continued, not restarted


def test_a_task_scores_its_named_metric(tmp_path: Path, monkeypatch) -> None:
    """``metric="length"`` scores eval/length: the env's fixed episode length (delay 2 -> 3 steps)."""
    task = BenchTask("remember", "testing-remember-first", 96, TINY, ("train",), {}, None, 4, metric="length")
    monkeypatch.setitem(SUITES, "tiny-length", Suite("tiny-length", "t", (task,), 1, "test"))
    outcome = run_suite(SUITES["tiny-length"], tmp_path, seeds=1)
    assert not outcome.failures
    score = json.loads((tmp_path / "remember" / "seed_0" / "score.json").read_text())
    assert set(score["checkpoints"]["train"].values()) == {3.0}


def test_seeds_split_over_two_folders_merge_in_one_report(tiny_suite: Suite, tmp_path: Path, monkeypatch,
                                                         capsys) -> None:
    """--first-seed numbers the seeds from there; copying one folder's seeds into the other merges the tables."""
    first, second = tmp_path / "machine_a", tmp_path / "machine_b"
    assert cli_main(["bench", "tiny", "--seeds", "1", "--out", str(first)]) == 0
    assert cli_main(["bench", "tiny", "--seeds", "1", "--first-seed", "1", "--out", str(second)]) == 0
    assert sorted(p.name for p in (second / "remember").iterdir()) == ["seed_1"]
    assert json.loads((second / "remember" / "seed_1" / "score.json").read_text())["seed"] == 1
    shutil.copytree(second / "remember" / "seed_1", first / "remember" / "seed_1")

    def fail(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(runner_mod, "train", fail)
    assert cli_main(["bench", "tiny", "--seeds", "1", "--out", str(first)]) == 0  # nothing to train: report only
    assert [r.seed for r in collect_results(tiny_suite, first)] == [0, 1]
    assert "| remember | train | 96 |" in (first / "summary.md").read_text()
    assert "| 2 |" in (first / "summary.md").read_text()  # the seeds column counts both
    with pytest.raises(ConfigError, match="first-seed"):
        run_suite(tiny_suite, tmp_path / "bad", seeds=1, first_seed=-1)
    with pytest.raises(ConfigError, match="--seeds=0"):
        run_suite(tiny_suite, tmp_path / "bad", seeds=0)
    capsys.readouterr()


def test_a_failing_run_is_reported_and_the_others_finish(tiny_suite: Suite, tmp_path: Path, monkeypatch) -> None:
    real = runner_mod.train

    def flaky(cfg, run_dir, **kwargs):
        if cfg.train.seed == 0:
            raise RuntimeError("boom")
        return real(cfg, run_dir, **kwargs)

    monkeypatch.setattr(runner_mod, "train", flaky)
    outcome = run_suite(tiny_suite, tmp_path, seeds=2)
    assert [r.seed for r in outcome.results] == [1]
    assert len(outcome.failures) == 1 and "seed_0" in outcome.failures[0] and "boom" in outcome.failures[0]


def test_report_covers_runs_of_earlier_calls(tmp_path: Path, monkeypatch, capsys) -> None:
    """`--tasks` runs one task at a time; the tables still show every run finished in the folder."""
    tasks = tuple(BenchTask(name, "testing-remember-first", 96, TINY, ("train",), {"train": 1.0}, 1.0, 4)
                  for name in ("first", "second"))
    monkeypatch.setitem(SUITES, "pair", Suite("pair", "two tasks", tasks, 1, "test"))
    assert cli_main(["bench", "pair", "--tasks", "first", "--out", str(tmp_path)]) == 0
    assert cli_main(["bench", "pair", "--tasks", "second", "--out", str(tmp_path)]) == 0
    summary = (tmp_path / "summary.md").read_text()
    assert "| first | train | 96 |" in summary and "| second | train | 96 |" in summary
    assert [r.task for r in collect_results(SUITES["pair"], tmp_path)] == ["first", "second"]
    capsys.readouterr()


def test_cli_bench_writes_tables_and_curves(tiny_suite: Suite, tmp_path: Path, capsys, monkeypatch) -> None:
    assert cli_main(["bench", "tiny", "--seeds", "1", "--out", str(tmp_path)]) == 0
    for name in ("results.csv", "summary.md", "curves_remember.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "| remember | train | 96 |" in capsys.readouterr().out
    variant = BenchTask("variant", "testing-remember-first", 96, TINY, note="not the method")
    monkeypatch.setitem(SUITES, "noted", Suite("noted", "a task with a note", (variant,), 1, "test"))
    assert cli_main(["bench", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "aib-quick" in listing and "variant" in listing and "not the method" in listing  # a task's note is listed
    assert cli_main(["bench", "tiny", "--budget-scale", "0"]) == 2


def test_overrides_change_every_run_are_marked_and_must_match_to_resume(tiny_suite: Suite, tmp_path: Path,
                                                                         capsys) -> None:
    """``icrl bench SUITE key=value``: an ablation of the suite's settings, recorded, reported, never mixed up."""
    assert cli_main(["bench", "tiny", "--seeds", "1", "--out", str(tmp_path), "learn.tau=0.5"]) == 0
    run = tmp_path / "remember" / "seed_0"
    assert json.loads((run / "config.json").read_text())["learn"]["tau"] == 0.5
    assert json.loads((run / "score.json").read_text())["overrides"] == ["learn.tau=0.5"]
    summary = (tmp_path / "summary.md").read_text()
    assert "Settings changed from the suite's: `learn.tau=0.5`** (1 of 1 runs)" in summary
    assert [r.overrides for r in collect_results(tiny_suite, tmp_path)] == [("learn.tau=0.5",)]
    capsys.readouterr()
    # The same finished run asked for without the override: trained again, which refuses the other config.
    assert cli_main(["bench", "tiny", "--seeds", "1", "--out", str(tmp_path)]) == 2
    assert "learn.tau" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="train.seed"):  # what the suite fixes per run cannot be overridden
        run_suite(tiny_suite, tmp_path / "other", seeds=1, overrides=["train.seed=3"])
    assert not (tmp_path / "other").exists()


_POOL_SCRIPT = """
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from icrl.bench.runner import stop_with_parent

if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=stop_with_parent,
                               initargs=(os.getpid(),))
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 120)  # a long run
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # an exited orphan may stay a zombie where nothing reaps it


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_pool_worker_exits_when_the_suite_process_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "suite.py"
    script.write_text(_POOL_SCRIPT)
    worker = None
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True) as parent:
        try:
            worker = int(parent.stdout.readline())
            time.sleep(3 * runner_mod.PARENT_POLL_S)
            assert _alive(worker)  # the watch leaves a worker with a live parent alone
            parent.kill()
            parent.wait(timeout=10)
            deadline = time.monotonic() + 10 * runner_mod.PARENT_POLL_S
            while _alive(worker) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _alive(worker)
        finally:
            parent.kill()
            if worker is not None and _alive(worker):  # a failed check must not leave the worker running
                os.kill(worker, signal.SIGKILL)
