"""The Actuator Inversion Benchmark tasks by name (``aib/di``, ``aib/cartpole``, ...), with their contexts.

``make_env("aib/di", split="eval_out")`` gives the double integrator whose contexts are drawn from the
extrapolation split; ``instance=i`` pins one of its 20 instances. Context ranges, episode lengths and the AER
normalisers follow ../shared/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym

from icrl.envs.suites.contexts import ContextSpec, ContextualEnv
from icrl.envs.suites.double_integrator import DoubleIntegrator
from icrl.errors import ICRLError

MASS = ContextSpec("mass", 1.0, (0.5, 1.5), (0.1, 2.0))
FRICTION = ContextSpec("friction", 1.0, (0.5, 1.5), (0.1, 2.0))
POLE_LENGTH = ContextSpec("pole_length", 0.5, (0.3, 0.85), (0.1, 2.0))
LIMB_LENGTH = ContextSpec("limb_length", 1.0, (0.8, 1.2), (0.4, 1.6))
CUP_GRAVITY = ContextSpec("gravity", 9.81, (8.0, 12.0), (1.0, 20.0))
STRING_LENGTH = ContextSpec("string_length", 0.3, (0.24, 0.36), (0.1, 0.5))
WALKER_GRAVITY = ContextSpec("gravity", 9.81, (4.91, 14.71), (0.98, 19.62))
ACTUATOR = ContextSpec("actuator_strength", 1.0, (0.5, 1.5), (0.1, 2.0))


@dataclass(frozen=True)
class AIBTask:
    name: str
    specs: tuple[ContextSpec, ...]
    build: Callable[[], gym.Env]  # an env with set_context(**values)
    normaliser: float | None  # AER divisor of the normalised aggregate (None: not in the aggregate)
    budget_steps: int  # the paper's training budget in env steps
    extra: str | None  # pip extra needed


def _mujoco(name: str) -> Callable[[], gym.Env]:
    def build() -> gym.Env:
        from icrl.envs.suites import mujoco_tasks

        if name in ("Walker2d-v5", "Hopper-v5"):
            return mujoco_tasks.GymMuJoCoTask(name)
        maker = {"cartpole": mujoco_tasks.make_cartpole, "cheetah": mujoco_tasks.make_cheetah,
                 "ball_in_cup": mujoco_tasks.make_ball_in_cup,
                 "walker": mujoco_tasks.make_walker}[name]
        return maker({})

    return build


TASKS: dict[str, AIBTask] = {t.name: t for t in [
    AIBTask("di", (MASS,), DoubleIntegrator, 100.0, 100_000, None),
    AIBTask("di-friction", (FRICTION,), lambda: DoubleIntegrator(friction=1.0), 100.0, 100_000, None),
    AIBTask("cartpole", (POLE_LENGTH,), _mujoco("cartpole"), 1000.0, 100_000, "aib"),
    AIBTask("cheetah", (LIMB_LENGTH,), _mujoco("cheetah"), 1000.0, 200_000, "aib"),
    AIBTask("ball-in-cup", (CUP_GRAVITY, STRING_LENGTH), _mujoco("ball_in_cup"), 1000.0, 200_000, "aib"),
    AIBTask("walker", (WALKER_GRAVITY, ACTUATOR), _mujoco("walker"), 1000.0, 200_000, "aib"),
    AIBTask("walker2d", (WALKER_GRAVITY, ACTUATOR), _mujoco("Walker2d-v5"), None, 500_000, "aib"),
    AIBTask("hopper", (WALKER_GRAVITY, ACTUATOR), _mujoco("Hopper-v5"), None, 500_000, "aib"),
]}


def make_aib(name: str, split: str = "train", instance: int | None = None, observe_sign: bool = False,
             observe_previous: bool = False) -> gym.Env:
    """``observe_sign=True`` shows the hidden sign in the observation: an oracle for diagnosis, not the benchmark.

    ``observe_previous=True`` appends the previous observation: a one-step memory for memoryless policies
    (diagnosis too; see ``ContextualEnv``)."""
    task = TASKS.get(name)
    if task is None:
        raise ICRLError(f"unknown AIB task {name!r}; available: {', '.join(TASKS)}.")
    return ContextualEnv(task.build(), task.specs, split, instance, observe_sign=observe_sign,
                         observe_previous=observe_previous)
