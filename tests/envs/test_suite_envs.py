"""Suite environments: POPGym, HalfCheetah-Vel, and the DI calibration script (the AIB itself: test_aib.py)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from icrl.envs import make_env
from icrl.errors import ICRLError

has = lambda module: importlib.util.find_spec(module) is not None  # noqa: E731


@pytest.mark.skipif(not has("popgym"), reason="needs the popgym extra")
@pytest.mark.parametrize("name,limit", [("RepeatPreviousEasy", 51), ("CountRecallEasy", 51),
                                        ("StatelessCartPoleEasy", 200), ("AutoencodeEasy", 103)])
def test_popgym_envs_construct_step_and_stay_in_unit_return(name, limit) -> None:
    env = make_env(f"popgym/{name}")
    assert env.max_rollout_steps == limit
    env.reset(seed=0)
    total, done, steps = 0.0, False, 0
    rng = np.random.default_rng(0)
    while not done:
        _, r, term, trunc, _ = env.step(int(rng.integers(env.action_space.n)))
        total, steps, done = total + r, steps + 1, term or trunc
        assert not trunc  # the episode end counts as termination (method's POPGym setting)
    assert -1.0 - 1e-6 <= total <= 1.0 + 1e-6 and steps <= limit


@pytest.mark.skipif(not has("popgym"), reason="needs the popgym extra")
def test_popgym_unknown_name_lists_choices() -> None:
    with pytest.raises(ICRLError, match="RepeatPreviousEasy"):
        make_env("popgym/NoSuchGame")




@pytest.mark.skipif(not has("mujoco"), reason="needs the mujoco extra")
def test_halfcheetah_vel_keeps_its_target_across_episodes() -> None:
    env = make_env("halfcheetah-vel", episodes=2, episode_length=5)
    env.reset(seed=0)
    targets = set()
    done, info = False, {}
    while not done:
        _, _, term, trunc, info = env.step(env.action_space.sample())
        targets.add(info["target_velocity"])
        done = term or trunc
    assert len(targets) == 1 and 0.0 <= targets.pop() <= 3.0
    assert set(info["episode_metrics"]) >= {"attempt_1/return", "attempt_2/return", "return"}


@pytest.mark.skipif(not has("popgym"), reason="needs the popgym extra")
def test_popgym_multitask_pads_spaces_and_names_its_task() -> None:
    env = make_env("popgym-multitask")
    inner = env.unwrapped
    assert inner.task_names == ("RepeatPreviousEasy", "CountRecallEasy", "PositionOnlyCartPoleEasy")
    assert env.observation_space["observation"].shape == (4,) and env.action_space.n == 27  # widest task, most actions
    assert env.max_rollout_steps == 200
    seen = {}
    for seed in range(12):
        obs, info = env.reset(seed=seed)
        assert info["task"] == inner.current_task
        seen.setdefault(inner.current_task, obs["observation"])
    assert set(seen) == set(inner.task_names)  # every task is drawn
    assert np.all(seen["PositionOnlyCartPoleEasy"][2:] == 0.0)  # 2 real entries, 2 padded zeros
    assert np.all(np.isin(seen["RepeatPreviousEasy"], [0.0, 1.0]))


@pytest.mark.skipif(not has("popgym"), reason="needs the popgym extra")
def test_popgym_multitask_plays_padded_actions_modulo_the_task_size() -> None:
    env = make_env("popgym-multitask", tasks=["RepeatPreviousEasy", "PositionOnlyCartPoleEasy"])
    inner = env.unwrapped
    assert env.action_space.n == 4
    played = []
    for task_env in inner.envs:
        original = task_env.step
        task_env.step = lambda a, original=original: (played.append(a), original(a))[1]
    rng = np.random.default_rng(0)
    for seed in range(6):
        env.reset(seed=seed)
        n_task = inner.num_actions[inner.task_index]
        total, done, steps = 0.0, False, 0
        while not done:
            action = int(rng.integers(4))
            del played[:]
            _, reward, term, trunc, info = env.step(action)
            assert played == [action % n_task] and info["task"] == inner.current_task
            total, steps, done = total + reward, steps + 1, term or trunc
        assert steps <= 200 and -1.0 - 1e-6 <= total <= 1.0 + 1e-6


@pytest.mark.skipif(not has("popgym"), reason="needs the popgym extra")
def test_popgym_multitask_refuses_tasks_without_discrete_actions() -> None:
    with pytest.raises(ICRLError, match="PositionOnlyPendulumEasy"):
        make_env("popgym-multitask", tasks=["RepeatPreviousEasy", "PositionOnlyPendulumEasy"])
