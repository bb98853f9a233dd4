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

import dataclasses

import torch
from _checkpoint_probe import latest_checkpoint, parse_args, unseen_batches

from icrl.learn.amago import encode_window
from icrl.learn.auxiliary import dynamics_target

VARIANTS = ("true", "negated history", "negated action", "zero action", "shuffled state")


def probe(parts, batches: int) -> dict[str, float]:
    """Variant -> prediction loss, averaged over ``batches`` unseen batches."""
    agent = parts.agent
    if agent.dynamics is None:
        raise SystemExit("the run was trained without the prediction head (learn.dynamics_coeff=0).")
    losses: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for i, batch in enumerate(unseen_batches(parts, batches)):
        with torch.no_grad():
            target = dynamics_target(agent, batch)  # eval mode: the head's statistics stay as trained
            a = batch.actions[batch.transition_mask].float()
            s = encode_window(agent, batch).s_now
            s_neg = encode_window(agent, dataclasses.replace(batch, prev_action=-batch.prev_action)).s_now
            s_shuffled = s[torch.randperm(s.shape[0], generator=torch.Generator().manual_seed(i))]
            inputs = {"true": (s, a), "negated history": (s_neg, a), "negated action": (s, -a),
                      "zero action": (s, 0 * a), "shuffled state": (s_shuffled, a)}
            for name, (states, actions) in inputs.items():
                losses[name].append(((agent.dynamics(states, actions) - target) ** 2).mean().item())
    return {name: sum(v) / len(v) for name, v in losses.items()}


def main() -> None:
    args = parse_args(__doc__)
    with latest_checkpoint(args.run_dir) as (parts, counters):
        losses = probe(parts, args.batches)
    print(f"{args.run_dir}: epoch {counters.epoch}, {counters.updates} updates; next-step prediction loss, "
          f"mean over {args.batches} batches")
    for name, value in losses.items():
        print(f"  {name:<16} {value:.4f}")


if __name__ == "__main__":
    main()
