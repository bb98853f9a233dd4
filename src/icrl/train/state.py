"""What a checkpoint holds, and putting it back: weights, the learner's statistics, optimiser, schedule, RNG,
counters, sampler.

Weights and tensor state go to safetensors; everything else is JSON (``icrl.train.checkpoint``); nothing is
pickled, so loading a checkpoint never runs code from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from icrl.train import checkpoint as ckpt
from icrl.train.parts import Parts


@dataclass
class Counters:
    """Progress of a run; saved in every checkpoint and continued on resume."""

    epoch: int = 0  # completed epochs
    env_steps: int = 0  # training env steps, all envs together
    updates: int = 0  # gradient updates
    rollouts: int = 0  # finished training rollouts
    wall_time: float = 0.0  # seconds spent in the epoch loop, summed over sessions


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
    }
    ckpt.save_checkpoint(ckpt_dir, tensors, meta)


def restore(parts: Parts, ckpt_dir) -> Counters | None:
    """Load the latest checkpoint into ``parts``; None when the run has none yet."""
    loaded = ckpt.load_latest(ckpt_dir)
    if loaded is None:
        return None
    tensors, meta = loaded
    ckpt.load_module_state("agent", parts.agent, tensors)
    ckpt.load_module_state("learner", parts.learner.stats, tensors)
    ckpt.load_optimizer_state("optimizer", parts.learner.optimizer, tensors, meta["optimizer"])
    parts.learner.scheduler.load_state_dict(meta["scheduler"])
    parts.learner.num_updates = int(meta["learner_updates"])
    parts.exploration.load_state_dict(meta["exploration"])
    parts.sampler.set_rng_state(meta["sampler"])
    ckpt.set_rng_state(tensors, meta["rng"])
    return Counters(**meta["counters"])
