"""Environments: the in-context wrapper, meta-RL trial wrappers, the registry and built-in tasks."""

from icrl.envs.builtin.frozen_lake import make_meta_frozen_lake
from icrl.envs.builtin.key_door import make_dark_key_door
from icrl.envs.builtin.mazerunner import make_mazerunner
from icrl.envs.builtin.testing import (
    ContinuousTargetEnv,
    ImageDictEnv,
    MultiActionEnv,
    RememberFirstEnv,
    make_multibinary,
)
from icrl.envs.builtin.tmaze import make_tmaze
from icrl.envs.interface import RESERVED_KEYS, InContextEnv, split_observation, wrap
from icrl.envs.registry import list_envs, make_env, register_env, register_env_family
from icrl.envs.suites.aib import make_aib
from icrl.envs.suites.crafter import make_crafter_instructions
from icrl.envs.suites.halfcheetah_vel import make_halfcheetah_vel
from icrl.envs.suites.popgym import make_popgym
from icrl.envs.suites.popgym_multitask import make_popgym_multitask
from icrl.envs.trials import FixedHorizon, KAttempts

register_env("meta-frozen-lake", "random lake, k attempts at the same lake (kwargs: size, attempts, hole_prob)",
             factory=make_meta_frozen_lake)
register_env("t-maze", "passive T-maze memory test (kwargs: length, up to 10,000)", factory=make_tmaze)
register_env("dark-key-door", "dark key-to-door, episodes inside a meta-horizon "
             "(kwargs: size, episode_length, meta_horizon)", factory=make_dark_key_door)
register_env("mazerunner", "random maze, reach k goal cells in order; hindsight relabeling ready "
             "(kwargs: size, goals, time_limit, randomize_actions, show_position)", factory=make_mazerunner)

register_env("halfcheetah-vel", "HalfCheetah with a hidden target velocity, several episodes per task "
             "(kwargs: episodes, episode_length)", extra="mujoco", factory=make_halfcheetah_vel)
register_env("popgym-multitask", "one of several POPGym tasks per episode, padded spaces, per-task metrics "
             "(kwargs: tasks, truncation_is_terminal)", extra="popgym", factory=make_popgym_multitask)
register_env("crafter-instructions", "Crafter by instruction: complete k achievements in order; hindsight "
             "relabeling ready (kwargs: goals, min_goals, distribution, instructions, image_size, area, time_limit, "
             "inventory, goal_format)", extra="crafter", factory=make_crafter_instructions)
register_env_family("popgym/", make_popgym, "any POPGym env by class name, e.g. popgym/RepeatPreviousEasy "
                    "(kwargs: truncation_is_terminal)", extra="popgym")
register_env_family("aib/", make_aib, "Actuator Inversion Benchmark as published: aib/di, aib/di-friction, "
                    "aib/ode (no extra needed), aib/cartpole, aib/cheetah, aib/reacher-easy, aib/reacher-hard, "
                    "aib/ball-in-cup, aib/walker, aib/walker2d, aib/hopper; env i of a vector keeps instance i of "
                    "its split (kwargs: split=train|eval_in|eval_out, instance, observe_sign, observe_previous)",
                    extra="aib")
register_env("testing-remember-first", "testing: recall a bit shown at t=0 (discrete)", factory=RememberFirstEnv)
register_env("testing-continuous", "testing: reach a target action (Box)", factory=ContinuousTargetEnv)
register_env("testing-multidiscrete", "testing: MultiDiscrete actions", factory=MultiActionEnv)
register_env("testing-multibinary", "testing: MultiBinary actions", factory=make_multibinary)
register_env("testing-image", "testing: Dict obs with a uint8 image", factory=ImageDictEnv)

__all__ = ["RESERVED_KEYS", "FixedHorizon", "InContextEnv", "KAttempts", "list_envs", "make_env", "register_env",
           "register_env_family", "split_observation", "wrap"]
