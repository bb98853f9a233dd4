"""How often does exploration find the AIB double integrator's goal? Returns of fixed behaviours, no learning.

DI's reward is 1 for every step within 0.1 of the origin, so an off-policy learner only sees a reward when its
exploratory actions happen to bring the mass there. This rolls out, on the 20 instances of a split (both
signs), behaviours an untrained agent shows and one that solves the task:

* ``uniform``: actions uniform in [-1, 1]^2 (a policy at maximum entropy, or epsilon = 1);
* ``gaussian 0.5``: N(0, 0.5^2) clipped (a policy whose mean is 0 plus the suite's starting exploration noise);
* ``PD, sign known``: ``u = sign * clip(-2 p - 2.5 v)``, a controller told the hidden sign (an upper reference);
* ``PD, sign wrong``: the same controller with the opposite sign.

For each: mean return (0-100), the share of episodes that reach the goal at least once, mean goal steps of
those episodes, and the share of episodes that end against a wall of the [-2, 2]^2 box (position clipped there;
the velocity is not, so a mass pushed into a wall keeps its outward speed).

    .venv/bin/python benchmarks/di_exploration.py [--episodes-per-instance 50] [--split train]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from icrl.envs.suites.aib import TASKS, make_aib
from icrl.envs.suites.contexts import SPLITS, split_instances

Behaviour = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def pd_controller(obs: np.ndarray, sign: float) -> np.ndarray:
    return sign * np.clip(-2.0 * obs[:2] - 2.5 * obs[2:4], -1.0, 1.0)


BEHAVIOURS: dict[str, Behaviour] = {
    "uniform": lambda obs, sign, rng: rng.uniform(-1.0, 1.0, 2),
    "gaussian 0.5": lambda obs, sign, rng: np.clip(0.5 * rng.normal(size=2), -1.0, 1.0),
    "PD, sign known": lambda obs, sign, rng: pd_controller(obs, sign),
    "PD, sign wrong": lambda obs, sign, rng: pd_controller(obs, -sign),
}


def episode_returns(behaviour: Behaviour, split: str, episodes_per_instance: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(returns, whether each episode ended against a wall)."""
    rng = np.random.default_rng(seed)
    instances = split_instances(TASKS["di"].specs, split)
    returns, at_wall = [], []
    for i, context in enumerate(instances):
        env = make_aib("di", split=split, instance=i)
        for k in range(episodes_per_instance):
            obs, _ = env.reset(seed=seed + 1000 * i + k)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(behaviour(obs, context["sign"], rng))
                total += reward
                done = terminated or truncated
            returns.append(total)
            at_wall.append(bool(np.any(np.abs(obs[:2]) >= 2.0)))
    return np.asarray(returns), np.asarray(at_wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes-per-instance", type=int, default=50)
    parser.add_argument("--split", default="train", choices=SPLITS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    instances = len(split_instances(TASKS["di"].specs, args.split))
    n = instances * args.episodes_per_instance
    print(f"AIB DI, split {args.split}: {n} episodes per behaviour ({instances} instances, both signs)")
    print(f"{'behaviour':<16} {'mean return':>12} {'episodes reaching the goal':>28} {'goal steps when reached':>25}"
          f" {'ending at a wall':>18}")
    for name, behaviour in BEHAVIOURS.items():
        returns, at_wall = episode_returns(behaviour, args.split, args.episodes_per_instance, args.seed)
        reached = returns > 0
        when = returns[reached].mean() if reached.any() else 0.0
        print(f"{name:<16} {returns.mean():>12.2f} {reached.mean():>27.1%} {when:>25.1f} {at_wall.mean():>17.1%}")


if __name__ == "__main__":
    main()
