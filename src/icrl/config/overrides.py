"""Command-line overrides: ``section.field=value`` (and ``section.field.key=value`` inside JSON-object fields).

Values are JSON where they parse (numbers, true/false, null, lists, objects), else plain strings. NaN and
infinity are refused wherever they appear. Unknown sections and fields are named with the closest valid names.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from icrl.config.fields import allowed_text, closest, field_types, finite_json
from icrl.config.learn import AGENT_DEFAULTS
from icrl.config.run import SECTIONS, RunConfig
from icrl.errors import ConfigError

EXAMPLE = "e.g. learn.lr=3e-4 or env.kwargs.size=4"


def _refuse(token: str) -> Any:
    raise ConfigError(f"{token} is not a finite number (NaN and infinity are refused).")


def parse_value(text: str) -> Any:
    """Command-line value: JSON when it parses (numbers, true/false, lists, objects), else the raw string.

    NaN and infinity (``NaN``, ``inf``, ``-Infinity``, ``1e999``, also inside lists and objects) are refused.
    """
    try:
        value = json.loads(text, parse_constant=_refuse)
    except json.JSONDecodeError:
        try:
            number = float(text)
        except ValueError:
            return text
        if not math.isfinite(number):
            _refuse(text.strip())
        return text
    if not finite_json(value):
        _refuse(text.strip())
    return value


def _target(data: dict, item: str, keys: list[str]) -> dict:
    """The dict in ``data`` that ``keys[-1]`` is set in, checking the section and field names on the way."""
    section = keys[0]
    if len(keys) < 2 and section in SECTIONS:
        raise ConfigError(f"override {item!r}: name a field of {section}, e.g. {section}.FIELD=VALUE "
                          f"(`icrl config {section}` lists them).")
    if len(keys) < 2 or section not in SECTIONS:
        raise ConfigError(f"override {item!r}: the path must start with one of {', '.join(SECTIONS)}"
                          f"{closest(section, SECTIONS)}; {EXAMPLE}.")
    cls = SECTIONS[section]
    name = keys[1]
    if name not in data[section]:
        known = [f.name for f in dataclasses.fields(cls)]
        close = closest(f"{section}.{name}", [f"{section}.{k}" for k in known])
        raise ConfigError(f"override {item!r}: unknown config field {section}.{name}{close}; "
                          f"`icrl config {section}` lists the fields of {section}.")
    target = data[section]
    if len(keys) > 2:
        if dict not in field_types(cls)[name]:
            raise ConfigError(f"override {item!r}: {section}.{name} is not a JSON object, so it has no keys; "
                              f"set it whole, e.g. {section}.{name}=VALUE.")
        for key in keys[1:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
    return target


def apply_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply ``section.field=value`` strings in order; returns a new, checked config.

    Switching ``learn.agent`` brings the new agent's defaults for the fields that depend on it
    (``AGENT_DEFAULTS``), except those set by these overrides or holding a value other than the old agent's
    default (a value someone chose).
    """
    data = config.to_dict()
    explicit: set[str] = set()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.field=value, {EXAMPLE}.")
        path, raw = item.split("=", 1)
        keys = path.strip().split(".")
        target = _target(data, item, keys)
        try:
            target[keys[-1]] = parse_value(raw)
        except ConfigError as err:
            spec = {f.name: f for f in dataclasses.fields(SECTIONS[keys[0]])}[keys[1]]
            allowed = allowed_text(spec, field_types(SECTIONS[keys[0]])[keys[1]])
            raise ConfigError(f"override {item!r}: {err} Allowed for {keys[0]}.{keys[1]}: {allowed}.") from err
        explicit.add(".".join(keys[:2]))
    old, new = config.learn.agent, data["learn"].get("agent")
    if new != old:
        for name, default in AGENT_DEFAULTS[old].items():
            if f"learn.{name}" not in explicit and data["learn"][name] == default:
                data["learn"][name] = None
    return RunConfig.from_dict(data)
