"""``learn``: the update (losses, discounts, critics, optimiser) of AMAGO or its multi-task variant AMAGO-2."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from icrl.config.fields import NON_NEGATIVE, POSITIVE, Rule, Section, each, interval, one_of, require, setting

# Values of the learn fields left unset (None), per agent (method 7.1: AMAGO vs the AMAGO-2 MultiTaskAgent).
AGENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "amago": {"online_coeff": 1.0, "offline_coeff": 0.1, "actor_samples": 1},
    "multitask": {"online_coeff": 0.0, "offline_coeff": 1.0, "actor_samples": 3},
}


def _entropy(value: object) -> bool:
    return value == "auto" or (isinstance(value, (int, float)) and not isinstance(value, bool)
                               and math.isfinite(value))


@dataclass(frozen=True)
class LearnConfig(Section):
    """The update: losses, discounts, critics and optimiser of AMAGO or AMAGO-2 (``agent``).

    Fields left ``None`` take the agent's default (``AGENT_DEFAULTS``).

    ``agent="amago"``: scalar critics trained by regression in PopArt-normalised space, DPG + filtered BC
    (method 7.2). ``agent="multitask"`` (AMAGO-2, method 7.6): critics classify values into symlog-spaced bins
    (cross-entropy against two-hot or HL-Gauss labels, no PopArt in the critic loss), filtered BC whose
    advantage baseline is E_pi Q (exact for a single categorical action, else ``actor_samples`` policy samples),
    DPG off unless ``online_coeff`` > 0; both losses are then independent of the scale of returns. The defaults
    are filled in when the config is built (``resolve``), so ``config.json`` shows the values used.
    """

    section = "learn"

    agent: str = setting("amago", "amago, or multitask (AMAGO-2: binned critics, sampled-baseline filtered BC)",
                         one_of(*AGENT_DEFAULTS))
    gamma: float = setting(0.999, "main discount, the one used to act", interval(0, 1, lo_open=True, hi_open=True))
    extra_gammas: tuple = setting((0.1, 0.9, 0.95, 0.97, 0.99, 0.995), "discounts trained alongside gamma "
                                  "(multi-gamma)", each(interval(0, 1, hi_open=True)))
    use_multigamma: bool = setting(True, "train the extra_gammas too (false: gamma alone)")
    num_critics: int = setting(4, "critic ensemble size C", POSITIVE)
    num_critics_td: int = setting(2, "critics drawn (with replacement) for the TD target's ensemble reduction",
                                  POSITIVE)
    online_coeff: float | None = setting(None, "weight of the deterministic policy-gradient term (null: the "
                                               "agent's default, amago 1.0, multitask 0)", NON_NEGATIVE)
    offline_coeff: float | None = setting(None, "weight of the filtered behaviour-cloning term (null: the agent's "
                                                "default, amago 0.1, multitask 1.0)", NON_NEGATIVE)
    critic_loss_weight: float = setting(10.0, "weight of the critic loss in the summed loss", NON_NEGATIVE)
    reward_multiplier: float = setting(10.0, "rewards are multiplied by this before the TD targets", POSITIVE)
    tau: float = setting(0.003, "Polyak rate of the target actor and critics", interval(0, 1, lo_open=True))
    n_step: int = setting(1, "steps of the n-step TD target", POSITIVE)
    filter: str = setting("binary", "advantage filter of the BC term (exp depends on the scale of returns)",
                          one_of("binary", "exp"))
    exp_beta: float = setting(1.0, "temperature of the exponential filter", POSITIVE)
    exp_clip: float = setting(100.0, "upper clip of the exponential filter's weights", POSITIVE)
    fake_filter: bool = setting(False, "pure behaviour cloning (filter = 1)")
    popart: bool = setting(True, "normalise critic targets per gamma with PopArt (false: regress raw targets)")
    popart_beta: float = setting(5e-4, "PopArt's moment-tracking rate", interval(0, 1, lo_open=True))
    use_target_actor: bool = setting(True, "TD targets act with the target actor (false: the online actor)")
    actor_samples: int | None = setting(None, "K_a, policy samples for E_pi Q in the actor loss (null: the agent's "
                                              "default, amago 1 (continuous only), multitask 3)", POSITIVE)
    critic_samples: int = setting(1, "K_c, policy samples for the TD targets (continuous actions; every action "
                                     "space for multitask)", POSITIVE)
    critic_labels: str = setting("twohot", "multitask: labels of the critic's bins", one_of("twohot", "hlgauss"))
    critic_bins: int = setting(128, "multitask: value bins, evenly spaced in symlog space", interval(2))
    critic_min_value: float = setting(-1e5, "multitask: value of the lowest bin (reward-multiplied units; lower "
                                            "targets are clipped)", interval())
    critic_max_value: float = setting(1e5, "multitask: value of the highest bin (above critic_min_value)",
                                      interval())
    hlgauss_sigma: float = setting(0.75, "multitask, hlgauss labels: std of the Gaussian label, in bin widths",
                                   POSITIVE)
    dynamics_coeff: float = setting(0.0, "weight of an auxiliary loss predicting the next observation and reward "
                                         "from state and action (icrl.learn.auxiliary; 0 = off)", NON_NEGATIVE,
                                    beyond_method=True)
    target_entropy: float | str | None = setting(
        None, "entropy term of a continuous actor (icrl.learn.entropy): target entropy in nats, auto for -(action "
              "dims) as in SAC, or null (off, the method)",
        Rule('a finite number of nats or "auto"', _entropy), beyond_method=True)
    init_alpha: float = setting(1.0, "entropy term: initial temperature alpha", POSITIVE, beyond_method=True)
    alpha_lr: float = setting(3e-4, "entropy term: step size on log alpha (0 keeps alpha fixed)", NON_NEGATIVE,
                              beyond_method=True)
    lr: float = setting(1e-4, "AdamW learning rate", POSITIVE)
    warmup_steps: int = setting(500, "updates of linear learning-rate warm-up from 0", NON_NEGATIVE)
    weight_decay: float = setting(1e-3, "AdamW weight decay", NON_NEGATIVE)
    grad_clip: float = setting(1.0, "global gradient-norm clip", POSITIVE)
    batch_size: int = setting(24, "sequences per update", POSITIVE)

    @classmethod
    def resolve(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Fill the fields left ``None`` with the agent's defaults (an unknown agent is refused by the check)."""
        agent = values.get("agent", "amago")
        defaults = AGENT_DEFAULTS.get(agent, {}) if isinstance(agent, str) else {}
        return {**values, **{k: v for k, v in defaults.items() if values.get(k) is None}}

    def check(self) -> None:
        require(self.online_coeff + self.offline_coeff > 0, "learn.offline_coeff", self.offline_coeff,
                "> 0 when learn.online_coeff is 0 (the actor needs a loss)")
        require(self.critic_min_value < self.critic_max_value, "learn.critic_max_value", self.critic_max_value,
                f"a value above learn.critic_min_value={self.critic_min_value}")

    @property
    def gammas(self) -> tuple[float, ...]:
        """All discounts, main ``gamma`` last (axis G everywhere)."""
        extra = tuple(g for g in self.extra_gammas if g != self.gamma) if self.use_multigamma else ()
        return tuple(float(g) for g in extra) + (float(self.gamma),)
