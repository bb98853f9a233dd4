"""Has the critic caught up with the returns? Q(s, a) of a run's latest checkpoint against discounted returns.

Samples training windows from the run's replay buffer, evaluates the main discount's critic (ensemble mean, in
reward-multiplied units) at the stored actions, and compares it with the discounted sum of the window's rewards
to its end. That sum is a lower bound of the behaviour policy's value wherever the window ends before the
rollout (time limits and chunks end it too), so a critic far *below* it has not propagated the rewards yet;
``1 / (tau (1 - gamma^n))`` updates is the time its target network needs for that (README, "Continuous control
on a CPU budget"). Continuous-action critics only (the AMAGO agent's action-input critic).

    .venv/bin/python benchmarks/critic_vs_returns.py bench/aib-quick/cartpole/seed_0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from icrl.learn.amago import encode_window
from icrl.nets.heads import ContinuousCritic
from icrl.train import state
from icrl.train.parts import make_parts
from icrl.train.rundir import load_config, run_dir_lock


def discounted_to_window_end(rewards: np.ndarray, mask: np.ndarray, gamma: float) -> np.ndarray:
    """rewards, mask (B, T) -> sum_{k>=0} gamma^k r_{t+k} over the valid part of each window (B, T)."""
    out = np.zeros_like(rewards)
    acc = np.zeros(rewards.shape[0])
    for t in reversed(range(rewards.shape[1])):
        acc = rewards[:, t] + gamma * acc * mask[:, t]
        out[:, t] = acc
    return out


def measure(cfg, run_dir: Path, batches: int) -> tuple:
    """Counters of the latest checkpoint, and Q(s, a_buf), returns to the window's end and rewards (flat)."""
    parts = make_parts(cfg, run_dir)
    try:
        counters = state.restore(parts, run_dir / "checkpoints")
        if counters is None:
            raise SystemExit(f"{run_dir} has no checkpoint yet.")
        agent = parts.agent.train(False)
        if not isinstance(agent.critic, ContinuousCritic):
            kind = type(agent.critic).__name__
            raise SystemExit(f"this check reads an action-input critic; {run_dir} has a {kind}.")
        q_all, ret_all, rew_all = [], [], []
        for i in range(batches):
            batch = parts.sampler.sample(1_000_000 + i)  # batch numbers the run itself never drew
            with torch.no_grad():
                w = encode_window(agent, batch)
                q = agent.popart.denormalize(agent.critic(w.s_now, w.a_buf).float())[..., -1].mean(-1)
            mask = batch.transition_mask.numpy()
            rewards = cfg.learn.reward_multiplier * batch.prev_reward[:, 1:].numpy()
            ret_all.append(discounted_to_window_end(rewards, mask, cfg.learn.gamma)[mask])
            q_all.append(q.numpy())
            rew_all.append(rewards[mask])
    finally:
        parts.close()
    return counters, np.concatenate(q_all), np.concatenate(ret_all), np.concatenate(rew_all)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--batches", type=int, default=8, help="training batches to sample (default 8)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.run_dir)
    # Opening the replay store deletes a killed writer's temporary files: a live trainer's too, so hold the lock
    # (a run that is training is refused with the holder's pid).
    with run_dir_lock(args.run_dir):
        counters, q, ret, rew = measure(cfg, args.run_dir, args.batches)
    top = np.zeros(ret.size, bool)
    top[np.argsort(ret)[-max(1, ret.size // 20):]] = True  # the 5% largest returns (ties broken by position)
    print(f"{args.run_dir}: epoch {counters.epoch}, {counters.updates} updates, "
          f"tau {cfg.learn.tau}, gamma {cfg.learn.gamma}, n_step {cfg.learn.n_step}; {q.size} transitions")
    print(f"reward per step {rew.mean():.4f} (x{cfg.learn.reward_multiplier:g}); "
          f"reward / (1 - gamma) = {rew.mean() / (1 - cfg.learn.gamma):.2f}")
    print(f"mean Q(s, a_buf) {q.mean():.3f}   mean discounted return to window end {ret.mean():.3f}   "
          f"correlation {np.corrcoef(q, ret)[0, 1]:.3f}")
    print(f"top 5% of returns: return {ret[top].mean():.2f}, Q {q[top].mean():.2f}; "
          f"the rest: return {ret[~top].mean():.2f}, Q {q[~top].mean():.2f}")


if __name__ == "__main__":
    main()
