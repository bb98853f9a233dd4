"""End to end through ``icrl train``: MultiBinary and Box actions, and the GRU and LSTM sequence models.

Each run is a few updates of tiny networks (seconds): it must finish, leave a loadable checkpoint with the
sequence model it was asked for, and log finite metrics only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from safetensors.torch import load_file

from icrl.cli import main as cli_main
from icrl.train.logging import read_metrics
from scaffold import tiny_overrides

TINY = tiny_overrides("train.eval_every=2")


@pytest.mark.parametrize(("env_name", "sequence"), [("testing-multibinary", "transformer"),
                                                    ("testing-continuous", "transformer"),
                                                    ("testing-multibinary", "gru"),
                                                    ("testing-continuous", "lstm")])
@pytest.mark.slow
def test_train_command_runs_action_spaces_and_sequence_models(tmp_path: Path, env_name: str, sequence: str) -> None:
    run = tmp_path / "run"
    overrides = [f"env.name={env_name}", f"model.sequence={sequence}", *TINY]
    assert cli_main(["train", *overrides, "--no-progress", "--run-dir", str(run)]) == 0
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())["checkpoint"]
    weights = load_file(str(run / "checkpoints" / latest / "weights.safetensors"))
    rnn_weights = [k for k in weights if k.startswith("agent.sequence.rnn.")]
    assert bool(rnn_weights) == (sequence != "transformer")
    if sequence == "lstm":  # 4 gates: input, forget, cell, output
        assert weights["agent.sequence.rnn.weight_hh_l0"].shape == (4 * 16, 16)
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2] and rows[-1]["updates"] == 6
    assert "eval/return" in rows[-1] and "critic/loss" in rows[-1]
    for row in rows:
        bad = {k: v for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)}
        assert not bad, f"non-finite metrics: {bad}"
