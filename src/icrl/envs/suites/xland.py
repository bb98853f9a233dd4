"""XLand-MiniGrid (Nikulin et al. 2024): JAX grid worlds, stepped as one batch in one jitted call.

``xland/<id>`` is any environment xminigrid registers (``xland/XLand-MiniGrid-R1-9x9``,
``xland/MiniGrid-DoorKey-5x5``, ...). Training builds it with ``XLandVectorEnv``: all N envs live in one batched
JAX state and every step is a single ``jit(vmap(step))`` call (no Python loop over envs); the collector gets it
from ``icrl.rollout.make_vector_env`` through the registry's ``vector`` factory. ``make_env`` (probing, single
rollouts) returns ``XLandEnv``, the same machinery with a batch of one.

Meta-RL trials, as in the method's XLand runs: a rollout is ``attempts`` episodes of one *task*. An XLand id's task
is a ruleset (a goal, rules and the objects placed), drawn per rollout from ``benchmark`` (a name
``xminigrid.load_benchmark`` knows, e.g. ``trivial-1m``, downloaded on first use, or the path of a saved
benchmark; xminigrid stores benchmarks as pickles, so load only files you trust) or, with ``benchmark=None``,
from a built-in family that needs no download: ``objects`` distinct objects (ball, square, pyramid, hex, star in
six colours) are placed and the goal is to walk up to one of them (a forward move that ends next to it); which
one is hidden, so the agent must find out and remember it across episodes. Each episode has a new layout
(``same_layout=False``, the XLand protocol); MiniGrid ids have fixed tasks and replay the same layout
(``same_layout=True``). Episode reward: xminigrid's ``1 - 0.9 * steps / max_steps``.

Observation (dict), per env::

    image          (V, V, 25) uint8  the agent's view (V = 5 for XLand ids), one channel per tile type (13) and colour
                                     (12), each 0 or 255
    attempt        (k,) float32      the episode's number in the rollout, one-hot
    attempt_start  (1,) float32      1 on the first observation of each episode

Episode metrics: ``attempt_i/return``, ``attempt_i/success`` (the goal reached), ``return``, ``success``.
Needs ``pip install 'icrl[xland]'`` (jax, xminigrid; CPU wheels are enough).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from icrl.envs.interface import PREV_ACTION, PREV_REWARD, TIME_IDX
from icrl.errors import ConfigError, ICRLError, MissingExtraError

N_TILES, N_COLORS = 13, 12  # xminigrid.core.constants NUM_TILES, NUM_COLORS
OBJECT_TILES = (3, 4, 5, 11, 12)  # ball, square, pyramid, hex, star
OBJECT_COLORS = (1, 2, 3, 4, 5, 6)  # red, green, blue, purple, yellow, grey
AGENT_NEAR_GOAL = 3  # xminigrid's AgentNearGoal encoding id: a forward move (action 0) that ends next to the tile


def _import():
    try:
        import jax
        import xminigrid
    except ImportError as err:
        raise MissingExtraError("XLand-MiniGrid needs jax and xminigrid: pip install 'icrl[xland]'.") from err
    return jax, xminigrid


class XLandBatch:
    """N xminigrid envs in one JAX state: ``reset`` and ``step`` each run one jitted call over the batch.

    Returns numpy arrays; keeps the trial bookkeeping (attempt, per-attempt returns and success) on the device too.
    """

    def __init__(self, env_id: str, num_envs: int, attempts: int = 1, benchmark: str | None = None,
                 objects: int = 3, same_layout: bool | None = None) -> None:
        jax, xminigrid = _import()
        if env_id not in xminigrid.registered_environments():
            raise ICRLError(f"unknown XLand-MiniGrid env {env_id!r}; envs: "
                            f"{', '.join(xminigrid.registered_environments())}.")
        if attempts < 1 or num_envs < 1 or not 1 <= objects <= len(OBJECT_TILES) * len(OBJECT_COLORS):
            raise ConfigError(f"xland needs attempts >= 1, num_envs >= 1 and 1 <= objects <= 30; got {attempts}, "
                              f"{num_envs}, {objects}.")
        self.env, self.params = xminigrid.make(env_id)
        self.has_rules = hasattr(self.params, "ruleset")
        self.same_layout = (not self.has_rules) if same_layout is None else bool(same_layout)
        self.n, self.k, self.objects = num_envs, attempts, objects
        self.rulesets = _load_benchmark(benchmark) if benchmark is not None and self.has_rules else None
        if benchmark is not None and not self.has_rules:
            raise ConfigError(f"{env_id} has a fixed task; benchmark= applies to XLand-MiniGrid-* ids only.")
        self.view = int(self.params.view_size)
        self.max_steps = int(self.params.max_steps)
        self.num_actions = int(self.env.num_actions(self.params))
        self._reset = jax.jit(jax.vmap(self._reset_one, in_axes=(0, None)))
        self._step = jax.jit(jax.vmap(self._step_one, in_axes=(0, 0, None)))
        self._jax = jax
        self.carry = None

    # --- pure JAX, one env (vmapped above) ---------------------------------------------------------------------
    def _sample_ruleset(self, key, rulesets):
        from xminigrid.types import RuleSet

        jnp = self._jax.numpy
        if rulesets is not None:
            return rulesets.sample_ruleset(key)
        table = jnp.array([(t, c) for t in OBJECT_TILES for c in OBJECT_COLORS], dtype=jnp.uint8)
        chosen = table[self._jax.random.choice(key, len(table), (self.objects,), replace=False)]
        goal = jnp.zeros_like(self.params.ruleset.goal).at[0].set(AGENT_NEAR_GOAL).at[1:3].set(chosen[0])
        return RuleSet(goal=goal, rules=self.params.ruleset.rules, init_tiles=chosen)

    def _params(self, ruleset):
        return self.params.replace(ruleset=ruleset) if self.has_rules else self.params

    def _episode_key(self, trial_key, attempt):
        return trial_key if self.same_layout else self._jax.random.fold_in(trial_key, attempt)

    def _fresh(self, key, attempt, trial_key, ruleset, rulesets, new_task):
        """Reset for the episode ``attempt`` of a trial: with ``new_task``, a new trial (task and trial key drawn
        from ``key``); otherwise the next episode of the current one. One ``env.reset`` either way (jit-friendly)."""
        jax, jnp = self._jax, self._jax.numpy
        task_key, new_trial_key, next_key = jax.random.split(key, 3)
        if self.has_rules:
            ruleset = jax.tree.map(lambda new, old: jnp.where(new_task, new, old),
                                   self._sample_ruleset(task_key, rulesets), ruleset)
        trial_key = jnp.where(new_task, new_trial_key, trial_key)
        attempt = jnp.where(new_task, 0, attempt)
        timestep = self.env.reset(self._params(ruleset), self._episode_key(trial_key, attempt))
        return {"key": next_key, "trial_key": trial_key, "ruleset": ruleset, "timestep": timestep,
                "attempt": attempt, "start": jnp.asarray(True),
                "returns": jnp.zeros(self.k), "success": jnp.zeros(self.k)}

    def _reset_one(self, key, rulesets):
        jnp = self._jax.numpy
        # a placeholder of the drawn rulesets' shapes (a benchmark's may differ from the env's default ruleset)
        ruleset = self._sample_ruleset(key, rulesets) if self.has_rules else None
        return self._fresh(key, jnp.asarray(0), key, ruleset, rulesets, jnp.asarray(True))

    def _observe(self, carry):
        jnp = self._jax.numpy
        grid = carry["timestep"].observation.astype(jnp.int32)
        image = jnp.concatenate([self._jax.nn.one_hot(grid[..., 0], N_TILES, dtype=jnp.uint8),
                                 self._jax.nn.one_hot(grid[..., 1], N_COLORS, dtype=jnp.uint8)], axis=-1) * 255
        attempt = self._jax.nn.one_hot(jnp.minimum(carry["attempt"], self.k - 1), self.k, dtype=jnp.float32)
        return {"image": image.astype(jnp.uint8), "attempt": attempt,
                "attempt_start": carry["start"].astype(jnp.float32)[None]}

    def _step_one(self, carry, action, rulesets):
        jax, jnp = self._jax, self._jax.numpy
        params = self._params(carry["ruleset"])
        timestep = self.env.step(params, carry["timestep"], action)
        reward = timestep.reward.astype(jnp.float32)
        goal = timestep.discount == 0.0  # xminigrid: discount 0 exactly when the goal is reached
        episode_end = timestep.last()
        at = carry["attempt"]
        returns = carry["returns"].at[at].add(reward)
        success = carry["success"].at[at].set(jnp.where(episode_end, goal.astype(jnp.float32), carry["success"][at]))
        rollout_end = episode_end & (at == self.k - 1)
        stepped = {**carry, "timestep": timestep, "start": jnp.asarray(False),
                   "returns": returns, "success": success}
        final_obs = self._observe(stepped)
        # after an episode: the next one of the same task (ruleset); after the last attempt: a new trial
        fresh = self._fresh(carry["key"], at + 1, carry["trial_key"], carry["ruleset"], rulesets, rollout_end)
        # the trial's tallies carry over to its next episode and start again with a new trial
        fresh["returns"] = jnp.where(rollout_end, fresh["returns"], returns)
        fresh["success"] = jnp.where(rollout_end, fresh["success"], success)
        after = jax.tree.map(lambda new, old: jnp.where(episode_end, new, old), fresh, stepped)
        out = {"obs": self._observe(after), "final_obs": final_obs, "reward": reward,
               "terminated": rollout_end & goal, "truncated": rollout_end & ~goal,
               "returns": returns, "success": success}
        return after, out

    # --- numpy interface -----------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        seed = int(np.random.SeedSequence(seed).generate_state(1)[0]) if seed is None else int(seed)
        keys = self._jax.random.split(self._jax.random.key(seed), self.n)
        self.carry = self._reset(keys, self.rulesets)
        return self._numpy(self._jax.vmap(self._observe)(self.carry))

    def step(self, actions: np.ndarray) -> dict:
        if self.carry is None:
            raise ICRLError("XLand env stepped before reset(); call reset() first.")
        actions = self._jax.numpy.asarray(np.asarray(actions, np.int32).reshape(self.n))
        self.carry, out = self._step(self.carry, actions, self.rulesets)
        return self._numpy(out)

    @staticmethod
    def _numpy(tree):
        return {k: _numpy_tree(v) for k, v in tree.items()}

    def observation_spaces(self) -> dict[str, gym.spaces.Box]:
        return {"image": gym.spaces.Box(0, 255, (self.view, self.view, N_TILES + N_COLORS), np.uint8),
                "attempt": gym.spaces.Box(0.0, 1.0, (self.k,), np.float32),
                "attempt_start": gym.spaces.Box(0.0, 1.0, (1,), np.float32)}

    def episode_metrics(self, out: dict, i: int) -> dict[str, float]:
        """``KAttempts``' episode metrics of env i from a ``step`` output whose rollout ended."""
        metrics = {}
        for a in range(self.k):
            metrics[f"attempt_{a + 1}/return"] = float(out["returns"][i][a])
            metrics[f"attempt_{a + 1}/success"] = float(out["success"][i][a])
        metrics["return"] = float(out["returns"][i].sum())
        metrics["success"] = float(out["success"][i].mean())
        return metrics


def _numpy_tree(value):
    """Writable numpy copies (``np.asarray`` of a JAX array is a read-only view, which torch warns about)."""
    return {k: np.array(v) for k, v in value.items()} if isinstance(value, dict) else np.array(value)


def _load_benchmark(benchmark: str):
    import os

    _, xminigrid = _import()
    from xminigrid.benchmarks import load_benchmark_from_path

    try:
        if os.path.exists(benchmark):
            return load_benchmark_from_path(benchmark)
        return xminigrid.load_benchmark(benchmark)
    except Exception as err:  # unknown name, no network, corrupt file: say which and how to fix
        raise ICRLError(f"cannot load the XLand-MiniGrid benchmark {benchmark!r} ({err}); pass a name from "
                        f"xminigrid.registered_benchmarks() with network access, the path of a downloaded file, "
                        "or benchmark=None for the built-in task family.") from err


class XLandEnv(gym.Env):
    """One XLand-MiniGrid env as a gymnasium env (a batch of one): what ``make_env`` and probing see."""

    def __init__(self, env_id: str, **kwargs) -> None:
        self.batch = XLandBatch(env_id, 1, **kwargs)
        self.observation_space = gym.spaces.Dict(self.batch.observation_spaces())
        self.action_space = gym.spaces.Discrete(self.batch.num_actions)
        self.max_rollout_steps = self.batch.k * self.batch.max_steps

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        obs = self.batch.reset(int(self.np_random.integers(2**31 - 1)))
        return {k: v[0] for k, v in obs.items()}, {}

    def step(self, action):
        out = self.batch.step(np.asarray([action]))
        terminated, truncated = bool(out["terminated"][0]), bool(out["truncated"][0])
        info = {"episode_metrics": self.batch.episode_metrics(out, 0)} if terminated or truncated else {}
        source = out["final_obs"] if terminated or truncated else out["obs"]
        return {k: v[0] for k, v in source.items()}, float(out["reward"][0]), terminated, truncated, info


class XLandVectorEnv(gym.vector.VectorEnv):
    """N XLand-MiniGrid envs stepped by one jitted call, with what ``icrl.envs.wrap`` adds to every observation
    (``prev_action`` one-hot, ``prev_reward``, ``time_idx``) and gymnasium's same-step autoreset ``info``
    (``final_obs``, ``final_info["episode_metrics"]``), the contract ``icrl.rollout.Collector`` reads."""

    def __init__(self, env_id: str, num_envs: int, **kwargs) -> None:
        self.batch = XLandBatch(env_id, num_envs, **kwargs)
        self.num_envs = num_envs
        self.single_action_space = gym.spaces.Discrete(self.batch.num_actions)
        spaces = self.batch.observation_spaces()
        spaces[PREV_ACTION] = gym.spaces.Box(-np.inf, np.inf, (self.batch.num_actions,), np.float32)
        spaces[PREV_REWARD] = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        spaces[TIME_IDX] = gym.spaces.Box(0, np.iinfo(np.int64).max, (1,), np.int64)
        self.single_observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
        self._t = np.zeros(num_envs, np.int64)

    def _with_reserved(self, obs: dict, actions: np.ndarray | None, reward: np.ndarray) -> dict:
        prev = np.zeros((self.num_envs, self.batch.num_actions), np.float32)
        if actions is not None:
            prev[np.arange(self.num_envs), actions] = 1.0
        return {**obs, PREV_ACTION: prev, PREV_REWARD: reward.astype(np.float32).reshape(-1, 1),
                TIME_IDX: self._t.reshape(-1, 1).copy()}

    def reset(self, *, seed=None, options=None):
        self._t[:] = 0
        obs = self.batch.reset(seed)
        return self._with_reserved(obs, None, np.zeros(self.num_envs)), {}

    def step(self, actions):
        actions = np.asarray(actions, np.int64).reshape(self.num_envs)
        out = self.batch.step(actions)
        self._t += 1
        done = out["terminated"] | out["truncated"]
        final = self._with_reserved(out["final_obs"], actions, out["reward"])
        self._t[done] = 0
        fresh = self._with_reserved(out["obs"], actions, out["reward"])
        for key in (PREV_ACTION, PREV_REWARD):
            fresh[key][done] = 0.0  # a new rollout starts with no previous action or reward
        info = {}
        if done.any():
            final_obs = np.empty(self.num_envs, dtype=object)
            names = list(self.batch.episode_metrics(out, 0))
            metrics = {n: np.zeros(self.num_envs) for n in names}
            for i in np.flatnonzero(done):
                final_obs[i] = {k: v[i] for k, v in final.items()}
                for n, v in self.batch.episode_metrics(out, i).items():
                    metrics[n][i] = v
            metrics.update({f"_{n}": done.copy() for n in names})
            info = {"final_obs": final_obs, "_final_obs": done.copy(),
                    "final_info": {"episode_metrics": metrics, "_episode_metrics": done.copy()},
                    "_final_info": done.copy()}
        return fresh, out["reward"].astype(np.float64), out["terminated"], out["truncated"], info


def make_xland(env_id: str, attempts: int = 1, benchmark: str | None = None, objects: int = 3,
               same_layout: bool | None = None) -> gym.Env:
    """One XLand-MiniGrid env (see the module docstring); training steps them batched (``make_xland_vector``)."""
    return XLandEnv(env_id, attempts=attempts, benchmark=benchmark, objects=objects, same_layout=same_layout)


def make_xland_vector(env_id: str, num_envs: int, attempts: int = 1, benchmark: str | None = None,
                      objects: int = 3, same_layout: bool | None = None) -> XLandVectorEnv:
    """``num_envs`` XLand-MiniGrid envs stepped in one jitted call (see the module docstring)."""
    return XLandVectorEnv(env_id, num_envs, attempts=attempts, benchmark=benchmark, objects=objects,
                          same_layout=same_layout)
