"""The five AIB dm_control tasks: the stock suite tasks on models whose XML carries the context (aib.md §1).

Each context edits dm_control's own XML (a recompile per context instance, as the benchmark does); everything
else (reset distribution, reward, control step, 1000-step limit) is the stock suite task:

* cartpole-balance, ``length`` L: the pole runs from (0, 0, 0) to (0, 0, 2|L|) (0.5 is the stock pole of length 1);
  its mass stays 0.1 (set on the geom) and its damping is unchanged. (The published start at +pi for L < 0
  never arises: every split's lengths are positive.)
* cheetah-run, ``length`` s: x and z of ``pos`` and the half-length ``size[1]`` of the six leg geoms, and x and z
  of the body ``pos`` of bshin, bfoot, fshin and ffoot, times s. Torso, head, thigh attachment and radii stay
  as they are; ``settotalmass`` keeps the total mass at 14.
* reacher-easy / hard, ``length`` s: x of the body ``pos`` of hand and finger, and the x-end of the ``fromto`` of
  the geoms arm and hand, times s. Target and finger radii and the target-placement radius are not scaled.
* ball_in_cup-catch, ``gravity`` g and ``distance`` d: gravity (0, 0, -g); string (tendon) range [0, d]; the
  ball's body starts 0.3 - d higher, so the string's slack stays as in the stock model.
* walker-walk, ``gravity`` g and ``actuator_strength`` s: gravity (0, 0, -g); every motor's gear times s.

Needs ``pip install 'icrl[aib]'``; imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree

import numpy as np

from icrl.envs.suites.dmc import DMControlEnv, require

CHEETAH_LEGS = ("bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")
CHEETAH_JOINTED = ("bshin", "bfoot", "fshin", "ffoot")  # bodies hanging from a leg segment (not from the torso)
STOCK_STRING = 0.3  # the stock ball_in_cup string length


def _numbers(text: str) -> list[float]:
    return [float(v) for v in text.split()]


def _text(values: Sequence[float]) -> str:
    return " ".join(repr(float(v)) for v in values)


def _scale(element: ElementTree.Element, attribute: str, factors: Sequence[float]) -> None:
    """Multiplies the components of a numeric attribute by ``factors`` (one per component)."""
    element.set(attribute, _text([v * f for v, f in zip(_numbers(element.get(attribute)), factors)]))


def _named(root: ElementTree.Element, tag: str, name: str) -> ElementTree.Element:
    found = root.find(f".//{tag}[@name='{name}']")
    if found is None:
        raise ValueError(f"the dm_control model has no <{tag} name={name!r}>; has dm_control's XML changed?")
    return found


def _set_gravity(root: ElementTree.Element, gravity: float) -> None:
    option = root.find("option")
    if option is None:
        option = ElementTree.SubElement(root, "option")
    option.set("gravity", _text([0.0, 0.0, -gravity]))


def cartpole_xml(xml: bytes, length: float) -> bytes:
    root = ElementTree.fromstring(xml)
    _named(root, "geom", "pole_1").set("fromto", _text([0.0, 0.0, 0.0, 0.0, 0.0, 2.0 * abs(length)]))
    return ElementTree.tostring(root)


def scale_cheetah_limbs(xml: bytes, scale: float) -> bytes:
    """Cheetah legs ``scale`` times as long (the published rule: see the module docstring); the torso is unchanged."""
    root = ElementTree.fromstring(xml)
    xz = (scale, 1.0, scale)
    for name in CHEETAH_LEGS:
        geom = _named(root, "geom", name)
        _scale(geom, "pos", xz)
        _scale(geom, "size", (1.0, scale))
    for name in CHEETAH_JOINTED:
        _scale(_named(root, "body", name), "pos", xz)
    return ElementTree.tostring(root)


def scale_reacher_arm(xml: bytes, scale: float) -> bytes:
    root = ElementTree.fromstring(xml)
    for name in ("hand", "finger"):
        _scale(_named(root, "body", name), "pos", (scale, 1.0, 1.0))
    for name in ("arm", "hand"):
        _scale(_named(root, "geom", name), "fromto", (1.0, 1.0, 1.0, scale, 1.0, 1.0))
    return ElementTree.tostring(root)


def ball_in_cup_xml(xml: bytes, gravity: float, distance: float) -> bytes:
    root = ElementTree.fromstring(xml)
    _set_gravity(root, gravity)
    _named(root, "spatial", "string").set("range", _text([0.0, distance]))
    ball = _named(root, "body", "ball")
    x, y, z = _numbers(ball.get("pos"))
    ball.set("pos", _text([x, y, z + STOCK_STRING - distance]))
    return ElementTree.tostring(root)


def walker_xml(xml: bytes, gravity: float, actuator_strength: float) -> bytes:
    root = ElementTree.fromstring(xml)
    _set_gravity(root, gravity)
    for motor in root.find("actuator").iter("motor"):
        _scale(motor, "gear", (actuator_strength,))
    return ElementTree.tostring(root)


def make_cartpole(context: dict[str, float]) -> DMControlEnv:
    suite, control = require("dm_control.suite.cartpole"), require("dm_control.rl.control")

    def build(ctx: dict[str, float], random: np.random.RandomState):
        xml, assets = suite.get_model_and_assets()
        physics = suite.Physics.from_xml_string(cartpole_xml(xml, ctx["length"]), assets)
        task = suite.Balance(swing_up=False, sparse=False, random=random)
        return control.Environment(physics, task, time_limit=suite._DEFAULT_TIME_LIMIT)

    return DMControlEnv(build, context)


def make_cheetah(context: dict[str, float]) -> DMControlEnv:
    suite, control = require("dm_control.suite.cheetah"), require("dm_control.rl.control")

    def build(ctx: dict[str, float], random: np.random.RandomState):
        xml, assets = suite.get_model_and_assets()
        physics = suite.Physics.from_xml_string(scale_cheetah_limbs(xml, ctx["length"]), assets)
        return control.Environment(physics, suite.Cheetah(random=random), time_limit=suite._DEFAULT_TIME_LIMIT)

    return DMControlEnv(build, context)


def make_reacher(context: dict[str, float], hard: bool) -> DMControlEnv:
    """Reacher easy (target radius 0.05) or hard (0.015); a step earns 1 within target + finger radius."""
    suite, control = require("dm_control.suite.reacher"), require("dm_control.rl.control")
    target_size = suite._SMALL_TARGET if hard else suite._BIG_TARGET

    def build(ctx: dict[str, float], random: np.random.RandomState):
        xml, assets = suite.get_model_and_assets()
        physics = suite.Physics.from_xml_string(scale_reacher_arm(xml, ctx["length"]), assets)
        task = suite.Reacher(target_size=target_size, random=random)
        return control.Environment(physics, task, time_limit=suite._DEFAULT_TIME_LIMIT)

    return DMControlEnv(build, context)


def make_ball_in_cup(context: dict[str, float]) -> DMControlEnv:
    suite, control = require("dm_control.suite.ball_in_cup"), require("dm_control.rl.control")

    def build(ctx: dict[str, float], random: np.random.RandomState):
        xml, assets = suite.get_model_and_assets()
        physics = suite.Physics.from_xml_string(ball_in_cup_xml(xml, ctx["gravity"], ctx["distance"]), assets)
        return control.Environment(physics, suite.BallInCup(random=random), time_limit=suite._DEFAULT_TIME_LIMIT,
                                   control_timestep=suite._CONTROL_TIMESTEP)

    return DMControlEnv(build, context)


def make_walker(context: dict[str, float]) -> DMControlEnv:
    suite, control = require("dm_control.suite.walker"), require("dm_control.rl.control")

    def build(ctx: dict[str, float], random: np.random.RandomState):
        xml, assets = suite.get_model_and_assets()
        physics = suite.Physics.from_xml_string(walker_xml(xml, ctx["gravity"], ctx["actuator_strength"]), assets)
        task = suite.PlanarWalker(move_speed=suite._WALK_SPEED, random=random)
        return control.Environment(physics, task, time_limit=suite._DEFAULT_TIME_LIMIT,
                                   control_timestep=suite._CONTROL_TIMESTEP)

    return DMControlEnv(build, context)
