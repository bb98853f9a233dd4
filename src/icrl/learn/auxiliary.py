"""Optional auxiliary loss: predict the next step's observation and reward (``learn.dynamics_coeff`` > 0).

Not part of the published method. Its purpose is hidden-context inference from few updates: in a task whose
dynamics depend on a context the observation does not show (AIB's actuator sign), the RL losses give the
sequence model a weak, noisy signal to infer it, whereas predicting x_{t+1} - x_t from the state and the
action is dense, supervised and impossible without it (the head sees only ``[s_t, a_t]``, see
``DynamicsHead``). Targets are the changes of the encoder's normalised inputs, standardised by the head's
running statistics (no gradient); every valid transition of the window counts (including the rare reset
inside a multi-episode rollout). Only vector observations are predicted; image keys are not.
"""

from __future__ import annotations

import torch

from icrl.records import Batch


def dynamics_target(agent, batch: Batch) -> torch.Tensor:
    """Standardised x_{t+1} - x_t (observation and reward) of the N valid transitions: (N, K), no gradient.

    The statistics it standardises with already count this batch (``Agent.observe``, called by the learner).
    """
    return agent.dynamics.target_norm(agent.dynamics_change(batch))


def dynamics_loss(agent, batch: Batch, s_now: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the predicted change over the N valid transitions; ``s_now`` (N, D) as encoded."""
    target = dynamics_target(agent, batch)
    predicted = agent.dynamics(s_now, batch.actions[batch.transition_mask].float())
    return ((predicted.float() - target) ** 2).mean() if target.numel() else predicted.sum() * 0.0


def add_dynamics_loss(agent, batch: Batch, s_now: torch.Tensor, coeff: float, loss: torch.Tensor,
                      metrics: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``loss + coeff * dynamics_loss`` and its metric, or both unchanged for an agent without the head."""
    if agent.dynamics is None:
        return loss, metrics
    aux = dynamics_loss(agent, batch, s_now)
    return loss + coeff * aux, {**metrics, "aux/dynamics_loss": aux.detach()}
