"""The one small error hierarchy of icrl: every message says what was wrong and how to fix it."""

import difflib
from collections.abc import Iterable


def closest(name: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a misspelt name, or an empty string when nothing is close."""
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""


class ICRLError(Exception):
    """Base class of all errors raised on purpose by icrl."""


class ConfigError(ICRLError, ValueError):
    """A configuration field has a value outside its allowed range."""


class SpaceError(ICRLError, TypeError):
    """An environment uses an observation or action space that icrl does not support."""


class DataError(ICRLError):
    """A trajectory file or dataset is missing, corrupt or inconsistent."""


class CheckpointError(ICRLError):
    """A checkpoint or run directory cannot be read or does not match the configuration."""


class MissingExtraError(ICRLError, ImportError):
    """An optional dependency is needed for a feature; the message names the pip extra."""
