"""Atari 2600 games through the Arcade Learning Environment (ale-py ships the ROMs): ``atari/Pong``, ``atari/Breakout``.

Each name is ale-py's ``ALE/<Game>-v5`` with the usual frame processing (gymnasium's ``AtariPreprocessing``):
the emulator runs ``frame_skip`` frames per action (rewards summed, the last two frames max-pooled against
flicker), the frame is turned grey and resized to ``screen_size`` (84), and up to 30 no-ops start each episode.
No frame stacking: the sequence model remembers. Defaults follow the method's multi-game runs (ALE v5): sticky
actions with probability 0.25, the full 18-action set (one action space for every game), unclipped rewards, the
game's end (not a lost life) ends the rollout, and at most ``max_steps`` agent steps (108,000 frames).
Needs ``pip install 'icrl[atari]'`` (ale-py and OpenCV, which AtariPreprocessing resizes with).

Observation: ``observation`` (84, 84, 1) uint8, a one-channel image the CNN reads.
"""

from __future__ import annotations

import gymnasium as gym

from icrl.errors import ConfigError, ICRLError, MissingExtraError


def game_id(game: str) -> str:
    """``Pong`` -> ``ALE/Pong-v5``, checked against the games ale-py registers."""
    try:
        import ale_py
    except ImportError as err:
        raise MissingExtraError("Atari games need ale-py: pip install 'icrl[atari]'.") from err
    gym.register_envs(ale_py)
    env_id = f"ALE/{game}-v5"
    if env_id not in gym.registry:
        known = sorted(k[4:-3] for k in gym.registry if k.startswith("ALE/") and k.endswith("-v5"))
        raise ICRLError(f"unknown Atari game {game!r}; games: {', '.join(known)}.")
    return env_id


def make_atari(game: str, frame_skip: int = 4, screen_size: int = 84, sticky_actions: float = 0.25,
               full_action_space: bool = True, noop_max: int = 30, max_steps: int = 27_000) -> gym.Env:
    """Atari ``game`` with frame processing (see the module docstring)."""
    if frame_skip < 1 or screen_size < 16 or max_steps < 1 or not 0.0 <= sticky_actions < 1.0:
        raise ConfigError(f"atari needs frame_skip >= 1, screen_size >= 16, max_steps >= 1 and 0 <= sticky_actions "
                          f"< 1; got {frame_skip}, {screen_size}, {max_steps}, {sticky_actions}.")
    env = gym.make(game_id(game), frameskip=1, repeat_action_probability=sticky_actions,
                   full_action_space=full_action_space, max_num_frames_per_episode=max_steps * frame_skip)
    try:
        env = gym.wrappers.AtariPreprocessing(env, noop_max=noop_max, frame_skip=frame_skip, screen_size=screen_size,
                                              grayscale_obs=True, grayscale_newaxis=True, scale_obs=False,
                                              terminal_on_life_loss=False)
    except gym.error.DependencyNotInstalled as err:
        raise MissingExtraError("Atari frame processing needs OpenCV: pip install 'icrl[atari]'.") from err
    return gym.wrappers.TimeLimit(env, max_steps)
