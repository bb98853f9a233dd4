"""Command-line overrides and config files: unknown names get the closest valid ones, bad files name the file."""

import json
from pathlib import Path

import pytest

from icrl.cli import main
from icrl.config import RunConfig, apply_overrides, parse_value, read_config_file
from icrl.errors import ConfigError
from icrl.presets import preset_overrides
from icrl.train.rundir import load_config


@pytest.mark.parametrize(("override", "fragment"), [
    ("lern.lr=1e-3", "did you mean 'learn'?"),
    ("learn.lrr=1e-3", "did you mean 'learn.lr'"),
    ("model.dmodel=64", "did you mean 'model.d_model'"),
    ("explore.eps_strat=0.5", "did you mean 'explore.eps_start'"),
    ("learn=1", "name a field of learn"),
    ("learn.lr.x=1", "learn.lr is not a JSON object"),
])
def test_unknown_names_get_the_closest_valid_ones(override: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(RunConfig(), [override])
    assert fragment in str(info.value)


def test_unknown_preset_gets_the_closest_name() -> None:
    with pytest.raises(ConfigError, match=r"unknown preset 't-maz' \(did you mean 't-maze'\?\)"):
        preset_overrides("t-maz")


def test_unknown_field_in_a_config_file_gets_the_closest_name() -> None:
    with pytest.raises(ConfigError, match=r"unknown config field learn.gama \(did you mean 'gamma'\?\)"):
        RunConfig.from_dict({"learn": {"gama": 0.9}})
    with pytest.raises(ConfigError, match=r"unknown config section 'modle' \(did you mean 'model'\?\)"):
        RunConfig.from_dict({"modle": {}})


def test_parse_value_reads_json_and_keeps_other_text() -> None:
    assert parse_value("3e-4") == 3e-4 and parse_value("true") is True and parse_value("[0.9]") == [0.9]
    assert parse_value("gru") == "gru" and parse_value('{"a": 1}') == {"a": 1} and parse_value("null") is None


def test_switching_agent_keeps_values_someone_chose() -> None:
    cfg = apply_overrides(RunConfig(), ["learn.online_coeff=1.0", "learn.agent=multitask"]).learn
    assert (cfg.online_coeff, cfg.offline_coeff, cfg.actor_samples) == (1.0, 1.0, 3)
    chosen = apply_overrides(RunConfig(), ["learn.actor_samples=7"])
    assert apply_overrides(chosen, ["learn.agent=multitask"]).learn.actor_samples == 7


def test_every_preset_still_applies() -> None:
    from icrl.presets import PRESETS

    for name in PRESETS:
        apply_overrides(RunConfig(), preset_overrides(name))


CORRUPT = {"truncated": lambda text: text[: len(text) // 2], "empty": lambda text: "",
           "binary": lambda text: "\udcff\x00garbage", "a list": lambda text: "[1, 2]",
           "bad value": lambda text: text.replace('"gamma": 0.999', '"gamma": 7'),
           "nan": lambda text: text.replace('"gamma": 0.999', '"gamma": NaN'),
           "bad section": lambda text: json.dumps({"learn": 3})}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_corrupt_config_json_in_a_run_dir_names_the_file_and_the_fix(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(CORRUPT[kind](RunConfig().to_json()).encode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert str(path) in message and "another --run-dir" in message, message


def test_corrupt_config_file_on_the_command_line_is_a_clean_error(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "mine.json"
    path.write_text('{"learn": {"lr": 0.001')
    assert main(["train", "--config", str(path), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "not valid JSON" in err and "--print-config > FILE" in err
    with pytest.raises(ConfigError, match="does not exist"):
        read_config_file(tmp_path / "missing.json", "write one.")


def test_a_saved_config_reads_back_equal(tmp_path: Path) -> None:
    cfg = apply_overrides(RunConfig(), ["learn.agent=multitask", 'replay.datasets=[{"source": "a/b"}]'])
    (tmp_path / "config.json").write_text(cfg.to_json())
    assert load_config(tmp_path) == cfg
