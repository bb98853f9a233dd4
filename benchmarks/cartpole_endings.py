"""How do a CartPole-family run's episodes end? Time limit, cart off the track, or pole fallen.

For runs on an env built on gymnasium's ``CartPoleEnv`` (POPGym's StatelessCartPole / PositionOnlyCartPole,
NoisyPositionOnlyCartPole, VelocityOnlyCartPole; ``CartPole-v1``). Rolls the run's latest checkpoint with the
most likely action and reads the simulator's hidden state at each episode's last step, so a return below the
maximum can be traced to what failed: a policy that balances the pole but lets the cart drift off the track
needs a different fix from one that drops the pole.

    .venv/bin/python benchmarks/cartpole_endings.py RUN_DIR [--episodes 48]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from icrl.agent import make_agent
from icrl.rollout import evaluate
from icrl.train import checkpoint as ckpt
from icrl.train.parts import probe_env
from icrl.train.rundir import checkpoint_dir, load_config


class _RecordEnding(gym.Wrapper):
    """Appends (steps, x, x_dot, theta, theta_dot) of the hidden state when an episode ends."""

    def __init__(self, env: gym.Env, endings: list[tuple[int, float, float, float, float]]) -> None:
        super().__init__(env)
        if not isinstance(env.unwrapped, CartPoleEnv):
            raise SystemExit(f"{type(env.unwrapped).__name__} is not built on gymnasium's CartPoleEnv.")
        self.endings, self.steps = endings, 0

    def reset(self, **kwargs):
        self.steps = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        out = self.env.step(action)
        self.steps += 1
        if out[2] or out[3]:
            self.endings.append((self.steps, *map(float, np.asarray(self.env.unwrapped.state)[:4])))
        return out


def classify(x: float, theta: float, cart: CartPoleEnv) -> str:
    if abs(x) > cart.x_threshold:
        return "cart off the track, " + ("left" if x < 0 else "right")
    if abs(theta) > cart.theta_threshold_radians:
        return "pole fallen"
    return "time limit"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--episodes", type=int, default=48)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.run_dir)
    env = probe_env(cfg)
    agent = make_agent(cfg, env.obs_spec, env.action_spec, env.max_seq_len, env.max_time_idx)
    loaded = ckpt.load_latest(checkpoint_dir(args.run_dir))
    if loaded is None:
        raise SystemExit(f"{args.run_dir} has no checkpoint yet.")
    ckpt.load_module_state("agent", agent, loaded[0])
    agent.eval()
    endings: list[tuple[int, float, float, float, float]] = []
    metrics = evaluate(agent, lambda: _RecordEnding(env.factory(), endings), env.action_spec, cfg.env.name,
                       cfg.env.eval_num_envs, args.episodes, torch.device("cpu"), sample=False,
                       seed=cfg.train.seed + 99_999)
    cart = gym.make("CartPole-v1").unwrapped
    kinds = Counter(classify(x, theta, cart) for _, x, _, theta, _ in endings)
    lengths = np.array([e[0] for e in endings])
    # Envs that finish their share early start more episodes while the others catch up: all of them are counted.
    print(f"{args.run_dir} ({cfg.env.name}), latest checkpoint, most likely action: {len(endings)} episodes ended "
          f"(mean return of the evaluator's {metrics['eval/rollouts']:.0f}: {metrics['eval/return']:.3f})")
    print(f"episode length: median {np.median(lengths):.0f}, min {lengths.min()}, max {lengths.max()}")
    for kind, count in kinds.most_common():
        rows = [e for e in endings if classify(e[1], e[3], cart) == kind]
        length, x, theta = (np.mean([abs(r[i]) for r in rows]) for i in (0, 1, 3))
        print(f"  {kind:<26} {count:>3}  mean length {length:6.1f}  mean |x| {x:.2f}  mean |theta| {theta:.3f} rad")


if __name__ == "__main__":
    main()
