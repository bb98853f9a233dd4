"""Suites behind the babyai, atari, metaworld and xland extras: built through the registry, stepped through the
in-context wrapper; each test skips when its extra is missing."""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from icrl.config import RunConfig, apply_overrides
from icrl.envs import list_envs, make_env
from icrl.errors import ConfigError, ICRLError
from icrl.rollout import make_vector_env

RESERVED = {"prev_action", "prev_reward", "time_idx"}


def test_icrl_envs_lists_the_suites_with_their_extras() -> None:
    extras = {name: extra for name, _, extra in list_envs()}
    assert extras["babyai/<name>"] == "babyai" and extras["atari/<name>"] == "atari"
    assert extras["metaworld/<name>"] == "metaworld" and extras["xland/<name>"] == "xland"


# --- BabyAI ------------------------------------------------------------------------------------------------------


def _words(mission_rows: np.ndarray) -> list[str]:
    from icrl.envs.suites.babyai import VOCABULARY

    return [VOCABULARY[int(row.argmax())] for row in mission_rows if row.any()]


def test_babyai_observes_its_mission_as_tokens() -> None:
    pytest.importorskip("minigrid")
    env = make_env("babyai/PutNextLocal")
    obs, _ = env.reset(seed=3)
    assert set(obs) == {"image", "direction", "mission", "progress"} | RESERVED
    assert obs["image"].shape == (7, 7, 20) and obs["image"].dtype == np.uint8
    assert set(np.unique(obs["image"])) <= {0, 255} and (obs["image"] > 0).sum(-1).max() == 3  # type, colour, state
    mission = env.unwrapped.mission
    assert " ".join(_words(obs["mission"])) == mission.replace(",", " ,")  # every word known, in order
    assert obs["mission"].shape == (32, 34) and env.action_space.n == 7
    first = obs["mission"]
    for _ in range(3):
        obs, *_ = env.step(2)  # forward
    assert _words(obs["mission"]) == _words(first) and obs["progress"][0] == pytest.approx(3 / env.unwrapped.max_steps)


def test_babyai_attempts_replay_the_same_level_and_report_success() -> None:
    pytest.importorskip("minigrid")
    env = make_env("babyai/GoToObj", attempts=2)
    inner = env.unwrapped
    obs, _ = env.reset(seed=0)
    start = (tuple(inner.agent_pos), inner.mission, obs["image"].copy())
    done, steps, info = False, 0, {}
    while not done:
        obs, _, term, trunc, info = env.step(6)  # "done": never completes GoToObj, so each attempt runs out
        steps, done = steps + 1, term or trunc
        if obs["attempt_start"][0] == 1.0:
            assert (tuple(inner.agent_pos), inner.mission) == start[:2] and np.array_equal(obs["image"], start[2])
    assert steps == env.max_rollout_steps == 2 * inner.max_steps
    assert info["episode_metrics"]["success"] == 0.0 and "attempt_2/success" in info["episode_metrics"]


def test_babyai_bad_names_and_long_missions_are_explained() -> None:
    pytest.importorskip("minigrid")
    with pytest.raises(ICRLError, match="GoToLocal"):
        make_env("babyai/NoSuchLevel")
    env = make_env("babyai/BossLevel", max_tokens=3)
    with pytest.raises(ConfigError, match="max_tokens"):
        env.reset(seed=0)


def test_babyai_trains_for_an_epoch(tmp_path: Path) -> None:
    pytest.importorskip("minigrid")
    from icrl.train import train

    cfg = apply_overrides(RunConfig(), [
        "env.name=babyai/GoToRedBallNoDists", "env.num_envs=2", "env.eval_num_envs=2", "model.d_model=16",
        "model.n_layers=1", "model.n_heads=2", "model.encoder_hidden=16", "model.encoder_out=16",
        "model.head_hidden=16", "model.max_seq_len=32", "learn.batch_size=2", "train.steps_per_epoch=70",
        "train.updates_per_epoch=2", "train.eval_every=1", "train.eval_episodes=2", "train.epochs=1",
        "replay.prefetch=1"])
    metrics = train(cfg, tmp_path / "run", progress="off")
    assert metrics["epoch"] == 1 and np.isfinite(metrics["critic/loss"]) and "eval/success" in metrics


# --- Atari -------------------------------------------------------------------------------------------------------


def test_atari_frames_are_processed_to_84x84_grey() -> None:
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    env = make_env("atari/Pong", max_steps=6)
    obs, _ = env.reset(seed=0)
    assert obs["observation"].shape == (84, 84, 1) and obs["observation"].dtype == np.uint8
    assert env.action_space.n == 18 and env.max_rollout_steps == 6  # full action set; the step limit
    frames, truncated = [obs["observation"]], False
    for _ in range(6):
        obs, _, terminated, truncated, _ = env.step(0)
        frames.append(obs["observation"])
    assert truncated and not terminated and np.ptp(np.stack(frames)) > 0  # a real, changing screen
    with pytest.raises(ICRLError, match="Pong"):
        make_env("atari/NoSuchGame")


# --- Meta-World --------------------------------------------------------------------------------------------------


def test_metaworld_ml1_keeps_a_hidden_goal_for_every_attempt() -> None:
    if os.environ.get("ICRL_REQUIRE_METAWORLD") != "1":  # CI's last step sets it, with metaworld's MuJoCo on the path
        pytest.importorskip("metaworld")
    env = make_env("metaworld/ML1/reach-v3", attempts=2, episode_length=5)
    assert env.max_rollout_steps == 10 and env.action_space.shape == (4,)
    goals = []
    for seed in (0, 1):
        obs, _ = env.reset(seed=seed)
        assert obs["observation"].shape == (39,) and not obs["observation"][-3:].any()  # the goal is hidden
        targets, done, info = set(), False, {}
        while not done:
            obs, _, term, trunc, info = env.step(np.zeros(4))
            targets.add(tuple(env.unwrapped.current._target_pos))
            done = term or trunc
        assert len(targets) == 1 and info["task"] == "reach-v3"
        assert {"attempt_1/success", "attempt_2/success"} <= set(info["episode_metrics"])
        goals.append(targets.pop())
    assert goals[0] != goals[1]  # each rollout samples a new goal


# --- XLand-MiniGrid ----------------------------------------------------------------------------------------------


def _check_xland_vector_env() -> None:
    from icrl.envs.suites.xland import XLandVectorEnv

    name, kwargs = "xland/XLand-MiniGrid-R1-9x9", {"attempts": 2, "objects": 2}
    single = make_env(name, **kwargs)
    venv = make_vector_env(functools.partial(make_env, name, **kwargs), 8)
    assert isinstance(venv, XLandVectorEnv)  # one batched JAX env, not 8 gymnasium envs
    assert venv.single_observation_space == single.observation_space
    obs, _ = venv.reset(seed=0)
    assert all(obs[k].shape == (8, *space.shape) and obs[k].dtype == space.dtype
               for k, space in single.observation_space.spaces.items())
    rng = np.random.default_rng(0)
    ended, t = 0, np.zeros(8, int)
    goals = np.asarray(venv.batch.carry["ruleset"].goal)  # each env's task (hidden goal object)
    for _ in range(single.max_rollout_steps + 1):
        actions = rng.integers(0, 6, 8)
        obs, reward, term, trunc, info = venv.step(actions)
        done = term | trunc
        new_goals = np.asarray(venv.batch.carry["ruleset"].goal)
        assert np.array_equal(new_goals[~done], goals[~done])  # the task holds for the whole rollout
        goals = new_goals
        t = np.where(done, 0, t + 1)
        assert np.array_equal(obs["time_idx"][:, 0], t)
        assert np.array_equal(obs["prev_action"][~done].argmax(1), actions[~done])
        if done.any():
            ended += int(done.sum())
            i = int(np.flatnonzero(done)[0])
            assert info["final_obs"][i]["prev_reward"][0] == reward[i]
            assert not obs["prev_action"][i].any() and obs["attempt"][i, 0] == 1.0
            assert {"attempt_1/success", "attempt_2/success", "return"} <= set(info["final_info"]["episode_metrics"])
    assert ended >= 8  # every env finished a rollout (random play, or the attempt limit)


def test_xland_batch_plugs_in_as_one_vector_env_with_the_wrapped_observation() -> None:
    if importlib.util.find_spec("xminigrid") is None:  # importorskip would import JAX here
        pytest.skip("needs the xland extra")
    # In a fresh interpreter: JAX starts threads, and other tests in this worker fork subprocess envs afterwards.
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('suites', sys.argv[1]); "
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
            "module._check_xland_vector_env()")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code, __file__], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
