"""The key invariant: cached step-by-step inference equals the full-sequence forward, for every model."""

from __future__ import annotations

import pytest
import torch

from icrl.config import ModelConfig
from icrl.errors import ConfigError
from icrl.nets.sequence import make_sequence_model, sequence_model_names

B, L, D_IN = 3, 7, 5
VARIANTS = [dict(sequence="transformer", pos_emb=p, sigma_reparam=s, normformer_norms=n)
            for p in ("fixed", "learned", "rope") for s, n in ((True, True), (False, False))]
VARIANTS += [dict(sequence=name) for name in ("gru", "lstm", "feedforward")]
VARIANTS += [dict(sequence="mamba", mamba_scan=s) for s in ("sequential", "chunked")]


def _model(max_seq_len: int = 16, n_layers: int = 2, **kw):
    cfg = ModelConfig(d_model=12, n_layers=n_layers, n_heads=2, **kw)
    model = make_sequence_model(cfg, D_IN, max_seq_len=max_seq_len, max_time_idx=64)
    return model.eval()


def _step_all(model, x, t, reset):
    state = model.initial_state(x.shape[0], x.device)
    outs = []
    for i in range(x.shape[1]):
        y, state = model.step(x[:, i], t[:, i], state, reset[:, i])
        outs.append(y)
    return torch.stack(outs, 1)


def test_registry_lists_builtin_models() -> None:
    assert {"transformer", "gru", "lstm", "mamba", "feedforward"} <= set(sequence_model_names())


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(str(v) for v in kw.values()))
def test_step_equals_forward(kw) -> None:
    torch.manual_seed(0)
    model = _model(**kw)
    x = torch.randn(B, L, D_IN)
    t = torch.arange(L).repeat(B, 1)
    reset = torch.zeros(B, L, dtype=torch.bool)
    reset[:, 0] = True
    with torch.no_grad():
        assert torch.allclose(_step_all(model, x, t, reset), model(x, t), atol=1e-5)


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(str(v) for v in kw.values()))
def test_step_with_resets_at_different_steps(kw) -> None:
    torch.manual_seed(1)
    model = _model(**kw)
    x = torch.randn(B, 11, D_IN)
    starts = [0, 3, 8]  # env b starts a new rollout at step starts[b] (and env 0 again at 5)
    reset = torch.zeros(B, 11, dtype=torch.bool)
    t = torch.zeros(B, 11, dtype=torch.long)
    segments = []
    for b, s in enumerate(starts):
        cuts = [0, s] + ([5] if b == 0 else []) + [11]
        cuts = sorted(set(cuts))
        for lo, hi in zip(cuts, cuts[1:]):
            reset[b, lo] = True
            t[b, lo:hi] = torch.arange(hi - lo)
            segments.append((b, lo, hi))
    with torch.no_grad():
        stepped = _step_all(model, x, t, reset)
        for b, lo, hi in segments:
            ref = model(x[b : b + 1, lo:hi], t[b : b + 1, lo:hi])[0]
            assert torch.allclose(stepped[b, lo:hi], ref, atol=1e-5), (b, lo, hi)


@pytest.mark.parametrize("pos_emb", ["fixed", "learned", "rope"])
def test_transformer_cache_slides_past_max_seq_len(pos_emb: str) -> None:
    # Exact for one layer: each cached key depends on its own token only. With more layers, cached keys of
    # deeper layers also summarise tokens that have left the window (as in the reference implementation).
    torch.manual_seed(2)
    window = 4
    model = _model(max_seq_len=window, n_layers=1, sequence="transformer", pos_emb=pos_emb)
    x = torch.randn(B, 11, D_IN)
    t = torch.arange(11).repeat(B, 1)
    reset = torch.zeros(B, 11, dtype=torch.bool)
    reset[:, 0] = True
    with torch.no_grad():
        stepped = _step_all(model, x, t, reset)
        for i in range(11):
            lo = max(0, i - window + 1)
            ref = model(x[:, lo : i + 1], t[:, lo : i + 1])[:, -1]
            assert torch.allclose(stepped[:, i], ref, atol=1e-5), i


@pytest.mark.parametrize("name", ["transformer", "gru", "lstm", "mamba"])
def test_forward_is_causal(name: str) -> None:
    model = _model(sequence=name)
    x = torch.randn(B, L, D_IN)
    t = torch.arange(L).repeat(B, 1)
    y1 = model(x, t)
    x2 = x.clone()
    x2[:, 4:] = torch.randn(B, L - 4, D_IN)
    y2 = model(x2, t)
    assert torch.allclose(y1[:, :4], y2[:, :4], atol=1e-6) and not torch.allclose(y1[:, 4:], y2[:, 4:])


def test_learned_positions_refuse_time_beyond_table() -> None:
    model = _model(sequence="transformer", pos_emb="learned")
    with pytest.raises(ConfigError, match="max_time_idx"):
        model(torch.randn(1, 2, D_IN), torch.tensor([[63, 64]]))


def test_unknown_model_name_lists_registered() -> None:
    cfg = ModelConfig()
    object.__setattr__(cfg, "sequence", "mamba9")
    with pytest.raises(ConfigError, match="transformer"):
        make_sequence_model(cfg, 3, 8, 8)


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(str(v) for v in kw.values()))
def test_ragged_forward_equals_padded_forward(kw) -> None:
    """Packed training windows (Transformer) give the padded forward's outputs and gradients on real tokens."""
    torch.manual_seed(2)
    model = _model(max_seq_len=10, **kw)
    lengths = torch.tensor([10, 3, 4, 1, 6, 2])
    x = torch.randn(6, 10, D_IN, requires_grad=True)
    t = torch.randint(0, 60, (6, 10))
    valid = torch.arange(10)[None] < lengths[:, None]
    weights = torch.randn(6, 10, model.out_dim) * valid[..., None]
    full = model(x, t)
    (grad_full,) = torch.autograd.grad((full * weights).sum(), x)
    ragged = model.forward_ragged(x, t, lengths)
    (grad_ragged,) = torch.autograd.grad((ragged * weights).sum(), x)
    assert torch.allclose(ragged[valid], full[valid], atol=1e-5)
    assert torch.allclose(grad_ragged, grad_full, atol=1e-5)


def test_pack_plan_first_fit_decreasing() -> None:
    from icrl.nets.sequence.transformer import pack_plan

    assert pack_plan([5, 5, 5], 5) is None  # nothing fits together
    rows, src, dst, segment = pack_plan([4, 1, 3, 2], 5)
    assert rows == 2  # [4, 1] and [3, 2]
    assert sorted(dst.tolist()) == list(range(10)) and len(src) == 10
    seg = segment.view(2, 5).tolist()
    assert seg == [[0, 0, 0, 0, 1], [2, 2, 2, 3, 3]]
