"""Environment interface, trial wrappers and the built-in environments."""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np
import pytest

from icrl.envs import make_env, registry
from icrl.envs.builtin.frozen_lake import MOVES, FrozenLakeTask
from icrl.envs.interface import split_observation, wrap
from icrl.envs.registry import list_envs
from icrl.envs.trials import FixedHorizon, KAttempts
from icrl.errors import ICRLError, SpaceError


class Toy(gym.Env):
    """Configurable spaces; reward = step count; terminates after ``end`` steps."""

    def __init__(self, obs_space, action_space, end: int = 3, reward: float | None = None) -> None:
        self.observation_space, self.action_space, self.end, self.reward = obs_space, action_space, end, reward
        self.received = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.received.append(action)
        self.t += 1
        reward = float(self.t) if self.reward is None else self.reward
        return self.observation_space.sample(), reward, self.t >= self.end, False, {}


def test_builtins_are_registered() -> None:
    names = [name for name, _, _ in list_envs()]
    assert {"meta-frozen-lake", "t-maze", "dark-key-door", "testing-remember-first", "testing-image"} <= set(names)


def test_a_mirror_conflict_declared_inside_any_wrapper_reaches_the_in_context_env() -> None:
    """The generic way an env tells training it cannot be mirrored (train/parts knows no env's kwargs)."""
    plain = Toy(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Box(-1, 1, (1,)))
    assert wrap(plain, "toy").mirror_conflict is None
    declaring = Toy(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Box(-1, 1, (1,)))
    declaring.mirror_conflict = "it shows the sign"
    assert wrap(gym.wrappers.TimeLimit(declaring, 5), "toy").mirror_conflict == "it shows the sign"


def test_wrapper_gives_prev_action_reward_and_time() -> None:
    env = wrap(Toy(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3)), "toy")
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"observation", "prev_action", "prev_reward", "time_idx"}
    assert obs["prev_action"].tolist() == [0, 0, 0] and obs["prev_reward"][0] == 0 and obs["time_idx"][0] == 0
    obs, reward, terminated, truncated, _ = env.step(2)
    assert obs["prev_action"].tolist() == [0, 0, 1] and obs["prev_reward"][0] == reward == 1.0
    assert obs["time_idx"][0] == 1 and not terminated and not truncated
    rest, prev_a, prev_r, t = split_observation(obs)
    assert set(rest) == {"observation"} and prev_r == 1.0 and t == 1
    assert env.observation_space.contains(obs)


def test_terminated_and_truncated_stay_apart() -> None:
    env = wrap(gym.wrappers.TimeLimit(Toy(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(2), end=10), 2))
    env.reset(seed=0)
    assert env.step(0)[2:4] == (False, False)
    assert env.step(0)[2:4] == (False, True)  # time limit: truncated, not terminated
    assert env.max_rollout_steps == 2
    env = wrap(Toy(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(2), end=1))
    env.reset(seed=0)
    assert env.step(0)[2:4] == (True, False)


@pytest.mark.parametrize("space,dim", [(gym.spaces.Discrete(4, start=1), 4), (gym.spaces.MultiDiscrete([2, 3]), 5),
                                        (gym.spaces.MultiBinary(3), 3)])
def test_discrete_observations_become_vectors(space, dim) -> None:
    env = wrap(Toy(space, gym.spaces.Discrete(2)))
    obs, _ = env.reset(seed=0)
    assert obs["observation"].shape == (dim,) and obs["observation"].dtype == np.float32
    if isinstance(space, gym.spaces.Discrete):
        assert obs["observation"].sum() == 1.0


def test_dict_observations_keep_their_keys() -> None:
    space = gym.spaces.Dict({"pos": gym.spaces.Box(0, 1, (2,)), "img": gym.spaces.Box(0, 255, (8, 8, 3), np.uint8),
                             "mode": gym.spaces.Discrete(3)})
    env = wrap(Toy(space, gym.spaces.Discrete(2)))
    obs, _ = env.reset(seed=0)
    assert obs["img"].dtype == np.uint8 and obs["mode"].shape == (3,) and obs["pos"].shape == (2,)
    assert env.obs_spec.is_image("img") and not env.obs_spec.is_image("pos")


def test_box_actions_are_rescaled_from_unit_range() -> None:
    inner = Toy(gym.spaces.Box(-1, 1, (1,)), gym.spaces.Box(np.array([0.0, -4.0]), np.array([10.0, 4.0])))
    env = wrap(inner)
    env.reset(seed=0)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    obs, *_ = env.step(np.array([-1.0, 0.5]))
    np.testing.assert_allclose(inner.received[-1], [0.0, 2.0])
    np.testing.assert_allclose(obs["prev_action"], [-1.0, 0.5])
    env.step(np.array([3.0, -9.0]))  # out of range: clipped
    np.testing.assert_allclose(inner.received[-1], [10.0, -4.0])


def test_multibinary_and_multidiscrete_actions() -> None:
    inner = Toy(gym.spaces.Box(-1, 1, (1,)), gym.spaces.MultiBinary(3))
    env = wrap(inner)
    env.reset(seed=0)
    obs, *_ = env.step(np.array([1, 0, 1]))
    np.testing.assert_array_equal(inner.received[-1], [1, 0, 1])
    assert obs["prev_action"].tolist() == [0, 1, 1, 0, 0, 1]  # one-hot per component
    assert env.action_spec.kind == "multidiscrete" and env.action_spec.nvec == (2, 2, 2)


@pytest.mark.parametrize("obs_space,action_space,match", [
    (gym.spaces.Tuple([gym.spaces.Discrete(2)]), gym.spaces.Discrete(2), "Unsupported observation space"),
    (gym.spaces.Box(-1, 1, (2,)), gym.spaces.Tuple([gym.spaces.Discrete(2)]), "Unsupported action space"),
    (gym.spaces.Box(-1, 1, (2,)), gym.spaces.Box(-1, 1, (2, 2)), "must be 1-D"),
    (gym.spaces.Dict({"prev_reward": gym.spaces.Box(-1, 1, (1,))}), gym.spaces.Discrete(2), "reserved"),
])
def test_unsupported_spaces_name_what_is_supported(obs_space, action_space, match) -> None:
    with pytest.raises(SpaceError, match=match) as err:
        wrap(Toy(obs_space, action_space))
    if "Unsupported" in match:
        assert "Discrete" in str(err.value) and "Box" in str(err.value)


def test_non_finite_reward_is_an_error() -> None:
    env = wrap(Toy(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(2), reward=float("nan")), "nan-env")
    env.reset(seed=0)
    with pytest.raises(ICRLError, match="non-finite reward"):
        env.step(0)


def test_unknown_env_and_kwargs() -> None:
    with pytest.raises(ICRLError, match="icrl envs"):
        make_env("no-such-env-v0")
    with pytest.raises(ICRLError, match="does not accept"):
        make_env("t-maze", lenght=5)


def test_vector_index_reaches_only_factories_that_declare_it(monkeypatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    built = []
    box = gym.spaces.Box(-1, 1, (1,), np.float32)

    def positioned(end: int = 3, vector_index: int | None = None) -> gym.Env:
        built.append(("positioned", end, vector_index))
        return Toy(box, box, end)

    def family(name: str, vector_index: int = -1) -> gym.Env:
        built.append((name, vector_index))
        return Toy(box, box)

    registry.register_env("toy-positioned", factory=positioned)
    registry.register_env("toy-plain", factory=lambda end=3: Toy(box, box, end))
    registry.register_env_family("toy/", family)
    make_env("toy-positioned", vector_index=4, end=2)
    make_env("toy-positioned")
    make_env("toy/a", vector_index=1)
    assert built == [("positioned", 2, 4), ("positioned", 3, None), ("a", 1)]
    assert make_env("toy-plain", vector_index=5).unwrapped.end == 3  # dropped, not an error
    assert make_env("CartPole-v1", vector_index=5).env_name == "CartPole-v1"
    assert registry.accepts_vector_index(positioned) and not registry.accepts_vector_index(len)


@pytest.mark.parametrize("gym_id,kind", [("CartPole-v1", "discrete"), ("Pendulum-v1", "box")])
def test_gymnasium_ids_work_through_the_wrapper(gym_id, kind) -> None:
    env = make_env(gym_id)
    obs, _ = env.reset(seed=0)
    assert env.action_spec.kind == kind and env.max_rollout_steps in (200, 500)
    env.step(env.action_space.sample())
    env.close()


def _shortest_path(holes: np.ndarray) -> list[int]:
    n = holes.shape[0]
    parent = {(0, 0): None}
    queue = deque([(0, 0)])
    while queue:
        cell = queue.popleft()
        for a, (dx, dy) in enumerate(MOVES[:4]):
            nxt = (cell[0] + dx, cell[1] + dy)
            if 0 <= nxt[0] < n and 0 <= nxt[1] < n and not holes[nxt[1], nxt[0]] and nxt not in parent:
                parent[nxt] = (cell, a)
                queue.append(nxt)
    actions, cell = [], (n - 1, n - 1)
    while parent[cell] is not None:
        cell, a = parent[cell]
        actions.append(a)
    return actions[::-1]


def test_meta_frozen_lake_keeps_the_lake_across_attempts() -> None:
    env = make_env("meta-frozen-lake", size=4, attempts=3)
    obs, _ = env.reset(seed=3)
    lake = env.unwrapped.holes.copy()
    assert obs["attempt"].tolist() == [1, 0, 0] and obs["attempt_start"][0] == 1
    path = _shortest_path(lake)
    info = {}
    for attempt in range(3):
        for a in path:
            obs, reward, terminated, truncated, info = env.step(a)
            assert np.array_equal(env.unwrapped.holes, lake)
        assert reward == 1.0
        if attempt < 2:
            assert not terminated and obs["attempt"][attempt + 1] == 1 and obs["attempt_start"][0] == 1
    assert terminated and not truncated
    metrics = info["episode_metrics"]
    assert metrics["success"] == 1.0 and metrics["attempt_3/success"] == 1.0 and metrics["return"] == 3.0
    lakes = set()
    for seed in range(5, 10):  # a new task per rollout
        env.reset(seed=seed)
        lakes.add(env.unwrapped.holes.tobytes())
    assert len(lakes) > 1


def test_frozen_lake_attempt_step_limit_and_hole() -> None:
    task = FrozenLakeTask(size=3)
    env = wrap(KAttempts(task, 2, max_attempt_steps=2))
    env.reset(seed=0)
    task.holes = np.zeros((3, 3), bool)  # a lake without holes: stay put with the no-op action
    _, _, term, trunc, _ = env.step(4)
    _, _, term, trunc, info = env.step(4)  # attempt 1 times out, attempt 2 starts
    assert not term and not trunc and "episode_metrics" not in info
    env.step(4)
    _, _, term, trunc, info = env.step(4)
    assert trunc and not term and info["episode_metrics"]["success"] == 0.0
    assert env.max_rollout_steps == 4


@pytest.mark.parametrize("length", [100, 10_000])
def test_tmaze_optimal_policy_scores_exactly_one(length) -> None:
    for seed in (0, 1):
        env = make_env("t-maze", length=length)
        obs, _ = env.reset(seed=seed)
        goal_up = obs["observation"][0] > 0
        total = 0.0
        for _ in range(length):
            obs, r, term, trunc, _ = env.step(3)  # right
            total += r
        assert obs["observation"][1] == 1.0 and obs["observation"][0] == 0.0  # junction; the hint is gone
        obs, r, term, trunc, info = env.step(0 if goal_up else 1)
        assert term and total + r == pytest.approx(1.0) and info["success"]
        assert info["episode_metrics"] == {"success": 1.0, "return": pytest.approx(1.0)}
    obs, _ = env.reset(seed=0)
    goal_up = obs["observation"][0] > 0
    for _ in range(length):
        env.step(3)
    _, r, term, *_ = env.step(1 if goal_up else 0)  # the wrong side
    assert term and r == 0.0
    assert env.max_rollout_steps == length + 1


def test_tmaze_penalises_wasted_steps_and_ends_at_its_horizon() -> None:
    env = make_env("t-maze", length=4)
    env.reset(seed=0)
    rewards = [env.step(2)[1] for _ in range(4)]  # walking left into the wall
    assert rewards == [-0.25] * 4
    _, _, term, trunc, info = env.step(2)
    assert term and not trunc and info["success"] is False  # the horizon is part of the task: no bootstrap
    assert info["episode_metrics"] == {"success": 0.0, "return": pytest.approx(-1.25)}


def test_dark_key_door_runs_to_its_meta_horizon() -> None:
    env = make_env("dark-key-door", size=4, episode_length=10, meta_horizon=60)
    env.reset(seed=0)
    inner = env.unwrapped
    task = (inner.key.copy(), inner.door.copy())
    rng = np.random.default_rng(0)
    steps, term, info, total = 0, False, {}, 0.0
    while not term:
        _, r, term, trunc, info = env.step(int(rng.integers(4)))
        total += r
        steps += 1
        assert not trunc and np.array_equal(inner.key, task[0]) and np.array_equal(inner.door, task[1])
    assert steps == 60 and info["episode_metrics"]["return"] == total
    assert info["episode_metrics"]["episodes"] >= 5  # at least 60 / 10 episodes started


def test_fixed_horizon_on_a_plain_env_reuses_the_seed() -> None:
    env = FixedHorizon(gym.make("CartPole-v1"), horizon=30, max_attempt_steps=5)
    obs, _ = env.reset(seed=0)
    first = obs["observation"].copy()
    for _ in range(4):
        env.step(0)
    obs, *_ = env.step(0)  # the 5-step attempt limit: a new episode from the same initial state
    assert obs["attempt_start"][0] == 1 and np.allclose(obs["observation"], first)


def test_side_keys_travel_with_the_observation_but_stay_out_of_the_obs_spec() -> None:
    space = gym.spaces.Dict({"observation": gym.spaces.Box(-1, 1, (2,)), "_achieved": gym.spaces.Box(0, 9, (3,))})
    env = wrap(Toy(space, gym.spaces.Discrete(2)), "toy")
    obs, _ = env.reset(seed=0)
    assert "_achieved" in obs and obs["_achieved"].shape == (3,) and env.observation_space.contains(obs)
    assert set(env.obs_spec.shapes) == {"observation"}  # the networks never read side keys
