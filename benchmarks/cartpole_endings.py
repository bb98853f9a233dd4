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
from collections import defaultdict
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from icrl.train import evaluate_run


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
    endings: list[tuple[int, float, float, float, float]] = []
    carts: list[CartPoleEnv] = []  # the simulators, for their own track and angle limits

    def recording(factory):
        def make() -> gym.Env:
            env = _RecordEnding(factory(), endings)
            carts.append(env.unwrapped)
            return env
        return make

    # inline envs: the recorder's list must live in this process
    metrics = evaluate_run(args.run_dir, args.episodes, greedy=True,
                           overrides=["env.vector=inline", "train.device=cpu"], wrap_env=recording)
    by_kind: dict[str, list[tuple[int, float, float, float, float]]] = defaultdict(list)
    for ending in endings:
        by_kind[classify(ending[1], ending[3], carts[0])].append(ending)
    lengths = np.array([e[0] for e in endings])
    # Envs that finish their share early start more episodes while the others catch up: all of them are counted.
    print(f"{args.run_dir}, latest checkpoint, most likely action: {len(endings)} episodes ended "
          f"(mean return of the evaluator's {metrics['eval/rollouts']:.0f}: {metrics['eval/return']:.3f})")
    print(f"episode length: median {np.median(lengths):.0f}, min {lengths.min()}, max {lengths.max()}")
    for kind, rows in sorted(by_kind.items(), key=lambda item: -len(item[1])):
        length, x, theta = (np.mean([abs(r[i]) for r in rows]) for i in (0, 1, 3))
        print(f"  {kind:<26} {len(rows):>3}  mean length {length:6.1f}  mean |x| {x:.2f}  mean |theta| {theta:.3f} rad")


if __name__ == "__main__":
    main()
