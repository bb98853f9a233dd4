"""POPGym (Morad et al. 2023) environments by name: ``popgym/RepeatPreviousEasy``, ``popgym/CountRecallEasy``, ...

Observations are flattened to one vector (Discrete -> one-hot, Tuple -> concatenation); previous action and
reward are added by the usual wrapper. POPGym scales every env so an episode's return lies in [-1, 1]. As in
the method's POPGym experiments, the fixed episode end counts as termination by default (nothing follows it).
"""

from __future__ import annotations

import gymnasium as gym

from icrl.errors import ICRLError, MissingExtraError

# Names used in papers before POPGym renamed its "Stateless" envs.
ALIASES = {"StatelessCartPoleEasy": "PositionOnlyCartPoleEasy", "StatelessCartPoleMedium": "PositionOnlyCartPoleMedium",
           "StatelessCartPoleHard": "PositionOnlyCartPoleHard", "StatelessPendulumEasy": "PositionOnlyPendulumEasy",
           "StatelessPendulumMedium": "PositionOnlyPendulumMedium", "StatelessPendulumHard": "PositionOnlyPendulumHard"}


def popgym_classes() -> dict[str, type]:
    """Env class by name (``RepeatPreviousEasy`` -> class) for every POPGym env the installed package has."""
    try:
        from popgym.envs import ALL
    except ImportError as err:
        raise MissingExtraError("POPGym environments need the popgym package: pip install 'icrl[popgym]'.") from err
    return {cls.__name__: cls for cls in ALL}


def episode_limit(env: gym.Env) -> int:
    """Longest episode of a POPGym env, read from the attribute each family uses."""
    inner = env.unwrapped
    for attr in ("max_episode_length", "episode_length", "deck_size"):
        value = getattr(inner, attr, None)
        if value:
            return int(value)
    raise ICRLError(f"cannot find the episode length of {type(inner).__name__}; wrap it in a TimeLimit.")


class _TruncationIsTermination(gym.Wrapper):
    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated or truncated, False, info


def make_popgym(name: str, truncation_is_terminal: bool = True) -> gym.Env:
    classes = popgym_classes()
    cls = classes.get(ALIASES.get(name, name))
    if cls is None:
        raise ICRLError(f"unknown POPGym env {name!r}; available: {', '.join(sorted(classes))}.")
    env = cls()
    limit = episode_limit(env)
    env = gym.wrappers.TimeLimit(gym.wrappers.FlattenObservation(env), limit)
    return _TruncationIsTermination(env) if truncation_is_terminal else env
