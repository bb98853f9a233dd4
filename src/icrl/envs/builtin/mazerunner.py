"""MazeRunner: reach k goal cells in order, in a new random maze every rollout (method section 11, AMAGO).

Each reset draws, from the env's ``np_random``: a ``size x size`` maze (odd size; walls on the border; a perfect
maze carved by a randomized depth-first search, so every free cell is reachable from every other), a start cell
and ``goals`` distinct goal cells (none at the start). The agent only senses its surroundings: how many free
cells lie in each direction before a wall (a four-beam lidar). Sparse reward: 1 for reaching the next goal of
the sequence; the rollout ends when the last goal is reached or at ``time_limit`` steps. The timer is observed,
so the time limit is part of the task and ends the rollout as a termination (nothing bootstrapped past it), as
in T-maze. With ``randomize_actions`` the meaning of the 5 actions is permuted every rollout and must be worked
out in context.

Observation (dict of float32; cells as ``(x, y) / size``)::

    observation  (7,)    x, y (zeros when show_position=False), free cells up, right, down, left (/ size),
                         steps taken / time_limit
    goals        (k, 2)  the instruction: goal cells in order, each replaced by -1 (the sentinel) once reached
    _achieved    (2,)    the cell occupied on arriving at this step: the goal achieved, for hindsight relabeling
                         (``icrl.data.relabel.GoalSequenceRelabeler``). A side key: stored, never shown to the
                         networks (``icrl.spaces.is_side_key``)

Goal cells in ``goals`` and ``_achieved`` come from one table of codes, so equal cells have bit-identical codes.
Actions: Discrete(5): up, right, down, left, stay. Episode metrics: ``success`` (all goals reached) and
``goals`` (fraction reached).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from icrl.errors import ConfigError

MOVES = np.array([[0, -1], [1, 0], [0, 1], [-1, 0], [0, 0]])  # up, right, down, left, stay as (dx, dy)
SENTINEL = -1.0


def carve_maze(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) bool walls[y, x] of a perfect maze: cells at odd coordinates, joined by a randomized DFS."""
    n = (size - 1) // 2  # cells per side
    walls = np.ones((size, size), dtype=bool)
    first = (int(rng.integers(n)), int(rng.integers(n)))
    visited = np.zeros((n, n), dtype=bool)
    visited[first] = True
    walls[2 * first[0] + 1, 2 * first[1] + 1] = False
    stack = [first]
    while stack:
        cy, cx = stack[-1]
        options = [(cy + dy, cx + dx) for dx, dy in MOVES[:4]
                   if 0 <= cy + dy < n and 0 <= cx + dx < n and not visited[cy + dy, cx + dx]]
        if not options:
            stack.pop()
            continue
        ny, nx = options[int(rng.integers(len(options)))]
        walls[cy + ny + 1, cx + nx + 1] = False  # the wall between the two cells
        walls[2 * ny + 1, 2 * nx + 1] = False
        visited[ny, nx] = True
        stack.append((ny, nx))
    return walls


def free_distances(walls: np.ndarray) -> np.ndarray:
    """(size, size, 4) int: free cells before a wall going up, right, down, left from each cell."""
    size = walls.shape[0]
    free = ~walls
    dist = np.zeros((size, size, 4), dtype=np.int64)
    for i in range(1, size):
        dist[i, :, 0] = np.where(free[i - 1], dist[i - 1, :, 0] + 1, 0)  # up: row above
        dist[size - 1 - i, :, 2] = np.where(free[size - i], dist[size - i, :, 2] + 1, 0)  # down: row below
        dist[:, i, 3] = np.where(free[:, i - 1], dist[:, i - 1, 3] + 1, 0)  # left: column to the left
        dist[:, size - 1 - i, 1] = np.where(free[:, size - i], dist[:, size - i, 1] + 1, 0)  # right
    return dist


class MazeRunner(gym.Env):
    """Reach ``goals`` cells in order in a random maze; see the module docstring."""

    def __init__(self, size: int = 11, goals: int = 3, time_limit: int = 250, randomize_actions: bool = False,
                 show_position: bool = True) -> None:
        if size < 5 or size % 2 == 0:
            raise ConfigError(f"mazerunner size must be odd and >= 5, got {size}; use e.g. env.kwargs.size=11.")
        free_cells = 2 * ((size - 1) // 2) ** 2 - 1  # n * n cells joined by the n * n - 1 passages of a tree
        if not 1 <= goals < free_cells:
            raise ConfigError(f"mazerunner goals must be in [1, {free_cells - 1}] for size {size}, got {goals}.")
        if time_limit < 1:
            raise ConfigError(f"mazerunner time_limit must be >= 1, got {time_limit}.")
        self.size, self.k, self.time_limit = size, goals, time_limit
        self.randomize_actions, self.show_position = randomize_actions, show_position
        self.max_rollout_steps = time_limit
        ys, xs = np.mgrid[0:size, 0:size]
        self._codes = (np.stack([xs, ys], -1).astype(np.float32) / np.float32(size))  # (size, size, 2) by [y, x]
        self.observation_space = gym.spaces.Dict({
            "observation": gym.spaces.Box(0.0, 1.0, (7,), np.float32),
            "goals": gym.spaces.Box(SENTINEL, 1.0, (goals, 2), np.float32),
            "_achieved": gym.spaces.Box(0.0, 1.0, (2,), np.float32),
        })
        self.action_space = gym.spaces.Discrete(5)

    def _obs(self) -> dict[str, np.ndarray]:
        x, y = self.pos
        vec = np.zeros(7, np.float32)
        if self.show_position:
            vec[:2] = self._codes[y, x]
        vec[2:6] = self.dist[y, x] / self.size
        vec[6] = self.t / self.time_limit
        goals = self._codes[self.goal_cells[:, 1], self.goal_cells[:, 0]].copy()
        goals[: self.active] = SENTINEL
        return {"observation": vec, "goals": goals, "_achieved": self._codes[y, x].copy()}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        rng = self.np_random
        self.walls = carve_maze(self.size, rng)
        self.dist = free_distances(self.walls)
        free = np.argwhere(~self.walls)[:, ::-1]  # (x, y) of every free cell
        cells = free[rng.choice(len(free), size=self.k + 1, replace=False)]
        self.pos, self.goal_cells = (int(cells[0, 0]), int(cells[0, 1])), cells[1:]
        self.moves = MOVES[rng.permutation(len(MOVES))] if self.randomize_actions else MOVES
        self.t, self.active = 0, 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        dx, dy = self.moves[int(action)]
        x, y = self.pos[0] + int(dx), self.pos[1] + int(dy)
        if not self.walls[y, x]:  # the border is wall, so indices stay inside
            self.pos = (x, y)
        reward = 0.0
        if self.active < self.k and self.pos == tuple(int(c) for c in self.goal_cells[self.active]):
            reward, self.active = 1.0, self.active + 1
        success = self.active == self.k
        terminated = success or self.t >= self.time_limit
        info = {"success": success}
        if terminated:
            info["episode_metrics"] = {"success": float(success), "goals": self.active / self.k}
        return self._obs(), reward, terminated, False, info


def make_mazerunner(size: int = 11, goals: int = 3, time_limit: int = 250, randomize_actions: bool = False,
                    show_position: bool = True) -> gym.Env:
    """MazeRunner (see the module docstring); the paper's example uses size 11, 3 goals, 250 steps."""
    return MazeRunner(size, goals, time_limit, randomize_actions, show_position)
