"""Does a run's state carry the hidden actuator sign? A check for runs with ``learn.dynamics_coeff`` > 0.

The next-step prediction head sees only ``[s_t, a_t]`` (``icrl.learn.auxiliary``). On windows from the run's
replay buffer this prints its loss (standardised units) five ways:

* ``true``: as trained;
* ``negated history``: every previous action in the sequence model's input negated, the head's a_t kept. The
  history then shows the opposite sign, so a state that carries the inferred sign predicts a_t's effect
  backwards: the loss rises towards ``negated action``. A state without the sign is not affected;
* ``negated action`` / ``zero action``: a_t negated or zeroed at the head (how much a_t matters at all);
* ``shuffled state``: states permuted across the batch (how much the state matters at all).

    .venv/bin/python benchmarks/sign_probe.py RUN_DIR
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from icrl.learn.amago import encode_window
from icrl.train import state
from icrl.train.parts import make_parts
from icrl.train.rundir import load_config, run_dir_lock

VARIANTS = ("true", "negated history", "negated action", "zero action", "shuffled state")


def probe(cfg, run_dir: Path, batches: int) -> tuple:
    parts = make_parts(cfg, run_dir)
    try:
        counters = state.restore(parts, run_dir / "checkpoints")
        if counters is None:
            raise SystemExit(f"{run_dir} has no checkpoint yet.")
        agent = parts.agent.train(False)
        if agent.dynamics is None:
            raise SystemExit(f"{run_dir} was trained without the prediction head (learn.dynamics_coeff=0).")
        losses: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for i in range(batches):
            batch = parts.sampler.sample(2_000_000 + i)  # batch numbers the run itself never drew
            mask = batch.transition_mask
            with torch.no_grad():
                x = agent.encoder.normalized_vector_input(batch.obs, batch.prev_action, batch.prev_reward)
                k = agent.encoder.predictable_dim
                x_now = x[:, :-1][mask]
                target = agent.dynamics.target_norm.normalize(x[:, 1:][mask][..., :k] - x_now[..., :k])
                a = batch.actions[mask].float()
                s = encode_window(agent, batch).s_now
                s_neg = encode_window(agent, dataclasses.replace(batch, prev_action=-batch.prev_action)).s_now
                s_shuffled = s[torch.randperm(s.shape[0], generator=torch.Generator().manual_seed(i))]
                inputs = {"true": (s, a), "negated history": (s_neg, a), "negated action": (s, -a),
                          "zero action": (s, 0 * a), "shuffled state": (s_shuffled, a)}
                for name, (states, actions) in inputs.items():
                    losses[name].append(((agent.dynamics(states, actions) - target) ** 2).mean().item())
    finally:
        parts.close()
    return counters, {name: sum(v) / len(v) for name, v in losses.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--batches", type=int, default=8, help="training batches to sample (default 8)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.run_dir)
    with run_dir_lock(args.run_dir):
        counters, losses = probe(cfg, args.run_dir, args.batches)
    print(f"{args.run_dir}: epoch {counters.epoch}, {counters.updates} updates; next-step prediction loss, "
          f"mean over {args.batches} batches")
    for name, value in losses.items():
        print(f"  {name:<16} {value:.4f}")


if __name__ == "__main__":
    main()
