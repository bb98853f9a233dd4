"""Typed, frozen run configuration: one module per section, every field documented and checked.

Sections: ``env``, ``model``, ``learn``, ``replay``, ``explore``, ``train`` (one module each), composed into
``RunConfig`` (``run``). Each field is declared with its default, a one-line doc and the rule its values follow
(``fields.setting``); ``icrl config [SECTION]`` prints them. ``RunConfig.from_dict`` / ``to_dict`` round-trip
through JSON (``config.json`` in the run directory) and ``apply_overrides`` takes ``section.field=value``
strings from the command line (``overrides``).
"""

from icrl.config.env import EnvConfig
from icrl.config.explore import ExplorationConfig
from icrl.config.fields import Section
from icrl.config.learn import AGENT_DEFAULTS, LearnConfig
from icrl.config.model import ModelConfig
from icrl.config.overrides import apply_overrides, parse_value
from icrl.config.replay import ReplayConfig
from icrl.config.run import SECTIONS, RunConfig, read_config_file
from icrl.config.train import TrainConfig

__all__ = ["AGENT_DEFAULTS", "SECTIONS", "EnvConfig", "ExplorationConfig", "LearnConfig", "ModelConfig",
           "ReplayConfig", "RunConfig", "Section", "TrainConfig", "apply_overrides", "parse_value",
           "read_config_file"]
