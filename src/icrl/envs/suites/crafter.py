"""``crafter-instructions``: Crafter (Hafner 2022) played by instruction, the method's open-world goal task.

Every rollout draws an *instruction*: a sequence of up to ``goals`` of Crafter's 22 achievements (``collect_wood``,
``place_table``, ``make_wood_pickaxe``, ...). Reward 1 for completing the *next* achievement of the instruction
(an achievement counts when its counter rises on a step, so repeats count: collecting wood twice completes
``collect_wood+collect_wood``); at most one goal per step; the rollout terminates when the instruction is complete,
when the player dies, or at ``time_limit`` steps (the timer is observed, so the limit is part of the task, as in
MazeRunner). Crafter's own reward is not used. Needs ``pip install 'icrl[crafter]'``; imported lazily.

Instructions: with ``instructions=None`` (training) the length is uniform in [``min_goals``, ``goals``] and the
achievements are drawn without replacement from ``distribution``: ``"uniform"`` over the 22, ``"easy"`` weighted
by ``1 / (1 + depth)`` with ``depth`` the tech-tree steps an achievement needs (``DEPTH``: 0 for collect_wood,
7 for collect_diamond), or a JSON object ``{achievement: weight}`` (missing ones weigh 0). A list
``instructions=["collect_coal", "place_table+make_wood_pickaxe"]`` (achievements joined by ``+`` or ``,``, or
lists of names) draws uniformly from that fixed set, as for the paper's per-instruction table; only then are
per-instruction metrics reported (a bounded set of names).

Observation (dict)::

    image      (S, S, 3) uint8   Crafter's view (9x7 local map above the inventory bar), S = image_size
    state      (17,) float32     inventory counts / 9 (health, food, drink, energy, sapling, wood, ...) and
                                 steps taken / time_limit; just the timer (1,) with inventory=False
    goals      (k, *G) float32   the instruction, one goal per slot; padding and completed goals hold -1
    _achieved  (2, *G) float32   achievements unlocked on arriving at this step (rows of -1: none); a side key,
                                 stored for hindsight relabeling, never shown to the networks

Goal codes ``G``: ``goal_format="onehot"`` (default) writes achievement i as row i of the 22x22 identity, G = (22,),
which the per-step MLP reads well; ``"id"`` writes the integer i itself, G = (), a scalar the MLP has to carve
into 22 intervals. Both follow the ``goal-sequence`` relabeler's contract (``icrl.data.relabel``): goals equal
entry by entry, sentinel -1 in every entry of an empty slot, several achieved rows per step (Crafter 1.8 unlocks
at most two at once: waking up, plus what the action did). The relabeler's reward model is this env's
(``InstructionTracker``), so ``replay.relabel_prob > 0`` relabels with the achievements actually unlocked.

Actions: Crafter's 17 (noop, moves, do, sleep, place_*, make_*). Episode metrics: ``success`` (instruction
complete), ``goals`` (fraction completed), ``died``, and with fixed ``instructions`` also
``instruction/<name>/success`` (evaluation logs ``eval/instruction/<name>/success``). The paper's table, success
per instruction evaluated alone: ``icrl eval RUN --per-instruction`` (rows ``TABLE_INSTRUCTIONS`` by default).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import gymnasium as gym
import numpy as np

from icrl.errors import ConfigError, MissingExtraError

ACHIEVEMENTS = ("collect_coal", "collect_diamond", "collect_drink", "collect_iron", "collect_sapling",
                "collect_stone", "collect_wood", "defeat_skeleton", "defeat_zombie", "eat_cow", "eat_plant",
                "make_iron_pickaxe", "make_iron_sword", "make_stone_pickaxe", "make_stone_sword",
                "make_wood_pickaxe", "make_wood_sword", "place_furnace", "place_plant", "place_stone",
                "place_table", "wake_up")  # Crafter's order (crafter.constants.achievements); goal id = index
# Tech-tree steps before an achievement can first be unlocked (sapling -> plant -> ripe plant; wood -> table ->
# wood pickaxe -> stone, coal -> stone pickaxe, furnace -> iron -> iron tools -> diamond).
DEPTH = {"collect_wood": 0, "collect_sapling": 0, "collect_drink": 0, "eat_cow": 0, "wake_up": 0,
         "defeat_zombie": 0, "place_plant": 1, "place_table": 1, "eat_plant": 2, "make_wood_pickaxe": 2,
         "make_wood_sword": 2, "collect_stone": 3, "collect_coal": 3, "defeat_skeleton": 3, "place_stone": 4,
         "place_furnace": 4, "make_stone_pickaxe": 4, "make_stone_sword": 4, "collect_iron": 5,
         "make_iron_pickaxe": 6, "make_iron_sword": 6, "collect_diamond": 7}
# Rows of the per-instruction table (``icrl eval --per-instruction``): every achievement, then tech-tree chains.
TABLE_INSTRUCTIONS = ACHIEVEMENTS + (
    "collect_wood+place_table+make_wood_pickaxe", "make_wood_pickaxe+collect_stone+make_stone_pickaxe",
    "collect_stone+place_furnace+collect_coal", "collect_sapling+place_plant+eat_plant")
INVENTORY_MAX = 9.0  # every Crafter item is capped at 9
MAX_PER_STEP = 2  # achieved rows per step: wake_up plus the action's achievement
SENTINEL = -1.0


def parse_instruction(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"a+b"``, ``"a,b"`` or ``["a", "b"]`` -> ``("a", "b")``, every name checked against ``ACHIEVEMENTS``."""
    names = tuple(spec.replace(",", "+").split("+")) if isinstance(spec, str) else tuple(spec)
    names = tuple(n.strip() for n in names)
    unknown = [n for n in names if n not in ACHIEVEMENTS]
    if not names or unknown:
        raise ConfigError(f"crafter instruction {spec!r} must list achievements joined by '+', got unknown names "
                          f"{unknown}; achievements: {', '.join(ACHIEVEMENTS)}.")
    return names


def instruction_name(names: Sequence[str]) -> str:
    """The name in metrics: achievements joined by ``+`` (``place_table+make_wood_pickaxe``)."""
    return "+".join(names)


def achievement_weights(distribution: str | dict) -> np.ndarray:
    """(22,) probabilities of drawing each achievement into a generated instruction."""
    if distribution == "uniform":
        weights = np.ones(len(ACHIEVEMENTS))
    elif distribution == "easy":
        weights = np.array([1.0 / (1.0 + DEPTH[a]) for a in ACHIEVEMENTS])
    elif isinstance(distribution, dict):
        unknown = sorted(set(distribution) - set(ACHIEVEMENTS))
        if unknown:
            raise ConfigError(f"crafter distribution names unknown achievements {unknown}.")
        weights = np.array([float(distribution.get(a, 0.0)) for a in ACHIEVEMENTS])
    else:
        raise ConfigError(f"crafter distribution={distribution!r} is invalid: 'uniform', 'easy' or a JSON object "
                          "{achievement: weight}.")
    if (weights < 0).any() or weights.sum() <= 0:
        raise ConfigError(f"crafter distribution={distribution!r} needs non-negative weights, some positive.")
    return weights / weights.sum()


class InstructionTracker:
    """The reward model (``GoalSequenceRelabeler``'s): the next goal completes when it is among a step's
    achievements; one goal per step; the instruction is complete after its last goal."""

    def __init__(self, instruction: Sequence[int]) -> None:
        self.instruction = tuple(int(g) for g in instruction)
        self.active = 0  # goals completed so far

    @property
    def complete(self) -> bool:
        return self.active == len(self.instruction)

    def step(self, achieved: Collection[int]) -> float:
        """Reward for a step whose unlocked achievements (goal ids) are ``achieved``."""
        if not self.complete and self.instruction[self.active] in achieved:
            self.active += 1
            return 1.0
        return 0.0


def newly_achieved(before: dict[str, int], after: dict[str, int]) -> list[int]:
    """Goal ids whose achievement counter rose from ``before`` to ``after``, in id order (at most MAX_PER_STEP)."""
    rose = [i for i, name in enumerate(ACHIEVEMENTS) if after.get(name, 0) > before.get(name, 0)]
    return rose[:MAX_PER_STEP]


def goal_codes(goal_format: str = "onehot") -> np.ndarray:
    """(22, *G) float32 code of each goal id: identity rows (G = (22,)) or the ids themselves (G = ())."""
    if goal_format not in ("onehot", "id"):
        raise ConfigError(f"crafter goal_format={goal_format!r} is invalid: 'onehot' or 'id'.")
    n = len(ACHIEVEMENTS)
    return np.eye(n, dtype=np.float32) if goal_format == "onehot" else np.arange(n, dtype=np.float32)


def encode_goals(ids: Sequence[int], rows: int, codes: np.ndarray) -> np.ndarray:
    """(rows, *G) float32: the codes of ``ids`` in the first slots, the sentinel -1 in the others."""
    out = np.full((rows, *codes.shape[1:]), SENTINEL, np.float32)
    out[: len(ids)] = codes[list(ids)]
    return out


def _import_crafter():
    try:
        import crafter
    except ImportError as err:
        raise MissingExtraError("crafter-instructions needs the crafter package: pip install 'icrl[crafter]'.") from err
    if tuple(crafter.constants.achievements) != ACHIEVEMENTS:
        raise MissingExtraError(f"crafter {getattr(crafter, '__version__', '?')} has other achievements than the "
                                "22 of crafter 1.8 this env encodes; pip install 'crafter>=1.8,<2'.")
    return crafter


class CrafterInstructions(gym.Env):
    """Crafter with instructions made of achievements; see the module docstring."""

    def __init__(self, goals: int = 3, min_goals: int = 1, distribution: str | dict = "uniform",
                 instructions: Sequence[str | Sequence[str]] | None = None, image_size: int = 64,
                 area: int = 64, time_limit: int = 2000, inventory: bool = True, goal_format: str = "onehot") -> None:
        _check_sizes(goals, min_goals, image_size, area, time_limit)
        self.codes = goal_codes(goal_format)
        self.k, self.min_goals, self.time_limit, self.use_inventory = goals, min_goals, time_limit, inventory
        self.weights = achievement_weights(distribution)
        if instructions is None and np.count_nonzero(self.weights) < goals:
            raise ConfigError(f"crafter distribution gives {np.count_nonzero(self.weights)} achievements a weight; "
                              f"instructions of {goals} distinct goals need at least that many.")
        self.fixed = None if instructions is None else [parse_instruction(s) for s in instructions]
        if self.fixed is not None and (not self.fixed or max(map(len, self.fixed)) > goals):
            raise ConfigError(f"crafter instructions={instructions!r} must be a non-empty list of instructions of "
                              f"at most goals={goals} achievements.")
        crafter = _import_crafter()
        # length=None: the time limit is this env's; seed=0 keeps crafter off numpy's global RNG (reset reseeds)
        self.game = crafter.Env(area=(area, area), size=(image_size, image_size), reward=False, length=None, seed=0)
        self.items = tuple(crafter.constants.items)  # the 16 inventory entries, in Crafter's order
        goal_shape = self.codes.shape[1:]
        state_dim = len(self.items) + 1 if inventory else 1
        self.observation_space = gym.spaces.Dict({
            "image": gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8),
            "state": gym.spaces.Box(0.0, 1.0, (state_dim,), np.float32),
            "goals": gym.spaces.Box(SENTINEL, float(self.codes.max()), (goals, *goal_shape), np.float32),
            "_achieved": gym.spaces.Box(SENTINEL, float(self.codes.max()), (MAX_PER_STEP, *goal_shape), np.float32),
        })
        self.action_space = gym.spaces.Discrete(17)
        self.max_rollout_steps = time_limit
        self.tracker, self.counts, self.t = InstructionTracker(()), {}, 0

    @property
    def instruction(self) -> tuple[str, ...]:
        """The current instruction, as achievement names."""
        return tuple(ACHIEVEMENTS[i] for i in self.tracker.instruction)

    def _draw_instruction(self) -> tuple[int, ...]:
        rng = self.np_random
        if self.fixed is not None:
            return tuple(ACHIEVEMENTS.index(a) for a in self.fixed[int(rng.integers(len(self.fixed)))])
        n = int(rng.integers(self.min_goals, self.k + 1))
        return tuple(int(i) for i in rng.choice(len(ACHIEVEMENTS), size=n, replace=False, p=self.weights))

    def _obs(self, image: np.ndarray, achieved: list[int]) -> dict[str, np.ndarray]:
        goals = encode_goals(self.tracker.instruction, self.k, self.codes)
        goals[: self.tracker.active] = SENTINEL
        timer = [self.t / self.time_limit]
        inventory = [self.game._player.inventory[name] for name in self.items] if self.use_inventory else []
        state = np.array([v / INVENTORY_MAX for v in inventory] + timer, np.float32)
        return {"image": np.asarray(image, np.uint8), "state": state, "goals": goals,
                "_achieved": encode_goals(achieved, MAX_PER_STEP, self.codes)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.tracker = InstructionTracker(self._draw_instruction())
        # crafter seeds each world with hash((its seed, episode number)): set both from this env's np_random
        self.game._seed, self.game._episode = int(self.np_random.integers(2**31 - 1)), 0
        image = self.game.reset()
        self.counts = dict(self.game._player.achievements)
        self.t = 0
        return self._obs(image, []), {}

    def step(self, action):
        image, _, done, info = self.game.step(int(action))
        dead = bool(done)  # with length=None crafter ends an episode only when the player dies
        self.t += 1
        achieved = newly_achieved(self.counts, info["achievements"])
        self.counts = dict(info["achievements"])
        reward = self.tracker.step(achieved)
        success = self.tracker.complete
        terminated = success or dead or self.t >= self.time_limit
        info = {"success": success}
        if terminated:
            info["episode_metrics"] = self._metrics(success, dead)
        return self._obs(image, achieved), reward, terminated, False, info

    def _metrics(self, success: bool, dead: bool) -> dict[str, float]:
        metrics = {"success": float(success), "goals": self.tracker.active / len(self.tracker.instruction),
                   "died": float(dead and not success)}
        if self.fixed is not None:
            metrics[f"instruction/{instruction_name(self.instruction)}/success"] = float(success)
        return metrics


def _check_sizes(goals: int, min_goals: int, image_size: int, area: int, time_limit: int) -> None:
    if not 1 <= min_goals <= goals <= len(ACHIEVEMENTS):
        raise ConfigError(f"crafter needs 1 <= min_goals <= goals <= 22, got min_goals={min_goals}, goals={goals}.")
    if image_size < 18 or area < 16 or time_limit < 1:
        raise ConfigError(f"crafter needs image_size >= 18 (2 pixels per cell of the 9x9 view), area >= 16 and "
                          f"time_limit >= 1; got {image_size}, {area}, {time_limit}.")


def make_crafter_instructions(goals: int = 3, min_goals: int = 1, distribution: str | dict = "uniform",
                              instructions: Sequence[str | Sequence[str]] | None = None, image_size: int = 64,
                              area: int = 64, time_limit: int = 2000, inventory: bool = True,
                              goal_format: str = "onehot") -> gym.Env:
    """Crafter instructions (see the module docstring); the paper trained 40M steps with a context of 2000."""
    return CrafterInstructions(goals, min_goals, distribution, instructions, image_size, area, time_limit,
                               inventory, goal_format)
