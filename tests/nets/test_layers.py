"""Per-step encoder pieces: running input normalisation, sigma-reparameterised linears, image observations."""

from __future__ import annotations

import torch

from icrl.nets.layers import InputNorm, SigmaReparamLinear
from icrl.nets.timestep import TimestepEncoder
from icrl.spaces import ObsSpec


def test_input_norm_counts_real_rows_only_and_its_forward_only_reads() -> None:
    norm = InputNorm(2, beta=1e-4)
    x = torch.tensor([[[1.0, 10.0], [3.0, 30.0], [1e6, -1e6]]])  # the last row is padding
    mask = torch.tensor([[True, True, False]])
    norm.train()
    norm(x)  # a forward pass, even in training mode, moves no statistic
    assert int(norm.t) == 0 and torch.equal(norm.mu, torch.zeros(2))
    norm.update(x, mask)
    assert torch.allclose(norm.mu, torch.tensor([2.0, 20.0]))  # bias-corrected: the first update is exact
    assert torch.allclose(norm.sigma, torch.tensor([1.0, 10.0]), atol=1e-3)
    out = norm(torch.tensor([[2.0, 30.0]]))
    assert torch.allclose(out, torch.tensor([[0.0, 1.0]]), atol=1e-3) and int(norm.t) == 1


def test_sigma_reparam_tracks_the_top_singular_value() -> None:
    torch.manual_seed(0)
    layer = SigmaReparamLinear(6, 4)
    with torch.no_grad():
        layer.weight.mul_(torch.tensor([5.0, 1.0, 1.0, 1.0]).view(4, 1))
    layer.train()
    u = layer.u.clone()
    layer(torch.randn(2, 6))
    assert torch.equal(layer.u, u)  # the forward pass only reads u, v; the learner steps them (Agent.observe)
    for _ in range(30):
        layer.power_iteration()
    top = torch.linalg.matrix_norm(layer.weight.detach(), ord=2)
    assert torch.allclose(layer.sigma(), top, rtol=1e-3)
    effective = layer.weight * (layer.gamma / layer.sigma())
    assert torch.allclose(torch.linalg.matrix_norm(effective.detach(), ord=2), torch.tensor(1.0), rtol=1e-3)


def test_encoder_mixes_vectors_and_images() -> None:
    spec = ObsSpec({"img": (8, 8, 3), "pos": (2,)}, {"img": "uint8", "pos": "float32"})
    enc = TimestepEncoder(spec, action_dim=3, hidden=16, out_dim=8)
    obs = {"img": torch.randint(0, 255, (2, 5, 8, 8, 3), dtype=torch.uint8), "pos": torch.randn(2, 5, 2)}
    out = enc(obs, torch.zeros(2, 5, 3), torch.zeros(2, 5), torch.ones(2, 5, dtype=torch.bool))
    assert out.shape == (2, 5, 8) and torch.isfinite(out).all()
    assert enc.image_keys == ["img"] and enc.vector_keys == ["pos"]


def test_cnn_sizes_for_small_and_large_images() -> None:
    from icrl.nets.timestep import SmallCNN

    for shape in ((7, 7, 3), (8, 8, 1), (16, 16, 3), (64, 48, 3)):
        cnn = SmallCNN(shape, out_dim=10)
        assert cnn(torch.zeros(2, *shape, dtype=torch.uint8)).shape == (2, 10)
