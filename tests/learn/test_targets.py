"""n-step multi-gamma TD targets against hand computations and a plain Python loop; value-bin labels."""

from __future__ import annotations

import itertools

import pytest
import torch

from icrl.learn.targets import bin_values, expected_value, hlgauss_labels, nstep_targets, twohot_labels
from icrl.nets.heads import symlog_bins
from icrl.nets.layers import symexp, symlog

GAMMAS = torch.tensor([0.5, 0.9])


def _one(rewards, dones, values, n=1, mask=None, gammas=GAMMAS):
    r = torch.tensor([rewards], dtype=torch.float32)
    d = torch.tensor([dones], dtype=torch.bool)
    m = torch.ones_like(d) if mask is None else torch.tensor([mask], dtype=torch.bool)
    v = torch.tensor([values], dtype=torch.float32)  # (1, T, G)
    return nstep_targets(r, d, m, v, gammas, n)[0]


def test_one_step_bootstraps_unless_terminated() -> None:
    y = _one([1.0, 2.0], [False, True], [[10.0, 20.0], [30.0, 40.0]])
    # t=0 not terminated: r + g V(s1); t=1 terminated: r only.
    assert torch.allclose(y[0], torch.tensor([1 + 0.5 * 10, 1 + 0.9 * 20]))
    assert torch.allclose(y[1], torch.tensor([2.0, 2.0]))


def test_truncation_and_window_end_bootstrap() -> None:
    # The last transition of the window is not terminated (time limit, or the window simply ends): bootstrap.
    y = _one([0.0, 3.0], [False, False], [[1.0, 1.0], [4.0, 8.0]])
    assert torch.allclose(y[1], torch.tensor([3 + 0.5 * 4, 3 + 0.9 * 8]))


def test_three_step_by_hand() -> None:
    r, v = [1.0, 2.0, 3.0, 4.0], [[10.0, 10.0], [20.0, 20.0], [30.0, 30.0], [40.0, 40.0]]
    y = _one(r, [False] * 4, v, n=3)
    for gi, g in enumerate((0.5, 0.9)):
        assert y[0, gi] == pytest.approx(1 + g * 2 + g**2 * 3 + g**3 * 30)
        assert y[1, gi] == pytest.approx(2 + g * 3 + g**2 * 4 + g**3 * 40)
        assert y[2, gi] == pytest.approx(3 + g * 4 + g**2 * 40)  # the window ends: bootstrap from the last V
        assert y[3, gi] == pytest.approx(4 + g * 40)


def test_nstep_stops_at_termination() -> None:
    y = _one([1.0, 2.0, 3.0], [False, True, False], [[5.0, 5.0], [6.0, 6.0], [7.0, 7.0]], n=3)
    for gi, g in enumerate((0.5, 0.9)):
        assert y[0, gi] == pytest.approx(1 + g * 2)  # terminated at t=1: no bootstrap, nothing after
        assert y[1, gi] == pytest.approx(2.0)
        assert y[2, gi] == pytest.approx(3 + g * 7)


def test_padding_is_never_read() -> None:
    y = _one([1.0, 2.0, 99.0], [False, False, True], [[5.0, 5.0], [6.0, 6.0], [99.0, 99.0]], n=3,
             mask=[True, True, False])
    for gi, g in enumerate((0.5, 0.9)):
        assert y[0, gi] == pytest.approx(1 + g * 2 + g**2 * 6)
        assert y[1, gi] == pytest.approx(2 + g * 6)


def _loop_reference(r, d, m, v, gammas, n):
    B, T, G = v.shape
    out = torch.zeros(B, T, G, dtype=torch.float64)
    for b, t, gi in itertools.product(range(B), range(T), range(G)):
        if not m[b, t]:
            continue
        g = float(gammas[gi])
        last = 0
        for i in range(1, n):
            if t + i < T and m[b, t + i] and not d[b, t + i - 1]:
                last = i
            else:
                break
        ret = sum(g**i * float(r[b, t + i]) for i in range(last + 1))
        out[b, t, gi] = ret + g ** (last + 1) * (1.0 - float(d[b, t + last])) * float(v[b, t + last, gi])
    return out


@pytest.mark.parametrize("n", [1, 2, 5])
def test_matches_python_loop_on_random_batches(n) -> None:
    gen = torch.Generator().manual_seed(n)
    B, T = 4, 9
    gammas = torch.tensor([0.0, 0.7, 0.99, 0.999])
    r = torch.randn(B, T, generator=gen)
    d = torch.rand(B, T, generator=gen) < 0.2
    lengths = torch.tensor([9, 5, 1, 7])
    m = torch.arange(T)[None] < lengths[:, None]
    v = torch.randn(B, T, len(gammas), generator=gen)
    got = nstep_targets(r, d, m, v, gammas, n)
    want = _loop_reference(r, d, m, v, gammas, n)
    assert torch.allclose(got.double()[m], want[m], atol=1e-5)


BINS = symlog_bins(11, -100.0, 100.0)  # (K=11,) centres in symlog space, width ~0.92
WIDTH = float(BINS[1] - BINS[0])


def _on_grid_and_between() -> torch.Tensor:
    """Values on every bin centre (the range ends included), halfway between centres, and random ones inside."""
    centres = symexp(BINS)
    halfway = symexp((BINS[1:] + BINS[:-1]) / 2)
    inside = torch.empty(200).uniform_(-99.0, 99.0, generator=torch.Generator().manual_seed(0))
    return torch.cat([centres, halfway, inside, torch.tensor([0.0, 1e-3, -0.5])])


def test_twohot_labels_decode_back_to_their_value() -> None:
    y = _on_grid_and_between()
    labels = twohot_labels(y, BINS)
    assert labels.shape == (y.numel(), 11) and torch.all(labels >= 0)
    assert torch.allclose(labels.sum(-1), torch.ones(y.numel()))
    assert torch.all((labels > 0).sum(-1) <= 2)
    assert torch.allclose(expected_value(labels, BINS), y, rtol=1e-4, atol=1e-5)
    on_centres = twohot_labels(symexp(BINS), BINS)  # a value on a centre puts all its mass on that bin
    assert torch.allclose(on_centres, torch.eye(11), atol=1e-5)


def test_twohot_labels_split_by_proximity_by_hand() -> None:
    quarter = symexp(BINS[3] + 0.25 * WIDTH)  # a quarter of the way from centre 3 to centre 4
    labels = twohot_labels(quarter.view(1), BINS)[0]
    assert labels[3].item() == pytest.approx(0.75, abs=1e-5) and labels[4].item() == pytest.approx(0.25, abs=1e-5)
    assert labels.sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("make_labels", [twohot_labels, hlgauss_labels])
def test_values_outside_the_range_are_clipped_to_its_ends(make_labels) -> None:
    ends = symexp(BINS[[0, -1]])  # -100, 100
    outside = torch.tensor([-1e6, -101.0, 101.0, 1e9])
    labels = make_labels(outside, BINS)
    assert torch.allclose(labels, make_labels(ends[[0, 0, 1, 1]], BINS))
    if make_labels is twohot_labels:
        assert torch.allclose(expected_value(labels, BINS), torch.tensor([-100.0, -100.0, 100.0, 100.0]), rtol=1e-5)


def test_hlgauss_labels_decode_back_inside_the_range() -> None:
    y = _on_grid_and_between()
    labels = hlgauss_labels(y, BINS, sigma=0.75)
    assert torch.all(labels >= 0) and torch.allclose(labels.sum(-1), torch.ones(y.numel()))
    err = (symlog(expected_value(labels, BINS)) - symlog(y)).abs() / WIDTH  # in bin widths, symlog space
    away_from_ends = symlog(y).abs() <= float(BINS[-1]) - 3 * WIDTH  # truncated mass below 1e-5
    assert err[away_from_ends].max() < 1e-3
    # At the ends the Gaussian is truncated, pulling the expectation inwards (by ~0.37 bins at the last centre).
    assert err.max() < 0.5
    assert (labels[:, 5] > 0).sum() > 0 and (labels > 1e-3).sum(-1).min() >= 2  # spread over neighbours


def test_hlgauss_sigma_sets_the_spread() -> None:
    y = symexp(BINS[5]).view(1)
    narrow, wide = hlgauss_labels(y, BINS, sigma=0.3), hlgauss_labels(y, BINS, sigma=2.0)
    assert narrow[0, 5] > 0.85 and wide[0, 5] < 0.3
    assert torch.allclose(narrow[0], narrow[0].flip(0), atol=1e-6)  # symmetric around the centre bin


def test_bin_values_are_the_expectation_under_the_softmax() -> None:
    y = torch.tensor([[-37.0, 0.2], [5.0, 88.0]])  # any leading shape
    labels = twohot_labels(y, BINS)
    assert torch.allclose(bin_values(torch.log(labels.clamp_min(1e-30)), BINS), y, rtol=1e-4)
    uniform = bin_values(torch.zeros(3, 11), BINS)  # symmetric bins: the expectation is symexp(0) = 0
    assert torch.allclose(uniform, torch.zeros(3), atol=1e-5)
