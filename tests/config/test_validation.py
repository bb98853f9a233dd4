"""Every field is checked when a section is built: type, finiteness, range or registered name."""

import dataclasses
import math
import re
from pathlib import Path

import pytest

from icrl.config import SECTIONS, LearnConfig, ModelConfig, ReplayConfig, RunConfig, TrainConfig, apply_overrides
from icrl.config.fields import field_types
from icrl.errors import ConfigError
from icrl.nets.sequence import base as sequence_base


@pytest.mark.parametrize(("override", "value", "allowed"), [
    ("learn.popart_beta=-1", "-1.0", "a number in (0, 1]"),
    ("learn.popart_beta=0", "0.0", "a number in (0, 1]"),
    ("learn.exp_clip=-5", "-5.0", "> 0"),
    ("train.seed=-3", "-3", ">= 0"),
    ("learn.tau=0", "0.0", "a number in (0, 1]"),
    ("learn.extra_gammas=[0.5, 1.0]", "(0.5, 1.0)", "each a number in [0, 1)"),
    ("model.dropout_ff=1.5", "1.5", "a number in [0, 1]"),
    ("replay.relabel_prob=-0.1", "-0.1", "a number in [0, 1]"),
    ("learn.critic_bins=1", "1", ">= 2"),
    ("train.device=gpu", "'gpu'", "'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ("explore.kind=egready", "'egready'", "one of 'egreedy', 'bilevel', 'edges'"),
    ("env.num_envs=0", "0", "> 0"),
    ("train.wandb_project=", "''", "a non-empty project name"),
])
def test_out_of_range_values_name_field_value_and_what_is_allowed(override: str, value: str, allowed: str) -> None:
    field = override.split("=")[0]
    with pytest.raises(ConfigError) as info:
        apply_overrides(RunConfig(), [override])
    message = str(info.value)
    assert f"{field}={value}" in message and allowed in message, message


@pytest.mark.parametrize("override", ["learn.popart_beta=NaN", "learn.popart_beta=nan", "learn.lr=Infinity",
                                      "learn.lr=-inf", "learn.gamma=1e999", "learn.extra_gammas=[0.9, NaN]",
                                      'env.kwargs={"size": Infinity}', "env.kwargs.size=NaN",
                                      'replay.datasets=[{"source": "x", "weight": NaN}]'])
def test_the_override_parser_refuses_nan_and_infinity(override: str) -> None:
    field = ".".join(override.split("=")[0].split(".")[:2])
    with pytest.raises(ConfigError, match=r"NaN and infinity are refused") as info:
        apply_overrides(RunConfig(), [override])
    assert field in str(info.value)


FLOAT_FIELDS = [(section, spec.name) for section, cls in SECTIONS.items() for spec in dataclasses.fields(cls)
                if float in field_types(cls)[spec.name]]


@pytest.mark.parametrize(("section", "name"), FLOAT_FIELDS, ids=[f"{s}.{n}" for s, n in FLOAT_FIELDS])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_every_float_field_refuses_non_finite_values(section: str, name: str, bad: float) -> None:
    """Built directly (not through the parser) too: NaN and infinity never reach a run."""
    with pytest.raises(ConfigError, match=rf"{section}\.{name}=.*(not finite|invalid)"):
        SECTIONS[section](**{name: bad})


@pytest.mark.parametrize(("cls", "name", "value"), [(LearnConfig, "batch_size", 2.5), (LearnConfig, "popart", 1),
                                                    (TrainConfig, "epochs", True), (ModelConfig, "sequence", 3),
                                                    (LearnConfig, "extra_gammas", 0.9)])
def test_wrong_types_are_refused(cls: type, name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"{cls.section}\.{name}=.*wrong type"):
        cls(**{name: value})


def test_sequence_models_are_checked_against_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"model.sequence='gur' is invalid \(did you mean 'gru'\?\)"):
        ModelConfig(sequence="gur")
    with pytest.raises(ConfigError, match="register_sequence_model"):
        ModelConfig(sequence="my-ssm")
    monkeypatch.setitem(sequence_base._BUILDERS, "my-ssm", lambda *args: None)  # removed again after the test
    assert ModelConfig(sequence="my-ssm").sequence == "my-ssm"


def test_agent_defaults_are_resolved_when_built_never_written_afterwards() -> None:
    learn = LearnConfig(agent="multitask")
    assert (learn.online_coeff, learn.offline_coeff, learn.actor_samples) == (0.0, 1.0, 3)
    assert not hasattr(learn, "_unset")
    assert LearnConfig(agent="multitask", actor_samples=5).actor_samples == 5
    assert dataclasses.replace(learn, lr=1e-3).offline_coeff == 1.0  # replace keeps the resolved values
    with pytest.raises(dataclasses.FrozenInstanceError):
        learn.lr = 1.0  # type: ignore[misc]
    source = "".join(p.read_text() for p in (Path(__file__).parents[2] / "src" / "icrl" / "config").glob("*.py"))
    assert "object.__setattr__" not in source


def test_dataset_entries_are_completed_when_built() -> None:
    replay = ReplayConfig(datasets=[{"source": "D4RL/door/human-v2"}, {"source": "./data/demos", "weight": 2}])
    assert replay.datasets == ({"source": "D4RL/door/human-v2", "weight": 1.0, "name": "D4RL-door-human-v2"},
                               {"source": "./data/demos", "weight": 2.0, "name": "demos"})
    assert ReplayConfig(datasets=replay.datasets) == replay  # completing is idempotent
    for bad, fragment in [("x", "a list like"), ([{"source": ""}], "entries like"),
                          ([{"source": "a"}, {"source": "a"}], "distinct names"),
                          ([{"source": "a", "weight": -1}], "finite weights >= 0")]:
        with pytest.raises(ConfigError, match=re.escape(fragment)):
            ReplayConfig(datasets=bad)


def test_ints_become_floats_and_lists_tuples_so_json_round_trips() -> None:
    learn = LearnConfig(lr=1, extra_gammas=[0.9])
    assert learn.lr == 1.0 and isinstance(learn.lr, float) and learn.extra_gammas == (0.9,)


def test_sections_take_keyword_arguments_only() -> None:
    with pytest.raises(TypeError, match="keyword arguments only"):
        TrainConfig(10)


def test_run_config_sections_must_have_their_types() -> None:
    with pytest.raises(ConfigError, match="RunConfig.learn must be a LearnConfig"):
        RunConfig(learn=TrainConfig())


def test_configs_survive_pickle_and_deepcopy() -> None:
    """Subprocess envs and checkpoints copy configs; the resolving constructor must not get in the way."""
    import copy
    import pickle

    cfg = apply_overrides(RunConfig(), ["learn.agent=multitask", 'replay.datasets=[{"source": "a"}]'])
    assert pickle.loads(pickle.dumps(cfg)) == cfg and copy.deepcopy(cfg) == cfg
