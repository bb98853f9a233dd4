"""Environments by name: ``register_env`` to add one, ``make_env`` to build it wrapped, ``list_envs``.

A *family* (``register_env_family``) serves every name with a given prefix, e.g. ``popgym/RepeatPreviousEasy``;
its factory receives the rest of the name. Any other name is tried as a gymnasium id (``CartPole-v1``, ...).
A factory that declares a ``vector_index`` keyword also learns its env's position in a vector env. A family may
also give a ``vector`` factory, ``vector(suffix, num_envs, **kwargs) -> gym.vector.VectorEnv``, for envs that step a
whole batch at once (JAX envs): ``icrl.rollout.make_vector_env`` then uses it instead of N single envs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym

from icrl.envs.interface import InContextEnv, wrap
from icrl.errors import ICRLError


@dataclass(frozen=True)
class EnvEntry:
    factory: Callable[..., gym.Env]
    description: str
    extra: str | None  # pip extra needed, if any
    vector: Callable[..., gym.vector.VectorEnv] | None = None  # builds N envs stepped as one batch, if any


_REGISTRY: dict[str, EnvEntry] = {}
_FAMILIES: dict[str, EnvEntry] = {}  # prefix -> entry whose factory takes (suffix, **kwargs)


def register_env(name: str, description: str = "", extra: str | None = None, factory=None):
    """Register ``factory(**kwargs) -> gym.Env`` under ``name``; usable as a decorator."""

    def add(fn: Callable[..., gym.Env]) -> Callable[..., gym.Env]:
        _REGISTRY[name] = EnvEntry(fn, description or (fn.__doc__ or "").strip().split("\n")[0], extra)
        return fn

    return add(factory) if factory is not None else add


def register_env_family(prefix: str, factory: Callable[..., gym.Env], description: str = "",
                        extra: str | None = None,
                        vector: Callable[..., gym.vector.VectorEnv] | None = None) -> None:
    """Serve every env name ``prefix + suffix`` with ``factory(suffix, **kwargs)`` (e.g. ``popgym/``).

    ``vector(suffix, num_envs, **kwargs)``, if given, builds ``num_envs`` of them as one batched vector env.
    """
    _FAMILIES[prefix] = EnvEntry(factory, description, extra, vector)


def list_envs() -> list[tuple[str, str, str | None]]:
    singles = [(name, e.description, e.extra) for name, e in sorted(_REGISTRY.items())]
    return singles + [(f"{prefix}<name>", e.description, e.extra) for prefix, e in sorted(_FAMILIES.items())]


def batched_vector_env(factory: Callable[..., object]) -> Callable[[int], gym.vector.VectorEnv] | None:
    """For ``functools.partial(make_env, name, **kwargs)`` of a family with a ``vector`` factory: ``num_envs ->``
    that family's batched vector env; None for every other factory (built as N single envs)."""
    if not (isinstance(factory, functools.partial) and factory.func is make_env and factory.args):
        return None
    name = factory.args[0]
    for prefix, family in _FAMILIES.items():
        if name.startswith(prefix) and family.vector is not None:
            return functools.partial(family.vector, name[len(prefix):], **factory.keywords)
    return None


def accepts_vector_index(factory: Callable[..., object]) -> bool:
    """Whether ``factory`` takes a ``vector_index`` keyword (its position in a vector env)."""
    try:
        return "vector_index" in inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return False


def _index(factory: Callable[..., gym.Env], vector_index: int | None) -> dict[str, int]:
    return {"vector_index": vector_index} if vector_index is not None and accepts_vector_index(factory) else {}


def make_env(name: str, vector_index: int | None = None, **kwargs) -> InContextEnv:
    """Build env ``name`` with ``kwargs`` and wrap it for in-context learning.

    ``vector_index`` (the env's position in a vector env, set by ``icrl.rollout.make_vector_env``) reaches only
    factories that declare that keyword: an env whose instance depends on its position (the AIB keeps instance
    ``i`` in env i) uses it, every other env is built as if it were absent.
    """
    for prefix, family in _FAMILIES.items():
        if name.startswith(prefix):
            factory = family.factory
            return wrap(factory(name[len(prefix):], **_index(factory, vector_index), **kwargs), env_name=name)
    entry = _REGISTRY.get(name)
    if entry is None:
        try:
            return wrap(gym.make(name, **kwargs), env_name=name)
        except gym.error.Error as err:
            raise ICRLError(f"unknown environment {name!r} ({err}). Registered: {', '.join(sorted(_REGISTRY))}; "
                            "any installed gymnasium id also works. Run `icrl envs` to list them.") from err
    accepted = inspect.signature(entry.factory).parameters
    has_var_kw = any(p.kind == p.VAR_KEYWORD for p in accepted.values())
    unknown = [k for k in kwargs if k not in accepted and not has_var_kw]
    if unknown:
        raise ICRLError(f"env {name!r} does not accept {unknown}; accepted kwargs: {sorted(accepted)}.")
    return wrap(entry.factory(**_index(entry.factory, vector_index), **kwargs), env_name=name)
