"""Meta-World meta-RL benchmarks (Yu et al. 2019): ``metaworld/ML1/<task>``, ``metaworld/ML10``, ``metaworld/ML45``.

A rollout is ``attempts`` consecutive episodes of ``episode_length`` (500) steps at one sampled task, through
``icrl.envs.KAttempts`` (the method's ``KEpisodeMetaworld`` protocol, its AMAGO-2 benchmark): ML1 samples one of
the 50 goal positions of one manipulation task, ML10 / ML45 first sample one of their 10 / 45 training tasks
(``split="test"``: the 5 held-out ones). The goal is hidden (Meta-World's ML setting): the agent finds it by
trying, and its memory carries what it found into the next attempt (``attempt_start`` marks the soft reset).

An attempt succeeds when Meta-World reports success on any of its steps (``attempt_i/success``, ``success``); the
rollout's task name is reported (``info["task"]``), so ML10 / ML45 evaluations are broken down per task.
Observation: ``observation`` (39,) float32 (end-effector, gripper, object poses; goal zeroed), ``attempt``,
``attempt_start``. Actions: Box(4) in [-1, 1]. Needs ``pip install 'icrl[metaworld]'`` (metaworld 3.x pins its
own MuJoCo, 3.3.0: install it in an environment without the ``aib`` extra, whose dm_control needs a newer one).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from icrl.envs.trials import KAttempts
from icrl.errors import ConfigError, ICRLError, MissingExtraError

BENCHMARKS = ("ML1", "ML10", "ML45")


def _import_metaworld():
    try:
        import metaworld
    except ImportError as err:
        raise MissingExtraError("Meta-World needs the metaworld package: pip install 'icrl[metaworld]'.") from err
    except ValueError as err:  # a MuJoCo whose model layout metaworld does not know
        raise MissingExtraError(f"metaworld failed to load ({err}); it needs mujoco==3.3.0: "
                                "pip install 'icrl[metaworld]' in an environment of its own.") from err
    return metaworld


class MetaWorldTasks(gym.Env):
    """One env per Meta-World task class (built on first use); ``sample_task`` / ``set_task`` pick the class and
    its goal, as ``KAttempts`` expects."""

    def __init__(self, benchmark: str, task: str | None = None, split: str = "train", seed: int = 0) -> None:
        if benchmark not in BENCHMARKS:
            raise ConfigError(f"unknown Meta-World benchmark {benchmark!r}; choose one of {', '.join(BENCHMARKS)}.")
        if split not in ("train", "test"):
            raise ConfigError(f"metaworld split={split!r} is invalid: 'train' or 'test'.")
        metaworld = _import_metaworld()
        if benchmark == "ML1":
            names = sorted(metaworld.ML1.ENV_NAMES)
            if task not in names:
                raise ICRLError(f"metaworld/ML1 needs a known task, e.g. metaworld/ML1/reach-v3; got {task!r}. "
                                f"Tasks: {', '.join(names)}.")
            suite = metaworld.ML1(task, seed=seed)
        else:
            if task:
                raise ConfigError(f"metaworld/{benchmark} samples its own tasks; drop the '/{task}' suffix.")
            suite = getattr(metaworld, benchmark)(seed=seed)
        self.classes = suite.train_classes if split == "train" else suite.test_classes
        self.tasks = suite.train_tasks if split == "train" else suite.test_tasks
        self.task_names = tuple(self.classes)
        self.envs: dict[str, gym.Env] = {}
        self.current = self._env(self.tasks[0].env_name)
        self.current_name = self.tasks[0].env_name
        self.current.set_task(self.tasks[0])
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, self.current.observation_space.shape, np.float32)
        self.action_space = self.current.action_space
        self.max_path_length = int(self.current.max_path_length)
        self._succeeded = False

    def _env(self, name: str) -> gym.Env:
        if name not in self.envs:
            self.envs[name] = self.classes[name]()
        return self.envs[name]

    def sample_task(self, rng: np.random.Generator) -> int:
        return int(rng.integers(len(self.tasks)))

    def set_task(self, index: int) -> None:
        task = self.tasks[index]
        self.current, self.current_name = self._env(task.env_name), task.env_name
        self.current.set_task(task)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        obs, info = self.current.reset(seed=seed)
        self._succeeded = False
        return np.asarray(obs, np.float32), {**info, "task": self.current_name}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.current.step(np.asarray(action, np.float32))
        self._succeeded = self._succeeded or bool(info.get("success", 0.0))
        info = {**info, "success": self._succeeded, "task": self.current_name}
        return np.asarray(obs, np.float32), float(reward), bool(terminated), bool(truncated), info


def make_metaworld(name: str, attempts: int = 3, episode_length: int = 500, split: str = "train",
                   seed: int = 0) -> gym.Env:
    """``ML1/<task>``, ``ML10`` or ``ML45`` (see the module docstring), ``attempts`` episodes per rollout."""
    benchmark, _, task = name.partition("/")
    inner = MetaWorldTasks(benchmark, task or None, split, seed)
    if not 1 <= episode_length <= inner.max_path_length:
        raise ConfigError(f"metaworld episode_length must be in [1, {inner.max_path_length}], got {episode_length}.")
    return KAttempts(inner, attempts, episode_length)
