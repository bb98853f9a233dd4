"""Minari datasets written locally (never downloaded) round-trip into replay trajectories and training windows."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest

from icrl.data import TrajectoryStore, collate, sample_window
from icrl.data import offline as offline_mod
from icrl.data.offline import Episode, EpisodeConverter, import_dataset, open_dataset, write_dataset
from icrl.envs import make_env
from icrl.errors import DataError
from icrl.spaces import ActionSpec


def _minari() -> None:
    pytest.importorskip("minari")
    pytest.importorskip("h5py")


OBS_SPACE = gym.spaces.Dict({"pos": gym.spaces.Box(-5.0, 5.0, (2,), np.float32), "room": gym.spaces.Discrete(3)})
ACT_SPACE = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 10.0], np.float32))


def _episodes() -> list[Episode]:
    """Three hand-made episodes: terminated, truncated, and cut without either; Dict obs, Box actions."""
    rng = np.random.default_rng(3)
    out = []
    for T, term, trunc in ((5, True, False), (3, False, True), (4, False, False)):
        obs = {"pos": rng.uniform(-5, 5, (T + 1, 2)).astype(np.float32), "room": rng.integers(0, 3, T + 1)}
        actions = np.stack([rng.uniform(-2, 2, T), rng.uniform(0, 10, T)], -1).astype(np.float32)
        terms, truncs = np.zeros(T, bool), np.zeros(T, bool)
        terms[-1], truncs[-1] = term, trunc
        out.append(Episode(obs, actions, rng.normal(size=T).round(3), terms, truncs))
    return out


def test_a_written_dataset_round_trips_into_windows_exactly(tmp_path) -> None:
    _minari()
    episodes = _episodes()
    folder = write_dataset("toy/dict-box-v0", episodes, OBS_SPACE, ACT_SPACE, root=tmp_path / "minari")
    store = TrajectoryStore(tmp_path / "buffer", capacity_steps=100)
    info = import_dataset(store, "toy", str(folder))
    assert (info.episodes, info.steps) == (3, 12)
    assert info.mean_return == pytest.approx(np.mean([e.rewards.sum() for e in episodes]))
    entries = sorted(store.index(), key=lambda e: e.seq)
    assert all(e.source == "toy" and e.protected for e in entries)
    windows = [sample_window(store.load(e.path), 64, np.random.default_rng(0)) for e in entries]
    batch = collate(windows)  # (B=3, L=6): whole episodes, right-padded
    for b, ep in enumerate(episodes):
        T = len(ep.rewards)
        np.testing.assert_array_equal(batch.obs["pos"][b, : T + 1].numpy(), ep.observations["pos"])
        np.testing.assert_array_equal(batch.obs["room"][b, : T + 1].numpy(), np.eye(3)[ep.observations["room"]])
        expected_actions = np.stack([ep.actions[:, 0] / 2.0, ep.actions[:, 1] / 5.0 - 1.0], -1)  # to [-1, 1]
        np.testing.assert_allclose(batch.actions[b, :T].numpy(), expected_actions, atol=1e-6)
        np.testing.assert_array_equal(batch.rewards[b, :T].numpy(), ep.rewards.astype(np.float32))
        np.testing.assert_array_equal(batch.dones[b, :T].numpy(), ep.terminations)
        np.testing.assert_array_equal(batch.time_idx[b, : T + 1].numpy(), np.arange(T + 1))
        assert batch.valid[b].sum() == T + 1 and not batch.prev_action[b, 0].any() and batch.prev_reward[b, 0] == 0


@pytest.mark.parametrize("env_name", ["testing-remember-first", "testing-continuous"])
def test_imported_episodes_equal_what_the_env_wrapper_produces_online(tmp_path, env_name) -> None:
    """Recorded with a scripted expert, then replayed through the in-context wrapper with the same actions."""
    _minari()
    from icrl.testing import record_expert_dataset

    folder = record_expert_dataset(env_name, "expert-v0", episodes=3, root=tmp_path / "m", noise=0.3, seed=5)
    store = TrajectoryStore(tmp_path / "buffer", capacity_steps=100)
    env = make_env(env_name)
    import_dataset(store, "expert", str(folder), env=(_obs_shapes(env), env.action_spec))
    for i, entry in enumerate(sorted(store.index(), key=lambda e: e.seq)):
        stored = store.load(entry.path)
        obs, _ = env.reset(seed=5 + i)
        rows = [obs]
        for t in range(1, len(stored) + 1):  # the stored prev_action[t] is the encoded action taken at t-1
            action = env.action_spec.decode(stored.prev_action[t][None])[0]
            obs, *_ = env.step(action)
            rows.append(obs)
        for key in ("prev_action", "time_idx"):
            np.testing.assert_allclose(np.stack([r[key] for r in rows]).reshape(len(rows), -1),
                                       getattr(stored, key).reshape(len(rows), -1), atol=1e-6)
        np.testing.assert_array_equal(np.stack([r["prev_reward"][0] for r in rows]), stored.prev_reward)
        np.testing.assert_array_equal(np.stack([r["observation"] for r in rows]), stored.obs["observation"])
    if env_name == "testing-continuous":  # the expert's env action [1, -1] in [-2, 2]^2 is [0.5, -0.5] encoded
        assert np.abs(stored.prev_action[1:]).max() <= 1.0


def _obs_shapes(env) -> dict:
    from icrl.envs import RESERVED_KEYS

    return {k: tuple(s.shape) for k, s in env.observation_space.spaces.items() if k not in RESERVED_KEYS}


def test_import_happens_once_and_an_interrupted_import_is_redone(tmp_path, monkeypatch) -> None:
    _minari()
    folder = write_dataset("toy-v0", _episodes(), OBS_SPACE, ACT_SPACE, root=tmp_path / "m")
    store = TrajectoryStore(tmp_path / "buffer", capacity_steps=100)
    import_dataset(store, "first", str(folder))
    partial = store.write(store.load(store.index()[0].path), source="again")  # a file but no marker: unfinished
    info = import_dataset(store, "again", str(folder))
    assert not partial.exists() and info.episodes == 3 and len(store.index()) == 3 + 3
    monkeypatch.setattr(offline_mod, "open_dataset", lambda source: pytest.fail("re-read a finished import"))
    assert import_dataset(TrajectoryStore(tmp_path / "buffer", 100), "again", str(folder)) == info


def test_a_dataset_that_does_not_fit_the_env_is_refused_before_anything_is_written(tmp_path) -> None:
    _minari()
    folder = write_dataset("toy-v0", _episodes(), OBS_SPACE, ACT_SPACE, root=tmp_path / "m")
    store = TrajectoryStore(tmp_path / "buffer", capacity_steps=100)
    env = make_env("testing-continuous")
    with pytest.raises(DataError, match="does not fit the environment"):
        import_dataset(store, "toy", str(folder), env=(_obs_shapes(env), env.action_spec))
    assert len(store.index()) == 0


def test_unknown_ids_are_never_downloaded(tmp_path, monkeypatch) -> None:
    _minari()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    with pytest.raises(DataError, match="never downloads"):
        open_dataset("D4RL/door/human-v2")


def test_a_missing_minari_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "minari", None)  # import minari -> ImportError
    with pytest.raises(DataError, match=r"icrl\[offline\]"):
        open_dataset("anything")


def test_converter_encodes_discrete_and_multibinary_like_the_agent() -> None:
    conv = EpisodeConverter(gym.spaces.Discrete(4, start=1), gym.spaces.MultiBinary(3))
    ep = Episode(np.array([1, 4, 2]), np.array([[1, 0, 1], [0, 0, 1]]), np.array([0.5, -1.0]),
                 np.array([False, True]), np.array([False, False]))
    traj = conv(ep, "x")
    assert conv.action_spec == ActionSpec("multidiscrete", (2, 2, 2))
    np.testing.assert_array_equal(traj.obs["observation"], np.eye(4)[[0, 3, 1]])
    np.testing.assert_array_equal(traj.prev_action, [[0] * 6, [0, 1, 1, 0, 0, 1], [1, 0, 1, 0, 0, 1]])
    np.testing.assert_array_equal(traj.terminated, [False, False, True])
    with pytest.raises(DataError, match="T\\+1"):
        conv(Episode(np.array([1, 2]), ep.actions, ep.rewards, ep.terminations, ep.truncations))


def test_a_relative_root_and_folder_work_like_absolute_ones(tmp_path, monkeypatch) -> None:
    _minari()
    monkeypatch.chdir(tmp_path)
    folder = write_dataset("rel-v0", _episodes(), OBS_SPACE, ACT_SPACE, root="datasets")
    assert folder == tmp_path / "datasets" / "rel-v0"
    store = TrajectoryStore(tmp_path / "buffer", capacity_steps=100)
    assert import_dataset(store, "rel", "datasets/rel-v0").episodes == 3


@pytest.mark.parametrize("target,damage", [("main_data.hdf5", "truncate"), ("main_data.hdf5", "garbage"),
                                           ("metadata.json", "truncate")])
def test_a_damaged_dataset_file_is_named_and_nothing_half_imported(tmp_path, target, damage) -> None:
    _minari()
    folder = write_dataset("toy-v0", _episodes(), OBS_SPACE, ACT_SPACE, root=tmp_path / "m")
    path = next(folder.rglob(target))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"x" * len(data))
    store = TrajectoryStore(tmp_path / "buffer", capacity_steps=100)
    with pytest.raises(DataError, match=r"toy-v0.*(unreadable|not a readable Minari dataset)"):
        import_dataset(store, "toy", str(folder))
    assert len(store.index()) == 0 and not store.source_dir("toy").exists()


def test_a_damaged_import_marker_redoes_the_import(tmp_path) -> None:
    _minari()
    folder = write_dataset("toy-v0", _episodes(), OBS_SPACE, ACT_SPACE, root=tmp_path / "m")
    store = TrajectoryStore(tmp_path / "buffer", capacity_steps=100)
    info = import_dataset(store, "toy", str(folder))
    (store.source_dir("toy") / offline_mod.MARKER).write_text('{"name": "to')
    with pytest.warns(RuntimeWarning, match="imported again"):
        assert import_dataset(store, "toy", str(folder)) == info
    assert len(store.index()) == 3


def test_episodes_that_do_not_fit_their_space_or_hold_nan_are_refused() -> None:
    convert = EpisodeConverter(OBS_SPACE, ACT_SPACE)
    good = _episodes()[0]
    rooms = dict(good.observations, room=np.full(len(good.rewards) + 1, 7))  # Discrete(3) index 7
    with pytest.raises(DataError, match="do not fit the dataset's observation space"):
        convert(Episode(rooms, good.actions, good.rewards, good.terminations, good.truncations))
    pos = dict(good.observations, pos=np.full_like(good.observations["pos"], np.nan))
    with pytest.raises(DataError, match="non-finite observations"):
        convert(Episode(pos, good.actions, good.rewards, good.terminations, good.truncations))
