"""Checkpoints of earlier versions, which kept PopArt and the entropy temperature in the agent, still resume and
evaluate: reading a checkpoint renames those keys to the learner's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import icrl.testing  # noqa: F401  (registers testing-continuous)
from icrl.config import RunConfig, apply_overrides
from icrl.errors import CheckpointError
from icrl.train import load_run, train
from icrl.train.checkpoint import upgrade_keys
from icrl.train.parts import make_parts
from icrl.train.rundir import checkpoint_dir
from icrl.train.state import restore
from scaffold import tiny_overrides

# Box actions, so that the run has an entropy temperature as well as PopArt statistics, both moved quickly
TINY_BOX = tiny_overrides("env.name=testing-continuous", "learn.target_entropy=auto", "learn.popart_beta=0.1",
                          "learn.alpha_lr=0.1", "train.eval_every=100", "train.epochs=1", "replay.prefetch=1")
# the keys earlier versions wrote for them, all under the agent
EARLIER = {"agent.popart.mu", "agent.popart.nu", "agent.popart.w", "agent.popart.b", "agent.popart.t",
           "agent.temperature.log_alpha"}


def _newest_weights(run: Path) -> Path:
    name = json.loads((checkpoint_dir(run) / "latest.json").read_text())["checkpoint"]
    return checkpoint_dir(run) / name / "weights.safetensors"


@pytest.mark.slow
def test_a_checkpoint_in_the_earlier_layout_resumes_and_evaluates(tmp_path: Path) -> None:
    cfg = apply_overrides(RunConfig(), TINY_BOX)
    run = tmp_path / "run"
    train(cfg, run, progress="off")
    path = _newest_weights(run)
    saved = load_file(str(path))
    learner_keys = {k for k in saved if k.startswith("learner.")}
    assert learner_keys == {"learner." + k[len("agent."):] for k in EARLIER}
    # write the checkpoint as earlier versions did: the statistics under "agent."
    earlier = {("agent." + k[len("learner."):] if k in learner_keys else k): v for k, v in saved.items()}
    assert EARLIER <= earlier.keys() and not any(k.startswith("learner.") for k in earlier)
    save_file(earlier, str(path))

    parts = make_parts(cfg, run)
    try:
        assert restore(parts, checkpoint_dir(run)).epoch == 1
        stats = parts.learner.stats
        assert int(stats.popart.t) > 1 and stats.temperature.log_alpha.item() != 0.0  # moved, then restored
        for key, value in stats.state_dict().items():
            assert torch.equal(value, saved["learner." + key]), key
        for key, value in parts.agent.state_dict().items():
            assert torch.equal(value, saved["agent." + key]), key
    finally:
        parts.close()
    assert load_run(run).evaluate(episodes=2)["eval/rollouts"] == 2
    assert train(apply_overrides(cfg, ["train.epochs=2"]), run, progress="off")["epoch"] == 2  # and trains on
    assert not any(k.startswith("agent.popart.") for k in load_file(str(_newest_weights(run))))  # in today's layout


def test_a_checkpoint_with_both_layouts_is_refused_by_name() -> None:
    both = {"agent.popart.mu": torch.zeros(2), "learner.popart.mu": torch.ones(2), "agent.actor.w": torch.ones(1)}
    with pytest.raises(CheckpointError, match="agent.popart.mu.*learner.popart.mu"):
        upgrade_keys(both)
    assert upgrade_keys({"agent.actor.w": both["agent.actor.w"]}).keys() == {"agent.actor.w"}
