"""The Actuator Inversion Benchmark tasks by name (``aib/di``, ``aib/cartpole``, ...), as published (aib.md).

``make_env("aib/di", split="eval_out", vector_index=i)`` gives the double integrator holding instance ``i % 20``
of the extrapolation split: a vector of 20 envs covers the split, each env keeping its context all run, as the
benchmark does (``icrl.rollout.make_vector_env`` passes ``vector_index``). ``instance=k`` pins instance k; with
neither, an instance is drawn at every reset. ``TASKS`` records what the benchmark's scripts use per task: the
training budget T in steps of the 20-env vector (so 20 T env transitions), the context size (the method's
sequence length) and the episode length. Context names, ranges and splits: ``icrl.envs.suites.contexts``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym

from icrl.envs.suites.contexts import ACTION_FACTOR, ContextSpec, ContextualEnv, choose_instance, split_instances
from icrl.envs.suites.double_integrator import DoubleIntegrator
from icrl.envs.suites.ode import ODE
from icrl.errors import ICRLError

MASS = ContextSpec("mass", 1.0, (0.5, 1.5), (0.1, 2.0))
FRICTION = ContextSpec("friction", 1.0, (0.5, 1.5), (0.1, 2.0))
POLE_LENGTH = ContextSpec("length", 0.5, (0.3, 0.85), (0.1, 2.0))  # cartpole: half the pole's length
LIMB_LENGTH = ContextSpec("length", 1.0, (0.8, 1.2), (0.4, 1.6))  # cheetah, reacher: a scale
CUP_GRAVITY = ContextSpec("gravity", 9.81, (8.0, 12.0), (1.0, 20.0))
STRING_LENGTH = ContextSpec("distance", 0.3, (0.24, 0.36), (0.1, 0.5))
WALKER_GRAVITY = ContextSpec("gravity", 9.81, (4.91, 14.71), (0.98, 19.62))
ACTUATOR = ContextSpec("actuator_strength", 1.0, (0.5, 1.5), (0.1, 2.0))
PARAMETER_0 = ContextSpec("parameter_0", 0.0, (-5.0, 5.0), (-10.0, 10.0))
PARAMETER_1 = ContextSpec("parameter_1", 0.0, (-5.0, 5.0), (-10.0, 10.0))


@dataclass(frozen=True)
class AIBTask:
    """One benchmark task: its contexts (mesh order) and the published run settings."""

    name: str
    specs: tuple[ContextSpec, ...]  # (context 1, context 2); ACTION_FACTOR second where the task has a sign
    build: Callable[[dict[str, float]], gym.Env]  # first context -> env with set_context(**continuous contexts)
    budget_vector_steps: int  # the published T: steps of the 20-env train vector (20 T env transitions)
    context_size: int  # the published context size (the method's max_seq_len)
    episode_length: int
    extra: str | None  # pip extra needed

    @property
    def has_sign(self) -> bool:
        return ACTION_FACTOR in self.specs


def _dm_control(name: str) -> Callable[[dict[str, float]], gym.Env]:
    def build(context: dict[str, float]) -> gym.Env:
        from icrl.envs.suites import dmc_tasks

        makers = {"cartpole": dmc_tasks.make_cartpole, "cheetah": dmc_tasks.make_cheetah,
                  "reacher-easy": lambda c: dmc_tasks.make_reacher(c, hard=False),
                  "reacher-hard": lambda c: dmc_tasks.make_reacher(c, hard=True),
                  "ball-in-cup": dmc_tasks.make_ball_in_cup, "walker": dmc_tasks.make_walker}
        return makers[name](context)

    return build


def _gymnasium(env_id: str) -> Callable[[dict[str, float]], gym.Env]:
    def build(context: dict[str, float]) -> gym.Env:
        from icrl.envs.suites.gym_mujoco import GymMuJoCoTask

        return GymMuJoCoTask(env_id, context)

    return build


TASKS: dict[str, AIBTask] = {t.name: t for t in [
    AIBTask("di", (MASS, ACTION_FACTOR), lambda c: DoubleIntegrator(**c), 100_000, 24, 100, None),
    AIBTask("di-friction", (MASS, FRICTION), lambda c: DoubleIntegrator(**c), 100_000, 24, 100, None),
    AIBTask("ode", (PARAMETER_0, PARAMETER_1), lambda c: ODE(**c), 100_000, 24, 200, None),
    AIBTask("cartpole", (POLE_LENGTH, ACTION_FACTOR), _dm_control("cartpole"), 100_000, 128, 1000, "aib"),
    AIBTask("cheetah", (LIMB_LENGTH, ACTION_FACTOR), _dm_control("cheetah"), 200_000, 128, 1000, "aib"),
    AIBTask("reacher-easy", (LIMB_LENGTH, ACTION_FACTOR), _dm_control("reacher-easy"), 200_000, 128, 1000, "aib"),
    AIBTask("reacher-hard", (LIMB_LENGTH, ACTION_FACTOR), _dm_control("reacher-hard"), 200_000, 128, 1000, "aib"),
    AIBTask("ball-in-cup", (CUP_GRAVITY, STRING_LENGTH), _dm_control("ball-in-cup"), 200_000, 128, 1000, "aib"),
    AIBTask("walker", (WALKER_GRAVITY, ACTUATOR), _dm_control("walker"), 200_000, 128, 1000, "aib"),
    AIBTask("walker2d", (WALKER_GRAVITY, ACTUATOR), _gymnasium("Walker2d-v5"), 500_000, 128, 1000, "aib"),
    AIBTask("hopper", (WALKER_GRAVITY, ACTUATOR), _gymnasium("Hopper-v5"), 500_000, 128, 1000, "aib"),
]}


def make_aib(name: str, split: str = "train", instance: int | None = None, vector_index: int | None = None,
             observe_sign: bool = False, observe_previous: bool = False) -> ContextualEnv:
    """AIB task ``name`` on a context instance of ``split`` (see the module docstring for which instance).

    ``observe_sign=True`` shows the hidden sign in the observation: an oracle for diagnosis, not the benchmark.
    ``observe_previous=True`` appends the previous observation: a one-step memory for memoryless policies
    (diagnosis too; see ``ContextualEnv``). The env is built on its first context, so an env that keeps one
    instance compiles one model.
    """
    task = TASKS.get(name)
    if task is None:
        raise ICRLError(f"unknown AIB task {name!r}; available: {', '.join(TASKS)}.")
    instances = split_instances(task.specs, split)
    first = instances[choose_instance(instance, vector_index, len(instances)) or 0]
    env = task.build({k: v for k, v in first.items() if k != ACTION_FACTOR.name})
    return ContextualEnv(env, task.specs, split, instance, vector_index, observe_sign=observe_sign,
                         observe_previous=observe_previous)
