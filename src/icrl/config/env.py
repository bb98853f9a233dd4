"""``env``: which environment to train on and how many copies are stepped together."""

from __future__ import annotations

from dataclasses import dataclass

from icrl.config.fields import NON_NEGATIVE, POSITIVE, Rule, Section, one_of, setting


@dataclass(frozen=True)
class EnvConfig(Section):
    """The environment: a registered name (``icrl envs``) or any gymnasium id, with its arguments.

    The name is not checked against the env registry here: gymnasium ids (including ``module:Id`` and ids that
    plugins register on import) are only known when the env is built, where an unknown name lists the
    registered ones.
    """

    section = "env"

    name: str = setting("meta-frozen-lake", "registered env name (`icrl envs`) or any installed gymnasium id",
                        Rule("a non-empty env name", lambda v: v != ""))
    kwargs: dict = setting({}, 'arguments of the env factory, e.g. {"size": 5, "attempts": 5}',
                           Rule("a JSON object of the factory's arguments", lambda v: True))
    num_envs: int = setting(24, "parallel training environments, stepped as one batch", POSITIVE)
    eval_num_envs: int = setting(24, "parallel evaluation environments", POSITIVE)
    vector: str = setting("inline", "inline: envs stepped in this process; subprocess: gymnasium AsyncVectorEnv",
                          one_of("inline", "subprocess"))
    chunk_len: int = setting(0, "> 0: store very long rollouts as chunks of about this many steps "
                                "(0 = whole rollouts)", NON_NEGATIVE)
