"""How many gradient updates does a standard off-policy learner need on our AIB double integrator?

A plain soft actor-critic (SAC: two Q networks, automatic entropy temperature; no memory, written here in a
few lines and not part of icrl) trains on the DI with the sign fixed (+1) and mass 1.0, one update of 256
transitions per env step after 1,000 random steps. It calibrates the DI's difficulty: if this learner needs
N updates, a 100k-step icrl run that makes far fewer than N cannot be expected to solve the (harder, inverted)
task either. Prints a greedy evaluation (20 episodes) every ``--eval-every`` env steps, and how much the
critic's value varies with the action (``action_spread``: near 0, the actor's gradient has nothing to follow).

``--task`` picks the env: ``fixed`` (the default above), ``train-oracle`` (the AIB train split: both signs,
masses 0.5-1.5, with the sign appended to the observation), ``train-hidden`` (the same split, sign hidden:
a memoryless policy cannot infer it, so this is the floor an in-context learner must beat) or
``train-history`` (sign hidden, but the observation also holds the previous observation and action: the
smallest memory that reveals the sign, since the velocity change of one step is ``sign * action / mass * dt``).

    .venv/bin/python benchmarks/di_sac_reference.py [--seed 0] [--steps 40000] [--updates-per-step 1.0]
        [--task fixed|train-oracle|train-hidden|train-history] [--target-entropy -2.0] [--mirror]
        [--batch 256] [--collect 1] [--actor-entropy-only] [--ensemble 4] [--shared-trunk [--dynamics]]

On the train split it ends with the greedy return of each instance (sign, mass). ``--batch``, ``--collect``,
``--actor-entropy-only``, ``--ensemble`` and ``--shared-trunk`` each move one detail towards icrl's learner, to
find which of them keeps icrl from learning what this SAC learns; ``--dynamics`` adds icrl's auxiliary dynamics
head to the shared trunk.
"""

from __future__ import annotations

import argparse
import math
import time

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from icrl.envs.suites.aib import make_aib
from icrl.envs.suites.double_integrator import DoubleIntegrator

HIDDEN, BATCH, LR, GAMMA, TAU, RANDOM_STEPS, START_UPDATES = 256, 256, 3e-4, 0.99, 0.005, 2000, 1000
TRUNK = 128  # width of the shared encoder's output (--shared-trunk)
TARGET_ENTROPY = -2.0  # -action dimension, the usual SAC choice (--target-entropy changes it)


def mlp(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, outputs))


TASKS = {"fixed": "sign +1, mass 1.0", "train-oracle": "AIB train split, sign observed",
         "train-hidden": "AIB train split, sign hidden",
         "train-history": "AIB train split, sign hidden, previous observation and action observed"}


class PreviousStep(gym.Wrapper):
    """Appends the previous observation and action to the observation (zeros at the first step)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        n, m = env.observation_space.shape[0], env.action_space.shape[0]
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2 * n + m,), np.float32)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.last = obs
        return np.concatenate([obs, np.zeros_like(obs), np.zeros(self.action_space.shape, np.float32)]), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        out = np.concatenate([obs, self.last, np.asarray(action, np.float32)])
        self.last = obs
        return out, reward, terminated, truncated, info


def make_task(task: str, instance: int | None = None) -> gym.Env:
    if task == "fixed":
        return DoubleIntegrator(mass=1.0)
    env = make_aib("di", "train", instance=instance, observe_sign=task == "train-oracle")
    return PreviousStep(env) if task == "train-history" else env


# the features that change sign with the context sign: the sign itself, or the previous action
MIRRORED_COLUMNS = {"train-oracle": [-1], "train-history": [-2, -1]}


class SAC:
    """``soft_target=False`` leaves the entropy term out of the TD target (only the actor sees it), as icrl's
    ``learn.target_entropy`` does. ``ensemble=C`` (> 0) uses icrl's critic ensemble instead of SAC's pair: C
    critics, a TD target from the min of 2 drawn with replacement per transition, the actor on the min of all C.
    ``shared_trunk=True`` puts icrl's layout in front of the heads: one encoder (obs -> 256 -> 128, LayerNorm)
    that the critics train and the actor reads without training it, and target critic heads that read the online
    encoder's features of the next observation (icrl's target critic reads the online sequence model's states).
    ``dynamics=True`` (with the shared trunk) adds icrl's ``learn.dynamics_coeff=1``: a head on [features, action]
    predicts the change of the observation, and its squared error trains the trunk along with the critics."""

    def __init__(self, obs_dim: int, target_entropy: float = TARGET_ENTROPY, soft_target: bool = True,
                 ensemble: int = 0, shared_trunk: bool = False, dynamics: bool = False) -> None:
        self.target_entropy, self.soft_target, self.ensemble = target_entropy, soft_target, ensemble
        self.embed: nn.Module = nn.Identity()
        if dynamics and not shared_trunk:
            raise ValueError("dynamics=True trains the shared trunk; pass shared_trunk=True as well")
        self.dynamics = mlp(TRUNK + 2, obs_dim) if dynamics else None
        if shared_trunk:
            self.embed = nn.Sequential(nn.Linear(obs_dim, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, TRUNK),
                                       nn.LayerNorm(TRUNK))
            obs_dim = TRUNK
        self.actor = mlp(obs_dim, 4)
        self.critics = nn.ModuleList([mlp(obs_dim + 2, 1) for _ in range(max(ensemble, 2))])
        self.targets = nn.ModuleList([mlp(obs_dim + 2, 1) for _ in range(max(ensemble, 2))])
        self.targets.load_state_dict(self.critics.state_dict())
        self.log_alpha = torch.zeros((), requires_grad=True)
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), LR)
        extra = [] if self.dynamics is None else list(self.dynamics.parameters())
        self.opt_critic = torch.optim.Adam([*self.critics.parameters(), *self.embed.parameters(), *extra], LR)
        self.opt_alpha = torch.optim.Adam([self.log_alpha], LR)

    def act(self, obs: torch.Tensor, greedy: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """tanh-squashed Gaussian sample (or its mode) and its log-probability."""
        with torch.no_grad():
            features = self.embed(obs)
        return self.act_on(features, greedy)

    def act_on(self, features: torch.Tensor, greedy: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.actor(features).chunk(2, -1)
        log_std = log_std.clamp(-5, 2)
        u = mean if greedy else mean + log_std.exp() * torch.randn_like(mean)
        a = torch.tanh(u)
        logp = (-0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return a, logp - torch.log(1 - a**2 + 1e-6).sum(-1)

    def q(self, nets: nn.ModuleList, obs: torch.Tensor, act: torch.Tensor, drawn: bool = False) -> torch.Tensor:
        """min over the pair (SAC); with an ensemble, min over 2 members drawn per row (``drawn``) or over all."""
        x = torch.cat([obs, act], -1)
        if not self.ensemble:
            return torch.min(nets[0](x), nets[1](x)).squeeze(-1)
        values = torch.cat([net(x) for net in nets], -1)  # (B, C)
        if drawn:
            values = values.gather(-1, torch.randint(len(nets), (len(x), 2)))
        return values.min(-1).values

    def update(self, obs, act, rew, obs2) -> None:
        alpha = self.log_alpha.exp().detach()
        features = self.embed(obs)
        with torch.no_grad():
            features2 = self.embed(obs2)
            a2, logp2 = self.act_on(features2)
            bonus = alpha * logp2 if self.soft_target else 0.0
            y = rew + GAMMA * (self.q(self.targets, features2, a2, drawn=True) - bonus)  # 100-step episodes
        x = torch.cat([features, act], -1)
        critic_loss = sum(((net(x).squeeze(-1) - y) ** 2).mean() for net in self.critics)
        if self.dynamics is not None:
            critic_loss = critic_loss + ((self.dynamics(x) - (obs2 - obs)) ** 2).sum(-1).mean()
        self.opt_critic.zero_grad()
        critic_loss.backward()
        self.opt_critic.step()
        features = features.detach()
        a, logp = self.act_on(features)
        actor_loss = (alpha * logp - self.q(self.critics, features, a)).mean()
        self.opt_actor.zero_grad()
        actor_loss.backward()
        self.opt_actor.step()
        alpha_loss = (self.log_alpha.exp() * (-logp.detach() - self.target_entropy)).mean()
        self.opt_alpha.zero_grad()
        alpha_loss.backward()
        self.opt_alpha.step()
        with torch.no_grad():
            for p, tp in zip(self.critics.parameters(), self.targets.parameters()):
                tp.lerp_(p, TAU)


def mirror(obs: np.ndarray, act: np.ndarray, next_obs: np.ndarray, rng: np.random.Generator,
           columns: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each transition, with probability 1/2, as seen under the other sign: the action and the observation's
    ``columns`` (the sign feature, or the previous action) negated. The env then moves the same way, so the
    mirrored transition is exact."""
    flip = np.where(rng.random(len(obs)) < 0.5, -1.0, 1.0).astype(np.float32)
    obs, next_obs = obs.copy(), next_obs.copy()
    obs[:, columns] *= flip[:, None]
    next_obs[:, columns] *= flip[:, None]
    return obs, act * flip[:, None], next_obs


def action_spread(agent: SAC, obs: np.ndarray, side: int = 21) -> tuple[float, float]:
    """Median over the given states of max - min of Q (the actor's critic) over a side x side grid of actions,
    and the median |Q| there. A spread near 0: the critic ignores the action, and the actor's gradient through it
    carries no signal."""
    grid = torch.linspace(-0.98, 0.98, side)
    actions = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)  # (K, 2)
    with torch.no_grad():
        features = agent.embed(torch.as_tensor(obs))  # (N, F)
        n, k = len(features), len(actions)
        q = agent.q(agent.critics, features.repeat_interleave(k, 0), actions.repeat(n, 1)).view(n, k)
    return (q.max(1).values - q.min(1).values).median().item(), q.abs().median().item()


def greedy_return(agent: SAC, env, seeds: range) -> float:
    """Mean return of the policy's mode over one episode per reset seed."""
    total = 0.0
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            with torch.no_grad():
                a, _ = agent.act(torch.as_tensor(obs)[None], greedy=True)
            obs, r, terminated, truncated, _ = env.step(a[0].numpy())
            total, done = total + r, terminated or truncated
    return total / len(seeds)


def evaluate(agent: SAC, task: str, episodes: int = 20) -> float:
    return greedy_return(agent, make_task(task), range(10_000, 10_000 + episodes))


def evaluate_instances(agent: SAC, task: str, starts: int = 10) -> None:
    """Greedy return on each instance of the train split (sign, mass): which contexts does the policy solve?"""
    if task == "fixed":
        return
    print(f"per instance (greedy, {starts} start states each):")
    for i, ctx in enumerate(make_aib("di", "train").instances):
        score = greedy_return(agent, make_task(task, instance=i), range(20_000, 20_000 + starts))
        print(f"  sign {ctx['action_factor']:+.0f}  mass {ctx['mass']:.3f}  return {score:5.1f}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=40_000)
    p.add_argument("--updates-per-step", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=5_000)
    p.add_argument("--task", choices=tuple(TASKS), default="fixed")
    p.add_argument("--mirror", action="store_true",
                   help="train-oracle and train-history: each sampled transition is, with probability 1/2, "
                        "replaced by its mirror image under the other sign (action and sign feature or previous "
                        "action negated), an exact symmetry of the AIB")
    p.add_argument("--batch", type=int, default=BATCH, help=f"transitions per update (default {BATCH})")
    p.add_argument("--collect", type=int, default=1,
                   help="env steps between blocks of updates (default 1: after every step). icrl collects 2,000 "
                        "steps with a fixed policy, then makes that epoch's updates: --collect 2000")
    p.add_argument("--ensemble", type=int, default=0,
                   help="icrl's critic ensemble of this many members (icrl: 4) instead of SAC's pair: TD target from "
                        "the min of 2 drawn with replacement, actor on the min of all")
    p.add_argument("--shared-trunk", action="store_true",
                   help="icrl's layout: one encoder trained by the critics, read by the actor and the target critics")
    p.add_argument("--dynamics", action="store_true",
                   help="with --shared-trunk: icrl's learn.dynamics_coeff=1, a head on the trunk's features and the "
                        "action predicts the observation's change, and its error trains the trunk too")
    p.add_argument("--actor-entropy-only", action="store_true",
                   help="leave the entropy term out of the TD target, as icrl's learn.target_entropy does")
    p.add_argument("--target-entropy", type=float, default=TARGET_ENTROPY,
                   help="SAC's entropy target (the uniform policy on [-1, 1]^2 has entropy log 4 = 1.39)")
    args = p.parse_args()
    for name in ("batch", "collect"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.dynamics and not args.shared_trunk:
        p.error("--dynamics trains the shared trunk: add --shared-trunk (without it the critics read the raw "
                "observation, which already holds everything the head would predict from)")
    if args.ensemble < 0:
        p.error(f"--ensemble must be 0 (SAC's pair) or a number of critics, got {args.ensemble}")
    if args.mirror and args.task not in MIRRORED_COLUMNS:
        p.error("--mirror needs --task train-oracle or train-history (without the sign or the previous action in "
                "the observation, a mirrored transition is the same observation with the opposite outcome)")
    return args


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    probe_rng = np.random.default_rng(10_000 + args.seed)  # the probe's draws leave the run's own stream alone
    env = make_task(args.task)
    obs_dim = env.observation_space.shape[0]
    agent = SAC(obs_dim, args.target_entropy, soft_target=not args.actor_entropy_only, ensemble=args.ensemble,
                shared_trunk=args.shared_trunk, dynamics=args.dynamics)
    obs_buf = np.zeros((args.steps, obs_dim), np.float32)
    next_buf = np.zeros((args.steps, obs_dim), np.float32)
    act_buf = np.zeros((args.steps, 2), np.float32)
    rew_buf = np.zeros(args.steps, np.float32)
    obs, _ = env.reset(seed=args.seed)
    updates, start = 0, time.perf_counter()
    extras = [name for name, on in (("mirrored", args.mirror), (f"updates in blocks every {args.collect} steps",
                                    args.collect > 1), ("entropy in the actor only", args.actor_entropy_only),
                                   (f"icrl's ensemble of {args.ensemble} critics", args.ensemble > 0),
                                   ("shared trunk", args.shared_trunk),
                                   ("dynamics head", args.dynamics)) if on]
    print(f"SAC on DI ({TASKS[args.task]}), seed {args.seed}, {args.updates_per_step} updates per env step, "
          f"batch {args.batch}, target entropy {args.target_entropy}{''.join(', ' + e for e in extras)}, one thread")
    for step in range(args.steps):
        if step < RANDOM_STEPS:
            action = rng.uniform(-1, 1, 2).astype(np.float32)
        else:
            with torch.no_grad():
                action = agent.act(torch.as_tensor(obs)[None])[0][0].numpy()
        nxt, reward, terminated, truncated, _ = env.step(action)
        obs_buf[step], act_buf[step], rew_buf[step], next_buf[step] = obs, action, reward, nxt
        obs = env.reset()[0] if terminated or truncated else nxt
        if step >= START_UPDATES and (step + 1) % args.collect == 0:
            block = int((step + 1) * args.updates_per_step) - int((step + 1 - args.collect) * args.updates_per_step)
            for _ in range(block):
                idx = rng.integers(0, step + 1, args.batch)
                o, a, r, o2 = (b[idx] for b in (obs_buf, act_buf, rew_buf, next_buf))
                if args.mirror:
                    o, a, o2 = mirror(o, a, o2, rng, MIRRORED_COLUMNS[args.task])
                agent.update(*(torch.as_tensor(x) for x in (o, a, r, o2)))
                updates += 1
        if (step + 1) % args.eval_every == 0:
            spread, size = action_spread(agent, obs_buf[probe_rng.integers(0, step + 1, 256)])
            print(f"env steps {step + 1:>6}  updates {updates:>6}  eval return {evaluate(agent, args.task):5.1f}  "
                  f"reward per buffer step {rew_buf[:step + 1].mean():.4f}  "
                  f"alpha {agent.log_alpha.exp().item():.3f}  "
                  f"Q spread over actions {spread:.3f} (median |Q| {size:.3f})  "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    evaluate_instances(agent, args.task)


if __name__ == "__main__":
    main()
