"""Checkpoints (safetensors + JSON, atomic, fall back when corrupt), metric files and plots."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from icrl.errors import CheckpointError, ICRLError
from icrl.train.checkpoint import (
    load_latest,
    load_module_state,
    load_optimizer_state,
    module_state,
    optimizer_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from icrl.train.logging import Progress, RunLogger, read_metrics
from icrl.train.plots import plot_run, steps_label


def test_round_trip_keep_and_latest(tmp_path) -> None:
    for i in range(4):
        save_checkpoint(tmp_path, {"w": torch.full((3,), float(i))}, {"epoch": i})
    assert sorted(p.name for p in tmp_path.glob("ckpt_*")) == ["ckpt_000002", "ckpt_000003"]
    assert json.loads((tmp_path / "latest.json").read_text()) == {"checkpoint": "ckpt_000003"}
    tensors, meta = load_latest(tmp_path)
    assert meta == {"epoch": 3} and torch.equal(tensors["w"], torch.full((3,), 3.0))
    assert set(load_file(str(tmp_path / "ckpt_000003" / "weights.safetensors"))) == {"w"}  # plain safetensors


def test_no_checkpoint_is_none(tmp_path) -> None:
    assert load_latest(tmp_path) is None


def test_corrupt_newest_falls_back_then_errors(tmp_path) -> None:
    save_checkpoint(tmp_path, {"w": torch.zeros(2)}, {"epoch": 0})
    save_checkpoint(tmp_path, {"w": torch.ones(2)}, {"epoch": 1})
    (tmp_path / "ckpt_000001" / "weights.safetensors").write_bytes(b"\x00" * 10)
    tensors, meta = load_latest(tmp_path)
    assert meta["epoch"] == 0
    (tmp_path / "ckpt_000000" / "meta.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        load_latest(tmp_path)


def test_stale_temporary_checkpoint_is_ignored_and_cleaned(tmp_path) -> None:
    save_checkpoint(tmp_path, {"w": torch.zeros(2)}, {"epoch": 0})
    stale = tmp_path / ".ckpt_000001.deadbeef.tmp"  # a save killed before its rename
    stale.mkdir()
    (stale / "weights.safetensors").write_bytes(b"partial")
    assert load_latest(tmp_path)[1]["epoch"] == 0
    save_checkpoint(tmp_path, {"w": torch.ones(2)}, {"epoch": 1})
    assert not stale.exists() and load_latest(tmp_path)[1]["epoch"] == 1


def test_model_optimizer_and_rng_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randn(8, 3)
    for _ in range(3):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    opt_tensors, opt_meta = optimizer_state("optimizer", opt)
    rng_tensors, rng_meta = rng_state()
    save_checkpoint(tmp_path, {**module_state("model", model), **opt_tensors, **rng_tensors},
                    {"optimizer": opt_meta, "rng": rng_meta})
    expected = (torch.rand(3), np.random.rand(), random.random())

    model2 = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2)
    tensors, meta = load_latest(tmp_path)
    load_module_state("model", model2, tensors)
    load_optimizer_state("optimizer", opt2, tensors, meta["optimizer"])
    set_rng_state(tensors, meta["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.random.rand() == expected[1] and random.random() == expected[2]
    for m, o in ((model, opt), (model2, opt2)):  # one more identical step on both
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_from_another_model_is_refused(tmp_path) -> None:
    save_checkpoint(tmp_path, module_state("model", torch.nn.Linear(3, 4)), {})
    tensors, _ = load_latest(tmp_path)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_module_state("model", torch.nn.Linear(3, 5), tensors)


def test_logger_files_and_torn_lines(tmp_path) -> None:
    logger = RunLogger(tmp_path, use_tensorboard=True)
    logger.log({"epoch": 1, "train/return": 0.5}, step=1)
    logger.log({"epoch": 2, "env_steps": 200, "eval/return": 1.0}, step=2)
    logger.log({"epoch": 3, "env_steps": 300, "eval/return": 2.0, "eval/success": 1.0}, step=3)
    logger.close()
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 4, "eval/ret')  # a kill in the middle of a line
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1, 2, 3]
    with open(tmp_path / "eval.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["2.0", "3.0"] and rows[0]["eval/success"] == ""
    assert any((tmp_path / "tb").iterdir())
    RunLogger(tmp_path, use_tensorboard=False).close()  # reopening drops the torn line
    assert (tmp_path / "metrics.jsonl").read_text().endswith("}\n")


def test_plots_are_pngs(tmp_path) -> None:
    with pytest.raises(ICRLError, match="no metrics"):
        plot_run(tmp_path)
    logger = RunLogger(tmp_path, use_tensorboard=False)
    for epoch in range(1, 4):
        logger.log({"epoch": epoch, "env_steps": 100 * epoch, "train/return": 0.1 * epoch,
                    "eval/return": 0.2 * epoch, "eval/attempt_1/success": 0.1, "eval/attempt_2/success": 0.3},
                   step=epoch)
    logger.close()
    written = plot_run(tmp_path)
    assert {p.name for p in written} == {"learning_curve.png", "attempts.png"}
    for p in written:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_env_step_ticks_are_short() -> None:
    assert [steps_label(x) for x in (0, 500, 2500, 20_000, 12_500, 1_500_000)] == \
        ["0", "500", "2.5k", "20k", "12.5k", "1.5M"]


def test_plain_progress_lines(capsys) -> None:
    progress = Progress(10, mode="auto")  # stderr is not a terminal under pytest: plain lines
    progress.update(3, ret="0.5")
    progress.close()
    assert "epoch 3/10 ret=0.5" in capsys.readouterr().err
    Progress(10, mode="off").update(1, ret="x")
    assert capsys.readouterr().err == ""


def test_progress_bar_mode_draws_a_bar(capsys) -> None:
    pytest.importorskip("tqdm")
    progress = Progress(10, initial=2, mode="bar", label="run-a")
    progress.update(3, ret="0.5")
    progress.update(4, ret="0.7")
    progress.close()
    err = capsys.readouterr().err
    assert "run-a" in err and "4/10" in err and "ret=0.7" in err and "epoch 4/10" not in err  # a bar, not lines
    with pytest.raises(ValueError, match="progress mode"):
        Progress(10, mode="fancy")


def test_wandb_logging_in_offline_mode(tmp_path, monkeypatch) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    run_dir = tmp_path / "run"
    logger = RunLogger(run_dir, use_tensorboard=False, use_wandb=True, wandb_project="icrl-test",
                       config={"learn": {"lr": 0.001}})
    logger.log({"epoch": 1, "train/return": 0.5}, step=10)
    logger.log({"epoch": 2, "eval/return": 1.5}, step=20)
    logger.close()
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb")), list((run_dir / "wandb").iterdir())
    assert [r["epoch"] for r in read_metrics(run_dir)] == [1, 2]
