"""BabyAI (Chevalier-Boisvert et al. 2019) levels by name: ``babyai/GoToLocal``, ``babyai/PickupLoc``, ...

Each name is minigrid's ``BabyAI-<level>-v0``. The language mission becomes an observation key, so the agent reads
its instruction every step (the method's BabyAI set-up: grid view, tokenised mission, direction and progress).
With ``attempts=k > 1`` the rollout is k attempts at the same level, layout and mission (``icrl.envs.KAttempts``
resets the level with one seed), so the agent can improve in context. Needs ``pip install 'icrl[babyai]'``.

Observation (dict)::

    image      (V, V, 20) uint8   the agent's partial view (V = 7), one channel per object type (11), colour (6)
                                  and door state (3), each 0 or 255: categorical codes, one-hot so the CNN reads
                                  them as presence maps instead of as grey levels
    direction  (4,) float32       the agent's heading, one-hot
    mission    (T, W) float32     the mission's words, one row per token, one-hot over ``VOCABULARY`` (W words);
                                  rows past the mission's end are zero. ``mission_format="ids"``: (T,) word ids + 1,
                                  0 for padding
    progress   (1,) float32       steps taken in this attempt / the level's step limit

Reward: minigrid's ``1 - 0.9 * steps / max_steps`` on success, else 0. Episode metric ``success``.
"""

from __future__ import annotations

import contextlib
import io
import re

import gymnasium as gym
import numpy as np

from icrl.envs.trials import KAttempts
from icrl.errors import ConfigError, ICRLError, MissingExtraError

# Every word BabyAI's mission grammar (minigrid.envs.babyai.core.verifier) and its levels' fixed missions use;
# "," is a token ("go to the door, then open ...").
VOCABULARY = ("<unk>", ",", "a", "after", "and", "ball", "behind", "blue", "box", "door", "front", "go", "green",
              "grey", "in", "key", "left", "next", "object", "of", "on", "open", "pick", "purple", "put", "red",
              "right", "the", "then", "to", "up", "yellow", "you", "your")
WORD_ID = {w: i for i, w in enumerate(VOCABULARY)}
N_OBJECTS, N_COLORS, N_STATES = 11, 6, 3  # minigrid's OBJECT_TO_IDX, COLOR_TO_IDX, STATE_TO_IDX sizes
CHANNELS = N_OBJECTS + N_COLORS + N_STATES


def tokenize(mission: str, max_tokens: int) -> list[int]:
    """Word ids of ``mission`` (lower case, ``,`` split off; unknown words -> ``<unk>``)."""
    words = re.findall(r"[a-z]+|,", mission.lower())
    if len(words) > max_tokens:
        raise ConfigError(f"BabyAI mission {mission!r} has {len(words)} tokens, more than max_tokens={max_tokens}; "
                          "pass env.kwargs.max_tokens=N with a larger N.")
    return [WORD_ID.get(w, 0) for w in words]


def encode_mission(ids: list[int], max_tokens: int, mission_format: str) -> np.ndarray:
    """(T, W) one-hot rows (zero rows after the end) or (T,) ids + 1 (0 = padding), float32."""
    if mission_format == "ids":
        out = np.zeros(max_tokens, np.float32)
        out[: len(ids)] = np.asarray(ids, np.float32) + 1.0
        return out
    out = np.zeros((max_tokens, len(VOCABULARY)), np.float32)
    out[np.arange(len(ids)), ids] = 1.0
    return out


def encode_view(grid: np.ndarray) -> np.ndarray:
    """minigrid's (V, V, 3) (object, colour, state) codes -> (V, V, 20) uint8 one-hot channels of 0/255."""
    grid = np.asarray(grid, np.int64)
    out = np.zeros((*grid.shape[:2], CHANNELS), np.uint8)
    rows, cols = np.indices(grid.shape[:2])
    out[rows, cols, grid[..., 0]] = 255
    out[rows, cols, N_OBJECTS + grid[..., 1]] = 255
    out[rows, cols, N_OBJECTS + N_COLORS + np.minimum(grid[..., 2], N_STATES - 1)] = 255
    return out


class BabyAIObservation(gym.Wrapper):
    """A minigrid BabyAI level with the dict observation of the module docstring and a ``success`` flag."""

    def __init__(self, env: gym.Env, max_tokens: int = 32, mission_format: str = "onehot") -> None:
        if mission_format not in ("onehot", "ids"):
            raise ConfigError(f"babyai mission_format={mission_format!r} is invalid: 'onehot' or 'ids'.")
        super().__init__(env)
        self.max_tokens, self.mission_format = max_tokens, mission_format
        view = env.observation_space["image"].shape[0]
        mission_shape = (max_tokens,) if mission_format == "ids" else (max_tokens, len(VOCABULARY))
        self.observation_space = gym.spaces.Dict({
            "image": gym.spaces.Box(0, 255, (view, view, CHANNELS), np.uint8),
            "direction": gym.spaces.Discrete(4),
            "mission": gym.spaces.Box(0.0, float(len(VOCABULARY)), mission_shape, np.float32),
            "progress": gym.spaces.Box(0.0, 1.0, (1,), np.float32),
        })
        with contextlib.redirect_stdout(io.StringIO()):  # BabyAI levels set max_steps on reset; fixed per level
            env.reset(seed=0)
        self.max_steps = int(env.unwrapped.max_steps)
        self._mission = np.zeros(mission_shape, np.float32)

    def _obs(self, raw: dict) -> dict:
        inner = self.env.unwrapped
        return {"image": encode_view(raw["image"]), "direction": int(raw["direction"]), "mission": self._mission,
                "progress": np.array([min(inner.step_count / inner.max_steps, 1.0)], np.float32)}

    def reset(self, *, seed=None, options=None):
        with contextlib.redirect_stdout(io.StringIO()):  # minigrid prints every layout it rejects and redraws
            raw, info = self.env.reset(seed=seed, options=options)
        self._mission = encode_mission(tokenize(raw["mission"], self.max_tokens), self.max_tokens,
                                       self.mission_format)
        return self._obs(raw), info

    def step(self, action):
        raw, reward, terminated, truncated, info = self.env.step(action)
        success = bool(terminated and reward > 0)
        info = {**info, "success": success}
        if terminated or truncated:
            info["episode_metrics"] = {"success": float(success)}
        return self._obs(raw), float(reward), terminated, truncated, info


def level_id(level: str) -> str:
    """``GoToLocal`` -> ``BabyAI-GoToLocal-v0``, checked against minigrid's registered levels."""
    try:
        import minigrid
    except ImportError as err:
        raise MissingExtraError("BabyAI levels need the minigrid package: pip install 'icrl[babyai]'.") from err
    gym.register_envs(minigrid)
    env_id = f"BabyAI-{level}-v0"
    if env_id not in gym.registry:
        known = sorted(k[len("BabyAI-"):-3] for k in gym.registry if k.startswith("BabyAI-") and k.endswith("-v0"))
        raise ICRLError(f"unknown BabyAI level {level!r}; levels: {', '.join(known)}.")
    return env_id


def make_babyai(level: str, attempts: int = 1, max_tokens: int = 32, mission_format: str = "onehot") -> gym.Env:
    """BabyAI level ``level`` (see the module docstring); ``attempts`` > 1 repeats it k times in one rollout."""
    env = BabyAIObservation(gym.make(level_id(level)).unwrapped, max_tokens, mission_format)
    if attempts < 1:
        raise ConfigError(f"babyai needs attempts >= 1, got {attempts}.")
    if attempts == 1:
        return gym.wrappers.TimeLimit(env, env.max_steps)  # minigrid truncates there too; this names the rollout limit
    return KAttempts(env, attempts, env.max_steps)
