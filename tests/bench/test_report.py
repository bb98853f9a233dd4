"""Suite tables and aggregates against hand-computed examples."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest

from icrl.bench import SUITES, BenchTask, RunResult, Suite, aggregates, get_suite, interquartile_mean, mean_se
from icrl.bench.report import per_task_table, results_csv, summary_markdown
from icrl.errors import ConfigError

SPLITS = ("train", "eval_in", "eval_out")


def _suite() -> Suite:
    tasks = (BenchTask("a", "aib/di", 100, (), SPLITS, {"train": 66.0}, 100.0),
             BenchTask("b", "aib/cartpole", 100, (), SPLITS, {"eval_out": 581.0}, 1000.0),
             BenchTask("c", "aib/walker2d", 100, (), SPLITS, {}, None))
    return Suite("aib", "test", tasks, 2, "test source", None, "iqm")


def _r(task: str, seed: int, **scores: float) -> RunResult:
    return RunResult(task, seed, scores, 100, 1.0, Path("."))


def test_mean_and_standard_error_by_hand() -> None:
    mean, se = mean_se([1.0, 2.0, 6.0])
    assert mean == pytest.approx(3.0)
    assert se == pytest.approx(math.sqrt(7.0) / math.sqrt(3.0))  # sample variance (4 + 1 + 9) / 2 = 7
    assert mean_se([5.0]) == (5.0, 0.0)


def test_interquartile_mean_drops_a_quarter_at_each_end() -> None:
    assert interquartile_mean([100.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -50.0]) == pytest.approx(3.5)  # keeps 2..5
    assert interquartile_mean([1.0, 2.0, 3.0]) == pytest.approx(2.0)  # floor(0.75) = 0 cut


def test_aib_aggregate_matches_hand_computation() -> None:
    results = [_r("a", 0, train=60.0, eval_in=50.0, eval_out=20.0), _r("a", 1, train=80.0, eval_in=70.0, eval_out=40.0),
               _r("b", 0, train=900.0, eval_in=800.0, eval_out=500.0),
               _r("b", 1, train=700.0, eval_in=600.0, eval_out=300.0),
               _r("c", 0, train=5000.0, eval_in=5000.0, eval_out=5000.0)]  # no normaliser: not aggregated
    agg = aggregates(_suite(), results)
    # train: normalised [0.6, 0.8, 0.9, 0.7] -> sorted [0.6, 0.7, 0.8, 0.9], drop one each end -> mean(0.7, 0.8)
    assert agg["iqm/train"] == pytest.approx(0.75)
    assert agg["iqm/eval_in"] == pytest.approx((0.6 + 0.7) / 2)  # [0.5, 0.7, 0.8, 0.6]
    assert agg["iqm/eval_out"] == pytest.approx((0.3 + 0.4) / 2)  # [0.2, 0.4, 0.5, 0.3]
    rows = {(r["task"], r["split"]): r for r in per_task_table(_suite(), results)}
    assert rows[("a", "train")]["mean"] == pytest.approx(70.0)
    assert rows[("a", "train")]["se"] == pytest.approx(10.0)  # std 14.14 / sqrt 2
    assert rows[("a", "train")]["published"] == 66.0 and rows[("a", "eval_in")]["published"] is None


def test_popgym_aggregate_is_mean_and_median_over_tasks() -> None:
    suite = Suite("popgym", "t", tuple(BenchTask(n, f"popgym/{n}", 10, ()) for n in "xyz"), 1, "s", None,
                  "mean-median")
    results = [_r("x", 0, train=1.0), _r("x", 1, train=0.0), _r("y", 0, train=0.2), _r("z", 0, train=0.9)]
    assert aggregates(suite, results) == pytest.approx({"mean": (0.5 + 0.2 + 0.9) / 3, "median": 0.5})


def test_summary_and_csv_contents() -> None:
    results = [_r("a", 0, train=60.0, eval_in=50.0, eval_out=20.0),
               RunResult("a", 1, {"train": 80.0, "eval_in": 70.0, "eval_out": 40.0}, 100, 0.1, Path("."))]
    text = summary_markdown(_suite(), results)
    assert "| a | train | 100 | 70.0 +- 10.0 | 2 | 66.0 |" in text
    assert "Not comparable" in text  # one run used a reduced budget
    longer = [results[0], RunResult("a", 1, results[1].scores, 300, 3.0, Path("."))]
    text = summary_markdown(_suite(), longer)
    assert "| a | train | 100-300 | 70.0 +- 10.0 | 2 | 66.0 |" in text  # seeds of different budgets: a range
    assert "longer than the suite's budget" in text and "Not comparable" not in text
    noted = Suite("aib", "test", (BenchTask("a", "aib/di", 100, (), SPLITS, note="not the method"),
                                  BenchTask("b", "aib/di", 100, (), SPLITS, note="never run")), 2, "test source")
    text = summary_markdown(noted, results)
    assert "a: not the method." in text and "never run" not in text  # notes of the tasks in the table only
    rows = list(csv.DictReader(io.StringIO(results_csv(results))))
    assert len(rows) == 6 and rows[0] == {"task": "a", "seed": "0", "split": "train", "score": "60",
                                          "env_steps": "100", "budget_scale": "1.0", "budget": "default",
                                          "vector_steps": "", "updates": "", "score_sampled": ""}


def test_registered_suites_are_consistent() -> None:
    assert {"popgym-easy", "popgym", "aib-quick", "aib", "halfcheetah-vel"} <= set(SUITES)
    for suite in SUITES.values():
        for task in suite.tasks:
            assert task.epochs() * task.steps_per_epoch() >= task.env_steps
            assert set(task.published) <= set(task.splits)
            assert task.config(seed=1).env.name == task.env_name
    quick = get_suite("aib-quick")
    assert quick.task("di").published["train"] == 66.0 and quick.task("cartpole").published["eval_out"] == 581.0
    with pytest.raises(ConfigError, match="available"):
        get_suite("nope")
    with pytest.raises(ConfigError, match="no task"):
        quick.task("walker")
