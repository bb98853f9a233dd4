"""The Actuator Inversion Benchmark as published (../shared/aib.md): splits, instances, dynamics, contexts, vectors."""

from __future__ import annotations

import functools
import importlib.util
import sys

import gymnasium as gym
import numpy as np
import pytest

from icrl.envs import make_env
from icrl.envs.suites.aib import TASKS, make_aib
from icrl.envs.suites.contexts import SPLITS, ContextualEnv, split_instances, split_values
from icrl.envs.suites.double_integrator import DoubleIntegrator
from icrl.envs.suites.ode import band_reward
from icrl.errors import ICRLError, MissingExtraError
from icrl.rollout import make_vector_env

has_mujoco = importlib.util.find_spec("dm_control") is not None and importlib.util.find_spec("mujoco") is not None
needs_aib = pytest.mark.skipif(not has_mujoco, reason="needs the aib extra")
SIGNED = ("di", "cartpole", "cheetah", "reacher-easy", "reacher-hard")

# aib.md §3, verbatim: (value, sign) of the 20 instances per split
PUBLISHED = {
    ("di", "train"): "0.5-, .5408+, .602-, .6429+, .7041-, .7653-, .8061+, .8673-, .9082+, .9694-, 1.0306-, "
                     "1.0714+, 1.1327-, 1.1735+, 1.2347-, 1.2959-, 1.3367+, 1.398-, 1.4388+, 1.5+",
    ("di", "eval_in"): ".51-, .55+, .61-, .65+, .71-, .77-, .81+, .87-, .91+, .97-, 1.03-, 1.07+, 1.13-, 1.17+, "
                       "1.23-, 1.29-, 1.33+, 1.39-, 1.43+, 1.49+",
    ("di", "eval_out"): ".1-, .1325+, .1813-, .2138+, .2625-, .3113-, .3438+, .3925-, .425+, .4738-, 1.5304-, "
                        "1.5712+, 1.6325-, 1.6733+, 1.7346-, 1.7958-, 1.8367+, 1.8979-, 1.9388+, 2.0+",
    ("cartpole", "train"): ".3-, .3224+, .3561-, .3786+, .4122-, .4459-, .4684+, .502-, .5245+, .5582-, .5918-, "
                           ".6143+, .648-, .6704+, .7041-, .7378-, .7602+, .7939-, .8163+, .85+",
    ("cartpole", "eval_in"): ".3055-, .3275+, .3605-, .3825+, .4155-, .4485-, .4705+, .5035-, .5255+, .5585-, "
                             ".5915-, .6135+, .6465-, .6685+, .7015-, .7345-, .7565+, .7895-, .8115+, .8445+",
    ("cartpole", "eval_out"): ".1-, .1162+, .1405-, .1567+, .181-, .2054-, .2216+, .2459-, .2621+, .2864-, "
                              ".9032-, .9986+, 1.1416-, 1.237+, 1.3801-, 1.5231-, 1.6185+, 1.7616-, 1.8569+, 2.0+",
}


@pytest.mark.parametrize("task,split", sorted(PUBLISHED))
def test_instances_are_the_published_ones(task, split) -> None:
    expected = [(float(item[:-1]), -1.0 if item[-1] == "-" else 1.0) for item in PUBLISHED[task, split].split(", ")]
    name = "mass" if task == "di" else "length"
    got = [(c[name], c["action_factor"]) for c in split_instances(TASKS[task].specs, split)]
    assert got == expected  # exact: the published values are rounded to 4 decimals, and so are ours
    assert sum(sign < 0 for _, sign in got) == 11


@pytest.mark.parametrize("split", SPLITS)
def test_two_continuous_contexts_take_20_distinct_points_of_the_2500_mesh(split) -> None:
    specs = TASKS["walker"].specs
    first, second = (split_values(s, split) for s in specs)
    instances = split_instances(specs, split)
    points = [(c["gravity"], c["actuator_strength"]) for c in instances]
    assert len(set(points)) == 20 and set(instances[0]) == {"gravity", "actuator_strength"}
    for k, point in enumerate(points):
        i = int(np.floor(k * 2499 / 19))  # floor(linspace(0, N - 1, 20))[k] of the (ctx1, ctx2)-sorted mesh
        assert point == (first[i // 50], second[i % 50])


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("split", SPLITS)
def test_every_split_stays_in_its_ranges(task, split) -> None:
    specs = TASKS[task].specs
    instances = split_instances(specs, split)
    assert len(instances) == 20 and len({tuple(c.values()) for c in instances}) == 20
    for spec in specs:
        values = np.array([c[spec.name] for c in instances])
        lo, hi = spec.in_range
        if spec.values is not None:
            assert set(values) == set(spec.values)  # both signs in every split
        elif split == "eval_out":
            assert np.all((values < lo) | (values > hi))
            assert values.min() >= spec.out_range[0] and values.max() <= spec.out_range[1]
        else:
            assert np.all((values >= lo) & (values <= hi))


def test_split_values_follow_the_published_rule() -> None:
    mass = TASKS["di"].specs[0]
    train, inner, outer = (split_values(mass, s) for s in SPLITS)
    np.testing.assert_array_equal(train, np.round(np.linspace(0.5, 1.5, 50), 4))
    np.testing.assert_array_equal(inner, np.round(np.linspace(0.51, 1.49, 50), 4))
    np.testing.assert_array_equal(outer, np.round(np.r_[np.linspace(0.1, 0.49, 25), np.linspace(1.51, 2.0, 25)], 4))
    with pytest.raises(ICRLError, match="unknown context split"):
        split_values(mass, "test")


def test_task_records_hold_the_published_settings() -> None:
    assert set(TASKS) == {"di", "di-friction", "ode", "cartpole", "cheetah", "reacher-easy", "reacher-hard",
                          "ball-in-cup", "walker", "walker2d", "hopper"}
    assert {n for n, t in TASKS.items() if t.has_sign} == set(SIGNED)
    budgets = {n: t.budget_vector_steps for n, t in TASKS.items()}
    assert {n for n, b in budgets.items() if b == 100_000} == {"cartpole", "ode", "di", "di-friction"}
    assert {n for n, b in budgets.items() if b == 500_000} == {"hopper", "walker2d"}
    assert {n for n, t in TASKS.items() if t.context_size == 24} == {"ode", "di", "di-friction"}
    assert all(t.context_size == 128 for n, t in TASKS.items() if n not in ("ode", "di", "di-friction"))
    assert [TASKS[n].episode_length for n in ("di", "ode", "walker")] == [100, 200, 1000]


def _reference_di(seed: int, context: dict[str, float], actions: np.ndarray):
    """The published DI (aib.md §1) written out: start state, then (obs, reward) per action."""
    rng, _ = gym.utils.seeding.np_random(seed)
    p = rng.uniform(-1.0, 1.0, 2)
    while not (abs(p[0]) > 0.8 and abs(p[1]) > 0.8):
        p = rng.uniform(-1.0, 1.0, 2)
    v = np.zeros(2)
    mass, friction, af = context["mass"], context.get("friction", 0.0), context.get("action_factor", 1.0)
    yield np.r_[p, v].astype(np.float32), 0.0
    for a in actions:
        force = np.clip(af * np.asarray(a, np.float64), -1.0, 1.0)  # in double precision
        p, v = p + v * 0.1, v * (1.0 - 0.1 * friction / mass) + force * 0.1 / mass
        p, v = np.clip(p, -1.0, 1.0), np.clip(v, -1.0, 1.0)
        yield np.r_[p, v].astype(np.float32), float(np.hypot(*p) <= 0.1)


@pytest.mark.parametrize("task", ["di", "di-friction"])
def test_di_replays_the_published_dynamics_exactly_for_every_train_instance(task) -> None:
    """Start state, every observation, every reward and the 100-step limit, instance by instance; a noisy
    controller that knows the context brings many episodes to the goal, so the reward is tested too."""
    rng = np.random.default_rng(0)
    rewarded = 0
    for i, context in enumerate(split_instances(TASKS[task].specs, "train")):
        env = make_aib(task, instance=i)
        obs, info = env.reset(seed=100 + i)
        assert info["context"] == context and ("action_factor" in context) == (task == "di")
        af = context.get("action_factor", 1.0)
        actions, seen, done = [], [(obs, 0.0)], False
        while not done:
            a = (af * np.clip(-3 * obs[:2] - 3 * obs[2:], -1, 1) + rng.normal(0, 0.45, 2)).astype(np.float32)
            obs, reward, terminated, done, _ = env.step(a)
            assert not terminated
            actions.append(a)
            seen.append((obs, reward))
        expected = list(_reference_di(100 + i, context, actions))
        assert len(seen) == len(expected) == 101
        np.testing.assert_array_equal(np.stack([o for o, _ in seen]), np.stack([o for o, _ in expected]))
        assert [r for _, r in seen] == [r for _, r in expected]
        rewarded += sum(r for _, r in seen) > 0
    assert rewarded >= 10


def test_di_observation_space_and_corner_starts() -> None:
    env = DoubleIntegrator()
    assert env.observation_space == gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    starts = np.stack([env.reset(seed=s)[0] for s in range(200)])
    assert np.all(np.abs(starts[:, :2]) > 0.8) and np.all(starts[:, 2:] == 0.0)
    assert len({tuple(np.sign(s[:2])) for s in starts}) == 4  # all four corner squares


def test_ode_steps_and_reward_bands() -> None:
    bands = {0.0: 1.0, 0.049: 1.0, 0.05: 0.5, 0.099: 0.5, 0.1: 1 / 3, 0.19: 1 / 3, 0.2: 0.25, 0.49: 0.25,
             0.5: 0.05, 1.99: 0.05, 2.0: 0.0, 19.0: 0.0}
    for x, reward in bands.items():
        assert band_reward(x) == reward and band_reward(-x) == reward
    env = make_aib("ode", split="eval_out", instance=7)
    obs, info = env.reset(seed=3)
    p0, p1 = info["context"]["parameter_0"], info["context"]["parameter_1"]
    assert env.observation_space == gym.spaces.Box(-20.0, 20.0, (1,), np.float32) and -1 <= obs[0] <= 1
    x, steps, done = float(env.unwrapped.x), 0, False
    rng = np.random.default_rng(1)
    while not done:
        a = rng.uniform(-1, 1, 2)
        obs, reward, _, done, _ = env.step(a)
        x = float(np.clip(x + 0.01 * (p0 * a[0] + p1 * (a[0] ** 2 - a[1] ** 2)), -20, 20))
        assert obs[0] == np.float32(x) and reward == band_reward(x)
        steps += 1
    assert steps == 200


def test_vector_env_i_holds_instance_i_and_all_share_the_start_state() -> None:
    """The published protocol: 20 envs, one fixed instance each, one reset seed for all (gymnasium's seed + i is
    undone), so the 20 start states coincide; each env reports its sign as its task."""
    for split in ("train", "eval_out"):
        venv = make_vector_env(functools.partial(make_env, "aib/di", split=split), 20)
        obs, info = venv.reset(seed=7)
        instances = split_instances(TASKS["di"].specs, split)
        np.testing.assert_array_equal(info["context"]["mass"], [c["mass"] for c in instances])
        np.testing.assert_array_equal(info["context"]["action_factor"], [c["action_factor"] for c in instances])
        assert list(info["task"]) == ["inverted" if c["action_factor"] < 0 else "normal" for c in instances]
        assert np.all(obs["observation"] == obs["observation"][0])
        for _ in range(101):  # past the autoreset: the contexts stay
            obs, _, _, _, info = venv.step(np.zeros((20, 2), np.float32))
        np.testing.assert_array_equal(obs["observation"][:, 2:], 0.0)  # every env restarted at rest ...
        assert np.all(obs["observation"] == obs["observation"][0])  # ... from the same unseeded start state
        assert [e.env.context for e in venv.envs] == instances
        venv.close()


def test_instance_choice_and_shared_seed() -> None:
    assert make_aib("di", vector_index=23).context == split_instances(TASKS["di"].specs, "train")[3]
    assert make_aib("di", instance=5, vector_index=3).fixed == 5
    drawn = make_aib("di")  # neither: a new instance per reset
    assert len({drawn.reset(seed=s)[1]["context"]["mass"] for s in range(30)}) > 5
    first, _ = make_aib("di", vector_index=0).reset(seed=11)
    np.testing.assert_array_equal(make_aib("di", vector_index=4).reset(seed=15)[0], first)
    with pytest.raises(ICRLError, match="below its index"):
        make_aib("di", vector_index=4).reset(seed=2)
    with pytest.raises(ICRLError, match="out of range"):
        make_env("aib/di", instance=20)
    with pytest.raises(ICRLError, match="unknown AIB task"):
        make_env("aib/nope")
    with pytest.raises(ICRLError, match="has none"):
        make_aib("walker2d" if has_mujoco else "ode", observe_sign=True)


def _spy_on_actions(env: ContextualEnv) -> list[np.ndarray]:
    seen: list[np.ndarray] = []
    original = env.env.step
    env.env.step = lambda a: (seen.append(np.array(a)), original(a))[1]
    return seen


@pytest.mark.parametrize("task", ["di-friction", "ode",
                                  *[pytest.param(t, marks=needs_aib) for t in ("ball-in-cup", "walker", "walker2d",
                                                                               "hopper")]])
def test_tasks_without_a_sign_pass_actions_unchanged(task) -> None:
    env = make_aib(task, instance=0)  # instance 0: its sign would be -1
    _, info = env.reset(seed=0)
    assert "action_factor" not in info["context"] and "task" not in info and not TASKS[task].has_sign
    seen = _spy_on_actions(env)
    action = np.full(env.action_space.shape, 0.5, np.float32)
    assert "task" not in env.step(action)[-1]
    np.testing.assert_array_equal(seen[0], action)


@pytest.mark.parametrize("task", ["di", *[pytest.param(t, marks=needs_aib) for t in SIGNED[1:]]])
def test_the_sign_inverts_the_actions_the_simulator_sees(task) -> None:
    """Instance 0 is inverted; the same context with the sign +1, from the same start state, played with the
    negated actions, gives the same observations and rewards step by step."""
    inverted = make_aib(task, instance=0)
    normal = make_aib(task, instance=0)
    normal.instances = [{**normal.instances[0], "action_factor": 1.0}]
    obs_i, info_i = inverted.reset(seed=4)
    obs_n, info_n = normal.reset(seed=4)
    assert (info_i["task"], info_n["task"]) == ("inverted", "normal")
    np.testing.assert_array_equal(obs_i, obs_n)
    seen = _spy_on_actions(inverted)
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.uniform(-1, 1, inverted.action_space.shape).astype(np.float32)
        step_i, step_n = inverted.step(a), normal.step(-a)
        np.testing.assert_array_equal(seen[-1], -a)
        np.testing.assert_array_equal(step_i[0], step_n[0])
        assert step_i[1:4] == step_n[1:4] and step_i[-1]["task"] == "inverted"


@needs_aib
def test_walker_observation_is_in_alphabetical_key_order() -> None:
    env = make_aib("walker", instance=2)
    obs, _ = env.reset(seed=0)
    physics = env.unwrapped.physics
    expected = np.r_[physics.torso_height(), physics.orientations().ravel(), physics.velocity()]
    np.testing.assert_array_equal(obs, expected.astype(np.float32))  # height, orientations, velocity
    assert obs.shape == (24,)


@needs_aib
@pytest.mark.parametrize("task,size", [("cartpole", 5), ("cheetah", 17), ("reacher-easy", 6), ("reacher-hard", 6),
                                       ("ball-in-cup", 8), ("walker", 24), ("walker2d", 17), ("hopper", 11)])
def test_mujoco_tasks_apply_their_context_and_run_1000_steps(task, size) -> None:
    env = make_aib(task, split="eval_out", instance=3)
    obs, info = env.reset(seed=0)
    assert obs.shape == (size,) and obs.dtype == np.float32 and env.max_rollout_steps == 1000
    _check_context(task, env.unwrapped, info["context"])
    steps, done = 0, False
    while not done:
        _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert np.isfinite(reward) and not terminated  # no early termination, Hopper and Walker2d included
        steps, done = steps + 1, truncated
    assert steps == 1000


def _check_context(task: str, inner, ctx: dict[str, float]) -> None:
    if task in ("walker2d", "hopper"):
        model = inner.model
        stock = {"walker2d": 100.0, "hopper": 200.0}[task]
        np.testing.assert_allclose(model.actuator_gear[:, 0], stock * ctx["actuator_strength"])
        assert tuple(model.opt.gravity) == (0.0, 0.0, -ctx["gravity"])
        return
    named = inner.physics.named.model
    if task == "cartpole":  # the pole from (0,0,0) to (0,0,2L): a capsule of half-length L, mass unchanged
        assert named.geom_size["pole_1", 1] == pytest.approx(ctx["length"])
        assert named.body_mass["pole_1"] == pytest.approx(0.1)
    elif task == "cheetah":
        s = ctx["length"]
        assert named.geom_size["bshin", 1] == pytest.approx(0.15 * s) and named.geom_size["torso", 1] == 0.5
        np.testing.assert_allclose(named.body_pos["bfoot"], [-0.28 * s, 0, -0.14 * s])
        np.testing.assert_allclose(named.body_pos["bthigh"], [-0.5, 0, 0])  # attachment to the torso unchanged
        np.testing.assert_allclose(named.body_pos["torso"], [0, 0, 0.7])
        assert sum(inner.physics.model.body_mass) == pytest.approx(14.0)
    elif task.startswith("reacher"):
        s = ctx["length"]
        np.testing.assert_allclose([named.body_pos["hand", 0], named.body_pos["finger", 0]], [0.12 * s, 0.12 * s])
        assert named.geom_size["arm", 1] == pytest.approx(0.06 * s)  # capsule half-lengths of the fromto's
        assert named.geom_size["hand", 1] == pytest.approx(0.05 * s)
        assert named.geom_size["finger", 0] == 0.01
        assert named.geom_size["target", 0] == (0.015 if task == "reacher-hard" else 0.05)
    elif task == "ball-in-cup":
        assert tuple(inner.physics.model.opt.gravity) == (0.0, 0.0, -ctx["gravity"])
        np.testing.assert_allclose(inner.physics.model.tendon_range[0], [0.0, ctx["distance"]])
        assert named.body_pos["ball", 2] == pytest.approx(0.2 + 0.3 - ctx["distance"])
    else:  # walker
        assert tuple(inner.physics.model.opt.gravity) == (0.0, 0.0, -ctx["gravity"])
        np.testing.assert_allclose(inner.physics.model.actuator_gear[:, 0],
                                   np.array([100, 50, 20, 100, 50, 20]) * ctx["actuator_strength"])


@needs_aib
def test_a_context_met_again_reuses_its_compiled_model() -> None:
    env = make_aib("cartpole")  # a new instance per reset; built on instance 0, then one model per instance met
    models = {}
    for seed in range(12):
        _, info = env.reset(seed=seed)
        models.setdefault(info["context"]["length"], set()).add(id(env.unwrapped.physics))
    assert all(len(ids) == 1 for ids in models.values()) and len(models) < 12  # some met twice
    assert set(env.unwrapped._envs) == {(("length", v),) for v in {*models, 0.3}}


def test_dm_control_tasks_name_the_extra_when_it_is_missing(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dm_control.suite.cartpole", None)
    with pytest.raises(MissingExtraError, match="icrl\\[aib\\]"):
        make_aib("cartpole")


def test_observe_sign_and_observe_previous_keep_the_dynamics() -> None:
    """Layout [obs, previous obs, sign], zeros after a reset; the hidden-sign env sees the same states."""
    for instance in (0, 1):
        hidden = make_aib("di", instance=instance)
        both = make_aib("di", instance=instance, observe_sign=True, observe_previous=True)
        sign = hidden.instances[instance]["action_factor"]
        assert both.observation_space.shape == (9,)
        first, _ = hidden.reset(seed=3)
        obs, _ = both.reset(seed=3)
        np.testing.assert_array_equal(obs, np.r_[first, np.zeros(4), sign].astype(np.float32))
        previous = first
        for k in range(5):
            a = np.array([0.3 + 0.1 * k, -0.7], np.float32)
            current = hidden.step(a)[0]
            np.testing.assert_array_equal(both.step(a)[0], np.r_[current, previous, sign].astype(np.float32))
            previous = current
    assert make_env("aib/di", observe_sign=True).reset(seed=0)[0]["observation"].shape == (5,)
    assert make_env("aib/di", observe_previous=True).reset(seed=0)[0]["observation"].shape == (8,)
    for option in ("observe_sign", "observe_previous"):
        with pytest.raises(ICRLError, match=f"{option} needs a flat Box"):
            ContextualEnv(_DictObservationDI(), TASKS["di"].specs, **{option: True})


class _DictObservationDI(DoubleIntegrator):
    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Dict({"x": self.observation_space})


def test_observe_previous_mirrors_exactly() -> None:
    """The same start played with negated actions in the env of the other sign gives the same observations with
    observe_previous: what makes replay.mirror_actions (it negates actions only) exact with this option."""
    runs = []
    for sign in (-1.0, 1.0):
        env = make_aib("di", instance=0, observe_previous=True)
        env.instances = [{**env.instances[0], "action_factor": sign}]
        obs, _ = env.reset(seed=3)
        seen = [obs]
        for k in range(5):
            seen.append(env.step(sign * np.array([0.3 + 0.1 * k, -0.7], np.float32))[0])
        runs.append(np.stack(seen))
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("split", SPLITS)
def test_di_goal_is_reachable_by_a_controller_that_knows_the_sign(split) -> None:
    """A PD controller told the sign scores on every instance of every split; with the wrong sign, never."""
    def episode_return(instance: int, flip: float) -> float:
        env = make_aib("di", split=split, instance=instance)
        obs, _ = env.reset(seed=instance)
        sign = flip * env.action_factor
        total, done = 0.0, False
        while not done:
            obs, reward, _, done, _ = env.step(sign * np.clip(-2 * obs[:2] - 2.5 * obs[2:], -1, 1))
            total += reward
        return total

    known = [episode_return(i, 1.0) for i in range(20)]
    assert np.mean(known) > 66 and min(known) > 0
    assert max(episode_return(i, -1.0) for i in range(20)) == 0


@needs_aib
def test_cartpole_is_balanced_by_a_controller_that_knows_the_sign() -> None:
    """A linear controller told the hidden sign balances for all 1000 steps; with the wrong sign it drops the pole:
    the observation layout, action scale and inversion end to end, and why a policy that has not inferred the
    sign scores below random actions on half of the instances."""
    def episode_return(instance: int, flip: float) -> float:
        env = make_aib("cartpole", instance=instance)
        obs, _ = env.reset(seed=0)
        sign = flip * env.action_factor
        total, done = 0.0, False
        while not done:
            x, _cos, sin, x_dot, angle_dot = obs
            obs, reward, _, done, _ = env.step(np.clip([sign * (5 * sin + angle_dot + x + x_dot)], -1, 1))
            total += reward
        return total

    for instance in (0, 1):  # inverted, normal
        assert episode_return(instance, 1.0) > 990
        assert episode_return(instance, -1.0) < 250
