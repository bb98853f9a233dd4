"""A run directory opened for use: ``load_run(run_dir)`` -> its config, its agent at a checkpoint, and its envs.

Nothing of the training machinery is built (no optimiser, replay buffer, sampler or collector) and nothing in the
run directory is written, so a run can be evaluated while it trains::

    run = icrl.load_run("runs/meta-frozen-lake")
    run.evaluate(episodes=24)                          # the metrics training's evaluation logs
    env = run.make_env(["env.kwargs.size=6"])          # one env, with an evaluation-only override
    venv = run.make_envs("train")                      # the training vector (env.num_envs envs)
    evaluate_instructions(run, ["collect_coal"])       # Crafter: success per instruction evaluated alone

Evaluation-only overrides change where and how the agent is evaluated, never the model: they may set env fields
(e.g. ``env.kwargs.split=eval_out``, a held-out context split) and the fields of ``EVAL_FIELDS``; an env they
build must still give the observations and actions the agent was trained on.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import torch

from icrl.agent import Agent, make_agent
from icrl.config import RunConfig, apply_overrides
from icrl.device import pick_device
from icrl.envs import InContextEnv, make_env
from icrl.envs.suites.crafter import instruction_name, parse_instruction
from icrl.errors import CheckpointError, ConfigError
from icrl.rollout import evaluate, make_vector_env
from icrl.spaces import ActionSpec, ObsSpec
from icrl.train import checkpoint as ckpt
from icrl.train.parts import probe_env
from icrl.train.rundir import checkpoint_dir, load_config

EnvFactory = Callable[..., gym.Env]
# Besides every env field: what evaluation may change without touching what was learned.
EVAL_FIELDS = ("explore.sample_eval", "train.eval_episodes", "train.seed", "train.device", "train.threads",
               "train.precision")


def eval_config(cfg: RunConfig, overrides: Sequence[str] = ()) -> RunConfig:
    """``cfg`` with evaluation-only ``overrides`` (``section.field=value``); ConfigError names any other field."""
    keys = [o.split("=", 1)[0].strip() for o in overrides]
    bad = [k for k in keys if not (k.startswith("env.") or k in EVAL_FIELDS)]
    if bad:
        raise ConfigError(f"{bad} would change the trained run, not how it is evaluated; evaluation overrides may set "
                          f"env.* and {', '.join(EVAL_FIELDS)}. Train a new run to change the others.")
    return apply_overrides(cfg, list(overrides))


@dataclass(frozen=True, eq=False)  # identity equality: comparing two agents' weights is not what == should do
class SavedRun:
    """A run directory's config and its agent at one checkpoint (eval mode, on ``device``); makes its envs."""

    run_dir: Path
    config: RunConfig
    agent: Agent
    checkpoint: str  # the checkpoint the weights come from, e.g. "ckpt_000012"
    progress: dict[str, float]  # the run's counters at that checkpoint: epoch, env_steps, updates, ...
    device: torch.device
    obs_spec: ObsSpec
    action_spec: ActionSpec

    def env_factory(self, overrides: Sequence[str] = ()) -> EnvFactory:
        """``factory(vector_index=None) -> env`` of the run's env with evaluation-only ``overrides``; each env is
        checked against the agent's observations and actions."""
        cfg = eval_config(self.config, overrides)
        return functools.partial(self._make_checked, cfg.env.name, dict(cfg.env.kwargs), tuple(overrides))

    def _make_checked(self, name: str, kwargs: dict, overrides: tuple[str, ...],
                      vector_index: int | None = None) -> InContextEnv:
        env = make_env(name, vector_index=vector_index, **kwargs)
        if env.obs_spec != self.obs_spec or env.action_spec != self.action_spec:
            env.close()
            raise ConfigError(f"with {list(overrides)}, env {name!r} gives observations {env.obs_spec} and actions "
                              f"{env.action_spec}, but the agent of {self.run_dir} was trained on {self.obs_spec} "
                              f"and {self.action_spec}; drop the overrides that change what the env shows.")
        return env

    def make_env(self, overrides: Sequence[str] = (), vector_index: int | None = None) -> InContextEnv:
        """One env of the run (wrapped for in-context learning), with evaluation-only ``overrides``."""
        return self.env_factory(overrides)(vector_index=vector_index)

    def make_envs(self, which: str = "eval", overrides: Sequence[str] = ()) -> gym.vector.VectorEnv:
        """The run's vector env as training ("train": ``env.num_envs``) or evaluation ("eval": ``env.eval_num_envs``)
        builds it (env i gets ``vector_index=i``), with evaluation-only ``overrides``."""
        if which not in ("train", "eval"):
            raise ConfigError(f"make_envs(which={which!r}): use 'train' or 'eval'.")
        cfg = eval_config(self.config, overrides)
        num_envs = cfg.env.num_envs if which == "train" else cfg.env.eval_num_envs
        return make_vector_env(self.env_factory(overrides), num_envs, cfg.env.vector)

    def evaluate(self, episodes: int | None = None, greedy: bool = False, overrides: Sequence[str] = (),
                 wrap_env: Callable[[EnvFactory], EnvFactory] | None = None) -> dict[str, float]:
        """The metrics of training's evaluation (``eval/...``) over ``episodes`` fresh rollouts.

        ``episodes`` defaults to ``train.eval_episodes``; ``greedy`` takes the policy's mode instead of sampling
        (which follows ``explore.sample_eval``); ``wrap_env`` wraps the env factory (e.g. to record what the
        metrics do not, such as how episodes end).
        """
        cfg = eval_config(self.config, overrides)
        factory = self.env_factory(overrides)
        factory = wrap_env(factory) if wrap_env else factory
        return evaluate(self.agent, factory, self.action_spec, cfg.env.name, cfg.env.eval_num_envs,
                        episodes or cfg.train.eval_episodes, self.device, sample=cfg.explore.sample_eval and not greedy,
                        seed=cfg.train.seed + 99_999, mode=cfg.env.vector)


def load_run(run_dir: Path | str, checkpoint: str | None = None, device: str | None = None) -> SavedRun:
    """Open ``run_dir``: its saved config and an agent with the weights of its latest readable checkpoint.

    ``checkpoint`` names one instead (``ckpt_000012``); ``device`` overrides ``train.device``. An unreadable latest
    checkpoint falls back to the one before, as resuming does. CheckpointError when ``run_dir`` is not a run
    directory, has no checkpoint yet, or none of its checkpoints is readable or fits the saved config.
    """
    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    root = checkpoint_dir(run_dir)
    if checkpoint is not None:
        name, (tensors, meta) = checkpoint, ckpt.load_checkpoint(root, checkpoint)
    elif (found := ckpt.load_latest_named(root)) is not None:
        name, tensors, meta = found
    else:
        raise CheckpointError(f"{run_dir} has no checkpoint yet; train first (`icrl train --run-dir {run_dir}`), "
                              "or wait for its first epoch to finish.")
    setup = pick_device(device or cfg.train.device, cfg.train.threads, cfg.train.precision)
    env = probe_env(cfg)
    agent = make_agent(cfg, env.obs_spec, env.action_spec, env.max_seq_len, env.max_time_idx)
    ckpt.load_module_state("agent", agent, tensors)
    agent.to(setup.device).eval()
    return SavedRun(run_dir, cfg, agent, name, dict(meta.get("counters", {})), setup.device, env.obs_spec,
                    env.action_spec)


def evaluate_instructions(run: SavedRun, instructions: Sequence[str], episodes: int | None = None,
                          greedy: bool = False, overrides: Sequence[str] = ()) -> list[dict]:
    """Success per instruction of an instruction-following run (``crafter-instructions``), like the paper's table.

    The first row, ``(generated)``, evaluates the run's own instructions; then each instruction (achievements
    joined by ``+``) alone (``env.kwargs.instructions=[it]``). Instructions longer than the env's goal slots are
    skipped. Rows: ``instruction``, ``success``, ``goals`` (fraction completed) and ``rollouts``.
    """
    slots = run.obs_spec.shapes.get("goals")
    if not slots:
        raise ConfigError(f"a per-instruction table needs an env that observes its instruction as 'goals' "
                          f"(crafter-instructions); {run.config.env.name!r} of {run.run_dir} does not.")
    jobs = [("(generated)", list(overrides))]
    for spec in instructions:
        names = parse_instruction(spec)
        if len(names) <= slots[0]:
            name = instruction_name(names)
            jobs.append((name, [*overrides, f"env.kwargs.instructions={json.dumps([name])}"]))
    rows = []
    for name, job_overrides in jobs:
        m = run.evaluate(episodes=episodes, greedy=greedy, overrides=job_overrides)
        rows.append({"instruction": name, "success": m["eval/success"], "goals": m["eval/goals"],
                     "rollouts": int(m["eval/rollouts"])})
    return rows
