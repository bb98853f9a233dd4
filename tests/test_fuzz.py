"""Property-based tests: random and malformed spaces, env outputs and trajectory files give a correct result or a
clean icrl error, never a traceback from deep inside.

Floats are drawn without subnormals: the learner flushes them to zero process-wide (``icrl.device``), and
hypothesis refuses to draw them once a test in the same worker has done so."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from icrl.data.store import TrajectoryStore, trajectory_from_arrays  # noqa: E402
from icrl.envs import wrap  # noqa: E402
from icrl.errors import DataError, ICRLError, SpaceError  # noqa: E402
from icrl.records import Trajectory  # noqa: E402

# No example database: nothing is written into the repository, and every run draws fresh examples.
FAST = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)


@st.composite
def boxes(draw) -> gym.spaces.Box:
    shape = draw(shapes)
    dtype = draw(st.sampled_from([np.float32, np.float64, np.uint8, np.int32]))
    if dtype == np.uint8:
        return gym.spaces.Box(0, 255, shape, dtype)
    if dtype == np.int32:
        return gym.spaces.Box(-5, 5, shape, dtype)
    low = draw(st.sampled_from([-np.inf, -3.0, 0.0]))
    high = draw(st.sampled_from([np.inf, 1.0, 4.0])) if low != -np.inf else np.inf
    return gym.spaces.Box(low, high, shape, dtype)


leaf_spaces = st.one_of(
    boxes(),
    st.builds(gym.spaces.Discrete, st.integers(1, 6), start=st.integers(-3, 3)),
    st.builds(lambda n: gym.spaces.MultiDiscrete(n), st.lists(st.integers(1, 4), min_size=1, max_size=3)),
    st.builds(lambda n: gym.spaces.MultiDiscrete(np.array([n, n])), st.lists(st.integers(1, 3), min_size=1,
                                                                             max_size=2)),
    st.builds(gym.spaces.MultiBinary, st.integers(1, 4)),
    st.builds(lambda n: gym.spaces.Tuple([gym.spaces.Discrete(n)]), st.integers(1, 3)),
    st.just(gym.spaces.Text(5)),
)
obs_spaces = st.one_of(leaf_spaces, st.dictionaries(st.sampled_from(["a", "b", "_side", "prev_reward"]), leaf_spaces,
                                                    min_size=1, max_size=3).map(gym.spaces.Dict))
action_spaces = st.one_of(leaf_spaces, st.just(gym.spaces.Dict({"a": gym.spaces.Discrete(2)})))


class SpaceEnv(gym.Env):
    """Samples observations from its space; records the actions it receives."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space
        self.received: list = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        self.received.append(action)
        return self.observation_space.sample(), 0.5, False, False, {}


@FAST
@given(obs_space=obs_spaces, action_space=action_spaces, seed=st.integers(0, 2**16))
def test_any_space_is_wrapped_correctly_or_refused_with_a_space_error(obs_space, action_space, seed) -> None:
    inner = SpaceEnv(obs_space, action_space)
    try:
        env = wrap(inner, "fuzz")
    except SpaceError as err:
        assert "support" in str(err) or "reserved" in str(err) or "must be 1-D" in str(err)
        return
    obs, _ = env.reset(seed=seed)
    assert env.observation_space.contains(obs), (obs, env.observation_space)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        env.action_space.seed(int(rng.integers(2**31)))
        action = env.action_space.sample()
        obs, reward, *_ = env.step(action)
        assert env.observation_space.contains(obs) and reward == 0.5
        assert inner.action_space.contains(inner.received[-1]), (inner.received[-1], inner.action_space)
    assert set(env.obs_spec.shapes) | {"prev_action", "prev_reward", "time_idx"} >= \
        {k for k in obs if not k.startswith("_")}


class OutOfSpaceEnv(gym.Env):
    """Returns an observation that does not fit its declared space."""

    def __init__(self, space: gym.Space, bad) -> None:
        self.observation_space, self.action_space, self.bad = space, gym.spaces.Discrete(2), bad

    def reset(self, *, seed=None, options=None):
        return self.bad, {}

    def step(self, action):
        return self.bad, 0.0, False, False, {}


@FAST
@given(case=st.sampled_from([
    (gym.spaces.Discrete(3), 7), (gym.spaces.Discrete(3), -1), (gym.spaces.Discrete(3), "x"),
    (gym.spaces.Box(-1, 1, (2,)), np.zeros(3)), (gym.spaces.Box(-1, 1, (2,)), "text"),
    (gym.spaces.MultiDiscrete([2, 3]), np.array([1, 5])), (gym.spaces.MultiBinary(3), np.zeros(2)),
    (gym.spaces.Dict({"a": gym.spaces.Discrete(2)}), {"b": 0}),
]))
def test_an_observation_outside_its_space_is_refused_naming_env_and_key(case) -> None:
    space, bad = case
    env = wrap(OutOfSpaceEnv(space, bad), "odd-env")
    with pytest.raises(SpaceError, match="env 'odd-env' returned an observation .* does not fit"):
        env.reset()


def _valid_arrays(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return Trajectory({"x": rng.normal(size=(n + 1, 2)).astype(np.float32), "img": np.zeros((n + 1, 2, 2), np.uint8)},
                      rng.normal(size=(n + 1, 3)).astype(np.float32), rng.normal(size=n + 1).astype(np.float32),
                      np.arange(n + 1), rng.random(n + 1) < 0.2, "toy").arrays()


mutations = st.sampled_from(["none", "drop", "scalar", "short", "strings", "nan", "inf", "ndim", "objects", "empty"])


@FAST
@given(n=st.integers(0, 6), mutation=mutations, seed=st.integers(0, 99),
       key=st.sampled_from(["obs/x", "obs/img", "prev_action", "prev_reward", "time_idx", "terminated"]))
def test_trajectory_files_load_exactly_or_fail_with_a_data_error(tmp_path_factory, n, mutation, key, seed) -> None:
    arrays = _valid_arrays(n, np.random.default_rng(seed))
    value = arrays[key]
    arrays[key] = {"none": value, "scalar": np.asarray(value.reshape(-1)[0]) if value.size else np.asarray(0),
                   "short": value[:-1], "strings": value.astype(str), "ndim": value[..., None, None],
                   "nan": np.where(np.ones_like(value, bool), np.nan, value.astype(np.float32)),
                   "inf": np.full(value.shape, np.inf, np.float32), "objects": value.astype(object),
                   "empty": value[:0], "drop": None}[mutation]
    if arrays[key] is None:
        del arrays[key]
    path = tmp_path_factory.mktemp("fuzz") / "000000000000_toy_1.npz"
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    try:
        traj = TrajectoryStore.load(path)
    except DataError as err:
        assert str(path) in str(err)
        return
    assert len(traj) == n >= 1  # loaded: the arrays are exactly what was saved
    for k, v in traj.arrays().items():
        assert np.array_equal(v, arrays[k].astype(v.dtype)), k


@FAST
@given(data=st.binary(max_size=300), cut=st.floats(0.0, 1.0, allow_subnormal=False))
def test_random_bytes_and_truncated_files_fail_with_a_data_error(tmp_path_factory, data, cut) -> None:
    folder = tmp_path_factory.mktemp("bytes")
    buf = io.BytesIO()
    np.savez(buf, **_valid_arrays(3, np.random.default_rng(0)))
    whole = buf.getvalue()
    for i, content in enumerate([data, whole[: int(cut * (len(whole) - 1))]]):
        path = folder / f"{i:012d}_toy_3.npz"
        path.write_bytes(content)
        with pytest.raises(DataError, match="unreadable|lacks|inconsistent|non-numeric|observation"):
            TrajectoryStore.load(path)


def test_a_zip_with_a_foreign_member_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "000000000000_toy_3.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("prev_reward.npy", b"not an npy header")
    with pytest.raises(DataError, match="unreadable|lacks"):
        TrajectoryStore.load(path)


floats = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False)


@FAST
@given(arrays=st.dictionaries(st.sampled_from(["prev_action", "prev_reward", "time_idx", "terminated", "obs/x"]),
                              st.lists(floats, max_size=4).map(np.array), max_size=5))
def test_arbitrary_array_dicts_are_checked_not_crashed_on(arrays) -> None:
    try:
        traj = trajectory_from_arrays(arrays, "mem")
    except ICRLError:
        return
    assert len(traj) >= 1 and np.array_equal(traj.prev_reward, arrays["prev_reward"].astype(np.float32))
