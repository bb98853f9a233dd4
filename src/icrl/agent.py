"""The agent: the networks bundle shared by rollouts and the learner, its target copies, and ``act()``.

    obs, prev action, prev reward --TimestepEncoder--> o (B, L, E) --SequenceModel--> s (B, L, D)
    s --Actor--> policy per gamma (B, L, G, P)        s --Critic--> Q per member and gamma

The critic depends on ``learn.agent``: for "amago", a discrete critic (Q of every action) for a single
categorical action and a continuous one (action as input) otherwise; for "multitask", logits over value bins:
a ``DiscreteBinnedCritic`` (bins of every action) for a single categorical action, a ``BinnedCritic`` (action as
input) otherwise.
With ``learn.dynamics_coeff`` > 0 a ``DynamicsHead`` reads s too (an auxiliary loss, not in the method).
Only the actor and critic have target copies (Polyak-averaged); the encoders have none (method 7.5). What only
training needs (optimiser, PopArt statistics, the entropy temperature) belongs to the learner
(``icrl.learn.Learner``): the agent is what a rollout or an evaluation loads.

With ``model.separate_actor_trunk`` (not in the method) the actor reads its own pair ``actor_encoder`` ->
``actor_sequence``, and ``encoder`` -> ``sequence`` serve the critic (and the dynamics head) alone; each pair then
takes only its own loss's gradient, the layout of SAC and TD3. Rollouts run the actor's pair only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from icrl.config import RunConfig
from icrl.nets.distributions import PolicyFamily, make_policy_family
from icrl.nets.heads import (
    Actor,
    BinnedCritic,
    ContinuousCritic,
    DiscreteBinnedCritic,
    DiscreteCritic,
    DynamicsHead,
)
from icrl.nets.layers import SigmaReparamLinear
from icrl.nets.sequence import SequenceModel, make_sequence_model
from icrl.nets.timestep import TimestepEncoder
from icrl.records import Batch
from icrl.spaces import ActionSpec, ObsSpec

CriticHead = DiscreteCritic | ContinuousCritic | BinnedCritic | DiscreteBinnedCritic


class Agent(nn.Module):
    def __init__(self, encoder: TimestepEncoder, sequence: SequenceModel, actor: Actor, critic: CriticHead,
                 family: PolicyFamily, gammas: tuple[float, ...], dynamics: DynamicsHead | None = None,
                 actor_trunk: tuple[TimestepEncoder, SequenceModel] | None = None) -> None:
        super().__init__()
        self.encoder, self.sequence, self.actor, self.critic = encoder, sequence, actor, critic
        # the actor's own encoder and sequence model (model.separate_actor_trunk), else None: it shares the above
        self.actor_encoder, self.actor_sequence = actor_trunk if actor_trunk is not None else (None, None)
        self.dynamics = dynamics  # the optional auxiliary head (learn.dynamics_coeff > 0); no target copy
        self.family = family
        self.gammas = gammas
        self.register_buffer("gamma_values", torch.tensor(gammas, dtype=torch.float32), persistent=False)
        self.target_actor = copy.deepcopy(actor).requires_grad_(False)
        self.target_critic = copy.deepcopy(critic).requires_grad_(False)

    @property
    def separate_actor_trunk(self) -> bool:
        return self.actor_encoder is not None

    def _actor_pair(self) -> tuple[TimestepEncoder, SequenceModel]:
        if self.actor_encoder is None:
            return self.encoder, self.sequence
        return self.actor_encoder, self.actor_sequence

    def online_parameters(self) -> Iterator[nn.Parameter]:
        """Everything the optimiser trains: all parameters except the target copies."""
        for name, p in self.named_parameters():
            if not name.startswith(("target_actor.", "target_critic.")):
                yield p

    @torch.no_grad()
    def observe(self, batch: Batch) -> None:
        """Move the state the networks keep besides their weights, once per update: the sigma-reparameterised
        layers' power iteration, and the running statistics they normalise with (the encoders' inputs, then, with
        the dynamics head, the changes it predicts), which count this training batch. The learner calls this
        before the loss, which reads that state and changes nothing."""
        for name, module in self.named_modules():
            if isinstance(module, SigmaReparamLinear) and not name.startswith(("target_actor.", "target_critic.")):
                module.power_iteration()
        for encoder in (self.encoder, self.actor_encoder):
            if encoder is not None:
                encoder.observe(batch.obs, batch.prev_action, batch.prev_reward, batch.valid)
        if self.dynamics is not None:
            self.dynamics.target_norm.update(self.dynamics_change(batch), None)

    @torch.no_grad()
    def dynamics_change(self, batch: Batch) -> torch.Tensor:
        """x_{t+1} - x_t of the normalised observation and reward over the N valid transitions: (N, K)."""
        mask = batch.transition_mask
        x = self.encoder.normalized_vector_input(batch.obs, batch.prev_action, batch.prev_reward)  # (B, L, V)
        k = self.encoder.predictable_dim  # observation and reward; the action part of x_{t+1} is a_t itself
        return x[:, 1:][mask][..., :k] - x[:, :-1][mask][..., :k]

    def state_sequence(self, batch: Batch) -> torch.Tensor:
        """Full causal pass over padded windows: (B, L, D)."""
        return _run_trunk(self.encoder, self.sequence, batch)

    def actor_state_sequence(self, batch: Batch) -> torch.Tensor:
        """The actor's states (B, L, D): its own trunk's pass, or ``state_sequence`` when it shares one."""
        return _run_trunk(*self._actor_pair(), batch)

    @torch.no_grad()
    def soft_update_targets(self, tau: float) -> None:
        """target <- (1 - tau) target + tau online, for the actor and the critic."""
        for online, target in ((self.actor, self.target_actor), (self.critic, self.target_critic)):
            t_params = list(target.parameters())
            torch._foreach_lerp_(t_params, [p.detach() for p in online.parameters()], tau)

    def initial_state(self, n: int, device: torch.device) -> Any:
        return self._actor_pair()[1].initial_state(n, device)

    @torch.inference_mode()
    def act(self, obs: dict[str, torch.Tensor], prev_action: torch.Tensor, prev_reward: torch.Tensor,
            time_idx: torch.Tensor, reset: torch.Tensor, state: Any, sample: bool = True) -> tuple[torch.Tensor, Any]:
        """One rollout step for N envs with the main gamma's policy.

        obs: key -> (N, ...); prev_action (N, A); prev_reward (N,) or (N, 1); time_idx (N,) or (N, 1);
        reset (N,) bool clears env n's memory first. Returns encoded actions (N, A) and the new state.
        Runs the networks in eval mode (no dropout, no statistics updates) whatever the agent's mode.
        """
        was_training = self.training
        self.train(False)
        try:
            params, state = policy_params(*self.policy_modules(), obs, prev_action, prev_reward, time_idx, reset,
                                          state)
            dist = self.family.distribution(params)
            action = dist.sample() if sample else dist.mode()
        finally:
            self.train(was_training)
        return action, state

    def policy_modules(self) -> tuple[TimestepEncoder, SequenceModel, Actor]:
        """The networks a rollout step runs: the actor's encoder and sequence model, and the actor."""
        return (*self._actor_pair(), self.actor)


def policy_params(encoder: TimestepEncoder, sequence: SequenceModel, actor: Actor, obs: dict[str, torch.Tensor],
                  prev_action: torch.Tensor, prev_reward: torch.Tensor, time_idx: torch.Tensor, reset: torch.Tensor,
                  state: Any) -> tuple[torch.Tensor, Any]:
    """One step of ``Agent.act`` up to the main gamma's raw policy parameters (N, P), and the new state.

    A function of the three networks alone, so that ``icrl.export`` traces exactly the step ``act`` runs
    without carrying the critic along.
    """
    n = prev_action.shape[0]
    o = encoder({k: v.unsqueeze(1) for k, v in obs.items()}, prev_action.view(n, 1, -1), prev_reward.reshape(n, 1))
    s, state = sequence.step(o[:, 0], time_idx.reshape(n), state, reset.reshape(n))
    return actor(s)[:, -1], state


def _run_trunk(encoder: TimestepEncoder, sequence: SequenceModel, batch: Batch) -> torch.Tensor:
    o = encoder(batch.obs, batch.prev_action, batch.prev_reward, batch.valid)
    return sequence.forward_ragged(o, batch.time_idx, batch.valid.sum(1))


def make_agent(cfg: RunConfig, obs_spec: ObsSpec, action_spec: ActionSpec, max_seq_len: int,
               max_time_idx: int) -> Agent:
    m = cfg.model
    gammas = cfg.learn.gammas

    def trunk() -> tuple[TimestepEncoder, SequenceModel]:
        encoder = TimestepEncoder(obs_spec, action_spec.dim, m.encoder_hidden, m.encoder_layers, m.encoder_out,
                                  m.normalize_inputs)
        return encoder, make_sequence_model(m, encoder.out_dim, max_seq_len, max_time_idx)

    encoder, sequence = trunk()
    actor_trunk = trunk() if m.separate_actor_trunk else None
    family = make_policy_family(action_spec)
    actor = Actor(sequence.out_dim, len(gammas), family, m.head_hidden, m.head_layers)
    critic = make_critic(cfg, sequence.out_dim, family)
    dynamics = None
    if cfg.learn.dynamics_coeff > 0:
        dynamics = DynamicsHead(sequence.out_dim, action_spec.dim, encoder.predictable_dim, m.head_hidden,
                                m.head_layers)
    return Agent(encoder, sequence, actor, critic, family, gammas, dynamics, actor_trunk)


def make_critic(cfg: RunConfig, d_in: int, family: PolicyFamily) -> CriticHead:
    """The critic ensemble ``learn.agent`` asks for (see the module docstring)."""
    m, learn = cfg.model, cfg.learn
    action_dim, gammas = family.spec.dim, learn.gammas
    if learn.agent == "multitask" and family.exact_expectation:
        return DiscreteBinnedCritic(d_in, len(gammas), action_dim, learn.num_critics, learn.critic_bins,
                                    learn.critic_min_value, learn.critic_max_value, m.head_hidden, m.head_layers)
    if learn.agent == "multitask":
        return BinnedCritic(d_in, gammas, action_dim, learn.num_critics, learn.critic_bins, learn.critic_min_value,
                            learn.critic_max_value, m.head_hidden, m.head_layers)
    if family.exact_expectation:
        return DiscreteCritic(d_in, len(gammas), action_dim, learn.num_critics, m.head_hidden, m.head_layers)
    return ContinuousCritic(d_in, gammas, action_dim, learn.num_critics, m.head_hidden, m.head_layers)
