"""Actor and critic heads on top of the sequence model's output ``s`` (..., D).

Axes: ``G`` discounts (multi-gamma, main gamma last), ``C`` ensemble members, ``A`` encoded action width,
``K`` value bins.

* ``Actor``: one shared MLP trunk, one policy per gamma: (..., D) -> (..., G, P).
* ``DiscreteCritic`` (a single categorical action): Q of every action at once, (..., D) -> (..., C, G, A).
* ``ContinuousCritic`` (Box, or several categoricals): input ``[s, symlog(1/(1-gamma)), a]`` so one network
  serves every horizon: (..., D), (..., G, A) -> (..., C, G).
* ``BinnedCritic`` (the multi-task agent, Box or several categoricals): the same input, logits over ``K``
  symlog-spaced value bins: (..., D), (..., G, A) -> (..., C, G, K).
* ``DiscreteBinnedCritic`` (the multi-task agent, a single categorical): bins for every action at once,
  (..., D) -> (..., C, G, A, K), so E_pi[Q] is an exact sum over actions.
* ``DynamicsHead`` (optional, ``learn.dynamics_coeff`` > 0): the change of the next step's normalised
  observation and reward from ``[s, a]``, an auxiliary target that makes the state carry hidden contexts.

The ensemble is ``C`` independent MLPs whose weights are stacked into one tensor per layer and evaluated with a
single batched matmul (no Python loop over members).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from icrl.nets.distributions import PolicyFamily
from icrl.nets.layers import InputNorm, make_activation, mlp, symlog


class Actor(nn.Module):
    def __init__(self, d_in: int, num_gammas: int, family: PolicyFamily, hidden: int = 256, n_layers: int = 2):
        super().__init__()
        self.family, self.num_gammas = family, num_gammas
        self.net = mlp(d_in, hidden, n_layers, num_gammas * family.param_dim)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """s (..., D) -> raw distribution parameters (..., G, P)."""
        return self.net(s).view(*s.shape[:-1], self.num_gammas, self.family.param_dim)

    def distribution(self, s: torch.Tensor):
        return self.family.distribution(self(s))


class DynamicsHead(nn.Module):
    """Predicts x_{t+1} - x_t (normalised observation and reward) from ``[s_t, a_t]``.

    Only the state and the action are inputs: given this step's raw input too (which holds a_{t-1}), the head
    itself could read a hidden context such as an actuator's sign off one transition, and the state, which
    the actor and critic read, would never need to carry it. The changes are standardised by running
    statistics (``target_norm``): one step changes an observation by a small fraction of its spread, and
    unscaled they would give the loss almost no weight.
    """

    def __init__(self, d_state: int, action_dim: int, out_dim: int, hidden: int = 256, n_layers: int = 2) -> None:
        super().__init__()
        self.net = mlp(d_state + action_dim, hidden, n_layers, out_dim)
        self.target_norm = InputNorm(out_dim)

    def forward(self, s: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """s (..., D), action (..., A) -> predicted standardised change (..., out_dim)."""
        return self.net(torch.cat([s, action], dim=-1))


class EnsembleLinear(nn.Module):
    """``C`` independent linear layers: x (C, N, in) -> (C, N, out)."""

    def __init__(self, members: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)  # nn.Linear's default initialisation, member by member
        self.weight = nn.Parameter(torch.empty(members, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    def shared(self, x: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """The same input x (N, in) to every member -> (C, N, out), without the bias, as ONE matmul over all members.

        ``rows`` picks the weight rows (input features) that ``x`` holds. Expanding x to (C, N, in) first would
        copy it C times under autocast (a cast materialises an expanded tensor) and split one large matmul into C.
        """
        weight = self.weight[:, rows]  # (C, in', out)
        members, width, out = weight.shape
        flat = x @ weight.transpose(0, 1).reshape(width, members * out)  # (N, C * out)
        return flat.view(-1, members, out).transpose(0, 1)


class EnsembleMLP(nn.Module):
    """``n_layers`` hidden layers of ``hidden`` per member, leaky ReLU; x (N, in) or (C, N, in) -> (C, N, out)."""

    def __init__(self, members: int, in_dim: int, hidden: int, n_layers: int, out_dim: int) -> None:
        super().__init__()
        self.members = members
        dims = [in_dim] + [hidden] * n_layers + [out_dim]
        self.layers = nn.ModuleList(EnsembleLinear(members, a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.act = make_activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.layers[0]
        if x.dim() != 2:
            return self.from_first(first(x))
        h = first.shared(x)
        return self.from_first(h + first.bias.to(h.dtype))  # bf16 stays bf16 under autocast

    def from_first(self, h: torch.Tensor) -> torch.Tensor:
        """The rest of the network from the first layer's pre-activation h (C, N, hidden)."""
        for layer in self.layers[1:]:
            h = layer(self.act(h))
        return h


class _PerActionMLP(nn.Module):
    """Ensemble MLP on ``s`` with ``out_dim`` outputs per (gamma, action): (..., D) -> (..., C, G, A, out_dim)."""

    def __init__(self, d_in: int, num_gammas: int, num_actions: int, members: int, out_dim: int,
                 hidden: int = 256, n_layers: int = 2) -> None:
        super().__init__()
        self.num_gammas, self.num_actions, self.members, self.out_dim = num_gammas, num_actions, members, out_dim
        self.net = EnsembleMLP(members, d_in, hidden, n_layers, num_gammas * num_actions * out_dim)

    def outputs(self, s: torch.Tensor) -> torch.Tensor:
        lead = s.shape[:-1]
        out = self.net(s.reshape(-1, s.shape[-1]))  # (C, N, G*A*out_dim)
        out = out.view(self.members, -1, self.num_gammas, self.num_actions, self.out_dim).transpose(0, 1)
        return out.reshape(*lead, self.members, self.num_gammas, self.num_actions, self.out_dim)


class DiscreteCritic(_PerActionMLP):
    """Q(s, .) for every action, per member and gamma; Q(s, a) = <Q(s, .), a> for one-hots or probabilities."""

    def __init__(self, d_in: int, num_gammas: int, num_actions: int, members: int, hidden: int = 256,
                 n_layers: int = 2) -> None:
        super().__init__(d_in, num_gammas, num_actions, members, 1, hidden, n_layers)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """s (..., D) -> Q (..., C, G, A)."""
        return self.outputs(s).squeeze(-1)


class _StateActionGammaMLP(nn.Module):
    """Ensemble MLP on ``[s, symlog(1 / (1 - gamma)), a]``: (..., D), (..., G, A) -> (..., C, G, out_dim).

    The discount enters as an input feature, so one network serves every horizon (method 6.6).
    """

    def __init__(self, d_in: int, gammas: tuple[float, ...], action_dim: int, members: int, out_dim: int,
                 hidden: int = 256, n_layers: int = 2) -> None:
        super().__init__()
        self.members, self.num_gammas, self.out_dim = members, len(gammas), out_dim
        horizon = symlog(1.0 / (1.0 - torch.tensor(gammas, dtype=torch.float32)))
        self.register_buffer("gamma_feature", horizon.view(-1, 1), persistent=False)
        self.net = EnsembleMLP(members, d_in + 1 + action_dim, hidden, n_layers, out_dim)

    def outputs(self, s: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """s (..., D); actions (..., G, A) in [-1, 1] (or one-hots) -> (..., C, G, out_dim).

        The first layer is computed in two parts, which is exact: ``W [s, g, a] = W_s s + W_ga [g, a]``. The state's
        part is the bulk of that layer's work and is the same for every discount, so it runs once per state
        instead of once per (state, discount) row.
        """
        lead, d = s.shape[:-1], s.shape[-1]
        g = self.num_gammas
        first = self.net.layers[0]
        states = s.reshape(-1, d)  # (N, D)
        n = states.shape[0]
        extra = torch.cat([self.gamma_feature.expand(*lead, g, 1).to(actions.dtype),
                           actions.clamp(-0.999, 0.999)], dim=-1).reshape(n * g, -1)  # (N*G, 1 + A)
        from_state = first.shared(states, slice(0, d))  # (C, N, H)
        from_state = from_state + first.bias.to(from_state.dtype)  # the bias goes on the small part
        from_rest = torch.bmm(extra.unsqueeze(0).expand(self.members, -1, -1).to(from_state.dtype),
                              first.weight[:, d:].to(from_state.dtype))  # (C, N*G, H)
        h = (from_rest.view(self.members, n, g, -1) + from_state.unsqueeze(2)).view(self.members, n * g, -1)
        out = self.net.from_first(h)  # (C, N*G, out_dim)
        out = out.view(self.members, n, g, self.out_dim).transpose(0, 1)  # (N, C, G, out_dim)
        return out.reshape(*lead, self.members, g, self.out_dim)


class ContinuousCritic(_StateActionGammaMLP):
    """Q(s, a, gamma) -> one scalar per member (Box actions, or several categoricals as one-hots)."""

    def __init__(self, d_in: int, gammas: tuple[float, ...], action_dim: int, members: int, hidden: int = 256,
                 n_layers: int = 2) -> None:
        super().__init__(d_in, gammas, action_dim, members, 1, hidden, n_layers)

    def forward(self, s: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """s (..., D); actions (..., G, A) -> Q (..., C, G)."""
        return self.outputs(s, actions).squeeze(-1)


def symlog_bins(num_bins: int, low: float, high: float) -> torch.Tensor:
    """(K,) bin centres evenly spaced in symlog space from symlog(low) to symlog(high) (method 6.6)."""
    ends = symlog(torch.tensor([low, high], dtype=torch.float32))
    return torch.linspace(float(ends[0]), float(ends[1]), num_bins)


class BinnedCritic(_StateActionGammaMLP):
    """Q(s, a, gamma) as a categorical over ``K`` symlog-spaced value bins (AMAGO-2 ``NCriticsTwoHot``).

    Every action space uses the (state, action vector, gamma) input; single categoricals come as one-hots, so
    E_pi[Q] is estimated from policy samples. ``bins`` (K,) holds the centres in symlog space; the scalar value
    of a prediction is ``symexp(sum_k softmax(logits)_k bins_k)`` (``icrl.learn.targets.bin_values``).
    """

    def __init__(self, d_in: int, gammas: tuple[float, ...], action_dim: int, members: int, num_bins: int,
                 low: float, high: float, hidden: int = 256, n_layers: int = 2) -> None:
        super().__init__(d_in, gammas, action_dim, members, num_bins, hidden, n_layers)
        self.register_buffer("bins", symlog_bins(num_bins, low, high), persistent=False)

    def forward(self, s: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """s (..., D); actions (..., G, A) -> logits over bins (..., C, G, K)."""
        return self.outputs(s, actions)


class DiscreteBinnedCritic(_PerActionMLP):
    """Q(s, ., gamma) of every action as logits over ``K`` symlog-spaced value bins (single categorical actions).

    The method's multi-task critic feeds one-hot actions to the (state, action) network, so the value of the
    policy must be estimated from samples and every read is another pass of the ensemble. One output per action
    (as ``DiscreteCritic``) gives Q(s, a_buf) by selection and E_pi[Q] exactly, from a single pass; on POPGym
    the action-input critic learned which action pays far more slowly (``benchmarks/RESULTS.md``).
    """

    def __init__(self, d_in: int, num_gammas: int, num_actions: int, members: int, num_bins: int, low: float,
                 high: float, hidden: int = 256, n_layers: int = 2) -> None:
        super().__init__(d_in, num_gammas, num_actions, members, num_bins, hidden, n_layers)
        self.register_buffer("bins", symlog_bins(num_bins, low, high), persistent=False)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """s (..., D) -> logits (..., C, G, A, K)."""
        return self.outputs(s)
