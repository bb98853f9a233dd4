"""Crafter instructions: the instruction reward model (hand-computed), its agreement with the goal-sequence
relabeler, relabeling a Crafter-like rollout, the real env (scripted achievements) and a training smoke run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from icrl.cli import main as cli_main
from icrl.config import RunConfig, apply_overrides
from icrl.data.relabel import GoalSequenceRelabeler
from icrl.envs.suites.crafter import (
    ACHIEVEMENTS,
    MAX_PER_STEP,
    InstructionTracker,
    achievement_weights,
    encode_goals,
    goal_codes,
    instruction_name,
    newly_achieved,
    parse_instruction,
)
from icrl.errors import ConfigError, MissingExtraError
from icrl.presets import preset_overrides
from icrl.records import Trajectory
from scaffold import tiny_overrides

ID = {name: i for i, name in enumerate(ACHIEVEMENTS)}
WOOD, TABLE, PICKAXE, COW, WAKE, DRINK = (ID[n] for n in ("collect_wood", "place_table", "make_wood_pickaxe",
                                                         "eat_cow", "wake_up", "collect_drink"))
DO = 5  # Crafter's "do" action (collect, drink, hit)


def test_instruction_names_and_distributions() -> None:
    assert parse_instruction("collect_wood+place_table") == ("collect_wood", "place_table")
    assert parse_instruction("collect_wood, place_table") == parse_instruction(["collect_wood", "place_table"])
    assert instruction_name(("collect_wood", "place_table")) == "collect_wood+place_table"
    for bad in ("collect_wod", "", ["collect_wood", "fly"]):
        with pytest.raises(ConfigError):
            parse_instruction(bad)
    np.testing.assert_allclose(achievement_weights("uniform"), np.full(22, 1 / 22))
    easy = achievement_weights("easy")
    assert easy[ID["collect_wood"]] == pytest.approx(8 * easy[ID["collect_diamond"]])  # depth 0 vs 7
    custom = achievement_weights({"collect_wood": 3, "eat_cow": 1})
    assert custom[WOOD] == 0.75 and custom[COW] == 0.25 and custom.sum() == pytest.approx(1.0)
    for bad in ("hard", {"fly": 1.0}, {"collect_wood": -1.0}, {}):
        with pytest.raises(ConfigError):
            achievement_weights(bad)


def test_reward_only_for_the_next_achievement_in_order() -> None:
    tracker = InstructionTracker([WOOD, TABLE, PICKAXE])
    #          table first: not next   wood   again  table + waking up  pickaxe   after completion
    stream = [[TABLE], [], [WOOD], [WOOD], [TABLE, WAKE], [PICKAXE], [PICKAXE]]
    rewards, active = [], []
    for achieved in stream:
        rewards.append(tracker.step(achieved))
        active.append(tracker.active)
    assert rewards == [0, 0, 1, 0, 1, 1, 0] and active == [0, 0, 1, 1, 2, 3, 3] and tracker.complete
    both = InstructionTracker([WAKE, WOOD])  # two goals unlocked on one step: one goal per step
    assert [both.step([WOOD, WAKE]), both.step([WOOD])] == [1.0, 1.0] and both.complete
    repeat = InstructionTracker([WOOD, WOOD])  # a repeated achievement counts again
    assert [repeat.step([WOOD]), repeat.step([]), repeat.step([WOOD])] == [1.0, 0.0, 1.0]


def test_newly_achieved_reads_rising_counters() -> None:
    before = {name: 0 for name in ACHIEVEMENTS} | {"collect_wood": 2}
    after = before | {"collect_wood": 3, "wake_up": 1, "collect_fence": 1}  # names outside the 22 are ignored
    assert newly_achieved(before, after) == [WOOD, WAKE]
    assert newly_achieved(after, after) == []


@pytest.mark.parametrize("goal_format", ["onehot", "id"])
def test_the_relabeler_replays_the_env_reward_model(goal_format: str) -> None:
    """On random achievement streams, GoalSequenceRelabeler.replay gives the env's rewards and shown goals."""
    codes, relabeler, rng = goal_codes(goal_format), GoalSequenceRelabeler(), np.random.default_rng(0)
    pool = [WOOD, TABLE, PICKAXE, COW, WAKE]
    for _ in range(40):
        instruction = [int(g) for g in rng.choice(pool, size=int(rng.integers(1, 4)), replace=False)]
        stream = [[]] + [[int(g) for g in rng.choice(pool, size=int(rng.integers(0, 3)), replace=False)]
                         for _ in range(15)]
        tracker, rewards, shown = InstructionTracker(instruction), [0.0], []
        for t, achieved in enumerate(stream):
            if t:
                rewards.append(tracker.step(achieved))
            goals = encode_goals(instruction, 3, codes)
            goals[: tracker.active] = -1
            shown.append(goals)
        achieved = np.stack([encode_goals(a, MAX_PER_STEP, codes) for a in stream])
        real = relabeler.replay(encode_goals(instruction, 3, codes), achieved)
        np.testing.assert_array_equal(real.rewards, rewards)
        np.testing.assert_array_equal(real.shown, np.stack(shown))


def _shown(slots: list, codes: np.ndarray) -> np.ndarray:
    """(len(slots), *G): goal codes, None for an empty slot (the sentinel -1)."""
    out = np.full((len(slots), *codes.shape[1:]), -1, np.float32)
    for j, goal in enumerate(slots):
        if goal is not None:
            out[j] = codes[goal]
    return out


def _crafter_like(goal_format: str) -> Trajectory:
    """Instruction wood, table, pickaxe (k = 3); achievements per observation t = 0..6:
    -, -, wood (real goal 1), wood again, table + waking up (real goal 2), eat_cow, -; time limit at t = 6."""
    codes = goal_codes(goal_format)
    stream = [[], [], [WOOD], [WOOD], [TABLE, WAKE], [COW], []]
    n = len(stream)
    instruction = [[WOOD, TABLE, PICKAXE]] * 2 + [[None, TABLE, PICKAXE]] * 2 + [[None, None, PICKAXE]] * 3
    goals = np.stack([_shown(slots, codes) for slots in instruction])  # as the env showed it
    obs = {"goals": goals, "_achieved": np.stack([encode_goals(a, MAX_PER_STEP, codes) for a in stream]),
           "image": np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 18, 18, 3), np.uint8)}
    rewards = np.array([0, 0, 1, 0, 1, 0, 0], np.float32)
    return Trajectory(obs, np.eye(17, dtype=np.float32)[np.arange(n) % 17], rewards, np.arange(n),
                      np.arange(n) == n - 1, "crafter-instructions")


@pytest.mark.parametrize("goal_format", ["onehot", "id"])
@pytest.mark.parametrize("fill", ["all", "some"])
def test_relabeling_a_crafter_rollout(goal_format: str, fill: str) -> None:
    """Real goals wood (t=2) and table (t=4); one slot left. The hindsight goal must be eat_cow (t=5): the other
    candidate step (t=3) only repeats wood, already in the instruction. New instruction wood, table, eat_cow:
    complete at t=5, so the rollout is cut after observation 5 and terminates there."""
    codes, traj = goal_codes(goal_format), _crafter_like(goal_format)
    for seed in range(5):
        new = GoalSequenceRelabeler(fill=fill).relabel(traj, np.random.default_rng(seed))
        np.testing.assert_array_equal(new.prev_reward, [0, 0, 1, 0, 1, 1])
        np.testing.assert_array_equal(new.terminated, [False] * 5 + [True])
        want = np.stack([_shown(slots, codes) for slots in [[WOOD, TABLE, COW]] * 2 + [[None, TABLE, COW]] * 2
                         + [[None, None, COW], [None, None, None]]])
        np.testing.assert_array_equal(new.obs["goals"], want)
        np.testing.assert_array_equal(new.obs["image"], traj.obs["image"][:6])
        assert len(traj) == 6 and traj.prev_reward.sum() == 2  # the stored rollout is untouched


def test_bad_kwargs_and_a_missing_extra(monkeypatch) -> None:
    from icrl.envs.suites.crafter import CrafterInstructions

    bad = [{"goals": 0}, {"goals": 2, "min_goals": 3}, {"image_size": 16}, {"area": 8}, {"time_limit": 0},
           {"goal_format": "text"}, {"instructions": []}, {"goals": 1, "instructions": ["collect_wood+eat_cow"]},
           {"goals": 3, "distribution": {"collect_wood": 1, "eat_cow": 1}}]
    for kwargs in bad:
        with pytest.raises(ConfigError):
            CrafterInstructions(**kwargs)
    monkeypatch.setitem(sys.modules, "crafter", None)  # import crafter -> ImportError
    with pytest.raises(MissingExtraError, match=r"icrl\[crafter\]"):
        CrafterInstructions()


def test_the_preset() -> None:
    cfg = apply_overrides(RunConfig(), preset_overrides("crafter"))
    assert cfg.env.name == "crafter-instructions" and cfg.replay.relabel_prob > 0 and cfg.env.chunk_len == 0
    assert cfg.env.kwargs["time_limit"] <= 1000 and cfg.replay.cache_trajectories <= 1000


# ---- the real env (needs the crafter extra) ----


def _env(**kwargs):
    pytest.importorskip("crafter")
    from icrl.envs import make_env

    return make_env("crafter-instructions", **{"area": 16, "image_size": 18, "time_limit": 20, **kwargs})


def test_observations_spaces_and_seeding() -> None:
    env = _env(goals=3, image_size=36)
    obs, _ = env.reset(seed=3)
    inner = env.unwrapped
    assert set(env.obs_spec.shapes) == {"image", "state", "goals"}  # _achieved is a side key
    assert env.obs_spec.is_image("image") and env.max_rollout_steps == 20
    assert obs["image"].shape == (36, 36, 3) and obs["image"].dtype == np.uint8
    assert obs["state"].shape == (17,) and obs["state"][:4].tolist() == [1.0] * 4 and obs["state"][-1] == 0.0
    assert obs["goals"].shape == (3, 22) and obs["_achieved"].shape == (2, 22) and (obs["_achieved"] == -1).all()
    n = len(inner.instruction)
    np.testing.assert_array_equal(obs["goals"], encode_goals([ID[a] for a in inner.instruction], 3, goal_codes()))
    assert 1 <= n <= 3 and len(set(inner.instruction)) == n
    for _ in range(3):
        obs = env.step(0)[0]
    assert obs["state"][-1] == pytest.approx(3 / 20) and all(env.observation_space[k].contains(v)
                                                             for k, v in obs.items())

    def rollout(seed: int) -> list:
        out = [env.reset(seed=seed)[0]]
        out += [env.step(a)[0] for a in (1, 2, 3, DO, 4)]
        return out

    a, b, c = rollout(1), rollout(1), rollout(2)
    assert all(np.array_equal(x[k], y[k]) for x, y in zip(a, b) for k in x)
    assert not all(np.array_equal(x["image"], y["image"]) for x, y in zip(a, c))
    ids = _env(goal_format="id", inventory=False).reset(seed=0)[0]
    assert ids["goals"].shape == (3,) and ids["_achieved"].shape == (2,) and ids["state"].shape == (1,)
    only = _env(goals=2, min_goals=2, distribution={"eat_cow": 1, "wake_up": 2}).unwrapped
    for seed in range(5):
        only.reset(seed=seed)
        assert sorted(only.instruction) == ["eat_cow", "wake_up"]


def test_scripted_achievements_reward_the_next_goal_only() -> None:
    """Put a tree, then water, then a tree in front of the player and hit it: wood (not next: no reward),
    drink (reward), wood (reward, complete). The relabeler's replay of the rollout gives the same rewards."""
    env = _env(goals=3, instructions=["collect_drink+collect_wood"])
    rows = [env.reset(seed=0)[0]]
    game = env.unwrapped.game
    player = game._player
    front = (player.pos[0] + player.facing[0], player.pos[1] + player.facing[1])
    results = []
    for material in ("tree", "water", "tree"):
        assert game._world[front][1] is None  # nothing standing there
        game._world[front] = material
        obs, reward, terminated, truncated, info = env.step(DO)
        rows.append(obs)
        results.append((reward, terminated, truncated))
    assert results == [(0.0, False, False), (1.0, False, False), (1.0, True, False)]
    codes = goal_codes()
    np.testing.assert_array_equal(np.stack([r["_achieved"] for r in rows]),
                                  np.stack([encode_goals(a, 2, codes) for a in ([], [WOOD], [DRINK], [WOOD])]))
    np.testing.assert_array_equal(np.stack([r["goals"] for r in rows]),
                                  np.stack([_shown(slots, codes) for slots in ([DRINK, WOOD, None], [DRINK, WOOD, None],
                                                                               [None, WOOD, None], [None] * 3)]))
    assert info["episode_metrics"] == {"success": 1.0, "goals": 1.0, "died": 0.0,
                                       "instruction/collect_drink+collect_wood/success": 1.0}
    achieved = np.stack([r["_achieved"] for r in rows])
    real = GoalSequenceRelabeler().replay(rows[0]["goals"], achieved)
    np.testing.assert_array_equal(real.rewards, [r["prev_reward"][0] for r in rows])
    assert real.done_at == 3


def test_the_preset_env() -> None:
    kwargs = apply_overrides(RunConfig(), preset_overrides("crafter")).env.kwargs
    env = _env(**kwargs)  # a small world (area 16) for speed
    assert env.max_rollout_steps == kwargs["time_limit"] and env.obs_spec.shapes["image"] == (36, 36, 3)
    assert env.obs_spec.shapes["goals"] == (kwargs["goals"], 22)


def test_time_limit_ends_without_success() -> None:
    env = _env(instructions=["collect_diamond"], time_limit=3)
    env.reset(seed=0)
    steps = [env.step(0) for _ in range(3)]
    assert [s[2] for s in steps] == [False, False, True] and not any(s[3] for s in steps)
    assert steps[-1][4]["episode_metrics"] == {"success": 0.0, "goals": 0.0, "died": 0.0,
                                               "instruction/collect_diamond/success": 0.0}


TINY = tiny_overrides("env.name=crafter-instructions", "env.kwargs.area=16", "env.kwargs.image_size=18",
                      "env.kwargs.goals=2", "env.kwargs.time_limit=10", "env.kwargs.distribution=easy",
                      "learn.batch_size=3", "train.steps_per_epoch=10", "train.updates_per_epoch=2",
                      "replay.relabel_prob=1")


@pytest.mark.slow
def test_train_smoke_with_relabeling_and_the_instruction_table(tmp_path: Path, monkeypatch, capsys) -> None:
    pytest.importorskip("crafter")
    calls = []
    original = GoalSequenceRelabeler.relabel

    def counting(self, traj, rng):
        new = original(self, traj, rng)
        calls.append(new is not traj)
        return new

    monkeypatch.setattr(GoalSequenceRelabeler, "relabel", counting)
    from icrl.train import train  # the driver, imported where it is used

    run = tmp_path / "run"
    metrics = train(apply_overrides(RunConfig(), TINY), run, progress="off")
    assert metrics["epoch"] == 2 and np.isfinite(metrics["critic/loss"]) and "eval/success" in metrics
    assert len(calls) >= 2 * 2 * 3 and any(calls)  # every sampled rollout went through it; some were rewritten
    with np.load(next((run / "buffer" / "fifo").glob("*.npz"))) as data:
        assert data["obs/image"].dtype == np.uint8 and data["obs/_achieved"].shape[1:] == (2, 22)
    instructions = ["collect_wood", "eat_cow+wake_up", "collect_wood+eat_cow+wake_up"]
    assert cli_main(["eval", str(run), "--episodes", "2", "--json", "--per-instruction", *instructions]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["instruction"] for r in rows] == ["(generated)", "collect_wood", "eat_cow+wake_up"]  # 3 > k: skipped
    assert all(0.0 <= r["success"] <= 1.0 and r["rollouts"] == 2 for r in rows)
    assert cli_main(["eval", str(run), "--episodes", "2", "--per-instruction", "collect_wood"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["instruction", "success", "goals", "rollouts"]
    assert [line.split()[0] for line in table[1:]] == ["(generated)", "collect_wood"]
