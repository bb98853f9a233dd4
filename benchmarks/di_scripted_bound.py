"""What return can a policy reach on our AIB double integrator? A scripted controller gives a lower bound on the best.

The controller is a saturated PD law per axis, ``a = clip(-(kp p + kd v) * sign * mass, -1, 1)``, i.e. a
critically damped target acceleration scaled by the mass so that every instance behaves alike. Its gains are
grid-searched once on the train split. Two versions run on every instance of every split (``--starts`` start
states each, the same for all instances):

* **oracle**: knows the sign and the mass (what a policy that sees the context could reach);
* **probe**: knows neither. It pushes with sign +1 and mass 1.0 at the first step, reads the sign and the mass
  off the velocity change (``dv = dt * sign * a / mass``, exact in this noiseless env) and then acts as the
  oracle. This is what an in-context learner could reach after one step of inference.

The published AER of the method on DI train is 66 (../shared/benchmarks.md); the AIB's normaliser is 100.

    .venv/bin/python benchmarks/di_scripted_bound.py [--starts 50]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from icrl.envs.suites.aib import TASKS
from icrl.envs.suites.contexts import SPLITS, split_instances
from icrl.envs.suites.double_integrator import DT, DoubleIntegrator


def pd_action(p: np.ndarray, v: np.ndarray, sign: float, mass: float, kp: float, kd: float) -> np.ndarray:
    return np.clip(-(kp * p + kd * v) * mass * sign, -1.0, 1.0)


def episode(env: DoubleIntegrator, seed: int, sign: float, kp: float, kd: float, probe: bool) -> float:
    """One episode's return; the env's own mass is used by the oracle and inferred by the probe."""
    obs, _ = env.reset(seed=seed)
    known_sign, known_mass, total, done = sign, env.mass, 0.0, False
    if probe:
        known_sign, known_mass = 1.0, 1.0
    first = True
    while not done:
        p, v = obs[:2].astype(np.float64), obs[2:].astype(np.float64)
        a = pd_action(p, v, known_sign, known_mass, kp, kd)
        if probe and first and not np.any(a):
            a = np.array([1.0, 0.0])  # a null action would reveal nothing
        obs, r, _, truncated, _ = env.step(sign * a)  # the env sees the signed action, as ContextualEnv does
        total, done = total + r, truncated
        if probe and first:
            dv = obs[2:].astype(np.float64) - v  # = DT * sign * a / mass (no friction on DI)
            k = int(np.argmax(np.abs(a)))
            ratio = dv[k] / (DT * a[k])  # sign / mass
            known_sign, known_mass = float(np.sign(ratio)), float(1.0 / abs(ratio))
            first = False
    return total


def split_returns(split: str, starts: int, kp: float, kd: float, probe: bool) -> list[tuple[dict, float]]:
    rows = []
    for ctx in split_instances(TASKS["di"].specs, split):
        env = DoubleIntegrator(mass=ctx["mass"])
        rows.append((ctx, float(np.mean([episode(env, 1000 + s, ctx["action_factor"], kp, kd, probe)
                                         for s in range(starts)]))))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--starts", type=int, default=50, help="start states per instance")
    args = p.parse_args()
    grid = list(itertools.product([1, 2, 4, 6, 9, 12, 16, 25], [1, 2, 3, 4, 6, 8, 10]))
    scores = {(kp, kd): np.mean([r for _, r in split_returns("train", 10, kp, kd, False)]) for kp, kd in grid}
    kp, kd = max(scores, key=scores.get)
    print(f"gains from a grid search on the train split (10 starts per instance): kp={kp} kd={kd}")
    for split in SPLITS:
        oracle = split_returns(split, args.starts, kp, kd, False)
        probe = split_returns(split, args.starts, kp, kd, True)
        mean_oracle, mean_probe = np.mean([r for _, r in oracle]), np.mean([r for _, r in probe])
        print(f"\n{split}: AER oracle {mean_oracle:.1f}, probe {mean_probe:.1f} ({args.starts} starts per instance)")
        print("  sign  mass   oracle  probe")
        for (ctx, ro), (_, rp) in zip(oracle, probe):
            print(f"  {ctx['action_factor']:+.0f}   {ctx['mass']:.3f}  {ro:6.1f}  {rp:6.1f}")


if __name__ == "__main__":
    main()
