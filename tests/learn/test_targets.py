"""n-step multi-gamma TD targets against hand computations and a plain Python loop."""

from __future__ import annotations

import itertools

import pytest
import torch

from icrl.learn.targets import nstep_targets

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
