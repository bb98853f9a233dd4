"""Wrap any gymnasium env so every step carries what an in-context learner needs.

``wrap(env)`` returns an ``InContextEnv`` whose observation is a dict of Box arrays: the env's own
observation (non-dict -> key ``"observation"``; Discrete / MultiDiscrete -> one-hot floats) plus three
reserved keys that travel through gymnasium vector envs (in-process or subprocesses):

* ``prev_action`` (A,) float32: the encoded action that led here (``icrl.spaces.ActionSpec``), zeros after reset;
* ``prev_reward`` (1,) float32: the reward received for it, 0 after reset;
* ``time_idx`` (1,) int64: steps since the rollout began, 0 after reset.

``terminated`` and ``truncated`` stay apart (gymnasium 1.x): only termination stops bootstrapping.

Side keys: an env observation key starting with ``_`` (``icrl.spaces.is_side_key``, e.g. MazeRunner's
``_achieved``) is converted and stored like any other but left out of ``obs_spec``, so the networks never read
it; hindsight relabeling (``icrl.data.relabel``) reads it from the stored trajectory.

Actions the agent sends: Discrete index; MultiDiscrete int vector; MultiBinary as MultiDiscrete([2] * n);
Box in [-1, 1], rescaled to [low, high] (passed through unscaled, clipped to the finite bound if any, when a
bound is infinite).

Episode metrics protocol: on the last step of a rollout an env may set ``info["episode_metrics"] =
{name: float}`` (e.g. per-attempt success); the collector averages them per evaluation.

Task protocol (multi-task envs): an env may put the name of its current task in ``info["task"]`` (a string);
the collector reads it on the last step of a rollout and metrics are also broken down per task
(``eval/task/<name>/return``, and ``.../success`` when the env reports a ``success`` episode metric).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from icrl.errors import ICRLError, SpaceError
from icrl.spaces import ActionSpec, ObsSpec, action_converter, obs_converter

PREV_ACTION, PREV_REWARD, TIME_IDX = "prev_action", "prev_reward", "time_idx"
RESERVED_KEYS = (PREV_ACTION, PREV_REWARD, TIME_IDX)


def _single(convert, key: str, space: gym.Space, shape: tuple[int, ...]):
    """A converter of batches (``icrl.spaces.obs_converter``) applied to one observation, which must fit ``space``
    (a wrong shape, type or index is refused here rather than failing somewhere inside the networks)."""

    def apply(x, env_name: str):
        try:
            out = convert(np.asarray(x)[None])[0]
        except (ValueError, TypeError, IndexError, OverflowError) as err:
            out, why = None, str(err)
        if out is not None and tuple(out.shape) == shape:
            return out
        why = why if out is None else f"shape {tuple(np.shape(x))} converts to {tuple(out.shape)}, not {shape}"
        raise SpaceError(f"env {env_name!r} returned an observation for key {key!r} that does not fit its space "
                         f"{space} ({why}); fix the environment or its observation_space.")

    return apply


class InContextEnv(gym.Wrapper):
    """Dict observations with previous action, previous reward and time index; normalised actions.

    What the wrapped env (or any wrapper in it) declares for training is read once and kept here:
    ``max_rollout_steps`` (the longest rollout, if known) and ``mirror_conflict`` (None, or a sentence saying why
    negating every action, as ``replay.mirror_actions`` does, would contradict the env's observations).
    """

    def __init__(self, env: gym.Env, env_name: str | None = None) -> None:
        super().__init__(env)
        inner = env.observation_space
        items = inner.spaces.items() if isinstance(inner, gym.spaces.Dict) else [("observation", inner)]
        self._obs = {}
        spaces = {}
        for key, sub in items:
            if key in RESERVED_KEYS:
                raise SpaceError(f"observation key {key!r} clashes with icrl's reserved keys {RESERVED_KEYS}; "
                                 "rename it with a gymnasium observation wrapper.")
            spaces[key], convert = obs_converter(sub, key)
            self._obs[key] = _single(convert, key, sub, spaces[key].shape)
        self._dict_obs = isinstance(inner, gym.spaces.Dict)
        actions = action_converter(env.action_space)
        self.action_space, self._to_env = actions.space, actions.to_env
        self.action_spec = ActionSpec.from_space(self.action_space)
        self.obs_spec = ObsSpec.from_space(gym.spaces.Dict(spaces))
        spaces[PREV_ACTION] = gym.spaces.Box(-np.inf, np.inf, (self.action_spec.dim,), np.float32)
        spaces[PREV_REWARD] = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        spaces[TIME_IDX] = gym.spaces.Box(0, np.iinfo(np.int64).max, (1,), np.int64)
        self.observation_space = gym.spaces.Dict(spaces)
        spec_name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        self.env_name = env_name or spec_name
        self.max_rollout_steps = _rollout_limit(env)
        self.mirror_conflict: str | None = _declared(env, "mirror_conflict")
        self._t = 0

    def _make_obs(self, raw, prev_action: np.ndarray, reward: float) -> dict:
        raw = raw if self._dict_obs else {"observation": raw}
        if not isinstance(raw, dict) or not self._obs.keys() <= raw.keys():
            have = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
            raise SpaceError(f"env {self.env_name!r} returned an observation with keys {have} that does not fit "
                             f"its Dict observation space (keys {sorted(self._obs)}); fix the environment or its "
                             "observation_space.")
        obs = {k: fn(raw[k], self.env_name) for k, fn in self._obs.items()}
        obs[PREV_ACTION] = prev_action.astype(np.float32)
        obs[PREV_REWARD] = np.array([reward], np.float32)
        obs[TIME_IDX] = np.array([self._t], np.int64)
        return obs

    def reset(self, *, seed=None, options=None):
        raw, info = self.env.reset(seed=seed, options=options)
        self._t = 0
        return self._make_obs(raw, np.zeros(self.action_spec.dim, np.float32), 0.0), info

    def step(self, action):
        action = np.asarray(action)
        if self.action_spec.kind == "box":
            action = np.clip(action.astype(np.float32), -1.0, 1.0)
        raw, reward, terminated, truncated, info = self.env.step(self._to_env(action))
        reward = float(reward)
        if not np.isfinite(reward):
            raise ICRLError(f"env {self.env_name!r} returned a non-finite reward ({reward}) at step {self._t}; "
                            "fix the environment or clip its reward with a gymnasium RewardWrapper.")
        self._t += 1
        encoded = self.action_spec.encode(action.reshape(1, -1) if action.ndim else action.reshape(1))[0]
        return self._make_obs(raw, encoded, reward), reward, bool(terminated), bool(truncated), info


def _rollout_limit(env: gym.Env) -> int | None:
    """Longest rollout: from a trial wrapper, a TimeLimit, or the env spec."""
    current = env
    while current is not None:
        limit = getattr(current, "max_rollout_steps", None)
        if limit:
            return int(limit)
        if isinstance(current, gym.wrappers.TimeLimit):
            return int(current._max_episode_steps)
        current = getattr(current, "env", None)
    if env.spec is not None and env.spec.max_episode_steps:
        return int(env.spec.max_episode_steps)
    return None


def _declared(env: gym.Env, name: str):
    """The attribute ``name`` of ``env`` or of the first wrapper inside it that has one; None if none has."""
    try:
        return env.get_wrapper_attr(name)
    except AttributeError:
        return None


def wrap(env: gym.Env, env_name: str | None = None) -> InContextEnv:
    return env if isinstance(env, InContextEnv) else InContextEnv(env, env_name)


def split_observation(obs: dict) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """(observation without reserved keys, prev_action, prev_reward, time_idx); works on batched dicts too."""
    rest = {k: v for k, v in obs.items() if k not in RESERVED_KEYS}
    return rest, obs[PREV_ACTION], np.asarray(obs[PREV_REWARD])[..., 0], np.asarray(obs[TIME_IDX])[..., 0]
