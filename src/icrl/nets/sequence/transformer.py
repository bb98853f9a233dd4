"""Causal Transformer over rollout time (method 6.3), with a KV cache for rollouts.

Pre-norm layers with NormFormer extra norms, sigma-reparameterised linears and per-head scaling; attention
through ``torch.nn.functional.scaled_dot_product_attention``. Positions are *absolute rollout time indices*
(sinusoidal, learned, or rotary), never positions inside the window.

KV cache: per layer K and V of shape (B, H, S, hd) with S = max_seq_len, used as a ring buffer. Because every
key carries its own absolute position, attention is invariant to the order of cache slots, so when the cache
is full the newest token simply overwrites the oldest: inference always attends over the last S tokens, exactly
like a training window that starts mid-rollout, with no copying.

Packing (``forward_ragged``): replay windows of different lengths are right-padded to the longest, so often
half of a batch is padding. Short windows are packed side by side into shared rows (first-fit decreasing) and
attend only inside their own segment, which skips the padding's compute and gives the same outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from icrl.config import ModelConfig
from icrl.errors import ConfigError
from icrl.nets.layers import SigmaReparamLinear, make_activation
from icrl.nets.sequence.base import SequenceModel, register_sequence_model


def sinusoid(time_idx: torch.Tensor, dim: int) -> torch.Tensor:
    """(...,) long -> (..., dim): sin on even, cos on odd features."""
    freqs = torch.exp(torch.arange(0, dim, 2, device=time_idx.device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    angles = time_idx.float().unsqueeze(-1) * freqs
    out = torch.zeros(*time_idx.shape, dim, device=time_idx.device)
    out[..., 0::2] = torch.sin(angles)
    out[..., 1::2] = torch.cos(angles[..., : dim // 2])
    return out


def rope(x: torch.Tensor, time_idx: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, half-split convention. x: (B, H, L, hd); time_idx: (B, L)."""
    half = x.shape[-1] // 2
    freqs = torch.exp(torch.arange(half, device=x.device, dtype=torch.float32) * (-math.log(10000.0) / half))
    angles = time_idx.float()[:, None, :, None] * freqs  # (B, 1, L, half)
    cos, sin = torch.cos(angles), torch.sin(angles)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


def pack_plan(lengths: list[int], row_len: int) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """First-fit-decreasing packing of windows into rows of ``row_len``; None when it saves no row.

    Returns (rows, src, dst, segment): token ``src[i]`` of the flattened (B * row_len) input goes to position
    ``dst[i]`` of the flattened (rows * row_len) packed input; ``segment`` (rows * row_len,) names each packed
    position's window (-1 for padding).
    """
    order = sorted(range(len(lengths)), key=lambda b: -lengths[b])
    fill: list[int] = []
    place = [(0, 0)] * len(lengths)
    for b in order:
        for r, used in enumerate(fill):
            if used + lengths[b] <= row_len:
                place[b], fill[r] = (r, used), used + lengths[b]
                break
        else:
            place[b] = (len(fill), 0)
            fill.append(lengths[b])
    if len(fill) >= len(lengths):
        return None
    src = torch.cat([b * row_len + torch.arange(n) for b, n in enumerate(lengths)])
    dst = torch.cat([r * row_len + off + torch.arange(n) for (r, off), n in zip(place, lengths)])
    segment = torch.full((len(fill) * row_len,), -1, dtype=torch.long)
    segment[dst] = torch.cat([torch.full((n,), b) for b, n in enumerate(lengths)])
    return len(fill), src, dst, segment


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Causal attention, or attention restricted by a boolean ``mask``, through torch's fused kernels.

    On a CPU under bf16 autocast it runs in fp32: CPU autocast would cast the inputs to bf16, and torch's CPU
    attention backward in bf16 measured ~7x slower than in fp32 for our windows (24 tokens, 8 heads of 16, on an
    AVX-512/AMX CPU). The attention's share of the FLOPs is small; the projections around it stay in bf16.
    """
    if q.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return attention(q.float(), k.float(), v.float(), mask)
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


@dataclass
class KVCache:
    """Per-layer keys/values (B, H, S, hd) and how many tokens each env has seen since its reset."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    seen: torch.Tensor  # (B,) long


class Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, linear, head_scaling: bool, use_rope: bool) -> None:
        super().__init__()
        self.h, self.hd = n_heads, d_model // n_heads
        self.qkv = linear(d_model, 3 * d_model, bias=False)
        self.proj = linear(d_model, d_model, bias=True)
        self.head_scale = nn.Parameter(torch.ones(n_heads), requires_grad=head_scaling)
        self.use_rope = use_rope

    def _qkv(self, x: torch.Tensor, time_idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        B, L, _ = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.h, self.hd).permute(2, 0, 3, 1, 4)  # each (B, H, L, hd)
        if self.use_rope:
            q, k = rope(q, time_idx), rope(k, time_idx)
        return q, k, v

    def _out(self, y: torch.Tensor) -> torch.Tensor:
        B, H, L, hd = y.shape
        y = y * self.head_scale.view(1, H, 1, 1)
        return self.proj(y.transpose(1, 2).reshape(B, L, H * hd))

    def forward(self, x: torch.Tensor, time_idx: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Causal self-attention, or attention restricted by a boolean ``mask`` (B, 1, L, L) when given."""
        q, k, v = self._qkv(x, time_idx)
        return self._out(attention(q, k, v, mask))  # under autocast the output projection is back in bf16

    def step(self, x: torch.Tensor, time_idx: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
             slot: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, 1, D); writes K/V at ``slot`` (B,) and attends over ``mask`` (B, 1, 1, S)."""
        q, k, v = self._qkv(x, time_idx)
        rows = torch.arange(x.shape[0], device=x.device)
        k_cache[rows, :, slot] = k[:, :, 0]
        v_cache[rows, :, slot] = v[:, :, 0]
        return self._out(attention(q, k_cache, v_cache, mask))


class Layer(nn.Module):
    """``h = x + Norm2(Attn(Norm1(x)))``; ``y = h + Drop(W2(Norm4(act(W1(Norm3(h))))))``."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, sigma_reparam: bool,
                 normformer: bool, head_scaling: bool, use_rope: bool) -> None:
        super().__init__()
        linear = SigmaReparamLinear if sigma_reparam else nn.Linear
        extra = (lambda d: nn.LayerNorm(d)) if normformer else (lambda d: nn.Identity())
        self.norm1, self.norm2, self.norm3, self.norm4 = (nn.LayerNorm(d_model), extra(d_model),
                                                          nn.LayerNorm(d_model), extra(d_ff))
        self.attn = Attention(d_model, n_heads, linear, head_scaling, use_rope)
        self.ff1, self.ff2 = linear(d_model, d_ff), linear(d_ff, d_model)
        self.act, self.drop = make_activation(), nn.Dropout(dropout)

    def _ff(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.drop(self.ff2(self.norm4(self.act(self.ff1(self.norm3(h))))))

    def forward(self, x: torch.Tensor, time_idx: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self._ff(x + self.norm2(self.attn(self.norm1(x), time_idx, mask)))

    def step(self, x, time_idx, k_cache, v_cache, slot, mask) -> torch.Tensor:
        return self._ff(x + self.norm2(self.attn.step(self.norm1(x), time_idx, k_cache, v_cache, slot, mask)))


class Transformer(SequenceModel):
    def __init__(self, in_dim: int, d_model: int = 128, n_layers: int = 3, n_heads: int = 8, d_ff: int = 0,
                 max_seq_len: int = 128, pos_emb: str = "fixed", max_time_idx: int = 0, dropout_emb: float = 0.05,
                 dropout_ff: float = 0.05, sigma_reparam: bool = True, normformer_norms: bool = True,
                 head_scaling: bool = True) -> None:
        super().__init__()
        self.d_model, self.n_heads, self.max_seq_len, self.pos_emb = d_model, n_heads, max_seq_len, pos_emb
        self.max_time_idx = max_time_idx
        self.inp = nn.Linear(in_dim, d_model)
        self.pos_table = nn.Embedding(max_time_idx, d_model) if pos_emb == "learned" else None
        self.drop = nn.Dropout(dropout_emb)
        self.layers = nn.ModuleList(Layer(d_model, n_heads, d_ff or 4 * d_model, dropout_ff, sigma_reparam,
                                          normformer_norms, head_scaling, pos_emb == "rope") for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.out_dim = d_model

    def _embed(self, x: torch.Tensor, time_idx: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        if self.pos_emb == "fixed":
            h = h + sinusoid(time_idx, self.d_model)
        elif self.pos_emb == "learned":
            # the check reads a value, which a traced graph cannot: there an index past the table fails in the lookup
            tracing = torch.jit.is_tracing() or torch.compiler.is_exporting()
            if not tracing and int(time_idx.max()) >= self.max_time_idx:
                raise ConfigError(f"time index {int(time_idx.max())} exceeds the learned position table "
                                  f"({self.max_time_idx} rows); raise model.max_time_idx or use model.pos_emb=fixed.")
            h = h + self.pos_table(time_idx)
        return self.drop(h)

    def forward(self, x: torch.Tensor, time_idx: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self._embed(x, time_idx)
        for layer in self.layers:
            h = layer(h, time_idx, mask)
        return self.norm(h)

    def forward_ragged(self, x: torch.Tensor, time_idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        B, L, _ = x.shape
        plan = pack_plan(lengths.tolist(), L)
        if plan is None:  # nothing to gain: every row would hold one window
            return self(x, time_idx)
        rows, src, dst, segment = plan[0], *(t.to(x.device) for t in plan[1:])
        packed_x = x.new_zeros(rows * L, x.shape[-1]).index_copy(0, dst, x.reshape(B * L, -1)[src])
        packed_t = time_idx.new_zeros(rows * L).index_copy(0, dst, time_idx.reshape(-1)[src])
        seg = segment.view(rows, L)
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
        mask = (seg[:, :, None] == seg[:, None, :]) & causal  # own segment only; padding attends to padding
        out = self(packed_x.view(rows, L, -1), packed_t.view(rows, L), mask.unsqueeze(1))
        flat = out.new_zeros(B * L, out.shape[-1]).index_copy(0, src, out.reshape(rows * L, -1)[dst])
        return flat.view(B, L, -1)

    def initial_state(self, batch_size: int, device: torch.device) -> KVCache:
        shape = (batch_size, self.n_heads, self.max_seq_len, self.d_model // self.n_heads)
        dtype = self.inp.weight.dtype
        return KVCache([torch.zeros(shape, device=device, dtype=dtype) for _ in self.layers],
                       [torch.zeros(shape, device=device, dtype=dtype) for _ in self.layers],
                       torch.zeros(batch_size, dtype=torch.long, device=device))

    def step(self, x: torch.Tensor, time_idx: torch.Tensor, state: KVCache, reset: torch.Tensor):
        seen = torch.where(reset, torch.zeros_like(state.seen), state.seen)
        slot = seen % self.max_seq_len
        slots = torch.arange(self.max_seq_len, device=x.device)
        mask = (slots[None, :] <= seen[:, None]).view(-1, 1, 1, self.max_seq_len)  # ring: all valid once full
        t = time_idx.view(-1, 1)
        h = self._embed(x.unsqueeze(1), t)
        for layer, k, v in zip(self.layers, state.keys, state.values):
            h = layer.step(h, t, k, v, slot, mask)
        state.seen = seen + 1
        return self.norm(h)[:, 0], state


@register_sequence_model("transformer")
def _build(cfg: ModelConfig, in_dim: int, max_seq_len: int, max_time_idx: int) -> Transformer:
    return Transformer(in_dim, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.d_ff, max_seq_len, cfg.pos_emb,
                       max_time_idx, cfg.dropout_emb, cfg.dropout_ff, cfg.sigma_reparam, cfg.normformer_norms,
                       cfg.head_scaling)
