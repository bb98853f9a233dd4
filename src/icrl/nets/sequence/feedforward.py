"""Memory-free ablation: the same per-step capacity as a sequence model, but no access to the past."""

from __future__ import annotations

import torch
from torch import nn

from icrl.config import ModelConfig
from icrl.nets.layers import make_activation
from icrl.nets.sequence.base import SequenceModel, register_sequence_model


class FeedForward(SequenceModel):
    """Linear -> act -> residual FF block(s) -> Linear -> LayerNorm, applied to each step alone."""

    def __init__(self, in_dim: int, d_model: int = 128, n_layers: int = 1) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(in_dim, d_model), make_activation())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, 4 * d_model), make_activation(),
                          nn.Linear(4 * d_model, d_model)) for _ in range(n_layers))
        self.out = nn.Sequential(nn.Linear(d_model, d_model), nn.LayerNorm(d_model))
        self.out_dim = d_model

    def forward(self, x: torch.Tensor, time_idx: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)

    def initial_state(self, batch_size: int, device: torch.device) -> None:
        return None

    def step(self, x: torch.Tensor, time_idx: torch.Tensor, state, reset: torch.Tensor):
        return self.forward(x, time_idx), None


@register_sequence_model("feedforward")
def _build(cfg: ModelConfig, in_dim: int, max_seq_len: int, max_time_idx: int) -> FeedForward:
    return FeedForward(in_dim, cfg.d_model, max(cfg.n_layers, 1))
