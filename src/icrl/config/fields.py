"""How a config field is declared, documented and checked: the machinery under every section.

A field is ``name: type = setting(default, doc, rule)``: the doc and the rule live in the dataclass field's
metadata, so the reference (``icrl config``) and the checks come from one declaration and cannot drift apart.
``Section`` is the base of every section: its ``__post_init__`` checks each field's type, refuses NaN and
infinity, applies the field's rule, then the section's cross-field checks (``check``). Sections whose stored
values depend on other fields (the learn agent's defaults, the normalised dataset entries) compute them in
``resolve`` *before* the frozen instance exists, so no instance is ever modified after it is built.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from collections.abc import Callable, Iterable
from typing import Any, Union, get_args, get_origin, get_type_hints

from icrl.errors import ConfigError, closest  # noqa: F401  (closest: re-exported for the config modules)


class Rule:
    """Which values a field accepts (``test``) and the words that say so in errors and in the reference.

    ``text`` may be a function, for rules whose choices are only known at run time (registries).
    """

    def __init__(self, text: str | Callable[[], str], test: Callable[[Any], bool],
                 choices: Callable[[], Iterable[str]] | None = None) -> None:
        self._text, self.test, self.choices = text, test, choices

    @property
    def text(self) -> str:
        return self._text() if callable(self._text) else self._text

    def __call__(self, value: Any) -> bool:
        return bool(self.test(value))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def interval(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
             hi_open: bool = False) -> Rule:
    """Numbers in a range, e.g. ``interval(0, 1, lo_open=True)`` is (0, 1]; a missing bound is unbounded."""
    if lo is not None and hi is not None:
        text = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        text = f"{'>' if lo_open else '>='} {lo:g}"
    elif hi is not None:
        text = f"{'<' if hi_open else '<='} {hi:g}"
    else:
        text = "any finite number"

    def test(value: Any) -> bool:
        return _number(value) and (lo is None or (value > lo if lo_open else value >= lo)) \
            and (hi is None or (value < hi if hi_open else value <= hi))

    return Rule(text, test)


POSITIVE = interval(0, lo_open=True)
NON_NEGATIVE = interval(0)
UNIT = interval(0, 1)


def one_of(*choices: str) -> Rule:
    return Rule("one of " + ", ".join(map(repr, choices)), lambda value: value in choices, lambda: choices)


def registered(what: str, names: Callable[[], Iterable[str]], how_to_add: str) -> Rule:
    """A name looked up in a registry when checked, so names registered by user code count too."""
    return Rule(lambda: f"a registered {what}: " + ", ".join(map(repr, names())) + f" ({how_to_add})",
                lambda value: value in set(names()), names)


def each(rule: Rule) -> Rule:
    """A list whose every element follows ``rule``."""
    return Rule(lambda: f"each {rule.text}",
                lambda value: isinstance(value, tuple) and all(rule(v) for v in value))


def setting(default: Any, doc: str, rule: Rule | None = None, *, beyond_method: bool = False) -> Any:
    """Declare a field: its default, a one-line ``doc``, the ``rule`` its values follow (besides the type),
    and ``beyond_method`` for options that are not part of the published method (their defaults keep it)."""
    metadata = {"doc": doc, "rule": rule, "beyond_method": beyond_method}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=functools.partial(copy.deepcopy, default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def fail(name: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"config field {name}={value!r} is invalid: allowed {allowed}.")


def require(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise fail(name, value, allowed)


def finite_json(value: Any) -> bool:
    """True for JSON-like data (dicts with string keys, lists, scalars) without NaN or infinity."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and finite_json(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(finite_json(v) for v in value)
    return value is None or isinstance(value, (bool, int, str))


@functools.cache
def field_types(cls: type) -> dict[str, tuple[type, ...]]:
    """Per field, the plain types its values may have (``float | None`` -> (float, NoneType))."""
    out = {}
    for name, hint in get_type_hints(cls).items():
        union = get_origin(hint) is Union or type(hint).__name__ == "UnionType"
        out[name] = tuple(get_args(hint)) if union else (hint,)
    return out


def allowed_text(spec: dataclasses.Field, types: tuple[type, ...]) -> str:
    """What a field accepts, in words: ``int > 0``, ``str: one of 'a', 'b'``, ``float >= 0, or null``."""
    names = {int: "int", float: "float", bool: "bool", str: "str", tuple: "list", dict: "object"}
    kind = " or ".join(names.get(t, t.__name__) for t in types if t is not type(None))
    rule: Rule | None = spec.metadata.get("rule")
    text = kind if rule is None else f"{kind} {rule.text}" if rule.text[:1] in "<>" else f"{kind}: {rule.text}"
    return f"{text}, or null" if type(None) in types else text


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    for t in types:
        if t is float and _number(value):
            return True
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t not in (int, float) and isinstance(value, t):
            return True
    return False


def check_field(section: str, spec: dataclasses.Field, types: tuple[type, ...], value: Any) -> None:
    """Type, finiteness and rule of one value; the error names the field, the value and what is allowed."""
    name = f"{section}.{spec.name}"
    rule: Rule | None = spec.metadata.get("rule")
    if value is None and type(None) in types:
        return
    if not _type_ok(value, types):
        expected = " or ".join("null" if t is type(None) else "list" if t is tuple else t.__name__ for t in types)
        raise ConfigError(f"config field {name}={value!r} has the wrong type: expected {expected}"
                          + (f" ({rule.text})" if rule else "") + ".")
    if not finite_json(value):
        raise ConfigError(f"config field {name}={value!r} is not finite: NaN and infinity are refused; allowed "
                          f"{rule.text if rule else 'finite values'}.")
    if rule is not None and not rule(value):
        hint = closest(value, rule.choices()) if rule.choices and isinstance(value, str) else ""
        raise ConfigError(f"config field {name}={value!r} is invalid{hint}: allowed {rule.text}.")


def normalise(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """Lists become tuples for tuple fields and ints become floats for float fields (JSON has no tuples and
    writes 1.0 as 1), so a config read back from JSON equals the one written."""
    types = field_types(cls)
    out = dict(values)
    for name, value in values.items():
        kinds = types.get(name, ())
        if tuple in kinds and isinstance(value, list):
            out[name] = tuple(value)
        elif float in kinds and int not in kinds and isinstance(value, int) and not isinstance(value, bool):
            out[name] = float(value)
    return out


class _Resolving(type):
    """Metaclass of the sections: the keyword arguments pass through ``cls.resolve`` before the frozen
    dataclass is built, so derived values are computed first and never written into an existing instance."""

    def __call__(cls, *args: Any, **values: Any) -> Any:
        if args:
            raise TypeError(f"{cls.__name__} takes keyword arguments only, e.g. {cls.__name__}(field=value).")
        return super().__call__(**cls.resolve(normalise(cls, values)))


class Section(metaclass=_Resolving):
    """Base of the config sections (frozen dataclasses); subclasses set ``section`` and may override
    ``resolve`` (derived values, before construction) and ``check`` (rules spanning several fields)."""

    section = ""  # the section's name in overrides and config.json

    @classmethod
    def resolve(cls, values: dict[str, Any]) -> dict[str, Any]:
        return values

    def __post_init__(self) -> None:
        types = field_types(type(self))
        for spec in dataclasses.fields(self):
            check_field(self.section, spec, types[spec.name], getattr(self, spec.name))
        self.check()

    def check(self) -> None:
        """Cross-field rules; each field alone has been checked already."""
