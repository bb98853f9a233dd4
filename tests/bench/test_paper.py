"""Bench budgets: the AIB at the published schedule (``--budget paper``), its listing, and scoring the published way."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from icrl.bench import SUITES, BenchTask, RunResult, Suite, get_suite
from icrl.bench import runner as runner_mod
from icrl.bench import suites as suites_mod
from icrl.bench.report import per_task_table, results_csv, summary_markdown
from icrl.bench.runner import read_evals, scores_from_evals
from icrl.cli import main as cli_main
from icrl.config import RunConfig
from icrl.errors import ConfigError
from icrl.rollout.exploration import Exploration
from icrl.spaces import ActionSpec
from scaffold import TINY_MODEL

PAPER = get_suite("aib", "paper")
SPLITS = ("train", "eval_in", "eval_out")


def test_paper_budget_of_the_double_integrator() -> None:
    cfg = PAPER.task("di").config(seed=0)
    assert cfg.env.name == "aib/di" and (cfg.env.num_envs, cfg.env.eval_num_envs) == (20, 20)
    t = cfg.train
    assert (t.steps_per_epoch, t.updates_per_epoch, t.epochs) == (1000, 1000, 100)  # T = 100k vector steps
    assert (t.eval_every, t.ckpt_every, t.eval_episodes) == (5, 5, 100)  # 5 episodes on each of 20 instances
    assert (cfg.learn.batch_size, cfg.model.max_seq_len, cfg.model.sequence) == (24, 24, "transformer")
    assert cfg.explore.sample_eval is False and cfg.replay.capacity_steps == 15_000 * 100
    assert PAPER.task("di").schedule() | {"hours": 0} == {"epochs": 100, "vector_steps": 100_000,
                                                          "env_steps": 2_000_000, "updates": 100_000,
                                                          "evaluations": 21 + 3 * 3, "hours": 0}
    assert PAPER.task("di").published == {"train": 66.0} and PAPER.task("di").published_budget
    ff = PAPER.task("di-ff").config(seed=0)
    assert ff.model.sequence == "feedforward" and ff.model.n_layers == 1
    assert ff.replace(model=cfg.model) == cfg  # the encoder is the only difference


def test_paper_budget_keeps_the_method_defaults_not_the_cpu_sized_ones() -> None:
    cfg, default = PAPER.task("di").config(seed=0).learn, RunConfig().learn
    for name in ("gamma", "extra_gammas", "num_critics", "num_critics_td", "reward_multiplier", "tau", "lr",
                 "weight_decay", "warmup_steps", "grad_clip", "critic_loss_weight", "batch_size", "online_coeff",
                 "offline_coeff", "popart", "use_target_actor", "filter", "n_step"):
        assert getattr(cfg, name) == getattr(default, name), name
    assert len(cfg.gammas) == 7 and cfg.target_entropy is None and cfg.dynamics_coeff == 0
    model = PAPER.task("cartpole").config(seed=0).model
    assert (model.head_hidden, model.head_layers, model.d_model, model.encoder_hidden, model.encoder_out) == (
        256, 2, 256, 512, 256)  # the reference's networks, not the quick budget's 128-wide heads
    quick = get_suite("aib").task("di").config(seed=0)
    assert get_suite("aib").budget == "quick" and quick.model.head_hidden == 128  # the quick budget is unchanged


@pytest.mark.parametrize(("name", "epochs"), [("cartpole", 100), ("cheetah", 200), ("reacher-hard", 200),
                                              ("walker2d", 500), ("hopper-ff", 500)])
def test_paper_budget_of_the_mujoco_tasks(name: str, epochs: int) -> None:
    task = PAPER.task(name)
    cfg = task.config(seed=0)
    assert cfg.train.epochs == epochs and task.env_steps == 20 * 1000 * epochs
    assert cfg.model.max_seq_len == 128 and cfg.replay.capacity_steps == 15_000 * 1000 and cfg.env.chunk_len == 0
    assert cfg.env.name == f"aib/{name.removesuffix('-ff')}"


def test_paper_exploration_is_the_baselines_schedule() -> None:
    """eps = U[0, 1) per env * max(1 - 0.95 k / 1e6, 0.05), k counting vector steps."""
    cfg = PAPER.task("di").config(seed=0).explore
    spec = ActionSpec("box", box_dim=2)
    explore = Exploration(cfg, spec, 20, 100, np.random.default_rng(0))
    for k in (0, 100_000, 500_000, 999_999, 1_000_000, 3_000_000):
        explore.steps = k
        eps = explore.epsilon(np.zeros(20, dtype=np.int64)) / explore.multiplier
        assert eps == pytest.approx(np.full(20, max(1 - 0.95 * k / 1e6, 0.05)))
    assert cfg.randomize and cfg.box_noise == "gaussian" and cfg.kind == "egreedy"


def test_budgets_by_name(capsys) -> None:
    assert get_suite("aib", "quick") is SUITES["aib"] and get_suite("aib", None) is SUITES["aib"]
    assert get_suite("popgym-easy", "default") is SUITES["popgym-easy"]
    with pytest.raises(ConfigError, match="budgets: quick, paper"):
        get_suite("aib", "nope")
    assert cli_main(["bench", "aib", "--budget", "nope", "--list"]) == 2
    capsys.readouterr()


def test_list_shows_vector_steps_transitions_updates_and_hours(capsys) -> None:
    assert cli_main(["bench", "aib", "--budget", "paper", "--list"]) == 0
    out = capsys.readouterr().out
    assert "aib --budget paper" in out and "aib --budget quick" not in out
    assert "vector steps" in out and "env transitions" in out and "updates" in out and "hours/seed" in out
    di = next(line for line in out.splitlines() if line.split()[:1] == ["di"])
    hours = PAPER.task("di").schedule()["hours"]
    assert di.split()[1:5] == ["100,000", "2,000,000", "100,000", f"{hours:.1f}"]
    walker2d = next(line for line in out.splitlines() if line.split()[:1] == ["walker2d"])
    assert walker2d.split()[1:4] == ["500,000", "10,000,000", "500,000"]
    assert "benchmarks/paper_rates.py" in out  # where the hours come from
    assert cli_main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    assert "aib --budget quick" in out and "aib --budget paper" in out and "popgym-easy" in out


def test_expected_hours_follow_the_measured_rates(monkeypatch) -> None:
    rate = suites_mod.Rate(update_s=0.05, vector_step_s=0.01)
    task = BenchTask("t", "aib/di", 2_000_000, PAPER.task("di").overrides, SPLITS, eval_episodes=100, rate=rate,
                     horizon=100, score_sampled=True)
    plan = task.schedule()
    # 100k vector steps + 100k updates; 21 evaluations during training and 9 when scoring, 5 episodes of 100 steps
    seconds = 100_000 * 0.01 + 100_000 * 0.05 + (21 + 9) * 5 * 100 * 0.01
    assert plan["hours"] == pytest.approx(seconds / 3600)
    assert PAPER.task("di").rate.update_s == suites_mod.DI_UPDATE_S  # one constant to update


def _write_evals(path: Path, rows: list[tuple]) -> None:
    text = "split,checkpoint,actions,score,task/inverted,task/normal\n"
    text += "".join(",".join(str(x) for x in row) + "\n" for row in rows)
    (path / runner_mod.EVALS_FILE).write_text(text)


def test_better_of_the_last_two_evaluations_from_a_hand_made_csv(tmp_path: Path) -> None:
    _write_evals(tmp_path, [
        ("train", "ckpt_000018", "greedy", 90.0, 91.0, 88.8),  # older than the last two: ignored however good
        ("train", "ckpt_000019", "greedy", 50.0, 40.0, 62.2),
        ("train", "ckpt_000020", "greedy", 60.0, 70.0, 47.8),
        ("train", "ckpt_000020", "sampled", 30.0, 20.0, 42.2),
        ("eval_out", "ckpt_000020", "greedy", 10.0, "", ""),  # listed first: order does not matter
        ("eval_out", "ckpt_000019", "greedy", 12.0, "", ""),
    ])
    rows = read_evals(tmp_path)
    assert rows[4] == {"split": "eval_out", "checkpoint": "ckpt_000020", "actions": "greedy", "score": 10.0}
    got = scores_from_evals(rows, main="greedy")
    assert got["scores"] == {"train": 60.0, "eval_out": 12.0}
    assert got["chosen"] == {"train": "ckpt_000020", "eval_out": "ckpt_000019"}
    assert got["checkpoints"]["train"] == {"ckpt_000019": 50.0, "ckpt_000020": 60.0}
    assert got["per_task"] == {"train": {"inverted": 70.0, "normal": 47.8}, "eval_out": {}}  # the chosen one's
    assert got["sampled"] == {"train": 30.0}
    tie = scores_from_evals([{"split": "train", "checkpoint": c, "actions": "greedy", "score": 5.0, "task/x": i}
                             for i, c in enumerate(("ckpt_1", "ckpt_2"))])
    assert tie["chosen"] == {"train": "ckpt_2"} and tie["per_task"]["train"] == {"x": 1}  # a tie: the later one


def _paper_result(task: str, seed: int, train: float, inverted: float, normal: float, sampled: float,
                  scale: float = 1.0) -> RunResult:
    return RunResult(task, seed, {"train": train}, 2_000_000, scale, Path("."), (), "paper", {"train": sampled},
                     {"train": {"inverted": inverted, "normal": normal}}, 100_000, 100_000)


def test_per_sign_and_sampled_columns_in_the_csv_and_the_table() -> None:
    results = [_paper_result("di", 0, 60.0, 50.0, 72.2, 30.0), _paper_result("di", 1, 80.0, 70.0, 92.2, 50.0)]
    rows = list(csv.DictReader(io.StringIO(results_csv(results))))
    assert rows[0] == {"task": "di", "seed": "0", "split": "train", "score": "60", "env_steps": "2000000",
                       "budget_scale": "1.0", "budget": "paper", "vector_steps": "100000", "updates": "100000",
                       "score_sampled": "30", "score_inverted": "50", "score_normal": "72.2"}
    text = summary_markdown(PAPER, results)
    head = "| task | split | env steps | vector steps | ours | sampled | inverted | normal | seeds | published |"
    row = "| di | train | 2,000,000 | 100,000 | 70.0 +- 10.0 | 40.0 +- 10.0 | 60.0 +- 10.0 | 82.2 +- 10.0 | 2 | 66.0 |"
    assert head in text and row in text
    assert "aib (budget paper)" in text and "Not comparable" not in text
    assert "| iqm/train | 0.7 | 0.79 |" in text  # the published aggregate stands beside the paper budget
    no_signs = [RunResult("a", 0, {"train": 1.0}, 100, 1.0, Path("."))]
    assert list(csv.DictReader(io.StringIO(results_csv(no_signs))))[0]["score_sampled"] == ""


def test_published_figures_only_beside_the_published_schedule() -> None:
    quick = get_suite("aib")
    results = [RunResult("di", 0, {"train": 60.0}, 100_000, 1.0, Path("."), (), "quick")]
    text = summary_markdown(quick, results)
    assert "| di | train | 100,000 | 60.0 +- 0 | 1 | - |" in text
    assert "Budget `quick`: a reduced schedule" in text and "| iqm/train | 0.6 | - |" in text
    assert [row["published"] for row in per_task_table(quick, results)] == [None]
    paper = [_paper_result("di", 0, 60.0, 50.0, 72.2, 30.0)]
    assert [row["published"] for row in per_task_table(PAPER, paper)] == [66.0]
    assert "reduced schedule" not in summary_markdown(PAPER, paper)
    assert "Not comparable" in summary_markdown(PAPER, [_paper_result("di", 0, 60.0, 50.0, 72.2, 30.0, 0.01)])


TINY = ("env.kwargs.delay=2", "env.num_envs=4", "env.eval_num_envs=4", *TINY_MODEL,
        "learn.batch_size=4", "learn.num_critics=3", "train.steps_per_epoch=12", "train.updates_per_epoch=2",
        "train.eval_every=1", "train.eval_episodes=4", "replay.prefetch=2", "explore.sample_eval=false")


@pytest.mark.slow
def test_a_named_budget_runs_scores_per_sign_and_reports(tmp_path: Path, monkeypatch, capsys) -> None:
    """``--budget big``: its own default folder, the budget in score.json, sampled and per-sign scores reported."""
    small = Suite("tiny", "t", (BenchTask("remember", "testing-remember-first", 48, TINY, ("train",), {"train": 1.0},
                                          1.0, 4, published_budget=False),), 1, "test")
    big = Suite("tiny", "t", (BenchTask("remember", "testing-remember-first", 96, TINY, ("train",), {"train": 1.0},
                                        1.0, 4, score_sampled=True),), 1, "test", budget="big")
    monkeypatch.setitem(SUITES, "tiny", small)
    monkeypatch.setitem(suites_mod.OTHER_BUDGETS, "tiny", {"big": big})
    calls = []

    class FakeRun:  # per-sign metrics the test env lacks
        def __init__(self, run_dir, checkpoint):
            self.checkpoint = checkpoint

        def evaluate(self, episodes, overrides):
            sampled = "explore.sample_eval=true" in overrides
            calls.append((self.checkpoint, sampled))
            value = 0.25 if sampled else 0.5 + 0.25 * (self.checkpoint == "ckpt_000001")
            return {"eval/return": value, "eval/task/inverted/return": value - 0.1, "eval/task/normal/return": 0.9}

    monkeypatch.setattr(runner_mod, "load_run", FakeRun)
    monkeypatch.chdir(tmp_path)
    assert cli_main(["bench", "tiny", "--budget", "big", "train.steps_per_epoch=6"]) == 0
    run = tmp_path / "bench" / "tiny-big" / "remember" / "seed_0"
    score = json.loads((run / "score.json").read_text())
    assert score["budget"] == "big" and score["epochs"] == 2  # the budget's 96 env steps at 4 x 12 per epoch
    assert (score["vector_steps"], score["env_steps"]) == (12, 48)  # what ran: 2 epochs of 6 steps of 4 envs
    assert score["scores"] == {"train": 0.75} and score["chosen"] == {"train": "ckpt_000001"}
    assert score["sampled"] == {"train": 0.25} and score["per_task"] == {"train": {"inverted": 0.65, "normal": 0.9}}
    assert sorted(calls) == [("ckpt_000000", False), ("ckpt_000001", False), ("ckpt_000001", True)]
    assert len(read_evals(run)) == 3
    rows = list(csv.DictReader((tmp_path / "bench" / "tiny-big" / "results.csv").open()))
    assert rows[0]["score_inverted"] == "0.65" and rows[0]["budget"] == "big"
    assert "| remember | train | 48 | 12 | 0.75 +- 0 | 0.25 +- 0 | 0.65 +- 0 | 0.9 +- 0 | 1 | 1 |" in (
        tmp_path / "bench" / "tiny-big" / "summary.md").read_text()
    calls.clear()
    assert cli_main(["bench", "tiny", "--budget", "big", "train.steps_per_epoch=6"]) == 0
    assert calls == []  # finished: nothing trained or evaluated again
    assert cli_main(["bench", "tiny"]) == 0  # the default budget: its own folder, its own table
    assert (tmp_path / "bench" / "tiny" / "remember" / "seed_0" / "score.json").exists()
    assert "| - |" in (tmp_path / "bench" / "tiny" / "summary.md").read_text()  # reduced: no published figure
    capsys.readouterr()
