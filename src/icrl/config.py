"""Typed, frozen run configuration: one dataclass per station, validated before anything runs.

Every field has a docstring-style comment; ``__post_init__`` checks ranges and says how to fix bad input.
``RunConfig.from_dict`` / ``to_dict`` round-trip through JSON (saved as ``config.json`` in the run directory),
and ``apply_overrides`` takes ``section.field=value`` strings from the command line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_type_hints

from icrl.errors import ConfigError


def _require(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"config field {name}={value!r} is invalid: allowed {allowed}.")


def _choice(name: str, value: Any, choices: tuple) -> None:
    _require(value in choices, name, value, "one of " + ", ".join(map(repr, choices)))


def _positive(name: str, value: float, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    _require(ok, name, value, ">= 0" if allow_zero else "> 0")


def _unit(name: str, value: float) -> None:
    _require(0.0 <= value <= 1.0, name, value, "a number in [0, 1]")


@dataclass(frozen=True)
class EnvConfig:
    name: str = "meta-frozen-lake"  # registered env name (`icrl envs`) or any gymnasium id
    kwargs: dict = field(default_factory=dict)  # passed to the env factory, e.g. {"size": 5, "attempts": 5}
    num_envs: int = 24  # parallel training environments stepped as one batch
    eval_num_envs: int = 24  # parallel evaluation environments
    vector: str = "inline"  # "inline": stepped in this process; "subprocess": gymnasium AsyncVectorEnv
    chunk_len: int = 0  # >0: store very long rollouts as chunks of about this many steps (0 = whole rollouts)

    def __post_init__(self) -> None:
        _require(isinstance(self.name, str) and self.name != "", "env.name", self.name, "a non-empty env name")
        _require(isinstance(self.kwargs, dict), "env.kwargs", self.kwargs, "a JSON object")
        _positive("env.num_envs", self.num_envs)
        _positive("env.eval_num_envs", self.eval_num_envs)
        _choice("env.vector", self.vector, ("inline", "subprocess"))
        _positive("env.chunk_len", self.chunk_len, allow_zero=True)


@dataclass(frozen=True)
class ModelConfig:
    sequence: str = "transformer"  # "transformer", "gru", "lstm" or "feedforward" (no memory)
    d_model: int = 128  # width of the sequence model
    n_layers: int = 3  # layers of the sequence model
    n_heads: int = 8  # attention heads (transformer)
    d_ff: int = 0  # transformer feed-forward width (0 = 4 * d_model)
    pos_emb: str = "fixed"  # "fixed" (sinusoidal), "learned" or "rope"; positions are rollout time indices
    max_time_idx: int = 0  # rows of the learned position table (0 = derived from the env's rollout length)
    max_seq_len: int = 0  # context length in observations, training and inference alike (0 = whole rollout)
    dropout_emb: float = 0.05
    dropout_ff: float = 0.05
    sigma_reparam: bool = True  # sigma-reparameterised linears inside Transformer layers
    normformer_norms: bool = True  # NormFormer extra norms after attention and inside the FF block
    head_scaling: bool = True  # learnable per-head attention output scale
    encoder_hidden: int = 128  # per-step MLP width
    encoder_layers: int = 1  # per-step MLP hidden layers
    encoder_out: int = 64  # per-step embedding width
    normalize_inputs: bool = True  # running mean/std normalisation of vector observations
    head_hidden: int = 256  # actor and critic MLP width
    head_layers: int = 2  # actor and critic hidden layers
    # the actor gets its own timestep encoder and sequence model, trained by the actor loss alone, and the critic
    # keeps the other, trained by the critic loss alone (false: one shared trunk, end to end, as in the method)
    separate_actor_trunk: bool = False

    def __post_init__(self) -> None:
        _choice("model.sequence", self.sequence, ("transformer", "gru", "lstm", "feedforward"))
        for name in ("d_model", "n_layers", "n_heads", "encoder_hidden", "encoder_out", "head_hidden"):
            _positive(f"model.{name}", getattr(self, name))
        for name in ("d_ff", "max_time_idx", "max_seq_len", "encoder_layers", "head_layers"):
            _positive(f"model.{name}", getattr(self, name), allow_zero=True)
        # a window of W observations holds W - 1 transitions, and its first state has seen nothing before it
        _require(self.max_seq_len != 1, "model.max_seq_len", self.max_seq_len,
                 "0 (whole rollouts) or >= 2: a window of 1 observation holds no transition to learn from")
        _require(self.max_seq_len != 2 or self.sequence == "feedforward", "model.max_seq_len", self.max_seq_len,
                 f">= 3 with model.sequence={self.sequence!r}: a window of 2 observations holds one transition, "
                 "whose state is the window's first step, so the sequence model would train on no history at all "
                 "(or use model.sequence=feedforward)")
        _choice("model.pos_emb", self.pos_emb, ("fixed", "learned", "rope"))
        _require(self.d_model % self.n_heads == 0, "model.n_heads", self.n_heads, "a divisor of model.d_model")
        if self.pos_emb == "rope":
            _require((self.d_model // self.n_heads) % 2 == 0, "model.n_heads", self.n_heads,
                     "a value giving an even head width for rope")
        _unit("model.dropout_emb", self.dropout_emb)
        _unit("model.dropout_ff", self.dropout_ff)


# Values of the learn fields left unset (None), per agent (method 7.1: AMAGO vs the AMAGO-2 MultiTaskAgent).
AGENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "amago": {"online_coeff": 1.0, "offline_coeff": 0.1, "actor_samples": 1},
    "multitask": {"online_coeff": 0.0, "offline_coeff": 1.0, "actor_samples": 3},
}


@dataclass(frozen=True)
class LearnConfig:
    """The update. ``agent`` picks the loss; ``None`` fields take that agent's default (``AGENT_DEFAULTS``).

    ``agent="amago"``: scalar critics trained by regression in PopArt-normalised space, DPG + filtered BC
    (method 7.2). ``agent="multitask"`` (AMAGO-2, method 7.6): critics classify values into symlog-spaced bins
    (cross-entropy against two-hot or HL-Gauss labels, no PopArt in the critic loss), filtered BC whose
    advantage baseline is E_pi Q (exact for a single categorical action, else ``actor_samples`` policy samples),
    DPG off unless ``online_coeff`` > 0; both losses are then independent of the scale of returns. The resolved
    values are what ``config.json`` shows.
    """

    agent: str = "amago"  # "amago" or "multitask" (AMAGO-2: binned critics, sampled-baseline filtered BC)
    gamma: float = 0.999  # main discount, used to act
    extra_gammas: tuple = (0.1, 0.9, 0.95, 0.97, 0.99, 0.995)  # multi-gamma: trained alongside `gamma`
    use_multigamma: bool = True
    num_critics: int = 4  # critic ensemble size C
    num_critics_td: int = 2  # random subset size for the TD-target ensemble reduction
    online_coeff: float | None = None  # weight of the deterministic policy-gradient term (amago 1.0, multitask 0)
    offline_coeff: float | None = None  # weight of the filtered behaviour-cloning term (amago 0.1, multitask 1.0)
    critic_loss_weight: float = 10.0
    reward_multiplier: float = 10.0
    tau: float = 0.003  # Polyak rate of target actor and critics
    n_step: int = 1
    filter: str = "binary"  # advantage filter of the BC term: "binary" or "exp" (exp depends on the return scale)
    exp_beta: float = 1.0  # temperature of the exponential filter
    exp_clip: float = 100.0  # upper clip of exponential filter weights
    fake_filter: bool = False  # pure behaviour cloning (filter = 1)
    popart: bool = True  # normalise critic targets per gamma (PopArt); false: the critic regresses on raw targets
    popart_beta: float = 5e-4  # PopArt moment-tracking rate
    use_target_actor: bool = True
    # K_a: policy samples for E_pi[Q] in the actor loss (amago 1, continuous actions only; multitask 3, every
    # action space: the value baseline of the BC filter)
    actor_samples: int | None = None
    critic_samples: int = 1  # K_c: policy samples for TD targets (continuous actions; every space for multitask)
    critic_labels: str = "twohot"  # multitask: labels of the critic's bins, "twohot" or "hlgauss"
    critic_bins: int = 128  # multitask: K value bins, evenly spaced in symlog space
    critic_min_value: float = -1e5  # multitask: value of the lowest bin (reward-multiplied units; lower is clipped)
    critic_max_value: float = 1e5  # multitask: value of the highest bin (higher targets are clipped)
    hlgauss_sigma: float = 0.75  # multitask, hlgauss labels: std of the Gaussian label, in bin widths
    # weight of an auxiliary loss, not in the method: predict the next observation and reward from the state
    # and action (icrl.learn.auxiliary), for tasks with a hidden context to infer; 0 builds no extra head
    dynamics_coeff: float = 0.0
    # entropy regularisation of a continuous actor, not in the method (icrl.learn.entropy): the policy's target
    # entropy in nats, "auto" for -(action dims) as in SAC, or None (the method: no entropy term); the
    # temperature alpha starts at ``init_alpha`` and follows gradient steps of size ``alpha_lr`` on log alpha
    # (0 keeps it fixed)
    target_entropy: float | str | None = None
    init_alpha: float = 1.0
    alpha_lr: float = 3e-4
    lr: float = 1e-4
    warmup_steps: int = 500
    weight_decay: float = 1e-3
    grad_clip: float = 1.0
    batch_size: int = 24  # sequences per update

    def __post_init__(self) -> None:
        _choice("learn.agent", self.agent, tuple(AGENT_DEFAULTS))
        unset = tuple(name for name in AGENT_DEFAULTS[self.agent] if getattr(self, name) is None)
        object.__setattr__(self, "_unset", unset)  # not a field: apply_overrides re-resolves these
        for name in unset:
            object.__setattr__(self, name, AGENT_DEFAULTS[self.agent][name])
        _require(0.0 < self.gamma < 1.0, "learn.gamma", self.gamma, "a number in (0, 1)")
        for g in self.extra_gammas:
            _require(0.0 <= g < 1.0, "learn.extra_gammas", self.extra_gammas, "numbers in [0, 1)")
        _positive("learn.num_critics", self.num_critics)
        _require(1 <= self.num_critics_td, "learn.num_critics_td", self.num_critics_td, ">= 1")
        _positive("learn.online_coeff", self.online_coeff, allow_zero=True)
        _positive("learn.offline_coeff", self.offline_coeff, allow_zero=True)
        _require(self.online_coeff + self.offline_coeff > 0, "learn.offline_coeff", self.offline_coeff,
                 "> 0 when learn.online_coeff is 0 (the actor needs a loss)")
        _positive("learn.critic_loss_weight", self.critic_loss_weight, allow_zero=True)
        _positive("learn.reward_multiplier", self.reward_multiplier)
        _require(0.0 < self.tau <= 1.0, "learn.tau", self.tau, "a number in (0, 1]")
        _positive("learn.n_step", self.n_step)
        _choice("learn.filter", self.filter, ("binary", "exp"))
        _positive("learn.exp_beta", self.exp_beta)
        _positive("learn.actor_samples", self.actor_samples)
        _positive("learn.critic_samples", self.critic_samples)
        self._check_bins()
        _positive("learn.dynamics_coeff", self.dynamics_coeff, allow_zero=True)
        entropy = self.target_entropy
        _require(entropy is None or entropy == "auto" or (isinstance(entropy, (int, float))
                 and not isinstance(entropy, bool) and math.isfinite(entropy)), "learn.target_entropy", entropy,
                 'a number of nats, "auto" (-action dims) or null (off)')
        _positive("learn.init_alpha", self.init_alpha)
        _positive("learn.alpha_lr", self.alpha_lr, allow_zero=True)
        _positive("learn.lr", self.lr)
        _positive("learn.warmup_steps", self.warmup_steps, allow_zero=True)
        _positive("learn.weight_decay", self.weight_decay, allow_zero=True)
        _positive("learn.grad_clip", self.grad_clip)
        _positive("learn.batch_size", self.batch_size)

    def _check_bins(self) -> None:
        _choice("learn.critic_labels", self.critic_labels, ("twohot", "hlgauss"))
        _require(self.critic_bins >= 2, "learn.critic_bins", self.critic_bins, ">= 2")
        _require(self.critic_min_value < self.critic_max_value, "learn.critic_max_value", self.critic_max_value,
                 f"a value above learn.critic_min_value={self.critic_min_value}")
        _positive("learn.hlgauss_sigma", self.hlgauss_sigma)

    @property
    def gammas(self) -> tuple[float, ...]:
        """All discounts, main ``gamma`` last (axis G everywhere)."""
        extra = tuple(g for g in self.extra_gammas if g != self.gamma) if self.use_multigamma else ()
        return tuple(float(g) for g in extra) + (float(self.gamma),)


@dataclass(frozen=True)
class ReplayConfig:
    capacity_steps: int = 1_000_000  # FIFO size of the buffer in timesteps (protected data not counted)
    min_steps: int = 1  # updates start once the buffer holds this many timesteps
    padded_sampling: str = "none"  # window starts: "none", "left", "right" or "both" (method section 4.1)
    weight_by_length: bool = False  # sample trajectories proportionally to length instead of uniformly
    prefetch: int = 4  # batches prepared ahead by the background loader
    cache_trajectories: int = 20_000  # trajectories kept in memory after their first read (0 = always disk)
    # Hindsight instruction relabeling (method section 5, icrl.data.relabel): share of sampled trajectories
    # rewritten with an instruction made of goals they actually achieved (0 = off). Needs whole rollouts
    # (env.chunk_len=0) and an env whose observation carries an instruction and the achieved goals (mazerunner).
    relabel_prob: float = 0.0
    relabeler: str = "goal-sequence"  # registered relabeler (icrl.data.relabel.register_relabeler for your own)
    relabel_kwargs: dict = field(default_factory=dict)  # relabeler arguments, e.g. {"fill": "all"}
    # Offline data (method 4.5, icrl.data.offline): Minari datasets imported once into buffer/protected/<name>/
    # (never evicted) and sampled as a mixture with the online buffer, e.g. [{"source": "D4RL/door/human-v2",
    # "weight": 0.8}]. source: a dataset folder or an id in the local Minari root (never downloaded); weight
    # (default 1): relative share of windows; name (default from source): the directory. Needs icrl[offline].
    datasets: tuple = ()
    online_weight: float = 1.0  # with datasets: relative share of windows from the online buffer (FIFO, protected/)
    # Share of sampled windows whose actions are all negated (0 = off; not in the method). Only for continuous
    # actions and envs where negating every action is an exact symmetry given a hidden context, as with the AIB's
    # sign: the mirrored window is then a real trajectory of the other sign, so both signs get equal data. The
    # observations are left as they are, so it cannot be combined with a context shown in them (observe_sign).
    mirror_actions: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "datasets", _resolve_datasets(self.datasets))
        _positive("replay.online_weight", self.online_weight, allow_zero=True)
        _require(not self.datasets or self.online_weight + sum(d["weight"] for d in self.datasets) > 0,
                 "replay.online_weight", self.online_weight, "> 0 when every dataset weight is 0")
        _positive("replay.capacity_steps", self.capacity_steps)
        _positive("replay.min_steps", self.min_steps, allow_zero=True)
        _choice("replay.padded_sampling", self.padded_sampling, ("none", "left", "right", "both"))
        _positive("replay.prefetch", self.prefetch)
        _positive("replay.cache_trajectories", self.cache_trajectories, allow_zero=True)
        _unit("replay.relabel_prob", self.relabel_prob)
        _unit("replay.mirror_actions", self.mirror_actions)
        _require(isinstance(self.relabeler, str) and self.relabeler != "", "replay.relabeler", self.relabeler,
                 "a registered relabeler name, e.g. 'goal-sequence'")
        _require(isinstance(self.relabel_kwargs, dict), "replay.relabel_kwargs", self.relabel_kwargs, "a JSON object")


def _resolve_datasets(items: Any) -> tuple:
    """``replay.datasets`` entries with every key filled in ({"source", "weight", "name"}), names unique."""
    _require(isinstance(items, (tuple, list)), "replay.datasets", items, 'a list like [{"source": ID, "weight": 1}]')
    out = []
    for item in items:
        ok = isinstance(item, dict) and isinstance(item.get("source"), str) and item["source"] != "" \
            and set(item) <= {"source", "weight", "name"}
        _require(ok, "replay.datasets", item, 'entries {"source": ID_OR_FOLDER, "weight": W, "name": NAME}')
        source = item["source"]
        default = Path(source).name if source.startswith(("/", ".", "~")) else source
        name = item.get("name") or re.sub(r"[^A-Za-z0-9._-]+", "-", default).strip(".-")
        _require(bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)) and name != "online", "replay.datasets",
                 name, "names of letters, digits, '.', '_', '-' (not 'online')")
        weight = item.get("weight", 1.0)
        _require(isinstance(weight, (int, float)) and weight >= 0, "replay.datasets", weight, "weights >= 0")
        out.append({"source": source, "weight": float(weight), "name": name})
    names = [d["name"] for d in out]
    _require(len(set(names)) == len(names), "replay.datasets", names, "distinct names (set \"name\")")
    return tuple(out)


@dataclass(frozen=True)
class ExplorationConfig:
    kind: str = "egreedy"  # "egreedy" (decays over training), "bilevel" (also within a rollout) or "edges"
    eps_start: float = 1.0  # epsilon (discrete) or noise std (continuous) at the start of training
    eps_end: float = 0.05  # ... after `anneal_steps` env steps of one actor
    eps_end_start: float = 0.8  # bilevel: value at the end of a rollout, at the start of training
    eps_end_end: float = 0.01  # bilevel: value at the end of a rollout, after annealing
    anneal_steps: int = 2_000  # env steps *per actor* over which the schedule decays (long tasks: raise it)
    rollout_horizon: int = 0  # bilevel, edges: rollout length (0 = derived from the env)
    edge_steps: int = 3  # edges: explore only in the first and last edge_steps steps of a rollout
    randomize: bool = True  # per-env multiplier U[0, 1) redrawn every rollout
    # continuous actions: "gaussian" adds eps * N(0, I) (the method's, TD3-style); "uniform" replaces the whole
    # action by a uniform random one with probability eps (not centred on the policy: a mean stuck at a bound
    # still explores, e.g. the AIB double integrator)
    box_noise: str = "gaussian"
    sample_train: bool = True  # sample actions while collecting (else argmax / mean, plus noise)
    sample_eval: bool = True  # sample actions during evaluation

    def __post_init__(self) -> None:
        _choice("explore.kind", self.kind, ("egreedy", "bilevel", "edges"))
        _choice("explore.box_noise", self.box_noise, ("gaussian", "uniform"))
        for name in ("eps_start", "eps_end", "eps_end_start", "eps_end_end"):
            _unit(f"explore.{name}", getattr(self, name))
        _positive("explore.anneal_steps", self.anneal_steps)
        _positive("explore.rollout_horizon", self.rollout_horizon, allow_zero=True)
        _positive("explore.edge_steps", self.edge_steps)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    steps_per_epoch: int = 100  # env steps per training env per epoch (0: pure offline, no collection)
    start_collecting_at_epoch: int = 0  # no env steps before this epoch: offline learning from stored data first
    updates_per_epoch: int = 100  # gradient updates per epoch
    eval_every: int = 2  # evaluate every N epochs (0 = never; always at the last epoch)
    eval_episodes: int = 48  # finished evaluation rollouts per evaluation
    ckpt_every: int = 1  # checkpoint every N epochs (and at the end)
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when available), "cpu" or "cuda[:N]"
    # the learner's forward pass: "bf16" (autocast), "fp32", or "auto": bf16 where the hardware has it natively
    # (CUDA with bf16, CPUs with AMX / AVX-512 BF16), fp32 elsewhere; weights and optimiser state stay fp32
    precision: str = "auto"
    time_limit_min: float = 0.0  # stop (and checkpoint) after this much wall time (0 = no limit)
    log_every: int = 50  # updates between learner metric logs
    wandb: bool = False  # also log to Weights & Biases (needs `pip install icrl[wandb]`)
    wandb_project: str = "icrl"
    threads: int = 0  # torch CPU threads (0 = torch default)
    # "sync": one process alternates collection and updates; "async": actor processes collect while the learner
    # updates (icrl.train.async_loop), holding the sync loop's update-to-data ratio
    mode: str = "sync"
    actors: int = 2  # async mode: actor processes, each stepping env.num_envs envs
    publish_every: int = 10  # async mode: learner updates between published policy weights

    def __post_init__(self) -> None:
        _positive("train.epochs", self.epochs)
        _choice("train.mode", self.mode, ("sync", "async"))
        _positive("train.actors", self.actors)
        _positive("train.publish_every", self.publish_every)
        _positive("train.steps_per_epoch", self.steps_per_epoch, allow_zero=True)
        _positive("train.start_collecting_at_epoch", self.start_collecting_at_epoch, allow_zero=True)
        _positive("train.updates_per_epoch", self.updates_per_epoch, allow_zero=True)
        _positive("train.eval_every", self.eval_every, allow_zero=True)
        _positive("train.eval_episodes", self.eval_episodes)
        _positive("train.ckpt_every", self.ckpt_every)
        _positive("train.time_limit_min", self.time_limit_min, allow_zero=True)
        _positive("train.log_every", self.log_every)
        _positive("train.threads", self.threads, allow_zero=True)
        _choice("train.precision", self.precision, ("auto", "bf16", "fp32"))
        ok = self.device in ("auto", "cpu") or self.device.startswith("cuda")
        _require(ok, "train.device", self.device, "'auto', 'cpu' or 'cuda[:N]'")


SECTIONS = {"env": EnvConfig, "model": ModelConfig, "learn": LearnConfig, "replay": ReplayConfig,
            "explore": ExplorationConfig, "train": TrainConfig}


@dataclass(frozen=True)
class RunConfig:
    """The whole run: one frozen section per station."""

    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    learn: LearnConfig = field(default_factory=LearnConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    explore: ExplorationConfig = field(default_factory=ExplorationConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.replay.relabel_prob > 0:  # the relabeler reads the instruction from a rollout's first observation
            _require(self.env.chunk_len == 0, "env.chunk_len", self.env.chunk_len,
                     "0 (whole rollouts) when replay.relabel_prob > 0")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @staticmethod
    def from_dict(data: dict) -> RunConfig:
        unknown = set(data) - set(SECTIONS)
        if unknown:
            raise ConfigError(f"unknown config sections {sorted(unknown)}; known: {sorted(SECTIONS)}.")
        return RunConfig(**{name: _section_from_dict(cls, name, data.get(name, {})) for name, cls in SECTIONS.items()})

    def replace(self, **sections: Any) -> RunConfig:
        return dataclasses.replace(self, **sections)


def _section_from_dict(cls: type, name: str, data: dict) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown config fields {sorted(f'{name}.{u}' for u in unknown)}; "
                          f"fields of {name}: {sorted(known)}.")
    hints = get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if hints[key] is tuple and isinstance(value, list):
            value = tuple(value)
        values[key] = _coerce(f"{name}.{key}", hints[key], value)
    return cls(**values)


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """Accept ints for floats and check basic types so errors name the field (``X | None`` also takes null).

    A union of several types (``float | str | None``) takes a value of any of them.
    """
    args = get_args(hint)
    if type(None) in args and value is None:
        return None
    options = [a for a in args if a is not type(None)] or [hint]
    if float in options and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    known = {int: int, float: float, bool: bool, str: str, dict: dict, tuple: tuple}
    expected = [known[a] for a in options if a in known]
    if len(expected) != len(options):  # a type this check does not know: the dataclass validates it
        return value
    if not any(isinstance(value, e) and not (e is int and isinstance(value, bool)) for e in expected):
        names = " or ".join(e.__name__ for e in expected)
        raise ConfigError(f"config field {name}={value!r} has the wrong type: expected {names}.")
    return value


def parse_value(text: str) -> Any:
    """Command-line value: JSON when it parses (numbers, true/false, lists, objects), else the raw string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply ``section.field=value`` (or ``env.kwargs.key=value``) strings; returns a new validated config.

    Learn fields that were left to the agent's default stay unset, so ``learn.agent=multitask`` brings the
    multi-task defaults with it.
    """
    data = config.to_dict()
    data["learn"].update({name: None for name in config.learn._unset})
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.field=value, e.g. learn.lr=3e-4.")
        path, raw = item.split("=", 1)
        keys = path.strip().split(".")
        if len(keys) < 2 or keys[0] not in SECTIONS:
            raise ConfigError(f"override {item!r}: the path must start with one of {sorted(SECTIONS)}.")
        target = data
        for key in keys[:-1]:
            if key not in target or not isinstance(target[key], dict):
                if target is data or keys[1] != "kwargs":
                    raise ConfigError(f"override {item!r}: {'.'.join(keys[:-1])} is not a config section.")
                target[key] = {}
            target = target[key]
        target[keys[-1]] = parse_value(raw)
    return RunConfig.from_dict(data)
