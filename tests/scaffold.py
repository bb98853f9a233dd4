"""Shared test scaffolding: tiny agents and run configs, random padded batches, fresh learner statistics, the
weights of a run's latest checkpoint.

Test modules import it as ``from scaffold import ...``: pytest puts ``tests/`` on the path (``pythonpath`` in
pyproject.toml), which ``--import-mode=importlib`` would not do by itself. It is no test module (not ``test_*``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from icrl.agent import Agent, make_agent
from icrl.config import LearnConfig, ModelConfig, RunConfig
from icrl.learn import LearnerStats, make_learner_stats
from icrl.learn.learner import LOSSES
from icrl.records import Batch
from icrl.spaces import ActionSpec, ObsSpec

AGENTS = ("amago", "multitask")  # the values of learn.agent: tests of a shared contract run for each
OBS = ObsSpec({"x": (3,)}, {"x": "float32"})
SPECS = {"discrete": ActionSpec("discrete", (4,)), "multidiscrete": ActionSpec("multidiscrete", (2, 3)),
         "box": ActionSpec("box", box_dim=2)}

# The tiny model of the command-line tests; TINY_RUN adds a short loop (a few steps, updates and episodes).
TINY_MODEL = ("model.d_model=16", "model.n_layers=1", "model.n_heads=2", "model.encoder_hidden=16",
              "model.encoder_out=16", "model.head_hidden=16")
TINY_RUN = (*TINY_MODEL, "env.num_envs=2", "env.eval_num_envs=2", "learn.batch_size=4", "learn.num_critics=2",
            "train.steps_per_epoch=8", "train.updates_per_epoch=3", "train.eval_every=1", "train.eval_episodes=2",
            "train.epochs=2", "replay.prefetch=2")


def tiny_overrides(*extra: str) -> list[str]:
    """``TINY_RUN`` then ``extra``, for ``apply_overrides`` or ``icrl train``: a later override of a field wins."""
    return [*TINY_RUN, *extra]


def latest_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the run's latest checkpoint (agent, optimiser, statistics), read as plain safetensors."""
    latest = json.loads((run_dir / "checkpoints" / "latest.json").read_text())
    name = next(v for v in latest.values() if isinstance(v, str))
    return load_file(str(run_dir / "checkpoints" / Path(name).name / "weights.safetensors"))


def tiny_agent(spec: ActionSpec | str = "box", obs: ObsSpec = OBS, model: dict | None = None,
               **learn) -> tuple[Agent, LearnConfig]:
    """A one-layer agent without dropout (runs repeat exactly) and its learn config; two discounts (0.9 and the
    default), windows of 12 steps. ``spec``: an ActionSpec or a key of ``SPECS``; ``model``: ModelConfig fields."""
    fields = {"d_model": 16, "n_layers": 1, "n_heads": 2, "encoder_hidden": 16, "encoder_out": 8, "head_hidden": 16,
              "dropout_emb": 0.0, "dropout_ff": 0.0, **(model or {})}
    cfg = RunConfig(model=ModelConfig(**fields), learn=LearnConfig(**{"extra_gammas": (0.9,), **learn}))
    spec = SPECS[spec] if isinstance(spec, str) else spec
    return make_agent(cfg, obs, spec, max_seq_len=12, max_time_idx=32), cfg.learn


def fresh_stats(agent: Agent, cfg: LearnConfig) -> LearnerStats:
    """Learner statistics (PopArt, temperature) as a new learner of ``agent`` starts them."""
    return make_learner_stats(cfg, len(agent.gammas), agent.family.spec)


def agent_loss(agent: Agent, batch: Batch, cfg: LearnConfig, seed: int = 0, stats: LearnerStats | None = None):
    """The loss of ``cfg.agent`` (seeded: the same ensemble subsets and policy samples on every call), under
    ``stats`` or fresh statistics; it moves none. Returns (loss, metrics, StatsUpdate)."""
    torch.manual_seed(seed)
    return LOSSES[cfg.agent](agent, batch, cfg, (stats if stats is not None else fresh_stats(agent, cfg)).view())


def random_actions(spec: ActionSpec, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Uniform Box actions in [-1, 1], or one one-hot block per categorical."""
    if spec.kind == "box":
        return torch.rand(*shape, spec.dim, generator=gen) * 2 - 1
    parts = [torch.nn.functional.one_hot(torch.randint(n, shape, generator=gen), n).float() for n in spec.nvec]
    return torch.cat(parts, -1)


def random_batch(spec: ActionSpec | str = "box", lengths=(6, 4, 2), pad_to: int = 0, seed: int = 0,
                 first_terminates: bool = True) -> Batch:
    """Random rollouts of ``OBS`` of the given lengths, right-padded with zeros to the longest (or ``pad_to``).

    ``first_terminates``: the first rollout ends by termination; the others are cut (the window ends).
    """
    spec = SPECS[spec] if isinstance(spec, str) else spec
    gen = torch.Generator().manual_seed(seed)
    B, L = len(lengths), max(max(lengths), pad_to)
    valid = torch.arange(L)[None] < torch.tensor(lengths)[:, None]

    def keep(x: torch.Tensor) -> torch.Tensor:
        return x * valid.view(B, L, *([1] * (x.dim() - 2))).to(x.dtype)

    terminated = torch.zeros(B, L, dtype=torch.bool)
    if first_terminates:
        terminated[0, lengths[0] - 1] = True
    return Batch({"x": keep(torch.randn(B, L, 3, generator=gen))}, keep(random_actions(spec, (B, L), gen)),
                 keep(torch.randn(B, L, generator=gen)), torch.arange(L).repeat(B, 1) * valid, terminated & valid,
                 valid)
