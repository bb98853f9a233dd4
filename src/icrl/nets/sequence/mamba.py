"""Mamba-1 style selective state-space model (Gu & Dao 2023) in plain PyTorch, so it runs on any device.

Each layer is ``h = h + Mixer(LayerNorm(h))``; the mixer projects to a stream x and a gate z, runs x through a
causal depthwise conv1d (kernel ``d_conv``) and SiLU, derives an input-dependent step dt (softplus of a low-rank
projection) and input-dependent B and C from it, and scans the diagonal linear recurrence

    s_t = exp(dt_t * A) * s_{t-1} + dt_t * x_t * B_t        (state s: d_inner x d_state per env, A = -exp(A_log))
    y_t = C_t . s_t + D * x_t,      out = out_proj(y * SiLU(z)).

Stepping keeps, per layer, the last ``d_conv - 1`` conv inputs and the state s: that pair is what rollouts cache,
and stepping equals the full-sequence pass from an empty memory. Time indices are unused (the recurrence orders
the steps itself), as for the GRU.

Scan backends for the full pass (``model.mamba_scan``): "sequential" loops over time on (B, d_inner, d_state)
slices, which stay in the CPU's cache and make it the fastest form on a CPU (see ``scan_sequential``);
"chunked" runs the recurrence inside chunks of ~sqrt(L) steps for all chunks at once, then carries the state
across chunks, so it issues ~2 sqrt(L) sequential steps instead of L (for GPUs, where each step is a kernel
launch); "auto" takes the CUDA kernel of ``mamba-ssm`` when it is installed and the tensors are on a CUDA device,
else "chunked" on accelerators and "sequential" on a CPU. All three compute the same function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from icrl.config import ModelConfig
from icrl.errors import ConfigError
from icrl.nets.sequence.base import SequenceModel, register_sequence_model

try:  # optional CUDA kernels; never required
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as _cuda_selective_scan
except ImportError:  # pragma: no cover - the usual case on CPU machines
    _cuda_selective_scan = None

SCANS = ("auto", "sequential", "chunked")

Tensor = torch.Tensor
Scan = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], Tensor]


def scan_sequential(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
    """The recurrence one step at a time: x, dt (b, L, E); A (E, N); B, C (b, L, N) -> y (b, L, E), without D.

    Decays and inputs are formed per step rather than for the whole window: a (b, E, N) slice stays in cache,
    while a materialised (b, L, E, N) tensor is written and read back from memory several times (measured 2-4x
    slower forward and backward on a CPU). ``unbind`` gives each step a view whose gradient is gathered once.
    """
    s = x.new_zeros(x.shape[0], x.shape[2], A.shape[1])
    ys = []
    for dt_t, u_t, b_t, c_t in zip(dt.unbind(1), (dt * x).unbind(1), B.unbind(1), C.unbind(1)):
        s = _advance(s, dt_t, u_t, A, b_t)
        ys.append(s @ c_t.unsqueeze(-1))
    return torch.stack(ys, 1).squeeze(-1)


def _advance(s: Tensor, dt_t: Tensor, u_t: Tensor, A: Tensor, b_t: Tensor) -> Tensor:
    """One step of the recurrence on (b, E, N) states; ``u_t = dt_t * x_t``. Shared by the scan and ``step``."""
    return torch.addcmul(u_t.unsqueeze(-1) * b_t.unsqueeze(1), torch.exp(dt_t.unsqueeze(-1) * A), s)


def scan_chunked(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk: int = 0) -> Tensor:
    """The same function in ~2 sqrt(L) sequential steps: local scans inside chunks, then a carry across them.

    With ``P_t`` the product of decays since the chunk's start and ``s_t^loc`` the state reached from zero at the
    chunk's start, ``s_t = s_t^loc + P_t * s_start``; ``s_start`` of each chunk comes from a short scan over chunk
    ends. Only products of decays <= 1 appear, so it is as stable as the sequential form; it moves more memory
    (whole (b, L, E, N) tensors), which is what makes it slower on a CPU.
    """
    b, L, E = x.shape
    N = A.shape[1]
    T = chunk or max(1, math.isqrt(L))
    pad = (-L) % T
    decay = torch.exp(dt.unsqueeze(-1) * A)  # (b, L, E, N)
    inp = (dt * x).unsqueeze(-1) * B.unsqueeze(2)
    if pad:
        decay = torch.cat([decay, decay.new_ones(b, pad, E, N)], 1)
        inp = torch.cat([inp, inp.new_zeros(b, pad, E, N)], 1)
    n = (L + pad) // T
    s = inp.new_zeros(b, n, E, N)
    p = inp.new_ones(b, n, E, N)
    local, prods = [], []
    for a_t, u_t in zip(decay.view(b, n, T, E, N).unbind(2), inp.view(b, n, T, E, N).unbind(2)):
        s, p = torch.addcmul(u_t, a_t, s), p * a_t
        local.append(s)
        prods.append(p)
    carry, starts = inp.new_zeros(b, E, N), []
    for p_c, s_c in zip(p.unbind(1), s.unbind(1)):
        starts.append(carry)
        carry = torch.addcmul(s_c, p_c, carry)
    states = torch.addcmul(torch.stack(local, 2), torch.stack(prods, 2), torch.stack(starts, 1).unsqueeze(2))
    states = states.view(b, n * T, E, N)[:, :L]
    return (states @ C.unsqueeze(-1)).squeeze(-1)


def _scan_cuda_kernel(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
    """``mamba-ssm``'s fused kernel; it takes channels-first (b, E, L) and (b, N, L) layouts."""
    y = _cuda_selective_scan(x.transpose(1, 2).contiguous(), dt.transpose(1, 2).contiguous(), A.contiguous(),
                             B.transpose(1, 2).contiguous(), C.transpose(1, 2).contiguous())
    return y.transpose(1, 2)


def pick_scan(mode: str, device: torch.device) -> Scan:
    """The scan that ``mode`` ("auto", "sequential" or "chunked") selects for tensors on ``device``."""
    if mode == "sequential":
        return scan_sequential
    if mode == "chunked":
        return scan_chunked
    if mode != "auto":
        raise ConfigError(f"model.mamba_scan={mode!r} is invalid: allowed {SCANS}.")
    if device.type == "cuda" and _cuda_selective_scan is not None:
        return _scan_cuda_kernel
    return scan_sequential if device.type == "cpu" else scan_chunked


@dataclass
class MambaState:
    """Per layer: the last d_conv - 1 conv inputs (n_layers, B, E, d_conv - 1) and the SSM state (n_layers, B, E, N)."""

    conv: torch.Tensor
    ssm: torch.Tensor


class Mixer(nn.Module):
    """The selective SSM mixer of one layer (projections, causal conv, scan, gate); widths as in Mamba-1."""

    def __init__(self, d_model: int, d_state: int, d_conv: int, expand: int, scan: str) -> None:
        super().__init__()
        self.d_inner, self.d_state, self.d_conv, self.scan = expand * d_model, d_state, d_conv, scan
        self.dt_rank = math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        self._init_dt()

    @torch.no_grad()
    def _init_dt(self, dt_min: float = 1e-3, dt_max: float = 0.1) -> None:
        """Initial steps dt log-uniform in [dt_min, dt_max] (Mamba's init): memories from ~10 to ~1000 steps."""
        nn.init.uniform_(self.dt_proj.weight, -self.dt_rank**-0.5, self.dt_rank**-0.5)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus

    def _ssm_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x (..., E) after the conv -> dt (..., E), B, C (..., N), A (E, N); the scan runs in fp32 under autocast."""
        dt_low, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt_low).float())
        return dt, B.float(), C.float(), -torch.exp(self.A_log.float())

    def _out(self, y: torch.Tensor, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.out_proj((y + self.D * x.float()) * F.silu(z.float()))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        L = h.shape[1]
        x, z = self.in_proj(h).chunk(2, dim=-1)
        x = F.silu(self.conv(x.transpose(1, 2))[..., :L].transpose(1, 2))
        dt, B, C, A = self._ssm_inputs(x)
        with torch.autocast(h.device.type, enabled=False):  # autocast would run the scan's small bmms in bf16
            y = pick_scan(self.scan, h.device)(x.float(), dt, A, B, C)
        return self._out(y, x, z)

    def step(self, h: torch.Tensor, conv_state: torch.Tensor, ssm_state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """h (B, D); conv_state (B, E, d_conv - 1); ssm_state (B, E, N) -> (out, conv_state, ssm_state)."""
        x, z = self.in_proj(h).chunk(2, dim=-1)
        window = torch.cat([conv_state, x.unsqueeze(-1)], dim=-1)  # (B, E, d_conv), oldest first
        x = F.silu((window * self.conv.weight[:, 0]).sum(-1) + self.conv.bias)
        dt, B, C, A = self._ssm_inputs(x)
        s = _advance(ssm_state, dt, dt * x.float(), A, B)
        y = (s @ C.unsqueeze(-1)).squeeze(-1)
        return self._out(y, x, z), window[..., 1:], s


class Mamba(SequenceModel):
    """Linear -> n_layers x (h + Mixer(LayerNorm(h))) -> LayerNorm. Ignores time indices."""

    def __init__(self, in_dim: int, d_model: int = 128, n_layers: int = 3, d_state: int = 16, d_conv: int = 4,
                 expand: int = 2, scan: str = "auto") -> None:
        super().__init__()
        if scan not in SCANS:
            raise ConfigError(f"model.mamba_scan={scan!r} is invalid: allowed {SCANS}.")
        self.inp = nn.Linear(in_dim, d_model)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.mixers = nn.ModuleList(Mixer(d_model, d_state, d_conv, expand, scan) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.out_dim = d_model

    def forward(self, x: torch.Tensor, time_idx: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for norm, mixer in zip(self.norms, self.mixers):
            h = h + mixer(norm(h))
        return self.norm(h)

    def initial_state(self, batch_size: int, device: torch.device) -> MambaState:
        m = self.mixers[0]
        n = len(self.mixers)
        return MambaState(torch.zeros(n, batch_size, m.d_inner, m.d_conv - 1, device=device),
                          torch.zeros(n, batch_size, m.d_inner, m.d_state, device=device))

    def step(self, x: torch.Tensor, time_idx: torch.Tensor, state: MambaState, reset: torch.Tensor):
        keep = (~reset).view(1, -1, 1, 1)
        conv, ssm = state.conv * keep, state.ssm * keep
        h = self.inp(x)
        convs, ssms = [], []
        for i, (norm, mixer) in enumerate(zip(self.norms, self.mixers)):
            out, c, s = mixer.step(norm(h), conv[i], ssm[i])
            h = h + out
            convs.append(c)
            ssms.append(s)
        return self.norm(h), MambaState(torch.stack(convs), torch.stack(ssms))


@register_sequence_model("mamba")
def _build(cfg: ModelConfig, in_dim: int, max_seq_len: int, max_time_idx: int) -> Mamba:
    return Mamba(in_dim, cfg.d_model, cfg.n_layers, cfg.mamba_d_state, cfg.mamba_d_conv, cfg.mamba_expand,
                 cfg.mamba_scan)
