"""Mamba specifics: its scans agree, the CUDA kernel is only taken on CUDA, and rollouts cache its state."""

from __future__ import annotations

import pytest
import torch

from icrl.errors import ConfigError
from icrl.nets.sequence import mamba
from icrl.nets.sequence.mamba import Mamba, MambaState, pick_scan, scan_chunked, scan_sequential


def _inputs(b: int = 2, L: int = 23, E: int = 6, N: int = 4):
    torch.manual_seed(0)
    x = torch.randn(b, L, E, dtype=torch.float64)
    dt = torch.nn.functional.softplus(torch.randn(b, L, E, dtype=torch.float64))
    A = -torch.rand(E, N, dtype=torch.float64) * 3
    return x, dt, A, torch.randn(b, L, N, dtype=torch.float64), torch.randn(b, L, N, dtype=torch.float64)


def _reference(x, dt, A, B, C):
    """The recurrence written out element by element."""
    b, L, E = x.shape
    y = torch.zeros_like(x)
    for i in range(b):
        s = torch.zeros(E, A.shape[1], dtype=x.dtype)
        for t in range(L):
            s = torch.exp(dt[i, t, :, None] * A) * s + dt[i, t, :, None] * x[i, t, :, None] * B[i, t]
            y[i, t] = s @ C[i, t]
    return y


@pytest.mark.parametrize("chunk", [0, 1, 4, 5, 23, 40])  # auto (sqrt L), degenerate, padded, exact, one, > L
def test_scans_equal_the_recurrence(chunk: int) -> None:
    args = _inputs()
    ref = _reference(*args)
    assert torch.allclose(scan_sequential(*args), ref, atol=1e-10)
    assert torch.allclose(scan_chunked(*args, chunk=chunk), ref, atol=1e-10)


def test_chunked_gradients_equal_sequential() -> None:
    args = [a.clone().requires_grad_(True) for a in _inputs()]
    weights = torch.randn(2, 23, 6, dtype=torch.float64)
    g_seq = torch.autograd.grad((scan_sequential(*args) * weights).sum(), args)
    g_chk = torch.autograd.grad((scan_chunked(*args) * weights).sum(), args)
    for a, b in zip(g_seq, g_chk):
        assert torch.allclose(a, b, atol=1e-9)


def test_auto_falls_back_on_cpu_even_with_the_kernel_importable(monkeypatch) -> None:
    monkeypatch.setattr(mamba, "_cuda_selective_scan", lambda *a: pytest.fail("CUDA kernel called on CPU"))
    assert pick_scan("auto", torch.device("cpu")) is scan_sequential
    model = Mamba(5, d_model=8, n_layers=1, scan="auto")
    model(torch.randn(2, 4, 5), torch.zeros(2, 4, dtype=torch.long))  # must not reach the fake kernel


def test_auto_takes_the_kernel_on_cuda_only_when_installed(monkeypatch) -> None:
    cuda = torch.device("cuda")
    monkeypatch.setattr(mamba, "_cuda_selective_scan", None)
    assert pick_scan("auto", cuda) is scan_chunked
    monkeypatch.setattr(mamba, "_cuda_selective_scan", lambda *a: None)
    assert pick_scan("auto", cuda) is mamba._scan_cuda_kernel
    assert pick_scan("sequential", cuda) is scan_sequential  # an explicit choice wins


def test_kernel_adapter_passes_channels_first_layouts(monkeypatch) -> None:
    """The adapter feeds mamba-ssm's (b, E, L) / (b, N, L) layouts and returns (b, L, E): checked with a stand-in."""

    def kernel(u, delta, A, B, C):
        ref = scan_sequential(u.transpose(1, 2), delta.transpose(1, 2), A, B.transpose(1, 2), C.transpose(1, 2))
        return ref.transpose(1, 2)

    monkeypatch.setattr(mamba, "_cuda_selective_scan", kernel)
    args = _inputs()
    assert torch.allclose(mamba._scan_cuda_kernel(*args), _reference(*args), atol=1e-10)


def test_bad_scan_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="mamba_scan"):
        Mamba(3, scan="parallel")
    with pytest.raises(ConfigError, match="mamba_scan"):
        pick_scan("parallel", torch.device("cpu"))


def test_full_pass_runs_the_scan_in_fp32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    model = Mamba(5, d_model=8, n_layers=2)
    x, t = torch.randn(2, 6, 5), torch.zeros(2, 6, dtype=torch.long)
    ref = model(x, t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, t)
    assert torch.isfinite(out).all() and (out.float() - ref).abs().max() < 0.1


def test_agent_act_caches_the_conv_window_and_ssm_state() -> None:
    """Rollouts carry a MambaState through ``Agent.act``; its actions are those of the full pass over the window."""
    from icrl.agent import make_agent
    from icrl.config import ModelConfig, RunConfig
    from icrl.records import Batch
    from icrl.spaces import ActionSpec, ObsSpec

    torch.manual_seed(0)
    model = ModelConfig(sequence="mamba", d_model=16, n_layers=2, mamba_d_state=4, mamba_d_conv=3, encoder_hidden=16,
                        encoder_out=8, head_hidden=16)
    agent = make_agent(RunConfig(model=model), ObsSpec({"x": (3,)}, {"x": "float32"}), ActionSpec("box", box_dim=2),
                       max_seq_len=12, max_time_idx=32).eval()
    L = 6
    batch = Batch({"x": torch.randn(1, L, 3)}, torch.rand(1, L, 2) * 2 - 1, torch.randn(1, L),
                  torch.arange(L)[None], torch.zeros(1, L, dtype=torch.bool), torch.ones(1, L, dtype=torch.bool))
    state = agent.initial_state(1, torch.device("cpu"))
    assert isinstance(state, MambaState) and state.conv.shape == (2, 1, 32, 2) and state.ssm.shape == (2, 1, 32, 4)
    stepped = []
    for t in range(L):
        action, state = agent.act({"x": batch.obs["x"][:, t]}, batch.prev_action[:, t], batch.prev_reward[:, t],
                                  batch.time_idx[:, t], torch.tensor([t == 0]), state, sample=False)
        stepped.append(action)
    assert isinstance(state, MambaState) and state.ssm.abs().sum() > 0
    with torch.no_grad():
        full = agent.family.distribution(agent.actor(agent.state_sequence(batch))[:, :, -1]).mode()
    assert torch.allclose(torch.stack(stepped, 1), full, atol=1e-5)
