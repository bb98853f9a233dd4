"""AIB tasks on MuJoCo: dm_control (Cartpole balance, Cheetah run, Ball-in-Cup catch, Walker walk) and gymnasium's
Walker2d / Hopper (no early termination). Contexts are applied to the compiled model at each reset; the pole
and limb lengths, which change geometry and inertia, recompile the model (cached per length).

Needs ``pip install 'icrl[aib]'`` (dm_control, mujoco, gymnasium[mujoco]); imported lazily.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from icrl.errors import MissingExtraError


def _require(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as err:
        raise MissingExtraError(f"this AIB task needs {module.split('.')[0]}: pip install 'icrl[aib]'.") from err


class DMControlTask(gym.Env):
    """A dm_control task as a gymnasium env: flat float32 observations, Box actions, 1000-step episodes."""

    def __init__(self, build: Callable[[dict[str, float]], object], context: dict[str, float],
                 apply: Callable[[object, dict[str, float]], None] | None = None) -> None:
        self._build, self._apply = build, apply
        self._context = dict(context)
        self._envs: dict[tuple, object] = {}
        env = self._env()
        spec = env.action_spec()
        self.action_space = gym.spaces.Box(spec.minimum.astype(np.float32), spec.maximum.astype(np.float32),
                                           spec.shape, np.float32)
        size = sum(int(np.prod(v.shape)) for v in env.observation_spec().values())
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self.max_rollout_steps = 1000

    def _env(self):
        key = tuple(sorted(self._context.items())) if self._apply is None else ()
        if key not in self._envs:
            self._envs[key] = self._build(self._context)
        return self._envs[key]

    def set_context(self, **values: float) -> None:
        self._context.update(values)

    @staticmethod
    def _flat(observation) -> np.ndarray:
        return np.concatenate([np.asarray(v, np.float32).reshape(-1) for v in observation.values()])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        env = self._env()
        env.task.random.seed(int(self.np_random.integers(2**31 - 1)))
        if self._apply is not None:
            self._apply(env.physics, self._context)
        self._current = env
        return self._flat(env.reset().observation), {}

    def step(self, action):
        ts = self._current.step(np.asarray(action, np.float64))
        reward = float(ts.reward or 0.0)
        terminated = bool(ts.last() and ts.discount == 0.0)
        truncated = bool(ts.last() and not terminated)
        return self._flat(ts.observation), reward, terminated, truncated, {}


def _dm_env(physics, task, time_limit: float, **kwargs):
    control = _require("dm_control.rl.control")
    return control.Environment(physics, task, time_limit=time_limit, **kwargs)


def make_cartpole(context: dict[str, float]) -> DMControlTask:
    """Balance with a pole of length 2 * ``pole_length`` (0.5 is dm_control's pole of length 1)."""
    cartpole = _require("dm_control.suite.cartpole")

    def build(ctx: dict[str, float]):
        xml, assets = cartpole.get_model_and_assets()
        length = 2.0 * ctx.get("pole_length", 0.5)
        xml = re.sub(rb'fromto="0 0 0 0 0 1"', f'fromto="0 0 0 0 0 {length:.6f}"'.encode(), xml, count=1)
        physics = cartpole.Physics.from_xml_string(xml, assets)
        task = cartpole.Balance(swing_up=False, sparse=False, random=np.random.RandomState(0))
        return _dm_env(physics, task, time_limit=10.0)

    return DMControlTask(build, context)


_CHEETAH_LIMBS = ("bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")


def scale_cheetah_limbs(xml: bytes, scale: float) -> bytes:
    """Cheetah MJCF with every leg segment ``scale`` times as long: capsule half-lengths, geom offsets and the
    offsets of the joints below them; the torso starts proportionally higher so the feet clear the ground."""
    from xml.etree import ElementTree

    root = ElementTree.fromstring(xml)

    def scaled(text: str, factor: float) -> str:
        return " ".join(f"{float(v) * factor:.6g}" for v in text.split())

    for body in root.iter("body"):
        name = body.get("name")
        if name == "torso":
            x, y, z = (float(v) for v in body.get("pos").split())
            body.set("pos", f"{x:.6g} {y:.6g} {z * max(scale, 1.0):.6g}")
        if name not in _CHEETAH_LIMBS:
            continue
        if name not in ("bthigh", "fthigh"):  # thighs hang from the torso; lower segments from the limb above
            body.set("pos", scaled(body.get("pos"), scale))
        geom = body.find("geom")
        radius, half_length = geom.get("size").split()
        geom.set("pos", scaled(geom.get("pos"), scale))
        geom.set("size", f"{radius} {float(half_length) * scale:.6g}")
    return ElementTree.tostring(root)


def make_cheetah(context: dict[str, float]) -> DMControlTask:
    """Cheetah run whose leg segments are ``limb_length`` times their usual length (one model per length)."""
    cheetah = _require("dm_control.suite.cheetah")

    def build(ctx: dict[str, float]):
        xml, assets = cheetah.get_model_and_assets()
        physics = cheetah.Physics.from_xml_string(scale_cheetah_limbs(xml, ctx.get("limb_length", 1.0)), assets)
        return _dm_env(physics, cheetah.Cheetah(random=np.random.RandomState(0)), time_limit=10.0)

    return DMControlTask(build, context)


def _set_gravity(model, g: float | None) -> None:
    if g is not None:
        model.opt.gravity[:] = (0.0, 0.0, -g)


def make_ball_in_cup(context: dict[str, float]) -> DMControlTask:
    ball_in_cup = _require("dm_control.suite.ball_in_cup")
    base: dict[str, np.ndarray] = {}

    def build(_: dict[str, float]):
        physics = ball_in_cup.Physics.from_xml_string(*ball_in_cup.get_model_and_assets())
        base["tendon"] = physics.model.tendon_range.copy()
        task = ball_in_cup.BallInCup(random=np.random.RandomState(0))
        return _dm_env(physics, task, time_limit=20.0, control_timestep=0.02)

    def apply(physics, ctx: dict[str, float]) -> None:
        _set_gravity(physics.model, ctx.get("gravity"))
        if "string_length" in ctx:
            physics.model.tendon_range[0, 1] = ctx["string_length"]

    return DMControlTask(build, context, apply)


def make_walker(context: dict[str, float]) -> DMControlTask:
    walker = _require("dm_control.suite.walker")
    base: dict[str, np.ndarray] = {}

    def build(_: dict[str, float]):
        physics = walker.Physics.from_xml_string(*walker.get_model_and_assets())
        base["gear"] = physics.model.actuator_gear[:, 0].copy()
        task = walker.PlanarWalker(move_speed=walker._WALK_SPEED, random=np.random.RandomState(0))
        return _dm_env(physics, task, time_limit=25.0, control_timestep=0.025)

    def apply(physics, ctx: dict[str, float]) -> None:
        _set_gravity(physics.model, ctx.get("gravity"))
        physics.model.actuator_gear[:, 0] = base["gear"] * ctx.get("actuator_strength", 1.0)

    return DMControlTask(build, context, apply)


class GymMuJoCoTask(gym.Wrapper):
    """Walker2d-v5 / Hopper-v5 without early termination; gravity and actuator strength set per reset."""

    def __init__(self, env_id: str) -> None:
        _require("mujoco")
        try:
            env = gym.make(env_id, terminate_when_unhealthy=False, max_episode_steps=1000)
        except gym.error.DependencyNotInstalled as err:
            raise MissingExtraError(f"{env_id} needs MuJoCo: pip install 'icrl[aib]'.") from err
        super().__init__(env)
        model = env.unwrapped.model
        self._gear = model.actuator_gear[:, 0].copy()
        self.max_rollout_steps = 1000

    def set_context(self, gravity: float | None = None, actuator_strength: float | None = None) -> None:
        model = self.env.unwrapped.model
        _set_gravity(model, gravity)
        if actuator_strength is not None:
            model.actuator_gear[:, 0] = self._gear * actuator_strength
