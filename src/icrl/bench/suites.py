"""Benchmark suites: which tasks, with which settings and budget, stand beside which published figure.

A suite is a list of tasks run over several seeds. Each task is an ordinary run configuration (env plus the
overrides the task needs) and an env-step budget, scored on one or more evaluation splits. Published figures
come from ../shared/benchmarks.md and name their source; ``None`` means there is no per-task figure.

A suite may come at several budgets (``icrl bench SUITE --budget NAME``): ``SUITES`` holds each suite at its
default budget, ``OTHER_BUDGETS`` the others. Only a task run at the published schedule (``published_budget``)
stands beside its published figure in the tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from icrl.config import RunConfig, apply_overrides
from icrl.errors import ConfigError


@dataclass(frozen=True)
class Rate:
    """Measured wall time of one task's work on our 2-core CPU, for the expected hours of ``icrl bench --list``."""

    update_s: float  # seconds per gradient update
    vector_step_s: float  # seconds per step of the env vector (collection; evaluation rollouts counted alike)
    how: str = ""  # how and when it was measured


@dataclass(frozen=True)
class BenchTask:
    name: str  # short name, also the results sub-folder
    env_name: str  # registered env name
    env_steps: int  # the published training budget in env steps
    overrides: tuple[str, ...]  # run-config overrides (model size, learning rates, exploration, ...)
    splits: tuple[str, ...] = ("train",)  # evaluation splits; other than "train" set env.kwargs.split
    published: dict[str, float] = field(default_factory=dict)  # split -> published figure
    normaliser: float | None = None  # divisor for the suite's normalised aggregate (None: left out of it)
    eval_episodes: int = 48  # rollouts per split and checkpoint when scoring
    score_scale: float = 1.0  # score = eval/return * score_scale (e.g. per episode of a multi-episode rollout)
    minutes_per_100k: float = 10.0  # measured wall time of 100k env steps on our 2-core CPU (one job alone)
    metric: str = "return"  # the evaluation metric scored: eval/<metric> ("return", or e.g. "success")
    note: str = ""  # printed under the results table, e.g. how a task departs from the published method
    published_budget: bool = True  # runs the published schedule, so the tables show the published figure beside
    rate: Rate | None = None  # measured speed; expected hours from the schedule (else from minutes_per_100k)
    horizon: int = 0  # env steps of one evaluation rollout (the cost of evaluations in the expected hours)
    score_sampled: bool = False  # also score the last checkpoint with sampled actions (beside the greedy score)
    group: str = ""  # tasks of one group form one normalised aggregate ("": the method as published)

    def steps_per_epoch(self) -> int:
        cfg = apply_overrides(RunConfig(), list(self.overrides))
        return cfg.env.num_envs * cfg.train.steps_per_epoch

    def epochs(self, scale: float = 1.0) -> int:
        """Epochs that spend ``scale`` times the budget (at least 2, so two checkpoints can be compared)."""
        return max(2, math.ceil(self.env_steps * scale / self.steps_per_epoch()))

    def config(self, seed: int, scale: float = 1.0, threads: int = 0, overrides: Sequence[str] = ()) -> RunConfig:
        """The run's config: the task's settings, then the caller's ``overrides``, then what the suite fixes."""
        fixed = {"env.name": self.env_name, "train.epochs": self.epochs(scale), "train.seed": seed,
                 "train.threads": threads}
        for item in overrides:
            if item.split("=", 1)[0].strip() in fixed:
                raise ConfigError(f"bench override {item!r} changes what the suite fixes per run ("
                                  f"{', '.join(fixed)}); use --tasks, --budget-scale or --seeds instead.")
        extra = [f"{key}={value}" for key, value in fixed.items()]
        return apply_overrides(RunConfig(), list(self.overrides) + list(overrides) + extra)

    def split_overrides(self, split: str) -> list[str]:
        return [] if split == "train" else [f"env.kwargs.split={split}"]

    def schedule(self, scale: float = 1.0) -> dict[str, float]:
        """What one run does: epochs, vector steps, env transitions, updates, evaluations and expected hours.

        A vector step steps all ``env.num_envs`` train envs once (the AIB's budgets count these). Evaluations:
        the run's own (every ``train.eval_every`` epochs and at the end) plus the scoring of the last two
        checkpoints on every split (and the last once more with sampled actions where ``score_sampled``).
        """
        cfg = self.config(0, scale)
        t = cfg.train
        epochs = t.epochs
        out = {"epochs": epochs, "vector_steps": epochs * t.steps_per_epoch,
               "env_steps": epochs * t.steps_per_epoch * cfg.env.num_envs, "updates": epochs * t.updates_per_epoch}
        during = len({e for e in range(epochs) if e % t.eval_every == 0} | {epochs - 1}) if t.eval_every else 0
        scoring = len(self.splits) * (min(2, epochs) + int(self.score_sampled))
        out["evaluations"] = during + scoring
        if self.rate is None:
            out["hours"] = self.minutes_per_100k * out["env_steps"] / 100_000 / 60
            return out
        eval_steps = self.horizon * (during * math.ceil(t.eval_episodes / cfg.env.eval_num_envs)
                                     + scoring * math.ceil(self.eval_episodes / cfg.env.eval_num_envs))
        seconds = (out["vector_steps"] + eval_steps) * self.rate.vector_step_s + out["updates"] * self.rate.update_s
        out["hours"] = seconds / 3600
        return out


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    tasks: tuple[BenchTask, ...]
    seeds: int
    source: str  # where the published figures come from
    extra: str | None = None  # pip extra the suite needs
    aggregate: str = "none"  # "iqm": normalised interquartile mean per split (AIB); "mean-median": POPGym
    budget: str = "default"  # the name of this task list's budget (``icrl bench SUITE --budget NAME``)

    def task(self, name: str) -> BenchTask:
        for t in self.tasks:
            if t.name == name:
                return t
        raise ConfigError(f"suite {self.name!r} has no task {name!r}; tasks: {', '.join(t.name for t in self.tasks)}.")

    def expected_minutes(self, seeds: int | None = None) -> float:
        """Wall time of the whole suite, one job at a time, from the per-task measurements."""
        return (seeds or self.seeds) * 60 * sum(t.schedule()["hours"] for t in self.tasks)


# --- POPGym (Morad et al. 2023): return scaled to [-1, 1]; the fixed episode end is terminal -------------------
# CPU-sized version of the method's POPGym settings (width 256, context 2000, 18 gammas, reward x100, learned
# positions): whole-episode context, width 128, the same reward scale and exploration over ~1/3 of the budget.
# Scored with the policy's most likely action (the method offers sampled or argmax evaluation; the AIB suites
# use argmax too): a policy whose probabilities are not yet near one-hot loses return to sampling
# (CountRecallEasy at 300k steps, three seeds: 0.822 / 0.885 / 0.826 sampled, 0.875 / 0.949 / 0.886 greedy).
_POPGYM = ("env.num_envs=24", "train.steps_per_epoch=100", "train.updates_per_epoch=60", "train.eval_every=3",
           "train.ckpt_every=3", "train.eval_episodes=48", "learn.reward_multiplier=100", "learn.tau=0.0025",
           "model.pos_emb=learned", "explore.anneal_steps=1500", "replay.capacity_steps=200000",
           "explore.sample_eval=false")
POPGYM_EASY = ("RepeatPreviousEasy", "CountRecallEasy", "StatelessCartPoleEasy")
# Every POPGym env of the installed package (v1.0: 14 families x 3 difficulties = 42; the method's figure was
# over the 39 envs of its POPGym version, so the suite-level comparison is approximate).
POPGYM_FAMILIES = ("Autoencode", "Battleship", "Concentration", "CountRecall", "HigherLower", "MineSweeper",
                   "MultiarmedBandit", "NoisyPositionOnlyCartPole", "NoisyPositionOnlyPendulum",
                   "PositionOnlyCartPole", "PositionOnlyPendulum", "RepeatFirst", "RepeatPrevious",
                   "VelocityOnlyCartPole")
POPGYM_ALL = tuple(f"{family}{level}" for family in POPGYM_FAMILIES for level in ("Easy", "Medium", "Hard"))


def _popgym(name: str, steps: int, best: float | None) -> BenchTask:
    return BenchTask(name, f"popgym/{name}", steps, _POPGYM, published={"train": best} if best is not None else {},
                     minutes_per_100k=9.0)


# --- Actuator Inversion Benchmark (Benad et al. 2026, v1): AER per split, better of the last two evaluations ----
_AIB_SPLITS = ("train", "eval_in", "eval_out")
# Continuous critics see every (state, action, gamma) row, so their cost grows with the number of discounts and
# the head width: 3 discounts and 128-wide heads keep an update about 4x cheaper than the defaults on a CPU.
_AIB = ("explore.sample_eval=false", "explore.eps_start=0.5", "explore.eps_end=0.05", "learn.gamma=0.99",
        "learn.extra_gammas=[0.9, 0.95]", "model.head_hidden=128", "train.eval_episodes=20",
        "replay.capacity_steps=200000")
# 20 train and 20 evaluation envs: env i keeps context instance i all run (the published protocol), so fewer envs
# would train on part of a split and more would count instances twice. 2,000 env steps per epoch, exploration
# annealed over the first 40k env steps (2,000 per env).
_DI = _AIB + ("env.num_envs=20", "env.eval_num_envs=20", "train.steps_per_epoch=100", "train.updates_per_epoch=60",
              "train.eval_every=5", "train.ckpt_every=5", "explore.anneal_steps=2000")
_DM = _AIB + ("env.num_envs=20", "env.eval_num_envs=20", "train.steps_per_epoch=100", "train.updates_per_epoch=80",
              "train.eval_every=5", "train.ckpt_every=5", "model.max_seq_len=128", "env.chunk_len=250",
              "explore.anneal_steps=2000", "learn.reward_multiplier=1")
AIB_TASKS = {t.name: t for t in (
    BenchTask("di", "aib/di", 100_000, _DI, _AIB_SPLITS, {"train": 66.0}, 100.0, 40, minutes_per_100k=7.0,
              published_budget=False),
    BenchTask("di-friction", "aib/di-friction", 100_000, _DI, _AIB_SPLITS, {}, 100.0, 40, minutes_per_100k=7.0,
              published_budget=False),
    BenchTask("cartpole", "aib/cartpole", 100_000, _DM, _AIB_SPLITS, {"eval_out": 581.0}, 1000.0, 20,
              minutes_per_100k=12.0, published_budget=False),
    BenchTask("cheetah", "aib/cheetah", 200_000, _DM, _AIB_SPLITS, {}, 1000.0, 20, minutes_per_100k=16.0,
              published_budget=False),
    BenchTask("ball-in-cup", "aib/ball-in-cup", 200_000, _DM, _AIB_SPLITS,
              {"train": 728.0, "eval_in": 731.0, "eval_out": 493.0}, 1000.0, 20, minutes_per_100k=14.0,
              published_budget=False),
    BenchTask("walker", "aib/walker", 200_000, _DM, _AIB_SPLITS, {"train": 845.0, "eval_in": 849.0}, 1000.0, 20,
              minutes_per_100k=16.0, published_budget=False),
    BenchTask("walker2d", "aib/walker2d", 500_000, _DM, _AIB_SPLITS, {}, None, 20, minutes_per_100k=16.0,
              published_budget=False),
    BenchTask("hopper", "aib/hopper", 500_000, _DM, _AIB_SPLITS, {"eval_out": 1790.0}, None, 20,
              minutes_per_100k=16.0, published_budget=False),
)}

_HCV = ("env.num_envs=8", "train.steps_per_epoch=300", "train.updates_per_epoch=100", "train.eval_every=10",
        "train.ckpt_every=10", "train.eval_episodes=16", "model.max_seq_len=32", "learn.gamma=0.99",
        "learn.reward_multiplier=1", "learn.tau=0.005", "learn.lr=3e-4", "learn.grad_clip=2.0",
        "explore.sample_eval=false", "explore.eps_start=0.5", "explore.anneal_steps=20000")

# --- MazeRunner with and without hindsight relabeling (issue: relabeling must win at the same budget) ----------
# A CPU-sized maze: 7x7 (17 free cells), 3 goals in order, 60 steps; whole rollouts as context. Scored on
# eval/success (all 3 goals reached), deterministic actions.
_MAZE = ("env.kwargs.size=7", "env.kwargs.goals=3", "env.kwargs.time_limit=60", "env.num_envs=24",
         "train.steps_per_epoch=100", "train.updates_per_epoch=60", "train.eval_every=5", "train.ckpt_every=5",
         "train.eval_episodes=48", "explore.sample_eval=false", "explore.anneal_steps=1500")
MAZE_TASKS = (
    BenchTask("relabel", "mazerunner", 72_000, _MAZE + ("replay.relabel_prob=0.75",), metric="success",
              minutes_per_100k=12.0),
    BenchTask("no-relabel", "mazerunner", 72_000, _MAZE + ("replay.relabel_prob=0",), metric="success",
              minutes_per_100k=12.0),
)

# --- Pendulum-v1 without memory: a check of the Box-action learner apart from in-context inference -----------------
# Dense reward, 200-step episodes, a feedforward policy over windows of 32 steps (cheap updates: 500 per 2,000 env
# steps). The two tasks differ only in the Polyak rate: the critic's value needs about 1 / (tau (1 - gamma^n))
# updates to build up, 33,000 at the method's tau 0.003 and gamma 0.99, which a CPU budget does not reach.
_PENDULUM = ("model.sequence=feedforward", "model.max_seq_len=32", "env.num_envs=8", "train.steps_per_epoch=250",
             "train.updates_per_epoch=500", "train.eval_every=1", "train.ckpt_every=1", "train.eval_episodes=8",
             "explore.sample_eval=false", "explore.eps_start=0.5", "explore.eps_end=0.05",
             "explore.anneal_steps=2500", "learn.gamma=0.99", "learn.extra_gammas=[0.9, 0.95]",
             "model.head_hidden=128", "learn.reward_multiplier=1")
PENDULUM_TASKS = tuple(BenchTask(f"tau-{tau}", "Pendulum-v1", 20_000, _PENDULUM + (f"learn.tau={tau}",),
                                 eval_episodes=16, minutes_per_100k=40.0) for tau in ("0.003", "0.01"))

# --- AIB at the published schedule (``icrl bench aib --budget paper``; ../shared/aib.md, section 6) --------------
# The benchmark's AMAGO baseline script with the reference library's defaults: T / 1000 epochs of (1,000 steps of
# the 20-env train vector, then 1,000 updates of 24 windows), T the published budget in vector steps: "100k steps"
# are 2.0M env transitions and 100,000 updates. Each of the 20 train envs keeps one of the split's 20 context
# instances. Evaluation every 5 epochs: 5 greedy episodes on each of the split's 20 instances (100 rollouts).
# Checkpoints every 5 epochs, so the last two checkpoints are the last two evaluation points; the better counts.
# Exploration a + eps * N(0, 1), eps = U[0, 1) per env (redrawn every episode) * max(1 - 0.95 k / 1e6, 0.05), k the
# vector steps: explore.* decays linearly from eps_start to eps_end over anneal_steps steps of each env (one per
# vector step), 1 - (1 - 0.05) k / anneal_steps, so anneal_steps = 1e6 draws the same line (still 0.905 at 100k).
# Replay: the reference keeps 15,000 trajectory files of whole episodes (1.5M DI transitions), so 15,000 episodes.
# Networks: the reference's defaults (timestep MLP 2 x 512 -> 256; Transformer 256 wide, d_ff 1024, 3 layers,
# 8 heads; actor and critics 2 x 256). The update: the method's, i.e. RunConfig's defaults, pinned here so that
# this schedule stays the published one if those change (tests/bench checks that they still agree).
_PAPER = ("env.num_envs=20", "env.eval_num_envs=20", "env.chunk_len=0", "train.steps_per_epoch=1000",
          "train.updates_per_epoch=1000", "train.eval_every=5", "train.ckpt_every=5", "train.eval_episodes=100",
          "learn.batch_size=24", "learn.gamma=0.999", "learn.extra_gammas=[0.1, 0.9, 0.95, 0.97, 0.99, 0.995]",
          "learn.num_critics=4", "learn.num_critics_td=2", "learn.reward_multiplier=10", "learn.tau=0.003",
          "learn.lr=1e-4", "learn.weight_decay=1e-3", "learn.warmup_steps=500", "learn.grad_clip=1",
          "learn.critic_loss_weight=10", "explore.kind=egreedy", "explore.box_noise=gaussian",
          "explore.eps_start=1", "explore.eps_end=0.05", "explore.anneal_steps=1000000", "explore.randomize=true",
          "explore.sample_train=true", "explore.sample_eval=false", "model.encoder_hidden=512",
          "model.encoder_layers=2", "model.encoder_out=256", "model.d_model=256", "model.d_ff=1024",
          "model.n_layers=3", "model.n_heads=8", "model.head_hidden=256", "model.head_layers=2")
# The memory-free encoder the baseline script defaults to (--traj_encoder ff: FFTrajEncoder, 256 wide, d_ff 1024,
# one block); which encoder the published figures used is not determinable (aib.md, section 6).
_PAPER_FF = ("model.sequence=feedforward", "model.n_layers=1")
_PAPER_FF_NOTE = ("the baseline script's default trajectory encoder (feed-forward, no memory); the published "
                  "figure's encoder is not determinable")

# Wall time on this 2-core machine (train.threads=2), 2026-12-07. DI: the first epoch of a real paper-budget run of
# `di` after the learner's bf16 / subnormal-flush changes (time/update and time/collect of its metrics.jsonl;
# throughput.py at that shape gave 11.9 updates/s). Cartpole and Walker: benchmarks/paper_rates.py after those
# changes (3 x 6 updates, 200 vector steps). The feed-forward figures and the other tasks' vector steps were
# measured earlier by paper_rates.py BEFORE subnormal floats were flushed to zero (icrl.device.flush_denormals),
# which made updates up to 3x slower: they overstate the hours. Approximate: other work shared the 2 cores.
DI_UPDATE_S = 0.106  # 9.4 updates/s in the run (24 windows of 24 steps, Transformer 3 x 256); DI-Friction, ODE alike
DI_FF_UPDATE_S = 0.165  # the DI shape with the feed-forward encoder (before the subnormal flush)
# 24 windows of 128 steps, Transformer 3 x 256: cartpole 0.61, walker 0.97 (after the flush; before it 1.6-2.0)
MUJOCO_UPDATE_S = 0.8
MUJOCO_FF_UPDATE_S = 1.25  # the same with the feed-forward encoder: cartpole-ff 1.21, walker-ff 1.27 (before the flush)
# Seconds per vector step (20 envs and the policy's inference) with the Transformer; the feed-forward tasks are
# given the same (measured lower: DI-ff 0.0023, cartpole-ff 0.0054, walker-ff 0.0100; a small share of the hours).
_STEP_S = {"di": 0.0057, "di-friction": 0.0057, "ode": 0.0057, "cartpole": 0.0112, "cheetah": 0.008,
           "reacher-easy": 0.0112, "reacher-hard": 0.0112, "ball-in-cup": 0.014, "walker": 0.0177, "walker2d": 0.017,
           "hopper": 0.012}  # ODE and Reacher not measured: the DI's and Cartpole's figures
_HOW = ("DI: a paper-budget run's first epoch; MuJoCo: benchmarks/paper_rates.py (feed-forward rates from before "
        "the subnormal flush: overstated); 2026-12-07, 2 threads, shared 2-core CPU (approximate)")


def _rate(task: str) -> Rate:
    base = task.removesuffix("-ff")
    short = base in ("di", "di-friction", "ode")
    if task.endswith("-ff"):
        return Rate(DI_FF_UPDATE_S if short else MUJOCO_FF_UPDATE_S, _STEP_S[base], _HOW)
    return Rate(DI_UPDATE_S if short else MUJOCO_UPDATE_S, _STEP_S[base], _HOW)


# name, T (vector steps), context (max_seq_len), episode steps, published AER (paper v1), normaliser
_PAPER_TASKS = (("di", 100_000, 24, 100, {"train": 66.0}, 100.0),
                ("di-friction", 100_000, 24, 100, {}, 100.0),
                ("ode", 100_000, 24, 200, {}, 200.0),
                ("cartpole", 100_000, 128, 1000, {"eval_out": 581.0}, 1000.0),
                ("cheetah", 200_000, 128, 1000, {}, 1000.0),
                ("reacher-easy", 200_000, 128, 1000, {}, 1000.0),
                ("reacher-hard", 200_000, 128, 1000, {}, 1000.0),
                ("ball-in-cup", 200_000, 128, 1000, {"train": 728.0, "eval_in": 731.0, "eval_out": 493.0}, 1000.0),
                ("walker", 200_000, 128, 1000, {"train": 845.0, "eval_in": 849.0}, 1000.0),
                ("walker2d", 500_000, 128, 1000, {}, None),
                ("hopper", 500_000, 128, 1000, {"eval_out": 1790.0}, None))


def _paper(name: str, vector_steps: int, context: int, horizon: int, published: dict[str, float],
           normaliser: float | None, ff: bool) -> BenchTask:
    overrides = _PAPER + (f"model.max_seq_len={context}", f"replay.capacity_steps={15_000 * horizon}")
    task = f"{name}-ff" if ff else name
    return BenchTask(task, f"aib/{name}", 20 * vector_steps, overrides + (_PAPER_FF if ff else ()), _AIB_SPLITS,
                     published, normaliser, 100, rate=_rate(task), horizon=horizon, score_sampled=True,
                     group="ff" if ff else "", note=_PAPER_FF_NOTE if ff else "")


AIB_PAPER_TASKS = tuple(_paper(*row, ff=ff) for ff in (False, True) for row in _PAPER_TASKS)
AIB_PAPER = Suite("aib", "Actuator Inversion Benchmark at the published schedule (the AMAGO baseline's): "
                  "Transformer and feed-forward (-ff) trajectory encoders", AIB_PAPER_TASKS, 10,
                  "Benad et al. 2026 (arXiv 2602.06550, v1), method 'Amago'", "aib", "iqm", budget="paper")

SUITES: dict[str, Suite] = {s.name: s for s in (
    Suite("popgym-easy", "POPGym easy memory tasks (RepeatPrevious, CountRecall, StatelessCartPole)",
          tuple(_popgym(n, 100_000, 1.0) for n in POPGYM_EASY), 3,
          "best possible return of the POPGym scale (1.0)", "popgym", "mean-median"),
    Suite("popgym", "every POPGym environment (42 in popgym 1.0)",
          tuple(_popgym(n, 200_000, None) for n in POPGYM_ALL), 3,
          "AMAGO project site (read off a figure): mean ~0.63, median ~0.86 over the 39 envs", "popgym",
          "mean-median"),
    Suite("aib-quick", "AIB double integrator and Cartpole on train / eval-in / eval-out",
          (AIB_TASKS["di"], AIB_TASKS["cartpole"]), 3,
          "Benad et al. 2026 (arXiv 2602.06550, v1), method 'Amago'", "aib", "iqm"),
    Suite("aib", "Actuator Inversion Benchmark: all implemented tasks", tuple(AIB_TASKS.values()), 3,
          "Benad et al. 2026 (arXiv 2602.06550, v1), method 'Amago'", "aib", "iqm", budget="quick"),
    Suite("mazerunner-relabel", "MazeRunner 7x7, 3 goals: hindsight relabeling (75% of sampled rollouts) vs none",
          MAZE_TASKS, 3, "no published figure for this maze (Crafter: 62% with relabeling, 27% without)"),
    Suite("continuous-check", "Pendulum-v1, no memory: the Box-action learner at two Polyak rates (tau)",
          PENDULUM_TASKS, 3, "no published figure (first evaluations, at 2k steps: -1,250 to -1,350)"),
    Suite("halfcheetah-vel", "HalfCheetah with a hidden target velocity, 3 episodes per task",
          (BenchTask("halfcheetah-vel", "halfcheetah-vel", 1_000_000, _HCV, ("train",), {"train": -57.5}, None, 16,
                     score_scale=1 / 3, minutes_per_100k=15.0),), 3,
          "AMAGO project site (read off a figure): about -55 to -60 per episode", "mujoco"),
)}

# Published suite-level figures (aggregates), shown under the per-task table.
PUBLISHED_AGGREGATES: dict[str, dict[str, float]] = {
    "popgym": {"mean": 0.63, "median": 0.86},
    "aib": {"iqm/train": 0.79, "iqm/eval_out": 0.61},  # normalised aggregates of the paper's v2
}


# Budgets other than a suite's default (the one in SUITES): suite name -> budget name -> the suite at that budget.
OTHER_BUDGETS: dict[str, dict[str, Suite]] = {"aib": {"paper": AIB_PAPER}}


def get_suite(name: str, budget: str | None = None) -> Suite:
    """The suite ``name`` at ``budget`` (None: its default budget)."""
    if name not in SUITES:
        raise ConfigError(f"unknown benchmark suite {name!r}; available: {', '.join(SUITES)} (icrl bench --list).")
    if budget is None or budget == SUITES[name].budget:
        return SUITES[name]
    if budget not in OTHER_BUDGETS.get(name, {}):
        raise ConfigError(f"suite {name!r} has no budget {budget!r}; budgets: {', '.join(budgets(name))}.")
    return OTHER_BUDGETS[name][budget]


def budgets(name: str) -> list[str]:
    """Budget names of suite ``name``, its default first."""
    return [SUITES[name].budget, *OTHER_BUDGETS.get(name, {})]
