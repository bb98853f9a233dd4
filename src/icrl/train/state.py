"""What a checkpoint holds, and putting it back: weights, the learner's statistics, optimiser, schedule, RNG,
counters, sampler.

Weights and tensor state go to safetensors; everything else is JSON (``icrl.train.checkpoint``); nothing is
pickled, so loading a checkpoint never runs code from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from icrl.errors import CheckpointError
from icrl.fsutil import remove_temps
from icrl.train import checkpoint as ckpt
from icrl.train.parts import Parts
from icrl.train.status import SessionReport


@dataclass
class Counters:
    """Progress of a run; saved in every checkpoint and continued on resume."""

    epoch: int = 0  # completed epochs
    env_steps: int = 0  # training env steps, all envs together
    updates: int = 0  # gradient updates
    rollouts: int = 0  # finished training rollouts
    wall_time: float = 0.0  # seconds spent in the epoch loop, summed over sessions
    dropped_rollouts: int = 0  # rollouts unfinished at a checkpoint a later session resumed from (not continued)


def save(parts: Parts, ckpt_dir, counters: Counters) -> None:
    tensors = ckpt.module_state("agent", parts.agent)
    tensors.update(ckpt.module_state("learner", parts.learner.stats))
    opt_tensors, opt_meta = ckpt.optimizer_state("optimizer", parts.learner.optimizer)
    rng_tensors, rng_meta = ckpt.rng_state()
    tensors.update(opt_tensors)
    tensors.update(rng_tensors)
    meta = {
        "counters": asdict(counters),
        "optimizer": opt_meta,
        "scheduler": parts.learner.scheduler.state_dict(),
        "learner_updates": parts.learner.num_updates,
        "rng": rng_meta,
        "exploration": parts.exploration.state_dict(),
        "sampler": parts.sampler.rng_state(),
        "in_flight": parts.collector.in_flight(),
        "buffer_next_seq": parts.store.next_seq,
    }
    ckpt.save_checkpoint(ckpt_dir, tensors, meta)


def restore(parts: Parts, ckpt_dir: Path) -> Counters | None:
    """Load the newest readable checkpoint into ``parts``; its counters, None when the run has none yet."""
    counters, report = resume(parts, ckpt_dir)
    return None if report.resumed_from is None else counters


def resume(parts: Parts, ckpt_dir: Path) -> tuple[Counters, SessionReport]:
    """Load the newest readable checkpoint into ``parts``: (its counters, what was found); fresh counters when
    the run has no checkpoint yet.

    What a resume restores exactly: weights, optimiser, schedule, normalisation statistics, the Python, NumPy and
    torch RNGs, the exploration schedule and its RNG, and the sampler's batch counter. What it cannot restore:
    env states. The envs start new rollouts; those unfinished at the checkpoint are dropped and counted
    (``dropped_rollouts``), and their exploration multipliers are redrawn.
    """
    ckpt_dir = Path(ckpt_dir)
    report = SessionReport(temp_files_removed=parts.store.removed_partial +
                           (remove_temps(ckpt_dir) if ckpt_dir.is_dir() else 0))
    loaded = ckpt.find_latest(ckpt_dir)
    if loaded is None:
        return Counters(), report
    try:
        counters = _apply(parts, loaded.tensors, loaded.meta)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise CheckpointError(f"checkpoint {ckpt_dir / loaded.name} does not hold what a checkpoint of this "
                              f"version holds ({type(err).__name__}: {err}); delete it to resume from the one before, "
                              "or start a new run directory.") from err
    report.resumed_from, report.counters, report.rejected_checkpoints = loaded.name, asdict(counters), loaded.rejected
    report.dropped_rollouts = int(loaded.meta.get("in_flight", 0))
    counters.dropped_rollouts += report.dropped_rollouts
    if report.dropped_rollouts:
        parts.exploration.on_rollout_end(np.ones(parts.cfg.env.num_envs, dtype=bool))
    next_seq = loaded.meta.get("buffer_next_seq")
    if next_seq is not None:
        report.files_after_checkpoint = sum(e.seq >= next_seq and not e.protected for e in parts.store.index())
    return counters, report


def _apply(parts: Parts, tensors: dict, meta: dict) -> Counters:
    ckpt.load_module_state("agent", parts.agent, tensors)
    ckpt.load_module_state("learner", parts.learner.stats, tensors)
    ckpt.load_optimizer_state("optimizer", parts.learner.optimizer, tensors, meta["optimizer"])
    parts.learner.scheduler.load_state_dict(meta["scheduler"])
    parts.learner.num_updates = int(meta["learner_updates"])
    parts.exploration.load_state_dict(meta["exploration"])
    parts.sampler.set_rng_state(meta["sampler"])
    ckpt.set_rng_state(tensors, meta["rng"])
    return Counters(**meta["counters"])
