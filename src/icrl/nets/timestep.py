"""Per-step encoder: each timestep's observation and RL^2 features -> one embedding, no temporal mixing."""

from __future__ import annotations

import torch
from torch import nn

from icrl.nets.layers import InputNorm, mlp
from icrl.spaces import ObsSpec


class SmallCNN(nn.Module):
    """Conv stack for small images (works from 7x7 up); channels-last uint8 input, pixels scaled to [-1, 1]."""

    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...] = (16, 32, 32), out_dim: int = 128):
        super().__init__()
        h, w, c = shape
        layers: list[nn.Module] = []
        for i, ch in enumerate(channels):
            stride = 2 if i < len(channels) - 1 and min(h, w) >= 16 else 1
            layers += [nn.Conv2d(c, ch, 3, stride=stride, padding=1), nn.LeakyReLU()]
            c = ch
            h, w = (h - 1) // stride + 1, (w - 1) // stride + 1  # kernel 3, padding 1
        self.conv = nn.Sequential(*layers, nn.Flatten())
        self.proj = nn.Linear(c * h * w, out_dim)
        self.out_dim = out_dim

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """img: (N, H, W, C) uint8 -> (N, out_dim)."""
        x = img.permute(0, 3, 1, 2).float() / 128.0 - 1.0
        return self.proj(self.conv(x))


class TimestepEncoder(nn.Module):
    """[flattened vector obs, prev_reward, prev_action] -> InputNorm -> MLP -> LayerNorm; images via a CNN."""

    def __init__(self, obs_spec: ObsSpec, action_dim: int, hidden: int = 128, n_layers: int = 1, out_dim: int = 64,
                 normalize_inputs: bool = True) -> None:
        super().__init__()
        self.vector_keys = [k for k in obs_spec.shapes if not obs_spec.is_image(k)]
        self.image_keys = [k for k in obs_spec.shapes if obs_spec.is_image(k)]
        vec_dim = sum(int(torch.tensor(obs_spec.shapes[k]).prod()) for k in self.vector_keys) + 1 + action_dim
        self.norm_dim, self.action_dim = vec_dim, action_dim
        self.norm = InputNorm(vec_dim) if normalize_inputs else None
        self.cnns = nn.ModuleDict({k: SmallCNN(obs_spec.shapes[k]) for k in self.image_keys})
        in_dim = vec_dim + sum(c.out_dim for c in self.cnns.values())
        self.net = nn.Sequential(mlp(in_dim, hidden, n_layers, out_dim), nn.LayerNorm(out_dim))
        self.out_dim = out_dim

    @property
    def predictable_dim(self) -> int:
        """Width of the vector observation and reward at the front of ``vector_input``'s rows."""
        return self.norm_dim - self.action_dim

    def vector_input(self, obs: dict[str, torch.Tensor], prev_action: torch.Tensor,
                     prev_reward: torch.Tensor) -> torch.Tensor:
        """[flattened vector obs, prev_reward, prev_action] before normalisation: (B, L, vec_dim)."""
        lead = prev_reward.shape
        parts = [obs[k].reshape(*lead, -1).float() for k in self.vector_keys]
        parts += [prev_reward.unsqueeze(-1).float(), prev_action.float()]
        return torch.cat(parts, dim=-1)

    @torch.no_grad()
    def normalized_vector_input(self, obs: dict[str, torch.Tensor], prev_action: torch.Tensor,
                                prev_reward: torch.Tensor) -> torch.Tensor:
        """``vector_input`` normalised by the current statistics, without updating them (a prediction target)."""
        x = self.vector_input(obs, prev_action, prev_reward)
        return x if self.norm is None else self.norm.normalize(x)

    @torch.no_grad()
    def observe(self, obs: dict[str, torch.Tensor], prev_action: torch.Tensor, prev_reward: torch.Tensor,
                valid: torch.Tensor | None) -> None:
        """Count the valid rows (B, L) of a training batch in the input statistics (before the loss reads them)."""
        if self.norm is not None:
            self.norm.update(self.vector_input(obs, prev_action, prev_reward), valid)

    def forward(self, obs: dict[str, torch.Tensor], prev_action: torch.Tensor, prev_reward: torch.Tensor,
                valid: torch.Tensor | None = None) -> torch.Tensor:
        """obs: key -> (B, L, ...); prev_action (B, L, A); prev_reward (B, L) -> (B, L, out_dim). ``valid`` is
        unused (kept for callers that pass it): padding rows are encoded too and masked by the losses."""
        lead = prev_reward.shape
        x = self.vector_input(obs, prev_action, prev_reward)
        if self.norm is not None:
            x = self.norm(x)
        feats = [x] + [cnn(obs[k].reshape(-1, *obs[k].shape[len(lead):])).reshape(*lead, -1)
                       for k, cnn in self.cnns.items()]
        return self.net(torch.cat(feats, dim=-1))
