"""Benchmark suites (``icrl bench``): published tasks over seeds, resumable, with tables and learning curves."""

from icrl.bench.report import aggregates, interquartile_mean, mean_se, write_report
from icrl.bench.runner import RunResult, SuiteRun, collect_results, run_suite, score_run
from icrl.bench.suites import SUITES, BenchTask, Suite, get_suite

__all__ = ["SUITES", "BenchTask", "RunResult", "Suite", "SuiteRun", "aggregates", "collect_results", "get_suite",
           "interquartile_mean", "mean_se", "run_suite", "score_run", "write_report"]
