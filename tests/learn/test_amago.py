"""The AMAGO loss and the learner: gradient routing, padding invariance, BC-only mode, PopArt, warm-up, Polyak, and
the statistics (PopArt, temperature) that only the learner moves, after the step."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from icrl.agent import make_agent
from icrl.config import LearnConfig, ModelConfig, RunConfig
from icrl.learn import Learner, PopArt, StatsUpdate, amago_loss, make_learner_stats, reduce_ensemble
from icrl.learn.filters import binary_filter, exp_filter
from icrl.learn.learner import LOSSES
from icrl.records import Batch
from icrl.spaces import ActionSpec, ObsSpec

OBS = ObsSpec({"x": (3,)}, {"x": "float32"})
SPECS = {"discrete": ActionSpec("discrete", (4,)), "multidiscrete": ActionSpec("multidiscrete", (2, 3)),
         "box": ActionSpec("box", box_dim=2)}


def _agent(kind: str, sequence: str = "transformer", separate_actor_trunk: bool = False, **learn):
    model = ModelConfig(sequence=sequence, d_model=16, n_layers=1, n_heads=2, encoder_hidden=16, encoder_out=8,
                        head_hidden=16, dropout_emb=0.0, dropout_ff=0.0, separate_actor_trunk=separate_actor_trunk)
    cfg = RunConfig(model=model, learn=LearnConfig(extra_gammas=(0.9,), **learn))
    return make_agent(cfg, OBS, SPECS[kind], max_seq_len=12, max_time_idx=32), cfg.learn


def _actions(spec: ActionSpec, shape, gen) -> torch.Tensor:
    if spec.kind == "box":
        return torch.rand(*shape, spec.dim, generator=gen) * 2 - 1
    parts = [torch.nn.functional.one_hot(torch.randint(n, shape, generator=gen), n).float() for n in spec.nvec]
    return torch.cat(parts, -1)


def _batch(spec: ActionSpec, lengths=(6, 4, 2), pad_to: int = 0, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    B, L = len(lengths), max(max(lengths), pad_to)
    valid = torch.arange(L)[None] < torch.tensor(lengths)[:, None]
    keep = lambda x: x * valid.view(B, L, *([1] * (x.dim() - 2))).to(x.dtype)  # noqa: E731
    term = torch.zeros(B, L, dtype=torch.bool)
    term[0, lengths[0] - 1] = True  # the first rollout ends by termination, the others are cut
    return Batch({"x": keep(torch.randn(B, L, 3, generator=gen))}, keep(_actions(spec, (B, L), gen)),
                 keep(torch.randn(B, L, generator=gen)), torch.arange(L).repeat(B, 1) * valid, term & valid, valid)


def _stats(agent, cfg):
    """Fresh learner statistics (PopArt, temperature) for ``agent``."""
    return make_learner_stats(cfg, len(agent.gammas), agent.family.spec)


def _loss(agent, batch, cfg, seed=0, stats=None):
    torch.manual_seed(seed)
    return LOSSES[cfg.agent](agent, batch, cfg, (stats if stats is not None else _stats(agent, cfg)).view())


@pytest.mark.parametrize("kind", list(SPECS))
def test_loss_is_finite_and_trains_online_networks_only(kind) -> None:
    agent, cfg = _agent(kind)
    loss, metrics, _ = _loss(agent, _batch(SPECS[kind]), cfg)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(v).all() for v in metrics.values())
    for name, p in agent.named_parameters():
        if name.startswith(("target_actor.", "target_critic.")):
            assert p.grad is None, name
    grads = {n: p.grad for n, p in agent.named_parameters() if p.requires_grad}
    for prefix in ("encoder.", "sequence.", "actor.", "critic."):
        assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith(prefix)), prefix


@pytest.mark.parametrize("kind", list(SPECS))
def test_actor_terms_never_train_the_critic(kind) -> None:
    agent, cfg = _agent(kind, critic_loss_weight=0.0)
    loss, _, _ = _loss(agent, _batch(SPECS[kind]), cfg)
    loss.backward()
    for name, p in agent.critic.named_parameters():
        assert p.grad is None or p.grad.abs().max() == 0, name
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.actor.parameters())


CRITIC_TRUNK, ACTOR_TRUNK = ("encoder.", "sequence."), ("actor_encoder.", "actor_sequence.")


def _trunk_grads(agent, cfg, batch) -> dict[str, torch.Tensor]:
    """Gradients of one loss (seeded) on the two trunks' parameters, zeros where none reached."""
    agent = copy.deepcopy(agent)  # each call's gradients start from none
    _loss(agent, batch, cfg)[0].backward()
    return {n: torch.zeros_like(p) if p.grad is None else p.grad.clone() for n, p in agent.named_parameters()
            if n.startswith(CRITIC_TRUNK + ACTOR_TRUNK)}


@pytest.mark.parametrize("learn_agent", ["amago", "multitask"])
@pytest.mark.parametrize("kind", list(SPECS))
def test_separate_actor_trunk_takes_the_actor_loss_and_the_critic_trunk_the_critic_loss(kind, learn_agent) -> None:
    agent, cfg = _agent(kind, separate_actor_trunk=True, agent=learn_agent)
    agent.eval()  # frozen input statistics: both losses below see the same states
    batch = _batch(SPECS[kind])
    actor_only = _trunk_grads(agent, dataclasses.replace(cfg, critic_loss_weight=0.0), batch)
    both = _trunk_grads(agent, cfg, batch)
    for name, g in actor_only.items():
        if name.startswith(CRITIC_TRUNK):
            assert g.abs().max() == 0, name  # the actor's loss never reaches the critic's trunk
        else:  # and the critic's loss never reaches the actor's
            assert torch.allclose(both[name], g, atol=1e-6), name
    assert any(g.abs().sum() > 0 for n, g in actor_only.items() if n.startswith(ACTOR_TRUNK))
    assert any(g.abs().sum() > 0 for n, g in both.items() if n.startswith(CRITIC_TRUNK))


def test_separate_actor_trunk_feeds_the_target_actor_and_the_rollout_policy() -> None:
    agent, cfg = _agent("box", separate_actor_trunk=True)
    agent.eval()
    batch = _batch(SPECS["box"], lengths=(5,))
    # rollouts step the actor's trunk: the cached steps give the policy of its full pass
    state = agent.initial_state(1, torch.device("cpu"))
    stepped = []
    for t in range(5):
        action, state = agent.act({"x": batch.obs["x"][:, t]}, batch.prev_action[:, t], batch.prev_reward[:, t],
                                  batch.time_idx[:, t], torch.tensor([t == 0]), state, sample=False)
        stepped.append(action)
    with torch.no_grad():
        full = agent.family.distribution(agent.actor(agent.actor_state_sequence(batch))[:, :, -1]).mode()
        shared = agent.family.distribution(agent.actor(agent.state_sequence(batch))[:, :, -1]).mode()
    assert torch.allclose(torch.stack(stepped, 1), full, atol=1e-5)
    assert not torch.allclose(full, shared, atol=1e-3)  # the critic's trunk gives another policy
    # the TD targets read the target actor on the actor's trunk: changing that trunk alone moves them
    y = _loss(agent, batch, cfg)[1]["q/target_mean"]
    with torch.no_grad():
        for p in agent.actor_encoder.parameters():
            p.add_(0.5 * torch.randn_like(p))
    assert not torch.allclose(_loss(agent, batch, cfg)[1]["q/target_mean"], y)


@pytest.mark.parametrize("kind", list(SPECS))
@pytest.mark.parametrize("sequence", ["transformer", "gru"])
def test_right_padding_does_not_change_the_loss(kind, sequence) -> None:
    agent, cfg = _agent(kind, sequence)
    agent.eval()  # freeze input-normalisation statistics; no dropout in this model anyway
    base = _batch(SPECS[kind], seed=3)
    padded = _batch(SPECS[kind], pad_to=11, seed=3)
    for key in ("prev_action", "prev_reward", "time_idx", "terminated"):  # same real data, longer padding
        getattr(padded, key)[:, : base.valid.shape[1]] = getattr(base, key)
    padded.obs["x"][:, : base.valid.shape[1]] = base.obs["x"]
    a, b = copy.deepcopy(agent), copy.deepcopy(agent)
    loss_a, m_a, _ = _loss(a, base, cfg)
    loss_b, m_b, _ = _loss(b, padded, cfg)
    assert loss_a.item() == pytest.approx(loss_b.item(), rel=1e-5, abs=1e-6)
    assert m_a["critic/loss"].item() == pytest.approx(m_b["critic/loss"].item(), rel=1e-5, abs=1e-6)


def test_pure_behaviour_cloning_skips_the_critic() -> None:
    agent, cfg = _agent("discrete", online_coeff=0.0, offline_coeff=1.0, fake_filter=True)
    batch = _batch(SPECS["discrete"])
    loss, metrics, update = _loss(agent, batch, cfg)
    loss.backward()
    assert all(p.grad is None for p in agent.critic.parameters())
    assert update == StatsUpdate()  # no TD targets were computed: no statistics to move
    assert loss.item() == pytest.approx(-metrics["actor/logp"].item(), rel=1e-6)


def test_critic_regresses_onto_one_step_target_by_hand() -> None:
    """Critic loss of a single terminal transition equals (PopArt(Q(s, a)) - normalise(r * multiplier))^2."""
    agent, cfg = _agent("discrete", n_step=1, offline_coeff=0.1, popart_beta=1e-9)
    agent.eval()
    batch = _batch(SPECS["discrete"], lengths=(2,))
    batch.terminated[0, 1] = True
    loss, metrics, update = _loss(agent, batch, cfg)
    popart = update.popart  # the statistics that count this target: the loss normalised with them
    s = agent.state_sequence(batch)[0, 0]
    q = (agent.critic(s) * batch.actions[0, 0]).sum(-1)  # (C, G)
    y = popart.normalize(cfg.reward_multiplier * batch.rewards[0, 0] * torch.ones(2))
    want = ((popart.scale(q) - y) ** 2).mean()
    assert metrics["critic/loss"].item() == pytest.approx(want.item(), rel=1e-4)


def test_reduce_ensemble_draws_from_members() -> None:
    values = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1).expand(500, 4, 3)
    low = reduce_ensemble(values, 2, use_min=True)
    mean = reduce_ensemble(values, 2, use_min=False)
    assert low.shape == (500, 3) and set(low.unique().tolist()) <= {1.0, 2.0, 3.0, 4.0}
    assert low.mean() < mean.mean()  # the min of a random pair is below its mean
    assert reduce_ensemble(values, 1, use_min=True).unique().numel() == 4  # every member is drawn
    assert torch.equal(reduce_ensemble(values[:, :1], 3, use_min=True), values[:, 0])


def test_filters() -> None:
    adv = torch.tensor([-1.0, 0.0, 0.5, 10.0])
    assert torch.equal(binary_filter(adv), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert torch.equal(binary_filter(adv * 1000), binary_filter(adv))  # scale-free
    w = exp_filter(adv, beta=1.0, clip_high=5.0)
    assert torch.allclose(w, torch.tensor([torch.e**-1, 1.0, torch.e**0.5, 5.0]))


def test_popart_preserves_outputs_and_tracks_moments() -> None:
    popart = PopArt(2, beta=0.5)
    x = torch.randn(10, 2)
    before = popart.denormalize(x)
    for _ in range(20):
        popart.update_stats(torch.tensor([[10.0, -3.0], [12.0, -5.0]]))
        assert torch.allclose(popart.denormalize(x), before, atol=1e-4)
    assert torch.allclose(popart.mu, torch.tensor([11.0, -4.0]), atol=1e-3)
    assert torch.allclose(popart.sigma, torch.tensor([1.0, 1.0]), atol=1e-2)
    y = torch.tensor([[11.0, -4.0]])
    assert torch.allclose(popart.normalize(y), torch.zeros(1, 2), atol=1e-2)


def test_popart_config_fields_reach_the_learner() -> None:
    agent, cfg = _agent("discrete", popart_beta=0.25)
    popart = Learner(agent, cfg).stats.popart
    assert popart.beta == 0.25 and popart.enabled
    off_agent, cfg = _agent("discrete", popart=False)
    off = Learner(off_agent, cfg).stats.popart
    y = torch.tensor([[30.0, -7.0], [50.0, 1.0]])
    for _ in range(3):
        off.update_stats(y)
    x = torch.randn(4, 2)
    assert torch.equal(off(x), x) and torch.equal(off.denormalize(x), x)
    assert torch.equal(off.normalize(y), y)  # learn.popart=false: the critic regresses on raw targets


@pytest.mark.parametrize("learn_agent", ["amago", "multitask"])
def test_a_loss_moves_no_statistics_and_the_update_applies_them_after_the_step(learn_agent) -> None:
    """PopArt and the entropy temperature: a loss only reports the statistics of its batch; an update computes the
    same loss (the statistics before it), then takes them, by PopArt's and the temperature's rules."""
    beta, alpha_lr, init_alpha = 0.1, 0.1, 0.5
    agent, cfg = _agent("box", agent=learn_agent, target_entropy="auto", popart_beta=beta, alpha_lr=alpha_lr,
                        init_alpha=init_alpha)
    probe, learner = Learner(copy.deepcopy(agent), cfg), Learner(agent, cfg)
    batch = _batch(SPECS["box"])
    before = copy.deepcopy(probe.stats.state_dict())
    assert set(before) == {"popart.mu", "popart.nu", "popart.w", "popart.b", "popart.t", "temperature.log_alpha"}
    torch.manual_seed(0)
    out = probe.loss(batch)
    probe.loss(batch)  # a loss, however often called, moves nothing
    for key, value in probe.stats.state_dict().items():
        assert torch.equal(value, before[key]), key
    asked = out.update
    assert int(asked.popart.t) == 2 and not torch.equal(asked.popart.mu, before["popart.mu"])
    assert asked.mean_log_prob is not None

    torch.manual_seed(0)
    metrics = learner.update(batch)
    assert metrics["loss"].item() == out.loss.item()  # the update's loss read the statistics from before it
    popart = learner.stats.popart
    for name in ("mu", "nu", "w", "b", "t"):
        assert torch.equal(getattr(popart, name), getattr(asked.popart, name)), name
    beta_t = beta / (1.0 - (1.0 - beta) ** 2)  # the second batch PopArt counts; mu started at 0
    assert popart.mu[-1].item() == pytest.approx(beta_t * metrics["q/target_mean"].item(), rel=1e-5)
    want_log_alpha = math.log(init_alpha) + alpha_lr * (asked.mean_log_prob.item() - 2.0)  # target -2 ("auto")
    assert learner.stats.temperature.log_alpha.item() == pytest.approx(want_log_alpha, rel=1e-6)
    assert metrics["actor/alpha"].item() == pytest.approx(init_alpha)  # the loss weighed with alpha before its step


def test_logged_statistics_keep_the_value_of_their_update() -> None:
    """The trainer reads metrics after the epoch (no device sync per update): a logged PopArt mean must not follow
    the statistics of later updates."""
    agent, cfg = _agent("discrete", popart_beta=0.1)
    learner = Learner(agent, cfg)
    logged, values = [], []
    for seed in range(3):
        metrics = learner.update(_batch(SPECS["discrete"], seed=seed))
        logged.append(metrics["popart/mu"])
        values.append(metrics["popart/mu"].item())
    assert [m.item() for m in logged] == values and len(set(values)) == 3


def test_learner_warmup_polyak_and_non_finite_loss() -> None:
    agent, cfg = _agent("discrete", lr=1e-3, warmup_steps=4, tau=0.25)
    learner = Learner(agent, cfg)
    batch = _batch(SPECS["discrete"])
    lrs = []
    for _ in range(5):
        target_before = [p.clone() for p in agent.target_critic.parameters()]
        metrics = learner.update(batch)
        lrs.append(float(metrics["lr"]))
        for old, target, online in zip(target_before, agent.target_critic.parameters(), agent.critic.parameters()):
            assert torch.allclose(target, 0.75 * old + 0.25 * online, atol=1e-6)
    assert lrs == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])
    assert learner.num_updates == 5
    batch.prev_reward[0, 1] = float("nan")
    with pytest.raises(FloatingPointError, match="loss became"):
        learner.update(batch)


class _QuadraticCritic(torch.nn.Module):
    """Q(s, a) = -|a - target|^2 for every member and gamma: (N, D), (N, G, A) -> (N, C, G)."""

    def __init__(self, target: torch.Tensor, members: int) -> None:
        super().__init__()
        self.target, self.members = target, members

    def forward(self, s: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        q = -((actions - self.target) ** 2).sum(-1)  # (N, G)
        return q.unsqueeze(-2).expand(q.shape[0], self.members, q.shape[-1])


def test_dpg_moves_a_box_policy_to_the_critics_maximum() -> None:
    """With a fixed critic whose best action is known, the DPG term alone drives the policy's mode there."""
    torch.manual_seed(0)
    agent, cfg = _agent("box", offline_coeff=0.0, online_coeff=1.0, num_critics=4)
    target = torch.tensor([0.6, -0.4])
    agent.critic, agent.target_critic = _QuadraticCritic(target, 4), _QuadraticCritic(target, 4)
    params = [p for n, p in agent.named_parameters() if n.startswith(("actor.", "encoder.", "sequence."))]
    opt = torch.optim.Adam(params, lr=3e-3)
    batch = _batch(SPECS["box"], lengths=(6, 6, 6))
    stats = _stats(agent, cfg)
    for _ in range(100):
        opt.zero_grad()
        loss, _, update = amago_loss(agent, batch, cfg, stats.view())
        loss.backward()
        opt.step()
        stats.apply(update)
    with torch.no_grad():
        mode = agent.actor.distribution(agent.state_sequence(batch)[:, :-1][batch.transition_mask]).mode()
    assert (mode - target).abs().max() < 0.05  # every state, every gamma's policy

