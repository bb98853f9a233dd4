"""The one protocol of every sequence model, and the registry that builds them by name.

    forward(x (B, L, D_in), time_idx (B, L)) -> (B, L, out_dim)      full causal pass from empty memory
    forward_ragged(x, time_idx, lengths (B,)) -> (B, L, out_dim)       the same on right-padded windows; outputs
                                                                      past a window's length are unspecified
    initial_state(batch_size, device) -> state                        memory of B rollouts
    step(x (B, D_in), time_idx (B,), state, reset (B,) bool) -> (out (B, out_dim), state)

``reset[b]`` clears env b's memory *before* consuming ``x[b]`` (a new rollout started there). Stepping one
step at a time must equal ``forward`` (tested for every registered model).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from icrl.config import ModelConfig
from icrl.errors import ConfigError


class SequenceModel(nn.Module):
    out_dim: int

    def forward(self, x: torch.Tensor, time_idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_ragged(self, x: torch.Tensor, time_idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Causal models ignore right padding already; models that can skip it (packing) override this."""
        return self(x, time_idx)

    def initial_state(self, batch_size: int, device: torch.device) -> Any:
        raise NotImplementedError

    def step(
        self, x: torch.Tensor, time_idx: torch.Tensor, state: Any, reset: torch.Tensor
    ) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError


Builder = Callable[[ModelConfig, int, int, int], SequenceModel]
_BUILDERS: dict[str, Builder] = {}


def register_sequence_model(name: str) -> Callable[[Builder], Builder]:
    """Register ``builder(cfg, in_dim, max_seq_len, max_time_idx) -> SequenceModel`` under ``name``."""

    def add(builder: Builder) -> Builder:
        _BUILDERS[name] = builder
        return builder

    return add


def sequence_model_names() -> list[str]:
    return sorted(_BUILDERS)


def make_sequence_model(cfg: ModelConfig, in_dim: int, max_seq_len: int, max_time_idx: int) -> SequenceModel:
    if cfg.sequence not in _BUILDERS:
        raise ConfigError(f"model.sequence={cfg.sequence!r} is not registered; choose one of {sequence_model_names()}.")
    return _BUILDERS[cfg.sequence](cfg, in_dim, max_seq_len, max_time_idx)
