"""How often does exploration find the AIB double integrator's goal? Returns of fixed behaviours, no learning.

DI's reward is 1 for every step within 0.1 of the origin, so an off-policy learner only sees a reward when its
exploratory actions happen to bring the mass there. This rolls out, on the 20 instances of a split (both
signs), behaviours an untrained agent shows and one that solves the task:

* ``uniform``: actions uniform in [-1, 1]^2 (a policy at maximum entropy, or epsilon = 1);
* ``gaussian 0.5``: N(0, 0.5^2) clipped (a policy whose mean is 0 plus the suite's starting exploration noise);
* ``PD, sign known``: ``u = sign * clip(-2 p - 2.5 v)``, a controller told the hidden sign (an upper reference);
* ``PD, sign wrong``: the same controller with the opposite sign;
* ``AR(1) rho``: temporally correlated (coloured) noise, ``n_t = rho n_{t-1} + sqrt(1 - rho^2) e_t`` with
  ``e_t ~ N(0, I)`` and ``n_0 ~ N(0, I)`` drawn anew each episode, action ``clip(n_t)``; ``rho = 0`` is white
  N(0, 1) noise, and the correlation time is about ``1 / (1 - rho)`` steps. Such noise moves a mass further in
  one episode than white noise does: does it find the goal more often?

For each: mean return (0-100), the share of episodes that reach the goal at least once, mean goal steps of
those episodes, and the share of episodes that end against a wall of the [-1, 1]^2 box (position and velocity
are both clipped to [-1, 1], as published).

    .venv/bin/python benchmarks/di_exploration.py [--episodes-per-instance 50] [--split train]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from icrl.envs.suites.aib import TASKS, make_aib
from icrl.envs.suites.contexts import SPLITS, split_instances

Policy = Callable[[np.ndarray, float], np.ndarray]  # (observation, hidden sign) -> action
Behaviour = Callable[[np.random.Generator], Policy]  # called at the start of every episode (fresh noise state)


def pd_controller(obs: np.ndarray, sign: float) -> np.ndarray:
    return sign * np.clip(-2.0 * obs[:2] - 2.5 * obs[2:4], -1.0, 1.0)


def correlated_noise(rho: float) -> Behaviour:
    """AR(1) noise with unit stationary variance and lag-one correlation ``rho``, clipped to the action box."""
    def start(rng: np.random.Generator) -> Policy:
        state = rng.normal(size=2)

        def act(obs: np.ndarray, sign: float) -> np.ndarray:
            nonlocal state
            state = rho * state + np.sqrt(1.0 - rho**2) * rng.normal(size=2)
            return np.clip(state, -1.0, 1.0)
        return act
    return start


BEHAVIOURS: dict[str, Behaviour] = {
    "uniform": lambda rng: lambda obs, sign: rng.uniform(-1.0, 1.0, 2),
    "gaussian 0.5": lambda rng: lambda obs, sign: np.clip(0.5 * rng.normal(size=2), -1.0, 1.0),
    "PD, sign known": lambda rng: pd_controller,
    "PD, sign wrong": lambda rng: lambda obs, sign: pd_controller(obs, -sign),
    **{f"AR(1) {rho}": correlated_noise(rho) for rho in (0.0, 0.5, 0.9, 0.98)},
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
            policy = behaviour(rng)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(policy(obs, context["action_factor"]))
                total += reward
                done = terminated or truncated
            returns.append(total)
            at_wall.append(bool(np.any(np.abs(obs[:2]) >= 1.0)))
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
