"""Policy distributions and the actor / critic-ensemble heads."""

from __future__ import annotations

import math

import pytest
import torch

from icrl.nets.distributions import Categorical, MultiCategorical, TanhGaussian, make_policy_family
from icrl.nets.heads import Actor, BinnedCritic, ContinuousCritic, DiscreteCritic, EnsembleMLP, symlog_bins
from icrl.nets.layers import symexp
from icrl.spaces import ActionSpec


def test_categorical_clamps_and_renormalises() -> None:
    dist = Categorical(torch.tensor([[100.0, 0.0, 0.0]]))
    p = dist.probs[0]
    assert p.sum().item() == pytest.approx(1.0)
    want = torch.tensor([0.99, 1e-3, 1e-3])  # clamped to [1e-3, 0.99], then renormalised
    assert torch.allclose(p, want / want.sum())
    onehot = torch.tensor([[0.0, 1.0, 0.0]])
    assert dist.log_prob(onehot).item() == pytest.approx(math.log(p[1].item()))


def test_categorical_samples_match_probabilities() -> None:
    torch.manual_seed(0)
    dist = Categorical(torch.log(torch.tensor([0.2, 0.5, 0.3])).expand(20000, 3))
    freq = dist.sample().mean(0)
    assert torch.allclose(freq, torch.tensor([0.2, 0.5, 0.3]), atol=0.02)
    s = dist.rsample()
    assert torch.allclose(s, s.round(), atol=1e-6)  # one-hot forward values (straight-through)
    assert torch.equal(s.round().sum(-1), torch.ones(20000))
    assert torch.equal(dist.mode()[0], torch.tensor([0.0, 1.0, 0.0]))


def test_straight_through_sample_passes_gradients() -> None:
    logits = torch.zeros(4, 3, requires_grad=True)
    (Categorical(logits).rsample() * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_multicategorical_is_a_product() -> None:
    logits = torch.randn(5, 5)
    dist = MultiCategorical(logits, (2, 3))
    a = torch.cat([torch.nn.functional.one_hot(torch.tensor([1] * 5), 2),
                   torch.nn.functional.one_hot(torch.tensor([2] * 5), 3)], -1).float()
    want = Categorical(logits[:, :2]).log_prob(a[:, :2]) + Categorical(logits[:, 2:]).log_prob(a[:, 2:])
    assert torch.allclose(dist.log_prob(a), want)
    s = dist.sample()
    assert torch.equal(s[:, :2].sum(-1), torch.ones(5)) and torch.equal(s[:, 2:].sum(-1), torch.ones(5))


def test_tanh_gaussian_log_prob_is_a_change_of_variables() -> None:
    params = torch.tensor([[0.3, -0.2]])  # mean 0.3, raw std -0.2 (one dimension)
    dist = TanhGaussian(params)
    a = torch.tensor([[0.5]])
    u = torch.atanh(a)
    normal = torch.distributions.Normal(dist.mean, dist.std)
    want = (normal.log_prob(u) - torch.log(1 - a**2)).sum(-1)
    assert torch.allclose(dist.log_prob(a), want, atol=1e-6)
    assert math.exp(-5) - 1e-6 <= dist.std.item() <= math.exp(2) + 1e-6
    assert torch.isfinite(dist.log_prob(torch.tensor([[1.0]]))).all()  # clamped before atanh
    torch.manual_seed(0)
    assert dist.rsample().abs().max() < 1.0


@pytest.mark.parametrize("spec,param_dim,exact", [(ActionSpec("discrete", (4,)), 4, True),
                                                   (ActionSpec("multidiscrete", (2, 3)), 5, False),
                                                   (ActionSpec("box", box_dim=3), 6, False)])
def test_policy_family(spec, param_dim, exact) -> None:
    family = make_policy_family(spec)
    assert family.param_dim == param_dim and family.exact_expectation == exact
    dist = family.distribution(torch.zeros(7, 2, param_dim))
    assert dist.sample().shape == (7, 2, spec.dim)
    assert dist.log_prob(dist.sample()).shape == (7, 2)


def test_actor_has_one_policy_per_gamma() -> None:
    family = make_policy_family(ActionSpec("discrete", (3,)))
    actor = Actor(8, num_gammas=4, family=family, hidden=16)
    assert actor(torch.randn(2, 5, 8)).shape == (2, 5, 4, 3)


def test_ensemble_members_are_independent_mlps() -> None:
    torch.manual_seed(0)
    ens = EnsembleMLP(3, 4, 8, 2, 2)
    x = torch.randn(6, 4)
    out = ens(x)
    assert out.shape == (3, 6, 2)
    for c in range(3):  # member c alone, as an ordinary MLP
        h = x
        for i, layer in enumerate(ens.layers):
            h = h @ layer.weight[c] + layer.bias[c]
            if i < len(ens.layers) - 1:
                h = torch.nn.functional.leaky_relu(h)
        assert torch.allclose(out[c], h, atol=1e-6)
    assert not torch.allclose(out[0], out[1])


def test_discrete_critic_shapes_and_gradients_per_member() -> None:
    critic = DiscreteCritic(8, num_gammas=2, num_actions=3, members=4, hidden=16)
    q = critic(torch.randn(5, 7, 8))
    assert q.shape == (5, 7, 4, 2, 3)
    q[..., 0, :, :].sum().backward()  # member 0 only
    first = critic.net.layers[0].weight.grad
    assert first[0].abs().sum() > 0 and first[1:].abs().sum() == 0


def test_continuous_critic_sees_gamma_and_action() -> None:
    critic = ContinuousCritic(8, (0.9, 0.99), action_dim=2, members=3, hidden=16)
    s = torch.randn(4, 8)
    a = torch.zeros(4, 2, 2)
    q = critic(s, a)
    assert q.shape == (4, 3, 2)
    assert not torch.allclose(q[..., 0], q[..., 1])  # the discount enters as an input feature
    a2 = a.clone()
    a2[:, 1] = 0.5
    q2 = critic(s, a2)
    assert torch.allclose(q2[..., 0], q[..., 0]) and not torch.allclose(q2[..., 1], q[..., 1])


def test_symlog_bins_are_evenly_spaced_in_symlog_space() -> None:
    bins = symlog_bins(7, -1e3, 1e5)
    assert bins.shape == (7,)
    assert torch.allclose(symexp(bins[[0, -1]]), torch.tensor([-1e3, 1e5]), rtol=1e-5)
    assert torch.allclose(bins.diff(), bins.diff()[:1].expand(6), atol=1e-5)


def test_binned_critic_shapes_per_member_gamma_and_bin() -> None:
    # Distinct prime sizes: batch 3 x 5, D=13, C=7 members, G=2 discounts, A=3, K=11 bins; a swapped axis fails.
    critic = BinnedCritic(13, (0.9, 0.99), action_dim=3, members=7, num_bins=11, low=-10.0, high=10.0, hidden=16)
    s = torch.randn(3, 5, 13)
    a = torch.zeros(3, 5, 2, 3)
    logits = critic(s, a)
    assert logits.shape == (3, 5, 7, 2, 11)
    assert critic.bins.shape == (11,) and "bins" not in critic.state_dict()  # derived from the config
    assert not torch.allclose(logits[..., 0, :], logits[..., 1, :])  # the discount is an input feature
    a2 = a.clone()
    a2[..., 1, :] = 0.5  # only gamma 1's action changes
    logits2 = critic(s, a2)
    assert torch.allclose(logits2[..., 0, :], logits[..., 0, :]) and not torch.allclose(logits2[..., 1, :],
                                                                                         logits[..., 1, :])
    logits[:, :, 4].sum().backward()  # member 4 only
    first = critic.net.layers[0].weight.grad
    assert first[4].abs().sum() > 0 and first[:4].abs().sum() == 0 and first[5:].abs().sum() == 0

