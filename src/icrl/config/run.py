"""``RunConfig``: the whole run, one frozen section per station, and its JSON form (``config.json``)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from icrl.config.env import EnvConfig
from icrl.config.explore import ExplorationConfig
from icrl.config.fields import Section, closest, require
from icrl.config.learn import LearnConfig
from icrl.config.model import ModelConfig
from icrl.config.replay import ReplayConfig
from icrl.config.train import TrainConfig
from icrl.errors import ConfigError

SECTIONS: dict[str, type[Section]] = {"env": EnvConfig, "model": ModelConfig, "learn": LearnConfig,
                                      "replay": ReplayConfig, "explore": ExplorationConfig, "train": TrainConfig}


@dataclass(frozen=True)
class RunConfig:
    """The whole run: one frozen section per station."""

    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    learn: LearnConfig = field(default_factory=LearnConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    explore: ExplorationConfig = field(default_factory=ExplorationConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        for name, cls in SECTIONS.items():
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise ConfigError(f"RunConfig.{name} must be a {cls.__name__}, got {type(value).__name__}.")
        if self.replay.relabel_prob > 0:  # the relabeler reads the instruction from a rollout's first observation
            require(self.env.chunk_len == 0, "env.chunk_len", self.env.chunk_len,
                    "0 (whole rollouts) when replay.relabel_prob > 0")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @staticmethod
    def from_dict(data: Any) -> RunConfig:
        """Build and check a config from its JSON form; sections left out keep their defaults."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a JSON object of sections {sorted(SECTIONS)}, got "
                              f"{type(data).__name__}.")
        for name in data:
            if name not in SECTIONS:
                raise ConfigError(f"unknown config section {name!r}{closest(name, SECTIONS)}; "
                                  f"known: {', '.join(SECTIONS)}.")
        return RunConfig(**{name: section_from_dict(cls, data.get(name, {})) for name, cls in SECTIONS.items()})

    def replace(self, **sections: Any) -> RunConfig:
        return dataclasses.replace(self, **sections)


def section_from_dict(cls: type[Section], data: Any) -> Any:
    """One section from a JSON object; an unknown field is named with the closest known ones."""
    if not isinstance(data, dict):
        raise ConfigError(f"config section {cls.section!r} must be a JSON object of fields, got {data!r}.")
    known = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown config field {cls.section}.{key}{closest(key, known)}; fields of "
                              f"{cls.section}: {', '.join(known)} (`icrl config {cls.section}` lists them).")
    return cls(**data)


def read_config_file(path: Path, fix: str) -> RunConfig:
    """The config saved in ``path`` (a ``config.json``); a missing, corrupt, truncated or invalid file raises a
    ``ConfigError`` naming the file, the problem and ``fix``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"config file {path} does not exist; {fix}") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"config file {path} is unreadable or not valid JSON (corrupt or truncated: {err}); "
                          f"{fix}") from err
    try:
        return RunConfig.from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"config file {path}: {err} {fix}") from err
