"""GRU and LSTM sequence models: recurrent state carried step to step, zeroed for envs that reset."""

from __future__ import annotations

import torch
from torch import nn

from icrl.config import ModelConfig
from icrl.nets.sequence.base import SequenceModel, register_sequence_model


class RNN(SequenceModel):
    """nn.GRU / nn.LSTM (hidden d_model, n_layers) -> Linear -> LayerNorm. Ignores time indices."""

    def __init__(self, in_dim: int, d_model: int = 128, n_layers: int = 2, cell: str = "gru") -> None:
        super().__init__()
        rnn_cls = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = rnn_cls(in_dim, d_model, n_layers, batch_first=True)
        self.out = nn.Sequential(nn.Linear(d_model, d_model), nn.LayerNorm(d_model))
        self.cell, self.d_model, self.n_layers, self.out_dim = cell, d_model, n_layers, d_model

    def forward(self, x: torch.Tensor, time_idx: torch.Tensor) -> torch.Tensor:
        y, _ = self.rnn(x)
        return self.out(y)

    def initial_state(self, batch_size: int, device: torch.device):
        h = torch.zeros(self.n_layers, batch_size, self.d_model, device=device)
        return (h, h.clone()) if self.cell == "lstm" else h

    def step(self, x: torch.Tensor, time_idx: torch.Tensor, state, reset: torch.Tensor):
        keep = (~reset).to(x.dtype).view(1, -1, 1)
        state = tuple(s * keep for s in state) if self.cell == "lstm" else state * keep
        y, state = self.rnn(x.unsqueeze(1), state)
        return self.out(y[:, 0]), state


@register_sequence_model("gru")
def _build_gru(cfg: ModelConfig, in_dim: int, max_seq_len: int, max_time_idx: int) -> RNN:
    return RNN(in_dim, cfg.d_model, cfg.n_layers, "gru")


@register_sequence_model("lstm")
def _build_lstm(cfg: ModelConfig, in_dim: int, max_seq_len: int, max_time_idx: int) -> RNN:
    return RNN(in_dim, cfg.d_model, cfg.n_layers, "lstm")
