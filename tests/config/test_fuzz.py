"""Property tests: random overrides and random config files give a valid config or a ``ConfigError``, never an
exception from deep inside (any other exception fails the test)."""

import dataclasses
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icrl.config import SECTIONS, RunConfig, apply_overrides, read_config_file
from icrl.errors import ConfigError

PATHS = [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# no subnormal floats: training flushes them to zero process-wide (icrl.device), and hypothesis then refuses them
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12)
    | st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8)

# a value as typed on a command line: JSON (NaN written as JSON's NaN), or free text, or a typical token
raw_values = st.one_of(json_values.map(json.dumps), st.text(max_size=16),
                       st.sampled_from(["nan", "inf", "-Infinity", "1e999", "0", "-1", "1", "0.5", "true", "null",
                                        "[]", "{}", "gru", "multitask", "auto", "cuda:0", "rope", "hlgauss"]))
paths = st.one_of(st.sampled_from(PATHS), st.sampled_from(PATHS).map(lambda p: p + "x"),
                  st.sampled_from(["env.kwargs.size", "replay.relabel_kwargs.fill", "env.kwargs.a.b"]),
                  st.text(max_size=20))
DEFAULTS = {f"{s}.{k}": v for s, section in RunConfig().to_dict().items() for k, v in section.items()}


def _near_default(path: str) -> st.SearchStrategy[str]:
    """Values close to a field's default (scaled, negated, shifted), so that many overrides are valid."""
    value = DEFAULTS[path]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        numbers = st.sampled_from([value, value * 2, value // 2 if isinstance(value, int) else value / 2, -value,
                                   value + 1, 0])
        return numbers.map(json.dumps)
    return st.just(value if isinstance(value, str) else json.dumps(value))


overrides = st.lists(st.one_of(
    st.sampled_from(PATHS).flatmap(lambda p: _near_default(p).map(lambda v: f"{p}={v}")),
    st.sampled_from(PATHS).flatmap(lambda p: _near_default(p).map(lambda v: f"{p}={v}")),
    st.tuples(paths, raw_values).map(lambda pv: f"{pv[0]}={pv[1]}"),
    st.text(max_size=20)), max_size=4)


@FUZZ
@given(overrides)
def test_random_overrides_give_a_valid_config_or_a_config_error(items: list[str]) -> None:
    try:
        cfg = apply_overrides(RunConfig(), items)
    except ConfigError as err:
        assert str(err)
        return
    assert RunConfig.from_dict(json.loads(cfg.to_json())) == cfg  # what is accepted is saved and read back


sections = st.dictionaries(st.sampled_from(PATHS).map(lambda p: p.split(".")[1]), json_values, max_size=4)


@FUZZ
@given(st.dictionaries(st.sampled_from([*SECTIONS, "bogus"]), sections | json_values, max_size=3))
def test_random_config_dicts_give_a_valid_config_or_a_config_error(data: dict) -> None:
    try:
        RunConfig.from_dict(data)
    except ConfigError as err:
        assert str(err)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200) | st.integers(0, 2000).map(lambda n: RunConfig().to_json()[:n].encode()))
def test_random_or_truncated_config_files_give_a_valid_config_or_a_config_error(tmp_path_factory,
                                                                                content: bytes) -> None:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "config.json"
    path.write_bytes(content)
    try:
        read_config_file(path, "fix it.")
    except ConfigError as err:
        assert str(path) in str(err)
