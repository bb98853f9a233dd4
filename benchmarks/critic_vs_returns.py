"""Has the critic caught up with the returns? Q(s, a) of a run's latest checkpoint against discounted returns.

Samples training windows from the run's replay buffer, evaluates the main discount's critic (ensemble mean, in
reward-multiplied units) at the stored actions, and compares it with the discounted sum of the window's rewards
to its end. That sum is a lower bound of the behaviour policy's value wherever the window ends before the
rollout (time limits and chunks end it too), so a critic far *below* it has not propagated the rewards yet;
``1 / (tau (1 - gamma^n))`` updates is the time its target network needs for that (README, "Continuous control
on a CPU budget"). Then how much Q varies with the action at the same states: a critic whose value hardly moves
with the action gives the actor nothing to follow. Continuous-action critics only (the AMAGO agent's
action-input critic).

    .venv/bin/python benchmarks/critic_vs_returns.py bench/aib-quick/cartpole/seed_0
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from _checkpoint_probe import latest_checkpoint, parse_args, unseen_batches

from icrl.learn.amago import encode_window
from icrl.nets.heads import ContinuousCritic


def discounted_to_window_end(rewards: np.ndarray, mask: np.ndarray, gamma: float) -> np.ndarray:
    """rewards, mask (B, T) -> sum_{k>=0} gamma^k r_{t+k} over the valid part of each window (B, T)."""
    out = np.zeros_like(rewards)
    acc = np.zeros(rewards.shape[0])
    for t in reversed(range(rewards.shape[1])):
        acc = rewards[:, t] + gamma * acc * mask[:, t]
        out[:, t] = acc
    return out


ACTION_SAMPLES = 64  # uniform random actions per state for the action spread


def action_spread(critic: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], s: torch.Tensor, num_gammas: int,
                  action_dim: int, gen: torch.Generator) -> torch.Tensor:
    """Per state (N,): max - min of the main discount's Q (ensemble mean) over uniform random actions in [-1, 1].

    ``critic(s (N, D), actions (N, G, A))`` -> Q (N, C, G), as ``ContinuousCritic`` in reward units.

    Near 0 the critic ignores the action, and the actor's gradient through it (DPG) has nothing to follow.
    """
    n = s.shape[0]
    actions = torch.rand(ACTION_SAMPLES, n, 1, action_dim, generator=gen) * 2 - 1
    q = torch.stack([critic(s, a.expand(n, num_gammas, action_dim))[..., -1].mean(-1) for a in actions], 1)
    return q.max(1).values - q.min(1).values


def measure(parts, batches: int) -> tuple:
    """Q(s, a_buf), returns to the window's end, rewards and Q's spread over actions (flat) on unseen batches."""
    cfg, agent = parts.cfg, parts.agent
    if not isinstance(agent.critic, ContinuousCritic):
        raise SystemExit(f"this check reads an action-input critic; the run has a {type(agent.critic).__name__}.")
    q_all, ret_all, rew_all, spread_all = [], [], [], []
    gen = torch.Generator().manual_seed(0)
    critic = lambda s, a: agent.popart.denormalize(agent.critic(s, a).float())  # noqa: E731  (reward units)
    for batch in unseen_batches(parts, batches):
        with torch.no_grad():
            w = encode_window(agent, batch)
            q = critic(w.s_now, w.a_buf)[..., -1].mean(-1)
            spread_all.append(action_spread(critic, w.s_now, w.a_buf.shape[-2], w.a_buf.shape[-1], gen).numpy())
        mask = batch.transition_mask.numpy()
        rewards = cfg.learn.reward_multiplier * batch.prev_reward[:, 1:].numpy()
        ret_all.append(discounted_to_window_end(rewards, mask, cfg.learn.gamma)[mask])
        q_all.append(q.numpy())
        rew_all.append(rewards[mask])
    return tuple(np.concatenate(x) for x in (q_all, ret_all, rew_all, spread_all))


def main() -> None:
    args = parse_args(__doc__)
    with latest_checkpoint(args.run_dir) as (parts, counters):
        cfg = parts.cfg
        q, ret, rew, spread = measure(parts, args.batches)
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
    print(f"Q spread over {ACTION_SAMPLES} random actions per state (max - min): median {np.median(spread):.4f}, "
          f"90th percentile {np.quantile(spread, 0.9):.4f}; median |Q| {np.median(np.abs(q)):.3f}")


if __name__ == "__main__":
    main()
